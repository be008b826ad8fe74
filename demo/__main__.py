"""``python -m demo [--host 127.0.0.1] [--port 8000]``: serve the demo with uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

import uvicorn

from demo.app import create_app
from demo.keys import MIN_SECRET_BYTES
from oauth_middleware import TokenStore
from oauth_middleware.security import new_secret


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1",
                        help="a loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if not _loopback(args.host):
        parser.error("the demo allows plain HTTP, so it only binds to a loopback address")
    host = f"[{args.host}]" if ":" in args.host else args.host
    base_url = f"http://{host}:{args.port}"
    redis_url = os.environ.get("REDIS_URL")
    secret = os.environ.get("DEMO_CLIENT_SECRET")
    # Seals the signing keys in the store: with REDIS_URL, the same value on every start
    # keeps them (and every ID token they signed) valid across restarts.
    secret_key = os.environ.get("OAUTH_SECRET_KEY", "")
    if secret_key and len(secret_key.encode()) < MIN_SECRET_BYTES:
        parser.error(f"OAUTH_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes")
    store = TokenStore.from_url(redis_url)
    def announce(client_secret: str) -> None:
        if not secret:
            print("  demo-web client secret (generated, shown once); paste this line into the "
                  "shell you follow docs/walkthrough.md from:", flush=True)
            print(f"  export DEMO_CLIENT_SECRET={client_secret}", flush=True)

    def replaced(kids: list[str]) -> None:
        print(f"  signing keys {', '.join(kids)} were sealed with another OAUTH_SECRET_KEY: "
              "replaced by new ones (ID tokens they signed no longer verify)", flush=True)

    generated = not secret_key
    secret_key = secret_key or new_secret(32)
    app = create_app(base_url=base_url, store=store, client_secret=secret,
                     secret_key=secret_key.encode(), on_seeded=announce,
                     on_keys_replaced=replaced)
    print("oauth_middleware demo")
    print("  WARNING: plain HTTP is allowed only because the demo binds to loopback.")
    where = "Redis at REDIS_URL" if redis_url else (
        "embedded in-process store (no REDIS_URL): data lasts as long as the process")
    print(f"  store: {where}")
    print(f"  open {base_url}/  (users: alice/alice-password, bob/bob-password)")
    if generated and redis_url:
        print("  server secret key (generated); start with it to keep the signing keys in "
              "Redis:")
        print(f"  export OAUTH_SECRET_KEY={secret_key}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
