"""Pages of file imports, mounted at /imports/."""

from django.urls import path

from huifang.records import imports_views as views

app_name = "imports"

urlpatterns = [
    path("", views.import_list, name="list"),
    path("new/", views.import_new, name="new"),
    path("<int:pk>/", views.import_detail, name="detail"),
    path("<int:pk>/progress/", views.import_progress, name="progress"),
    path("<int:pk>/report.xlsx", views.import_report, name="report"),
]
