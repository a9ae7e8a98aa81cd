"""The customer's electronic callback pages, phone-sized (mounted at /h5/, no staff login)."""

from django.urls import path  # noqa: F401 - the pages are added here

app_name = "h5"

urlpatterns: list = []
