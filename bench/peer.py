"""The peer row's own throwaway virtualenv: Django + django-oauth-toolkit, never our dependency.

``bench/.peer-venv`` is created on first use (pip, by package name) and reused;
the project in ``bench/peer`` gets a fresh SQLite database and token each run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import procs

HERE = Path(__file__).resolve().parent
VENV = HERE / ".peer-venv"
PROJECT = HERE / "peer"
#: The same server stack our rows run on (uvicorn with httptools and uvloop).
PACKAGES = ["django", "django-oauth-toolkit", "uvicorn[standard]"]


def python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> str:
    """Create the peer virtualenv if needed; returns the installed versions."""
    if not python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = [str(python()), "-c", "import django, oauth2_provider, uvicorn, httptools, uvloop; "
             "print(django.__version__, oauth2_provider.__version__, uvicorn.__version__)"]
    found = subprocess.run(probe, capture_output=True, text=True, check=False)
    if found.returncode != 0:
        print("bench: installing the peer (Django, django-oauth-toolkit) into", VENV)
        subprocess.run([str(python()), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *PACKAGES], check=True)
        found = subprocess.run(probe, capture_output=True, text=True, check=True)
    django, dot, uvicorn = found.stdout.split()
    return f"Django {django}, django-oauth-toolkit {dot}, uvicorn {uvicorn}"


def start(cpu: int | None) -> tuple[procs.Process, str]:
    """A fresh database and token, and uvicorn (one worker) serving the peer project."""
    db = Path(tempfile.mkdtemp(prefix="bench-peer-")) / "peer.sqlite3"
    env = {"PEER_DB": str(db), "DJANGO_SETTINGS_MODULE": "peerproj.settings"}
    seeded = subprocess.run([str(python()), "seed_peer.py"], cwd=PROJECT, capture_output=True,
                            text=True, check=True, env={**os.environ, **env})
    token = seeded.stdout.strip().splitlines()[-1]
    port = procs.free_port()
    cmd = [str(python()), "-m", "uvicorn", "peerproj.asgi:application", "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]
    return procs.Process("peer", procs.pinned(cmd, cpu), port=port, env=env, cwd=PROJECT), token
