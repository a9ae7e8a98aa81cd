from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.api import api
from huifang.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("accounts/login/", core_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Before Django's i18n URLs: the same view, open to anonymous visitors (language switch on login).
    path("i18n/setlang/", core_views.set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("imports/", include("huifang.records.imports_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("records/", include("huifang.records.urls")),
    path("work/", include("huifang.callbacks.urls")),
    path("board/", include("huifang.reports.urls")),
    path("setup/", include("huifang.rules.urls")),
    path("h5/", include("huifang.selfservice.urls")),
]
