"""``cbtask_org_status_due_idx`` carries the kind, the policy and the id: the board's cooling-off risks (open
new-policy tasks due soon in the viewer's org units) read it alone (huifang.reports.selectors_board).
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("callbacks", "0004_task_attempt_facts"),
        ("org", "0001_initial"),
        ("records", "0003_board_and_coverage_indexes"),
        ("rules", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="callbacktask",
            name="cbtask_org_status_due_idx",
        ),
        migrations.AddIndex(
            model_name="callbacktask",
            index=models.Index(
                fields=["org_unit", "status", "due_date", "kind", "policy", "id"],
                name="cbtask_org_status_due_idx",
            ),
        ),
    ]
