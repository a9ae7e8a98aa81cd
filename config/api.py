"""The REST API (django-ninja) under /api/v1/. Each app adds its router here."""

from ninja import NinjaAPI

api = NinjaAPI(title="Huifang API", version="1", urls_namespace="api")
