"""Token sources beside the store, for tokens another server issued (``verifier=``).

:class:`~oauth_middleware.verifiers.jwt.JWTVerifier` checks RFC 9068 JWT access
tokens against an issuer's published keys (:mod:`.jwks`);
:class:`~oauth_middleware.verifiers.introspection.IntrospectionVerifier` asks an
RFC 7662 introspection endpoint (with a client-credentials token of its own when the
server wants one, :mod:`.service_token`). Both fetch over :mod:`.remote` and need an
extra (``jwt``, ``introspection``); they are imported only when asked for.
"""
