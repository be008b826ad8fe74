"""``python -m demo [--host 127.0.0.1] [--port 8000]``: serve the demo with uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

import uvicorn

from demo.app import create_app
from oauth_middleware import TokenStore


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
    store = TokenStore.from_url(redis_url)
    def announce(client_secret: str) -> None:
        if not secret:
            print("  demo-web client secret (generated, shown once); paste this line into the "
                  "shell you follow docs/walkthrough.md from:", flush=True)
            print(f"  export DEMO_CLIENT_SECRET={client_secret}", flush=True)

    app = create_app(base_url=base_url, store=store, client_secret=secret, on_seeded=announce)
    print("oauth_middleware demo")
    print("  WARNING: plain HTTP is allowed only because the demo binds to loopback.")
    where = "Redis at REDIS_URL" if redis_url else (
        "embedded in-process store (no REDIS_URL): data lasts as long as the process")
    print(f"  store: {where}")
    print(f"  open {base_url}/  (users: alice/alice-password, bob/bob-password)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
