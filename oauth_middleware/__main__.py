"""``python -m oauth_middleware``: the ``oauth-middleware`` command line."""

from oauth_middleware.cli import main

if __name__ == "__main__":
    main(prog_name="oauth-middleware")
