"""Real Redis topologies on loopback for the tests: Cluster, Sentinel, TLS and an ACL user.

Every server is Debian's ``redis-server`` on a free 127.0.0.1 port, in a temporary
directory of its own; each context manager stops its processes (SIGKILL: nothing
needs to be saved) and removes the directories, whatever the test did.

* :func:`cluster` — ``--cluster-enabled yes`` nodes joined by ``redis-cli --cluster
  create``, ready when every node reports ``cluster_state:ok``; ``replicas=1`` gives
  3 primaries and 3 replicas.
* :func:`sentinel` — a primary, one replica, three ``redis-server --sentinel``.
* :func:`tls_server` — TLS only (``--port 0 --tls-port``), certificates from a test CA
  made with ``cryptography`` (:mod:`tests.ca`), client certificates required;
  ``cluster(tls=True)`` is a cluster that speaks TLS only, bus and replication included.
* :func:`acl_server` — one node whose ``store`` user may only touch keys and channels
  under one prefix, with only the command categories the store needs;
  ``cluster(user=…)`` makes such a user on every node of a cluster.

Waits poll the servers with a deadline (``until``); nothing sleeps to time a behaviour.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from tests.ca import TestAuthority
from tests.redis_process import REDIS_SERVER, free_port

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
#: How long a topology may take to form, or to heal after a kill, before the test fails.
FORM_BOUND = 30.0
SERVICE = "mymaster"
#: A cluster node or a sentinel calls a silent peer failed after this long (milliseconds).
NODE_TIMEOUT_MS = 1000


def until(ready: Callable[[], bool], what: str, bound: float = FORM_BOUND) -> None:
    """Poll ``ready`` until it is true; fail naming ``what`` after ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if ready():
                return
        time.sleep(0.05)  # polling for readiness, not timing a behaviour
    raise RuntimeError(f"{what} did not happen within {bound} s")


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is a port too, and free."""
    while True:
        port = free_port()
        if port + 10000 < 65536 and _free(port + 10000):
            return port


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Node:
    """One ``redis-server`` process (a data node or a sentinel) on ``port``."""

    port: int
    dir: Path
    tls: TestAuthority | None = None
    proc: subprocess.Popen[bytes] | None = None
    admin: redis.Redis | None = field(default=None, repr=False)

    def client(self) -> redis.Redis:
        """The node's synchronous administrator's client (strings, not bytes), closed with
        the node. One per node: a client per call held a socket each until the session
        ended (a hundred and more per cluster test module)."""
        if self.admin is None:
            options: dict[str, object] = {}
            if self.tls is not None:
                options = {"ssl": True, "ssl_ca_certs": str(self.tls.ca_file),
                           "ssl_certfile": str(self.tls.client_cert),
                           "ssl_keyfile": str(self.tls.client_key)}
            self.admin = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2,
                                     decode_responses=True, **options)  # type: ignore[arg-type]
        return self.admin

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ping(self) -> bool:
        if not self.alive():
            raise RuntimeError(f"redis-server on port {self.port} exited")
        return bool(self.client().ping())

    def kill(self) -> None:
        """SIGKILL: the node dies without a word, as a crashed host would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        if self.admin is not None:
            self.admin.close()
            self.admin = None


@dataclass
class Topology:
    """The processes of one topology; :meth:`spawn` adds one, :meth:`close` ends them all."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="om-topo-")))
    nodes: list[Node] = field(default_factory=list)
    #: Every node speaks TLS only, with certificates this test CA signed.
    tls: TestAuthority | None = None

    @classmethod
    def with_tls(cls) -> Topology:
        topology = cls()
        topology.tls = TestAuthority.create(topology.root)
        return topology

    def tls_args(self, port: int) -> list[str]:
        """TLS only, for clients, the cluster bus and replication alike."""
        if self.tls is None:
            return ["--port", str(port)]
        return ["--port", "0", "--tls-port", str(port), "--tls-cert-file",
                str(self.tls.server_cert), "--tls-key-file", str(self.tls.server_key),
                "--tls-ca-cert-file", str(self.tls.ca_file), "--tls-auth-clients", "optional",
                "--tls-replication", "yes", "--tls-cluster", "yes"]

    def spawn(self, *args: str, config: str | None = None, port: int | None = None,
              ping: bool = True) -> Node:
        port = port or free_port()
        node = Node(port, self.root / str(port), self.tls)
        node.dir.mkdir()
        argv = [REDIS_SERVER]
        if config is not None:
            (node.dir / "redis.conf").write_text(config)
            argv.append(str(node.dir / "redis.conf"))
        argv += ["--bind", "127.0.0.1", "--dir", str(node.dir), "--save", "",
                 "--appendonly", "no", "--loglevel", "warning", *self.tls_args(port), *args]
        node.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.nodes.append(node)
        if ping:
            until(node.ping, f"redis-server on port {port}")
        return node

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class Access:
    """How a client reaches a topology: an ACL user (password percent-encoded) and TLS."""

    user: str | None = None
    password: str | None = None
    tls: TestAuthority | None = None

    def userinfo(self) -> str:
        return "" if self.user is None else f"{self.user}:{quote(self.password or '', safe='')}@"

    def query(self, *, ca: bool = True, client_cert: bool = True) -> str:
        if self.tls is None:
            return ""
        options = [f"ssl_ca_certs={self.tls.ca_file}"] if ca else []
        if client_cert:
            options += [f"ssl_certfile={self.tls.client_cert}",
                        f"ssl_keyfile={self.tls.client_key}"]
        return "?" + "&".join(options)

    def scheme(self, kind: str = "") -> str:
        return ("rediss" if self.tls else "redis") + kind


@dataclass
class Cluster:
    primaries: list[Node]
    replicas: list[Node]
    access: Access = field(default_factory=Access)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.primaries)
        return (f"{self.access.scheme('+cluster')}://{self.access.userinfo()}{hosts}"
                f"{self.access.query()}")

    def healthy(self) -> bool:
        """Every live node says ``cluster_state:ok``."""
        live = [n for n in self.primaries + self.replicas if n.alive()]
        return all(n.client().cluster("info")["cluster_state"] == "ok" for n in live)


def _cluster_create(nodes: list[Node], replicas: int, tls: TestAuthority | None) -> None:
    options = [] if tls is None else ["--tls", "--cacert", str(tls.ca_file), "--cert",
                                      str(tls.client_cert), "--key", str(tls.client_key)]
    subprocess.run(
        [REDIS_CLI, *options, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes),
         "--cluster-replicas", str(replicas), "--cluster-yes"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=FORM_BOUND,
    )


@contextlib.contextmanager
def cluster(replicas: int = 0, *, tls: bool = False,
            user: tuple[str, str, str] | None = None) -> Iterator[Cluster]:
    """3 primaries (and ``replicas`` replicas of each) joined into one Redis Cluster; with
    ``tls`` every node, the bus and replication speak TLS only; ``user`` is (name, password,
    key prefix) of an ACL user made on every node (:func:`add_store_user`)."""
    topology = Topology.with_tls() if tls else Topology()
    try:
        nodes = [topology.spawn("--cluster-enabled", "yes", "--cluster-config-file",
                                "nodes.conf", "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                                port=cluster_port())
                 for _ in range(3 * (1 + replicas))]
        _cluster_create(nodes, replicas, topology.tls)
        access = Access(tls=topology.tls)
        if user is not None:
            name, password, prefix = user
            for node in nodes:
                add_store_user(node, name, password, prefix, CLUSTER_COMMANDS)
            access = Access(name, password, topology.tls)
        made = Cluster(nodes[:3], nodes[3:], access)
        until(made.healthy, "cluster_state:ok on every node")
        if replicas:
            until(lambda: all(n.client().info("replication")["master_link_status"] == "up"
                              for n in made.replicas), "every replica in sync")
        yield made
    finally:
        topology.close()


@dataclass
class SentinelSet:
    primary: Node
    replica: Node
    sentinels: list[Node]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def primary_port(self) -> int:
        """The primary's port, as the first sentinel sees it now."""
        address: Any = self.sentinels[0].client().sentinel_get_master_addr_by_name(SERVICE)
        return int(address[1])


def _sentinel_config(primary: int) -> str:
    return "\n".join([
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2",
        f"sentinel down-after-milliseconds {SERVICE} {NODE_TIMEOUT_MS}",
        f"sentinel failover-timeout {SERVICE} 5000",
        f"sentinel parallel-syncs {SERVICE} 1", "",
    ])


def _agrees(sentinel: Node) -> bool:
    """``sentinel`` knows the two other sentinels and the replica."""
    primary: Any = sentinel.client().sentinel_master(SERVICE)
    replicas: Any = sentinel.client().sentinel_slaves(SERVICE)
    return int(primary["num-other-sentinels"]) == 2 and len(replicas) == 1


@contextlib.contextmanager
def sentinel() -> Iterator[SentinelSet]:
    """A primary, its replica and three sentinels that agree on both."""
    topology = Topology()
    try:
        primary = topology.spawn()
        replica = topology.spawn("--replicaof", "127.0.0.1", str(primary.port))
        sentinels = [topology.spawn("--sentinel", config=_sentinel_config(primary.port))
                     for _ in range(3)]
        made = SentinelSet(primary, replica, sentinels)

        def agreed() -> bool:
            return all(_agrees(s) for s in sentinels) and (
                replica.client().info("replication")["master_link_status"] == "up")

        until(agreed, "three sentinels agreeing on the primary and its replica")
        yield made
    finally:
        topology.close()


@dataclass
class TLSServer:
    node: Node
    access: Access

    def url(self, *, ca: bool = True, client_cert: bool = True) -> str:
        return (f"rediss://127.0.0.1:{self.node.port}/0"
                f"{self.access.query(ca=ca, client_cert=client_cert)}")


@contextlib.contextmanager
def tls_server() -> Iterator[TLSServer]:
    """A TLS-only redis-server whose certificate a test CA signed; it wants client certs."""
    topology = Topology.with_tls()
    try:
        node = topology.spawn("--tls-auth-clients", "yes")
        yield TLSServer(node, Access(tls=topology.tls))
    finally:
        topology.close()


#: What the store's ACL user may run: data and scripts, never administration.
STORE_COMMANDS = ("+@read", "+@write", "+@keyspace", "+@scripting", "+@transaction",
                  "+@connection", "+client|setname", "+time", "-@dangerous")
#: A Cluster client also asks any node for the slot map.
CLUSTER_COMMANDS = (*STORE_COMMANDS, "+cluster|slots", "+cluster|shards", "+cluster|nodes",
                    "+readonly", "+readwrite", "+asking")


def add_store_user(node: Node, user: str, password: str, prefix: str,
                   commands: tuple[str, ...] = STORE_COMMANDS) -> None:
    """``ACL SETUSER``: ``user`` may touch keys and channels under ``prefix`` only."""
    node.client().acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=[f"{prefix}*"],
        channels=[f"{prefix}*"], commands=list(commands), reset_keys=True, reset_channels=True)


@dataclass
class ACLServer:
    node: Node
    access: Access

    def url(self) -> str:
        return f"redis://{self.access.userinfo()}127.0.0.1:{self.node.port}/0"


@contextlib.contextmanager
def acl_server(prefix: str = "om:", user: str = "store",
               password: str = "store-pw:/@x") -> Iterator[ACLServer]:
    """One node with a ``user`` limited to keys and channels under ``prefix``.

    The password holds characters a URL reserves, so the URL must percent-encode it.
    """
    topology = Topology()
    try:
        node = topology.spawn()
        add_store_user(node, user, password, prefix)
        yield ACLServer(node, Access(user, password))
    finally:
        topology.close()
