"""Migrate the peer's SQLite database and print one long-lived access token."""

import datetime
import os
import secrets

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerproj.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import get_access_token_model, get_application_model  # noqa: E402

call_command("migrate", verbosity=0)
user = get_user_model().objects.create_user("bench-user")
application = get_application_model().objects.create(
    name="bench", user=user, client_type="confidential",
    authorization_grant_type="client-credentials",
)
token = secrets.token_urlsafe(32)
get_access_token_model().objects.create(
    user=user, application=application, token=token, scope="bench:read",
    expires=timezone.now() + datetime.timedelta(days=1),
)
print(token)
