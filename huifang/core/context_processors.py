from django.conf import settings

from huifang.core.permissions import Cap, has_cap


def huifang(request):
    user = getattr(request, "user", None)
    caps = (
        {cap.value: has_cap(user, cap) for cap in Cap} if user is not None and user.is_authenticated else {}
    )
    return {"insurer_name": settings.HUIFANG_INSURER_NAME, "caps": caps}
