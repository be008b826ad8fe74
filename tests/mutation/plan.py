"""Which modules ``scripts/mutate`` mutates, and the fast test files that exercise each.

Fast means in-process on fakeredis: no browser, no uvicorn, no real redis-server
(``--backends fake`` is set in ``[tool.mutmut]``). Kept apart from the runner so
the suite can check every path here still exists (tests/test_mutation_plan.py)
without mutmut installed.
"""

from __future__ import annotations

import argparse

_MIDDLEWARE = ("tests/test_middleware.py", "tests/test_extraction.py",
               "tests/test_decorators.py", "tests/test_dependencies.py",
               "tests/test_scope_all_required.py", "tests/reliability/test_size_limits.py",
               "tests/test_body.py", "tests/test_identity.py",
               # wave 2: one refusal renderer, local HTTP, CORS, resource metadata, audiences
               "tests/test_refusals.py", "tests/test_transport.py", "tests/test_cors.py",
               "tests/test_preflight_guard.py", "tests/test_resource_metadata.py",
               "tests/test_method_case.py", "tests/test_path_slashes.py",
               "tests/test_nested_middlewares.py", "tests/test_verifier.py",
               "tests/test_openapi.py",
               # the startup checks of scope keys, whose messages name the middleware
               "tests/test_settings_checks.py")
_AUTHORIZE = ("tests/server/test_authorize_validation.py", "tests/server/test_authorize_errors.py",
              "tests/server/test_authorize_consent.py", "tests/server/test_authorize_pkce.py",
              "tests/server/test_authorize_bearer.py",
              "tests/server/test_authorize_pending_bound.py",
              "tests/server/test_authorize_removed_client.py",
              # wave 2: the resource indicators of an authorization request
              "tests/server/test_resource_indicators.py")
_TOKEN = ("tests/server/test_grants.py", "tests/server/test_client_auth.py",
          "tests/server/test_revoke.py", "tests/server/test_introspect.py",
          "tests/server/test_throttle.py", "tests/server/test_grants_cap.py",
          "tests/server/test_refresh_rotation.py", "tests/server/test_grants_edges.py",
          # wave 2: the grant registry, resource indicators, registered clients,
          # and the code and refresh records the grants redeem
          "tests/server/test_grant_registry.py", "tests/server/test_resource_indicators.py",
          "tests/server/test_registration.py", "tests/server/test_registration_management.py",
          "tests/test_code_store.py", "tests/test_refresh_store.py")
_STORE = ("tests/test_store.py", "tests/test_batch.py", "tests/test_pipelines.py",
          "tests/test_grant_cap.py", "tests/test_rotation.py", "tests/toolbox/test_removal.py",
          "tests/toolbox/test_index_paging.py", "tests/test_code_store.py",
          "tests/test_refresh_store.py", "tests/test_durable_store_writes.py",
          # the repositories at their edges: counts, progress, paging, Retry-After;
          # and a grant issued by the cluster's split scripts, on one server
          "tests/test_repository_edges.py", "tests/test_split_issue.py")
_GATEWAY = ("tests/test_cache.py", "tests/test_unavailable.py", "tests/test_store_urls.py",
            "tests/test_durability.py", "tests/test_gateway_faults.py",
            "tests/test_durability_wait.py", "tests/test_store_url_refusals.py",
            "tests/test_redis_health_checks.py", "tests/test_cache_listener.py",
            "tests/test_gateway_reads.py", "tests/test_invalidation_protocol.py",
            "tests/test_gateway_edges.py", "tests/test_packing.py",
            # the cluster test that needs no cluster (a node id: the rest start one)
            "tests/test_cluster.py::test_a_cluster_none_of_whose_nodes_answers_is_a_503_never_a_500",
            # monitoring.py: the readiness checks and the counts a scrape reads (the other
            # tests of the last two files kill a redis-server of their own, or need tracking)
            "tests/test_store_monitoring.py",
            "tests/test_health.py::test_readyz_loads_the_scripts_a_flushed_redis_lost",
            "tests/test_health.py::test_a_health_app_needs_a_store_and_a_sane_timeout",
            "tests/test_metrics.py::test_metrics_expose_every_series_with_its_labels_after_a_few_requests")

#: Each security-critical module and the fast test files that exercise it.
MODULES: dict[str, tuple[str, ...]] = {
    "oauth_middleware/middleware.py": _MIDDLEWARE,
    "oauth_middleware/body.py": _MIDDLEWARE,
    "oauth_middleware/extraction.py": ("tests/test_extraction.py", "tests/test_middleware.py",
                                       "tests/reliability/test_size_limits.py"),
    "oauth_middleware/scopes.py": ("tests/test_scopes.py", *_MIDDLEWARE),
    "oauth_middleware/decorators.py": _MIDDLEWARE,
    "oauth_middleware/dependencies.py": _MIDDLEWARE,
    # Who is a logged-in person and who only holds a token (the consent bypass).
    "oauth_middleware/identity.py": ("tests/test_identity.py",
                                     "tests/server/test_authorize_bearer.py",
                                     "tests/admin/test_bearer.py", *_MIDDLEWARE),
    "oauth_middleware/redaction.py": ("tests/server/test_query_redaction.py",),
    "oauth_middleware/hooks.py": ("tests/test_hooks.py", "tests/admin/test_bearer.py",
                                  "tests/server/test_authorize_bearer.py"),
    "oauth_middleware/redirects.py": ("tests/test_redirects.py", *_AUTHORIZE),
    "oauth_middleware/pkce.py": ("tests/test_security.py", "tests/server/test_authorize_pkce.py",
                                 "tests/server/test_grants.py"),
    "oauth_middleware/security.py": ("tests/test_security.py", "tests/test_constant_time.py",
                                     "tests/server/test_secrets.py", *_TOKEN),
    "oauth_middleware/csrf.py": ("tests/test_csrf.py", "tests/server/test_authorize_consent.py"),
    "oauth_middleware/server/client_auth.py": (*_TOKEN, "tests/reliability/test_size_limits.py"),
    # Each grant owns both halves of its flow: the token request and the authorization page.
    "oauth_middleware/server/grants/*": (*_TOKEN, *_AUTHORIZE),
    "oauth_middleware/server/throttle.py": ("tests/server/test_throttle.py",
                                            "tests/server/test_throttle_attempts.py"),
    "oauth_middleware/server/consent.py": ("tests/test_csrf.py", *_AUTHORIZE),
    "oauth_middleware/server/authorization_request.py": _AUTHORIZE,
    "oauth_middleware/server/remembered.py": ("tests/server/test_authorize_remembered.py",),
    "oauth_middleware/server/end_session.py": ("tests/server/test_end_session.py",
                                               "tests/oidc/test_logout.py"),
    "oauth_middleware/server/id_token_hint.py": ("tests/server/test_end_session.py",
                                                 "tests/oidc/test_prompt.py",
                                                 "tests/oidc/test_hint_checks.py",
                                                 "tests/oidc/test_logout.py"),
    # Registration is what answers JSON with another status than 200 (201 Created).
    "oauth_middleware/server/responses.py": (*_AUTHORIZE, "tests/server/test_boundary.py",
                                             "tests/server/test_registration.py",
                                   "tests/test_policy_rules.py"),
    "oauth_middleware/server/pages.py": (*_AUTHORIZE, "tests/server/test_authorize_unavailable.py"),
    "oauth_middleware/web.py": (*_AUTHORIZE, "tests/server/test_boundary.py",
                                "tests/test_identity.py", "tests/admin/test_access.py",
                                "tests/admin/test_bearer.py", "tests/test_oauth_config.py",
                                "tests/server/test_metadata.py", "tests/test_policy_rules.py"),
    # RFC 6749 §3.3 and the registration rules the server and the toolbox share.
    "oauth_middleware/policy.py": (*_TOKEN, *_AUTHORIZE, "tests/toolbox/test_typed_text.py",
                                   "tests/toolbox/test_register.py",
                                   "tests/admin/test_typed_text.py",
                                   "tests/server/test_registration.py",
                                   "tests/test_policy_rules.py"),
    # The callers of the Lua scripts: every check-then-act on Redis.
    "oauth_middleware/store/_grants.py": (*_STORE, *_TOKEN),
    "oauth_middleware/store/_tokens.py": (*_STORE, *_TOKEN, "tests/test_middleware.py",
                                          "tests/test_cache.py",
                                          "tests/server/test_token_cache.py"),
    "oauth_middleware/store/_revocation.py": (*_STORE, *_TOKEN, "tests/test_cache.py",
                                              "tests/test_connected_store.py"),
    # A person's own grants: listed and revoked only by them (the connected-apps page).
    "oauth_middleware/store/_connected.py": ("tests/test_connected_store.py",
                                             "tests/account/test_connected_apps.py"),
    "oauth_middleware/account/*": ("tests/account/test_connected_apps.py",),
    "oauth_middleware/store/_consent.py": (*_STORE, *_AUTHORIZE, "tests/server/test_grants.py"),
    "oauth_middleware/store/_remembered.py": ("tests/test_remembered_store.py",
                                              "tests/server/test_authorize_remembered.py",
                                              "tests/admin/test_consents.py",
                                              "tests/cli/test_consents.py"),
    "oauth_middleware/store/_throttle.py": (*_STORE, "tests/server/test_throttle.py",
                                            "tests/server/test_throttle_attempts.py"),
    "oauth_middleware/store/_minting.py": (*_STORE, *_TOKEN),
    "oauth_middleware/store/_generations.py": (*_STORE, *_TOKEN),
    # Revoking the grants an index names, one script per grant, then the index entries.
    "oauth_middleware/store/_sweep.py": (*_STORE, *_TOKEN, "tests/test_cache.py"),
    # The gateway: connection, 503 mapping, pipelines, batch, cache, durability, URLs, health.
    "oauth_middleware/store/_gateway/*": (*_STORE, *_GATEWAY),
}

#: Modules a pattern above covers that are not mutated, and why. The Redis Cluster
#: router, the per-primary operations and the cluster's local cache run only against a
#: real 3-primary cluster (tests/test_cluster.py, tests/test_cluster_cache.py, the
#: ``cluster`` backend): fakeredis is no cluster, and a cluster started for every mutant
#: would take minutes each. They are left out rather than counted as survivors no fast
#: test could kill (every one of their mutants is "no tests" under the plan).
NOT_MUTATED: dict[str, str] = {
    "oauth_middleware/store/_gateway/cluster.py": "needs a real Redis Cluster",
    "oauth_middleware/store/_gateway/cluster_nodes.py": "needs a real Redis Cluster",
    "oauth_middleware/store/_gateway/cluster_cache.py": "needs a real Redis Cluster",
}


def chosen(argv: list[str]) -> list[str]:
    """The module patterns named on the command line (``pkce.py`` or a path), or all."""
    if not argv:
        return list(MODULES)
    picked = []
    for name in argv:
        found = [m for m in MODULES if m == name or m.endswith("/" + name.removeprefix("./"))]
        if not found:
            raise SystemExit(f"scripts/mutate: {name} is not one of: {', '.join(MODULES)}")
        picked += found
    return picked


def arguments(argv: list[str]) -> argparse.Namespace:
    """``scripts/mutate``'s command line: ``--resume`` or ``--report`` (tests/mutation/
    __main__.py says what each does), then module patterns, :func:`chosen` in ``modules``."""
    parser = argparse.ArgumentParser(prog="scripts/mutate")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--resume", action="store_true",
                     help="keep mutants/ and judge only what has no verdict (or no kill)")
    how.add_argument("--report", action="store_true",
                     help="run nothing: report the verdicts left in mutants/")
    parser.add_argument("modules", nargs="*", help="module patterns of plan.MODULES (all)")
    args = parser.parse_args(argv)
    args.modules = chosen(args.modules)
    return args
