"""The agent workbench and the problem-case desk (mounted at /work/)."""

from django.urls import path

from huifang.callbacks import views

app_name = "work"

urlpatterns = [
    path("", views.home, name="home"),
    path("next/", views.next_task, name="next"),
    path("tasks/<int:pk>/", views.task_detail, name="task"),
    path("tasks/<int:pk>/attempt/", views.task_attempt, name="attempt"),
    path("tasks/<int:pk>/recall/", views.task_recall, name="recall"),
    path("tasks/<int:pk>/letter-visit/", views.task_letter_visit, name="letter_visit"),
    path("tasks/<int:pk>/reveal/<str:field>/", views.task_reveal, name="reveal"),
    path("attempts/<int:pk>/recording/", views.attempt_recording, name="recording"),
    path("problems/", views.problems, name="problems"),
    path("problems/<str:number>/", views.problem_detail, name="problem"),
]
