"""The REST API (django-ninja) under /api/v1/: OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs.

Each app exposes ``router`` in its ``api.py``; append ``(prefix, "dotted.path.to.router")`` to
``ROUTERS`` to mount it (see huifang.core.api for the convention). Every endpoint needs a bearer
token unless it declares ``auth=None``.
"""

from huifang.core.api import HuifangAPI
from huifang.org.api_auth import ApiTokenAuth

api = HuifangAPI(
    title="Huifang API",
    version="1",
    description=(
        "Core-system integration and read access for Huifang (回访). Authenticate with "
        "`Authorization: Bearer <token>` (create one with `huifang token create --user NAME`). "
        'Errors are JSON: {"code", "message", "errors": [{"field", "message"}]}.'
    ),
    urls_namespace="api",
    auth=ApiTokenAuth(),
)

# Mounted in this order. Routers are named by dotted path so that importing this module does not
# import every app's API at once.
ROUTERS: list[tuple[str, str]] = [
    ("", "huifang.core.api.router"),
    ("", "huifang.records.api.router"),
    ("", "huifang.records.imports_api.router"),
    ("", "huifang.callbacks.api.router"),
    ("", "huifang.reports.api.router"),
]

for _prefix, _router in ROUTERS:
    api.add_router(_prefix, _router)
