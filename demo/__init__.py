"""The oauth_middleware demo: the seed's polls example, protected end to end."""
