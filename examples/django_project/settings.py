"""The smallest Django settings for an API behind OAuthMiddleware: no database, no sessions.

Requests are authenticated by bearer tokens, not cookies, so there is no
``CsrfViewMiddleware`` (CSRF rides on cookies; a bearer token is never sent by a
browser on its own).
"""

from __future__ import annotations

import os

from oauth_middleware.security import new_secret

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or new_secret(32)
DEBUG = False
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
ROOT_URLCONF = "examples.django_project.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
APPEND_SLASH = False
#: A name is short: a bigger body is refused (400) before any view parses it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024
