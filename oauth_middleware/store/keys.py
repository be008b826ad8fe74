"""Every Redis key the project uses (DESIGN decisions 2, 3 and 5).

No other module spells a key. ``P`` is the store's prefix (default ``om:``).
This is key schema 2 (:data:`KEY_SCHEMA`): every key carries a Redis Cluster hash tag
(the part in braces), chosen so that every Lua script, and every multi-key command,
touches the keys of one tag, hence one cluster slot:

* ``{g}``, a grant id: every key of one grant (tokens, code, refresh record, member set,
  tombstone). Redeeming a code, rotating a refresh token, revoking a grant: one script.
* ``{<client_id>}``: a client's record and its two indexes. The script that indexes a
  new grant under its client checks the client record in the same step.
* ``{<sha(user)>}``, the digest of a user id: the user's grant index (and its displaced
  set), and the user's consent transactions. One script caps either.
* ``{registry}``: the sets listing every client id, the dynamically registered ones, when
  each of those was last used, and the metadata-document ones (one script counts against
  a cap and reserves a place).
* ``{signing}``: the three signing-key hashes; every script of ``_keys`` touches them only.
* ``{<sha(url)>}``: the fetch state of one client metadata document.
* ``{<sha(user)>}`` also tags a user's remembered consents (hash and expiry index).
* throttle counters: the tag of their subject's digest.
* ``{events}``: the audit trail's one stream (``_events``), listable as one key.

``<sha>`` is the SHA-256 hex digest of a raw token, code or transaction id: raw values
are never stored.

How each operation that spans entities is split, and why it stays safe:

* Issuing a grant (``_grants._write``) is three scripts of three tags sent in one round
  trip: ``WRITE_GRANT`` (the members, refused when the grant's tombstone exists),
  ``CLIENT_INDEX`` (the ``idx:client`` entry, only while the client record has the
  generation the issuer authenticated) and ``SUBJECT_INDEX`` (the ``idx:user`` or
  ``idx:own`` entry). Removing a client deletes its record first, then sweeps
  ``idx:client``: a grant indexed before the deletion is found by the sweep, which
  revokes it and leaves a tombstone (``gone:{g}``) that refuses a grant write still in
  flight, whichever node answers first; an index entry refused after the deletion makes
  the issuer revoke what it wrote and raise ``ClientRemoved``. Tokens are only handed out
  once all three succeeded. A client acting for itself (client credentials) has both
  indexes under its own tag: ``INDEXES`` does the two index steps as one. Its grant id is
  also drawn so that ``{g}``'s slot is on the primary serving ``{<client_id>}`` (by the
  slot map as last read, its last character chosen among 64;
  ``_gateway.cluster.ClusterRouter.near``): the two
  scripts, then the sweep of what the cap displaced, each go to one node.
  Nothing relies on it: every key is routed by its own slot, so after a reshard or a
  failover a grant off its client's node costs a node trip, never a guarantee. Not the
  client's slot itself (one script, as on a single node): every grant of a busy client
  would then sit in one slot, which a reshard can move but never split, and its id would
  have to be forged to one CRC16 value (of 16384) rather than drawn. Nor a user's grants: unbounded
  in number per client, they would pile onto one node; a client's own are capped.
* The cap of a subject's grants: ``SUBJECT_INDEX`` moves the grants past the cap from
  the index into the subject's displaced set (``:out``, same tag) in the step that adds
  the new one, so the index stays within the cap however many issue at once; the issuer
  then revokes each displaced grant (its own tag) and only then drops it from the
  displaced set and its client's index. Revoking a user sweeps the displaced set too, so
  an issuer that dies midway leaves no live grant out of reach of a logout. A client's
  own grants (``INDEXES``) need no displaced set: they leave ``idx:own`` only, and stay in
  ``idx:client`` (same tag), which revoking the client's grants walks, until the issuer
  has revoked them; the issuer's next ``INDEXES`` of that client then drops them from
  there, in the round trip that issue sends anyway (``_sweep``: an entry of a swept grant
  is harmless meanwhile, and one left by a process that ended first is swept with the
  client's grants or pruned by its score). (On a single node, below, the issuing script
  revokes them itself.) A swept grant's ``children`` are read by the
  sweeping script itself (``SWEEP_GRANT``), after it deleted the grant's tokens.
* Revoking every grant of a user or a client, or what an interrupted client removal left
  (``_revocation``, ``_sweep``): ZSCAN pages of one index, one ``SWEEP_GRANT`` per grant
  (its tag), then ``ZREM`` per index (each one key). Idempotent: a retried sweep finds
  nothing more to delete; a grant is revoked before any index forgets it.
* Registering a client: the ``{registry}`` listing is written before the record, so a
  client is never unlisted; a refused edit never lists an id again. An RFC 7591
  registration reserves its place under the cap first, then writes the record only if
  the id is free, and gives the place back otherwise.
* Dynamic-client expiry (``_clients``): the record's TTL lives in the client's slot, its
  last use in ``{registry}``. ``TOUCH`` restarts the record's TTL, then notes the use
  (pipelined, each one key). The sweep of expired registrations reads the stale ids from
  ``clients:used``, checks each record's PTTL in its own slot, and only then removes the
  ids whose record is gone (``FORGET_EXPIRED``, one ``{registry}`` script that skips an
  id used since); an id written again meanwhile (a host taking it over) is listed again
  once the removal sees its record. Idempotent; the cap check that follows counts only
  what is left.
* A metadata-document client (``_documents``): a new one reserves its place under the
  cap in ``{registry}`` first (``RESERVE_DOCUMENT``), then the record is written only if
  its id is still free (``STORE``, its own slot), then the ``document`` state is set (its
  own tag). A refused write leaves the place taken only when a record of that id exists
  (the id is then rightly listed); a refresh writes over the record it read only.
  A process dying midway leaves at most a listed id without a record (listing skips it,
  the next fetch writes it) or a record without a fresh state (fetched again).
* Listing clients or tokens (the admin's paging and search) reads one index or set, then
  each record by its own key: single-key commands the gateway routes per node.
* A person's own grants (``_connected``, the connected-apps page): listing reads the
  ``idx:user`` index, then each grant's members and records, single-key commands. Revoking
  one never trusts the id posted: ``SWEEP_OWNED`` checks, in the grant's slot, that every
  record of it names that user as a user (and the client, when one is named), and sweeps
  it in the same step, then the ids leave ``idx:user`` and ``idx:client`` (one ``ZREM``
  each). Disconnecting a client forgets the ``remembered`` entry first (the user's slot),
  then runs ``SWEEP_OWNED`` with that client over ZSCAN pages of ``idx:user``. A grant's
  owner never changes, so no step between the index read and the sweep can make another
  person's grant pass the check.

On a single node (and the embedded store) every key is on one server, so the gateway
knows it needs no split: issuing runs the three bodies as one script
(``_grant_scripts.ISSUE``), which writes nothing unless the tombstone is absent and the
client stands, and revokes the grants the cap displaces in the same step (their keys,
their entries in the subject's and their client's index, built from ``Keys.heads``), as
before cluster support: the displaced set stays empty, and a displaced grant leaves no
tombstone, which guards against nothing here: its index entries and members were written
in one step (a resent issue of it writes both again, within the cap), and every later
write to a grant first checks a record that the revocation deleted.
It also reads the grants exchanged from each displaced one, in the same step, for the
issuer to revoke in turn (:mod:`._exchange`). Single-node users pay one script, one round
trip, per issue, however full the cap.

The change in guarantee on a cluster against a single node: issuing is no longer one
atomic step. Nor is an event with the script it records (``_events``): on one server
the script appends its event itself (an acknowledged change always has its event); on a
cluster the stream is in its own slot, so the event is appended in the round trip after
the script answered, before the caller is answered: a process dying between the two
leaves a change without its event, never an event without its change.
A process that dies between the three scripts leaves at most a grant nobody received
(its tokens were never answered; it expires with its TTL) or index entries of a grant
that does not exist (pruned by the next sweep or by their score). An issue racing a
logout (``revoke_user``) that finds the grant's tombstone is refused as if its client
were removed (the caller answers an error; nothing is issued).

Which repository writes which keys (each also owns the Lua scripts that write them):
``_exchange`` ``children``; ``_grants``, ``_revocation`` and ``_sweep`` the grant keys
(``at``, ``rt``, ``code``, ``members``, ``gone``) and the ``idx`` indexes, which ``_tokens``
and ``_authn`` only read;
``_clients`` ``client`` and ``clients`` (``:dynamic``, ``:used``); ``_documents``
``clients:{registry}:documents`` and ``document``; ``_keys`` ``signing``; ``_scopes``
``scopes``; ``_consent`` ``txn`` and ``txns``; ``_pushed`` ``par`` and ``pars``; ``_device``
``device``, ``usercode`` and ``devices``; ``_dpop`` ``dpop``; ``_remembered`` ``remembered``
(its schema is in that module's docstring); ``_throttle`` ``throttle`` and ``attempts``;
the gateway's local cache ``cache:generation``; ``_events`` ``events``.

=================================  ======  ===============================  =================
key                                type    value                            TTL
=================================  ======  ===============================  =================
P client:{<client_id>}             string  JSON client (secret as a hash,   none
                                           ``generation``: random per
                                           registration)
P clients:{registry}               set     every client id                  none
P clients:{registry}:dynamic       set     ids registered by RFC 7591       none
P clients:{registry}:used          zset    dynamic id -> last used (s)      none
P clients:{registry}:documents     set     ids that are metadata-document   none
                                           URLs (CIMD), capped
P document:{<sha(url)>}            string  ``ok`` or ``failed``: the last   document's cache
                                           fetch of that client id URL      or failure TTL
P scopes                           hash    identifier -> JSON title/enabled none
P at:{g}:<sha>                     string  JSON access token record         token lifetime
P rt:{g}                           string  JSON refresh record of grant g   refresh lifetime
P rt:{g}:<sha>                     string  JSON refresh record, schema 0    refresh lifetime
P code:{g}:<sha>                   string  JSON authorization code record   code lifetime
P members:{g}                      set     the live keys above of grant g   longest member
P gone:{g}                         string  "1": grant g was swept           ``TOMBSTONE_MS``
P children:{g}                     zset    grant id exchanged from g (RFC   its longest child
                                           8693) -> expiry (ms, Redis)
P idx:user:{<sha(user)>}           zset    grant id -> expiry (ms, Redis)   latest expiry
P idx:user:{<sha(user)>}:out       zset    displaced grant id -> expiry     latest expiry
P idx:client:{<client_id>}         zset    grant id -> expiry (ms, Redis)   latest expiry
P idx:own:{<client_id>}            zset    grant id -> expiry (ms, Redis)   latest expiry
P idx:own:{<client_id>}:out        zset    displaced grant id -> expiry     latest expiry
P txn:{<sha(user)>}:<sha>          string  JSON pending authorization       consent lifetime
P txns:{<sha(user)>}               zset    txn <sha> -> stored at (ms)      consent lifetime
P par:{<sha(client)>}:<sha>        string  JSON pushed authorization req.   ``par_lifetime``
P pars:{<sha(client)>}             zset    par <sha> -> stored at (ms)      ``par_lifetime``
P remembered:{<sha(user)>}         hash    client id -> JSON consent        longest entry
P remembered:{<sha(user)>}:expiry  zset    client id -> expiry (ms)         longest entry
P throttle:<b>:{<sha>}             hash    count, ends (window end, ms)     throttle window
P throttle:<b>:{<sha>}:<a>         hash    count, ends, from one caller     throttle window
P attempts:<b>:{<sha>}:<a>         zset    attempt id -> hold end (ms)      ``attempt_timeout``
P device:{<sha>}                   hash    device authorization request     expiry + grace
                                           (RFC 8628: state, interval, ...)
P usercode:<sha>                   string  <sha> of its device code         expiry
P devices:{<sha(client)>}          zset    device <sha> -> expiry (ms)      longest entry
P cache:generation                 string  random; only with local_cache    none
P signing:{signing}:keys           hash    kid -> JSON sealed signing key   none
P signing:{signing}:current        hash    alg -> kid of its current key    none
P signing:{signing}:retire         hash    kid -> end of publication (s)    none
P events:{events}                  stream  audit events, fields as strings  none: ``MAXLEN ~``
                                           (``_events``)                    retention
=================================  ======  ===============================  =================

Key schema 1 (before this version) spelled ``client:<id>``, ``clients``,
``clients:dynamic``, ``clients:used``, ``clients:documents``, ``document:<sha>``,
``signing:keys``, ``signing:current``, ``signing:retire``, ``idx:user:<sha>``,
``idx:client:<id>`` and ``idx:own:<id>`` without tags: this version does not read them.
Move such a store with ``store export`` (from the previous version) and ``store import``
(this one renames those keys, :func:`current_name`).

The signing keys (``_keys``, which owns these three keys and their scripts) are an
operator's handful, not per-user state: one current key per algorithm, plus the
rotated-out ones still published (each with its ``retire`` time), at most
``_keys.MAX_SIGNING_KEYS`` records. A key record is written once and never changed: its
private key is sealed (AES-GCM, bound to its kid and alg) before it reaches the store.

Refresh rotation (schema version 1, ``codec.SCHEMA_VERSION``) keeps one refresh
record per grant, ``rt:{g}``: the current token's SHA-256 ``digest`` (the nonce
that makes rotation single use), its ``generation`` and the grant's ``seal_key``.
Rotating rewrites that record in place: a rotated-away token leaves nothing
behind, and is still recognised because every refresh token of the grant carries
a seal of that key (``security.new_refresh_token``). The refresh lifetime is
sliding: each new refresh token lives the full lifetime from its issue, so a
grant lives while it is refreshed within that time, and ``rt:{g}``'s TTL is that
of its current token. Schema 0 (older versions) kept every refresh token as
``rt:{g}:<sha>``, marked ``rotated`` after use; such records are still read and
rotated, into ``rt:{g}``, and expire on their own.

A grant is bounded whatever its clients do: ``members:{g}`` holds ``rt:{g}``,
at most one code, and at most ``limits.GRANT_ACCESS_TOKENS`` access tokens,
because each rotation drops members that expired and, beyond that number, the
access tokens closest to expiry (schema 0 grants keep their older records until
these expire). A rotation extends ``members:{g}`` and the index entries to the
new tokens' lifetimes when those end later (the sliding lifetime above); a
rotated-away token renews nothing.

A consent transaction, once taken, stays 60 s as ``taken:<attempt id>:<JSON>`` so
that a resent take by the same attempt still finds it (``_consent.TAKE_PENDING``).
A user's consent transactions and their ``txns`` index share the hash tag of the
user's digest, so the script that stores one and drops the user's oldest past
the cap (``_consent.PUT_PENDING``), and the one that takes one, touch one slot.
The index holds at most ``max_pending_consents`` live transactions (score: the
order they were stored in); taking a transaction removes it from the index.

A pushed authorization request (RFC 9126) lives under the digest of its ``request_uri``'s
random part, in the slot of its client's digest with that client's ``pars`` index, which
holds at most ``max_pushed_requests`` (oldest dropped) and is written and taken by the
consent scripts, which serve any record and its index (``_pushed``).

A device authorization request (RFC 8628) is tagged by its device code's digest, its
``usercode`` pointer by its own key, its client's ``devices`` index by the client's digest:
creating one is three single-slot steps (claim the user code with ``SET NX``, index and
evict past the cap, write the record unless an eviction's tombstone is there), and every
later step touches the request's one key (``_device``).

A throttle counter of bucket ``<b>`` counts failures of one subject (a client id,
a normalised username: ``<sha>`` is its digest) from every caller, or from one caller address
(``<a>``, the address's digest). Both share the subject's hash tag, so the one
script that counts a failure in both touches one slot. ``attempts`` (same tag) holds
the password checks of one subject from one caller that are running right now
(``_throttle_scripts.RESERVE_ATTEMPT``): at most the caller's allowance, each member scored by
when it stops counting, and removed when its check ends.

Every grant is in its client's ``idx:client`` index, and in its subject's: ``idx:user``
for a user, ``idx:own`` for a client acting for itself (client credentials; grants
written before that index existed are in ``idx:client`` only).
``_grant_scripts.SUBJECT_INDEX`` keeps a subject's index at most ``max_grants_per_user``
(``idx:user``) or ``max_grants_per_client`` (``idx:own``) entries: past that it displaces
the entries with the lowest score (earliest expiry), which are then revoked and dropped
from every index (above). ``idx:client`` is not capped (it holds all the grants of all
the users of a client); it is bounded by its users' caps and its own.

An index entry's score is the grant's latest expiry by Redis's clock (``TIME``, in ms to
the microsecond): the scripts that write one (``_grant_scripts.INDEX_ADD``,
``CLIENT_INDEX``, ``SUBJECT_INDEX``) are given the grant's TTL, add Redis's now, prune by
it and set the index's PEXPIREAT from it, the clock its keys expire by. No process's clock
enters an index: one running ahead would prune other hosts' live grants out of every
sweep's reach, one running behind would lose its own (the index expiring before them), and
the cap would displace grants out of order. Grants of one lifetime are thus displaced in
the order they were issued; an entry is pruned a second after its score.

Client ids are restricted to URL-safe characters at registration, so they are
safe inside a key; user ids are free text and appear only as a digest. The one other
kind of client id, the https URL of a Client ID Metadata Document, is held to a grammar
without braces, spaces, globs or control characters (``server/client_documents.py``).
A document client's record, its id in ``clients`` and ``clients:documents`` (under
its cap) and its ``document`` state are written in three steps (above).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from oauth_middleware.security import digest

#: The key schema's version: 2 gave every key a hash tag (see above for moving a store of 1).
KEY_SCHEMA = 2
#: Prefix of every key unless the store is given another one.
DEFAULT_PREFIX = "om:"


def check_prefix(prefix: str) -> str:
    """``prefix``, unless it is empty or holds a brace, a glob character or a space
    (``ValueError``): it starts every key, hash tags and SCAN patterns included."""
    if not prefix or any(ch in prefix for ch in "{}*?[] "):
        raise ValueError("prefix must be non-empty without braces, globs or spaces, e.g. 'om:'")
    return prefix
#: Index score used for grants that never expire (ms; far beyond any real expiry).
NEVER_MS = 2**52


def _throttle(prefix: str, bucket: str, key: str, address: str | None,
              kind: str = "throttle") -> str:
    name = f"{prefix}{kind}:{bucket}:{{{digest(key)}}}"
    return name if address is None else f"{name}:{digest(address)}"


#: Every failed or throttled request names counters of its subject, so recent names are kept
#: (bounded: 4096 names of keys up to ``_MEMO_KEY`` characters; longer keys are not kept).
_throttle_memo = lru_cache(maxsize=4096)(_throttle)
_MEMO_KEY = 128


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    def client(self, client_id: str) -> str:
        return f"{self.prefix}client:{{{client_id}}}"

    @property
    def clients(self) -> str:
        return f"{self.prefix}clients:{{registry}}"

    @property
    def dynamic_clients(self) -> str:
        """The ids of clients registered through RFC 7591, counted against their cap."""
        return f"{self.prefix}clients:{{registry}}:dynamic"

    @property
    def document_clients(self) -> str:
        """The ids of clients known by a metadata document, counted against their cap."""
        return f"{self.prefix}clients:{{registry}}:documents"

    def document(self, url: str) -> str:
        """The state of the last fetch of the metadata document at ``url``."""
        return f"{self.prefix}document:{{{digest(url)}}}"

    @property
    def dynamic_used(self) -> str:
        """Dynamic client id -> when it last registered or got a code or token (seconds)."""
        return f"{self.prefix}clients:{{registry}}:used"

    @property
    def scopes(self) -> str:
        return f"{self.prefix}scopes"

    def access(self, grant_id: str, sha: str) -> str:
        return f"{self.prefix}at:{{{grant_id}}}:{sha}"

    def refresh(self, grant_id: str) -> str:
        """The grant's one refresh record (schema 1)."""
        return f"{self.prefix}rt:{{{grant_id}}}"

    def legacy_refresh(self, grant_id: str, sha: str) -> str:
        """A refresh token's own record, as schema 0 wrote it (read and rotated, never written)."""
        return f"{self.prefix}rt:{{{grant_id}}}:{sha}"

    def code(self, grant_id: str, sha: str) -> str:
        return f"{self.prefix}code:{{{grant_id}}}:{sha}"

    def members(self, grant_id: str) -> str:
        return f"{self.prefix}members:{{{grant_id}}}"

    def children(self, grant_id: str) -> str:
        """The grants exchanged from ``grant_id`` (RFC 8693), in its slot (``_exchange``)."""
        return f"{self.prefix}children:{{{grant_id}}}"

    def gone(self, grant_id: str) -> str:
        """The tombstone a sweep leaves: a grant write that arrives later is refused."""
        return f"{self.prefix}gone:{{{grant_id}}}"

    def user_index(self, user: str) -> str:
        return f"{self.prefix}idx:user:{{{digest(user)}}}"

    def client_index(self, client_id: str) -> str:
        return f"{self.prefix}idx:client:{{{client_id}}}"

    def own_index(self, client_id: str) -> str:
        """The grants a client holds as itself (client credentials), capped like a user's."""
        return f"{self.prefix}idx:own:{{{client_id}}}"

    @property
    def heads(self) -> tuple[str, str, str]:
        """What the ``members``, ``children`` and ``client_index`` keys of an id start with
        (each is that, the id, then ``}``): the single-node issuing script builds the keys
        of the grants it displaces from them (``_grant_scripts.ISSUE``)."""
        return (f"{self.prefix}members:{{", f"{self.prefix}children:{{",
                f"{self.prefix}idx:client:{{")

    @staticmethod
    def displaced(index: str) -> str:
        """Grants a subject index displaced past its cap and not yet swept (same slot)."""
        return f"{index}:out"

    def subject_index(self, subject: str, subject_type: str) -> str:
        """Client-credentials grants are indexed under the client's own index, user grants
        under the user (each grant is in its client's ``client_index`` as well)."""
        if subject_type == "client":
            return self.own_index(subject)
        return self.user_index(subject)

    def pending(self, user: str, sha: str) -> str:
        """A consent transaction, in the slot of its user (see :meth:`pending_index`)."""
        return f"{self.pending_prefix(user)}{sha}"

    def pending_prefix(self, user: str) -> str:
        """What every consent transaction key of ``user`` starts with (the script needs it)."""
        return f"{self.prefix}txn:{{{digest(user)}}}:"

    def pending_index(self, user: str) -> str:
        """The user's live consent transactions: what bounds how many one user can keep."""
        return f"{self.prefix}txns:{{{digest(user)}}}"

    def pushed(self, client_id: str, sha: str) -> str:
        """A pushed authorization request of ``client_id`` (RFC 9126 §2.2)."""
        return f"{self.pushed_prefix(client_id)}{sha}"

    def pushed_prefix(self, client_id: str) -> str:
        """What every pushed request key of ``client_id`` starts with (the script needs it)."""
        return f"{self.prefix}par:{{{digest(client_id)}}}:"

    def pushed_index(self, client_id: str) -> str:
        """The client's live pushed requests: what bounds how many one client can keep."""
        return f"{self.prefix}pars:{{{digest(client_id)}}}"

    def remembered(self, user: str) -> str:
        """The consents ``user`` approved and the server remembers, one field per client."""
        return f"{self.prefix}remembered:{{{digest(user)}}}"

    def remembered_index(self, user: str) -> str:
        """When each of :meth:`remembered`'s entries expires: what bounds them per user."""
        return f"{self.remembered(user)}:expiry"

    @property
    def remembered_pattern(self) -> str:
        """SCAN pattern matching every user's :meth:`remembered` hash (not its index)."""
        return f"{self.prefix}remembered:{{*}}"

    def device(self, sha: str) -> str:
        """A device authorization request (RFC 8628), by its device code's digest, which
        is also its hash tag: every script on a request touches that one key."""
        return f"{self.prefix}device:{{{sha}}}"

    def user_code(self, sha: str) -> str:
        """Which device code a user code names, by the normalised user code's digest."""
        return f"{self.prefix}usercode:{sha}"

    def device_index(self, client_id: str) -> str:
        """A client's waiting device codes: what bounds how many it can keep; tagged by
        the client id's digest (any id, braces too, makes one well-formed tag)."""
        return f"{self.prefix}devices:{{{digest(client_id)}}}"

    def throttle(self, bucket: str, key: str, address: str | None = None) -> str:
        """The counter of ``key`` in ``bucket``: from every caller, or from ``address`` only."""
        if len(key) > _MEMO_KEY or (address is not None and len(address) > _MEMO_KEY):
            return _throttle(self.prefix, bucket, key, address)
        return _throttle_memo(self.prefix, bucket, key, address)

    def attempts(self, bucket: str, key: str, address: str) -> str:
        """The attempts of ``key`` in ``bucket`` from ``address`` being checked right now."""
        if len(key) > _MEMO_KEY or len(address) > _MEMO_KEY:
            return _throttle(self.prefix, bucket, key, address, "attempts")
        return _throttle_memo(self.prefix, bucket, key, address, "attempts")

    def dpop_jti(self, sha: str) -> str:
        """A DPoP proof seen (RFC 9449 §11.1): the digest of its key thumbprint and ``jti``,
        kept until the proof would be too old to accept anyway."""
        return f"{self.prefix}dpop:jti:{{{sha}}}"

    def dpop_nonce(self, window: int) -> str:
        """The server's DPoP nonce (RFC 9449 §8) for one time window, shared by every worker."""
        return f"{self.prefix}dpop:nonce:{window}"

    @property
    def signing_keys(self) -> str:
        """Every signing key record, sealed, by kid (``_keys``)."""
        return f"{self.prefix}signing:{{signing}}:keys"

    @property
    def signing_current(self) -> str:
        """The kid each algorithm signs with now."""
        return f"{self.prefix}signing:{{signing}}:current"

    @property
    def signing_retire(self) -> str:
        """When each rotated-out key stops being published (seconds since the epoch)."""
        return f"{self.prefix}signing:{{signing}}:retire"

    @property
    def access_prefix(self) -> str:
        """Prefix shared by every access-token key (the local cache tracks it)."""
        return f"{self.prefix}at:"

    @property
    def tracked_prefixes(self) -> tuple[str, ...]:
        """What the local cache keeps, and Redis invalidates: access tokens, clients, the
        scope registry (none is a prefix of another, as Redis requires). Not throttle
        counters: unauthenticated requests write them, and every write of a tracked key
        is a message to every worker."""
        return (self.access_prefix, f"{self.prefix}client:", self.scopes)

    @property
    def events(self) -> str:
        """The audit trail: one stream, bounded by ``MAXLEN ~`` on every append."""
        return f"{self.prefix}events:{{events}}"

    @property
    def cache_generation(self) -> str:
        """A random value the local cache compares to notice a swapped database."""
        return f"{self.prefix}cache:generation"

    @property
    def access_pattern(self) -> str:
        """SCAN pattern matching every access-token key."""
        return f"{self.prefix}at:*"

    def is_access(self, key: str) -> bool:
        return key.startswith(f"{self.prefix}at:{{")


_ID = r"[A-Za-z0-9._~-]{1,128}"
_GRANT = r"\{[A-Za-z0-9_-]{1,64}\}"
_SHA = r"[0-9a-f]{64}"
_TAG = r"\{[0-9a-f]{64}\}"
#: A client id in its tag: a registered id, or a metadata document's https URL (printable,
#: no brace, glob or space; ``server/client_documents.py`` holds it to 255 characters).
_CID = r"\{(?:[A-Za-z0-9._~-]{1,128}|https://(?:(?![{}*?\[\]])[!-~]){1,247})\}"
_BUCKET = r"[A-Za-z0-9_.-]{1,64}"

#: Every kind of key above, for the tools that move data (``store export``, ``store import``)
#: and for ``store check``: its name, the Redis type it holds and the shape of the key after
#: the prefix. A key under the prefix that matches none (or holds another type) is unknown.
KINDS: dict[str, tuple[str, re.Pattern[str]]] = {
    kind: (redis_type, re.compile(shape)) for kind, redis_type, shape in (
        ("client", "string", f"client:{_CID}"),
        ("clients", "set", r"clients:\{registry\}"),
        ("dynamic_clients", "set", r"clients:\{registry\}:dynamic"),
        ("dynamic_used", "zset", r"clients:\{registry\}:used"),
        ("document_clients", "set", r"clients:\{registry\}:documents"),
        ("document_state", "string", f"document:{_TAG}"),
        ("scopes", "hash", "scopes"),
        ("access_token", "string", f"at:{_GRANT}:{_SHA}"),
        ("refresh_token", "string", f"rt:{_GRANT}(?::{_SHA})?"),
        ("code", "string", f"code:{_GRANT}:{_SHA}"),
        ("grant_members", "set", f"members:{_GRANT}"),
        ("exchanged_grants", "zset", f"children:{_GRANT}"),
        ("grant_tombstone", "string", f"gone:{_GRANT}"),
        ("user_index", "zset", f"idx:user:{_TAG}"),
        ("client_index", "zset", f"idx:client:{_CID}"),
        ("own_index", "zset", f"idx:own:{_CID}"),
        ("displaced", "zset", f"idx:(?:user:{_TAG}|own:{_CID}):out"),
        ("consent", "string", f"txn:{_TAG}:{_SHA}"),
        ("consent_index", "zset", f"txns:{_TAG}"),
        ("pushed_request", "string", f"par:{_TAG}:{_SHA}"),
        ("pushed_index", "zset", f"pars:{_TAG}"),
        ("remembered_consents", "hash", f"remembered:{_TAG}"),
        ("remembered_index", "zset", f"remembered:{_TAG}:expiry"),
        ("throttle", "hash", f"throttle:{_BUCKET}:{_TAG}(?::{_SHA})?"),
        ("attempts", "zset", f"attempts:{_BUCKET}:{_TAG}:{_SHA}"),
        ("device", "hash", f"device:{_TAG}"),
        ("user_code", "string", f"usercode:{_SHA}"),
        ("device_index", "zset", f"devices:{_TAG}"),
        ("cache_generation", "string", "cache:generation"),
        ("events", "stream", r"events:\{events\}"),
        ("signing_keys", "hash", r"signing:\{signing\}:keys"),
        ("signing_current", "hash", r"signing:\{signing\}:current"),
        ("signing_retire", "hash", r"signing:\{signing\}:retire"),
        ("dpop_jti", "string", f"dpop:jti:{_TAG}"),
        ("dpop_nonce", "string", "dpop:nonce:[0-9]{1,20}"),
    )
}


def kind_of(name: str) -> str | None:
    """The kind of the key whose name after the prefix is ``name``; None: not of this schema."""
    for kind, (_, shape) in KINDS.items():
        if shape.fullmatch(name):
            return kind
    return None


#: Key schema 1 (before hash tags per client and per user): shape after the prefix -> the
#: schema-2 name. ``store import`` renames such keys, so an export of an older store
#: restores into this one (:func:`current_name`).
_LEGACY: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(shape), new) for shape, new in (
        (f"client:({_ID})", r"client:{\1}"),
        ("clients", "clients:{registry}"),
        ("clients:dynamic", "clients:{registry}:dynamic"),
        ("clients:used", "clients:{registry}:used"),
        ("clients:documents", "clients:{registry}:documents"),
        (f"document:({_SHA})", r"document:{\1}"),
        ("signing:(keys|current|retire)", r"signing:{signing}:\1"),
        (f"idx:user:({_SHA})", r"idx:user:{\1}"),
        (f"idx:(client|own):({_ID})", r"idx:\1:{\2}"),
    ))


def current_name(name: str) -> str:
    """``name`` (after the prefix) in this key schema: a schema-1 name renamed, else as is."""
    if kind_of(name) is not None:
        return name
    for shape, new in _LEGACY:
        if shape.fullmatch(name):
            return shape.sub(new, name)
    return name
