"""The connected-apps page: a person sees and revokes what they authorized (RFC 7009 §2.1)."""

from oauth_middleware.account.app import ConnectedAppsApp

__all__ = ["ConnectedAppsApp"]
