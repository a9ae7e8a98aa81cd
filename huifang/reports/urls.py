"""The supervisor board and KPI dashboards (mounted at /board/)."""

from django.urls import path  # noqa: F401 - the pages are added here

app_name = "board"

urlpatterns: list = []
