"""The example API's routes; which scope each needs is in ``asgi.SCOPES``."""

from __future__ import annotations

from django.urls import path

from examples.django_project import views

urlpatterns = [
    path("health", views.health),
    path("items", views.item_list),
]
