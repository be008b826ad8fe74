"""Mutation testing of the security-critical modules (``scripts/mutate``, mutmut)."""
