"""Administrator screens: rule packs, callback scripts, the working-day calendar (mounted at /setup/)."""

from django.urls import path  # noqa: F401 - the pages are added here

app_name = "setup"

urlpatterns: list = []
