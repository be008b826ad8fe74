"""One protected JSON view, the peer of the bench's ``/me`` route."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from oauth2_provider.decorators import protected_resource


@protected_resource(scopes=["bench:read"])
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"hello": "world", "user": request.resource_owner.username})


urlpatterns = [path("me/", me)]
