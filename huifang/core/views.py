from django.shortcuts import render

from huifang.core.permissions import user_roles


def home(request):
    return render(request, "core/home.html", {"roles": user_roles(request.user)})
