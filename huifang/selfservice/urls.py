"""The customer's electronic callback pages, phone-sized (mounted at /h5/, no staff login)."""

from django.urls import path

from huifang.selfservice import views

app_name = "h5"

urlpatterns = [
    path("e/<str:token>/", views.code, name="code"),
    path("e/<str:token>/send/", views.code_send, name="send"),
    path("e/<str:token>/verify/", views.code_verify, name="verify"),
    path("e/<str:token>/identity/", views.identity, name="identity"),
    path("e/<str:token>/item/", views.item, name="item"),
    path("e/<str:token>/phone/", views.phone, name="phone"),
    path("e/<str:token>/end/", views.end, name="end"),
]
