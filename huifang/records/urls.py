from django.urls import path

from huifang.records import views

app_name = "records"

urlpatterns = [
    path("", views.search, name="search"),
    path("customers/<str:customer_no>/", views.customer_detail, name="customer"),
    path("customers/<str:customer_no>/reveal/<str:field>/", views.customer_reveal, name="customer_reveal"),
    path("policies/<str:policy_no>/", views.policy_detail, name="policy"),
]
