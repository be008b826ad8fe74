"""The ``oauth-middleware`` command line: clients, scopes and tokens in the app's Redis."""

from oauth_middleware.cli.main import main

__all__ = ["main"]
