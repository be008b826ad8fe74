"""The benchmark suite: real redis-server, real uvicorn, wrk; see ``python -m bench --help``."""
