from django.conf import settings

from huifang.core.permissions import ROLE_LABELS, Cap, has_cap, user_roles


def huifang(request):
    user = getattr(request, "user", None)
    caps = (
        {cap.value: has_cap(user, cap) for cap in Cap} if user is not None and user.is_authenticated else {}
    )
    roles = [str(ROLE_LABELS[r]) for r in user_roles(user)] if caps else []
    return {"insurer_name": settings.HUIFANG_INSURER_NAME, "caps": caps, "user_role_labels": roles}
