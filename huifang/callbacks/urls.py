"""The agent workbench and the problem-case desk (mounted at /work/)."""

from django.urls import path  # noqa: F401 - the pages are added here

app_name = "work"

urlpatterns: list = []
