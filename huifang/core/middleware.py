from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware


class HuifangLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every staff page needs a login; the REST API (bearer tokens), the customer's H5 pages
    (signed links) and static files authenticate by other means."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith(settings.HUIFANG_PUBLIC_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
