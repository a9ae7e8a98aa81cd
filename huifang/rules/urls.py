"""Administrator screens: rule packs, callback scripts, the working-day calendar (mounted at /setup/)."""

from django.urls import path

from huifang.rules import views, views_calendar, views_scripts

app_name = "setup"

urlpatterns = [
    path("", views.home, name="home"),
    path("rules/", views.rule_list, name="rules"),
    path("rules/<int:pk>/", views.rule_detail, name="rule"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rule_edit"),
    path("scripts/", views_scripts.script_list, name="scripts"),
    path("scripts/<int:pk>/", views_scripts.script_detail, name="script"),
    path("scripts/<int:pk>/edit/", views_scripts.script_edit, name="script_edit"),
    path("calendar/", views_calendar.calendar_list, name="calendar"),
    path("calendar/<int:year>/", views_calendar.calendar_year, name="calendar_year"),
    path("calendar/<int:year>/confirm/", views_calendar.calendar_confirm, name="calendar_confirm"),
    path("calendar/<int:year>/day/", views_calendar.calendar_day, name="calendar_day"),
]
