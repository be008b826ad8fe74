"""The peer row: the same protected GET through django-oauth-toolkit (its own virtualenv)."""
