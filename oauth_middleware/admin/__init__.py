"""The web admin (RFC 6749 §2): mount ``AdminApp`` to manage clients, scopes, codes and tokens."""

from oauth_middleware.admin.app import AdminApp

__all__ = ["AdminApp"]
