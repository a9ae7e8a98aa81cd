"""The supervisor board and KPI dashboards (mounted at /board/)."""

from django.urls import path

from huifang.reports import views

app_name = "board"

urlpatterns = [
    path("", views.home, name="home"),
    path("tasks/", views.tasks, name="tasks"),
    path("tasks/reassign/", views.reassign, name="reassign"),
    path("recalls/release/", views.release, name="release"),
    path("tasks/<int:pk>/approve/", views.approve, name="approve"),
]
