"""Admin for the job machinery: heartbeats, periodic runs, and task results with their errors."""

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from huifang.core.models import PeriodicRun, WorkerHeartbeat


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the processes themselves: readable, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "hostname", "pid", "beat_at", "age")
    list_filter = ("kind",)
    ordering = ("-beat_at",)

    @admin.display(description=_("age (seconds)"))
    def age(self, obj):
        return int((timezone.now() - obj.beat_at).total_seconds())


@admin.register(PeriodicRun)
class PeriodicRunAdmin(ReadOnlyAdmin):
    list_display = ("job", "slot", "enqueued_at", "task_result_id")
    list_filter = ("job",)
    search_fields = ("job", "task_result_id")
    ordering = ("-slot",)
    date_hierarchy = "slot"


# django-tasks-db registers its own admin (status filter; the detail page shows the exception
# class and traceback of a failed task). Add the error class and the task path to the list.
admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(DBTaskResultAdmin):
    list_display = (*DBTaskResultAdmin.list_display, "exception_class_path")
    search_fields = ("task_path", "id")
