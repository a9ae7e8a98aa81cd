"""Callback task indexes for a table that takes a million new rows in one sweep.

A new task (pending, unassigned, no claim, no letter or visit approved) used to enter 15 of the
table's 16 indexes. Now:

* the foreign keys whose targets are never deleted (rule version, script) and those already first
  in a composite index (org unit: ``cbtask_org_status_due_idx``; policy: ``cbtask_policy_kind_idx``,
  which also serves the new-policy anti-join ``policy_id = … AND kind = 'new_policy'``) have no index
  of their own;
* the columns a new task leaves empty are indexed only where set: ``cbtask_claim_idx``,
  ``cbtask_lv_approver_idx``, ``cbtask_assignee_status_idx`` (the assignee's own index is its first
  column). The claim-order indexes (huifang/reports/migrations/0001) are unchanged.

A new-policy task now enters 8 indexes (primary key, the unique cycle constraint, status/due,
org unit/status/due, policy/kind, customer, the free-pool claim order, the KPI index).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("callbacks", "0002_immutable_attempts_and_shipped_scripts"),
        ("org", "0001_initial"),
        ("records", "0001_initial"),
        ("rules", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="callbacktask",
            name="cbtask_assignee_status_idx",
        ),
        migrations.AlterField(
            model_name="callbacktask",
            name="assignee",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="callback_tasks",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="callbacktask",
            name="claim",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="callback_tasks",
                to="records.claim",
            ),
        ),
        migrations.AlterField(
            model_name="callbacktask",
            name="letter_visit_approved_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="callbacktask",
            name="org_unit",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="callback_tasks",
                to="org.orgunit",
            ),
        ),
        migrations.AlterField(
            model_name="callbacktask",
            name="policy",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="callback_tasks",
                to="records.policy",
            ),
        ),
        migrations.AlterField(
            model_name="callbacktask",
            name="rule_version",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="rules.rule",
            ),
        ),
        migrations.AlterField(
            model_name="callbacktask",
            name="script",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="tasks",
                to="callbacks.script",
            ),
        ),
        migrations.AddIndex(
            model_name="callbacktask",
            index=models.Index(
                condition=models.Q(("assignee__isnull", False)),
                fields=["assignee", "status"],
                name="cbtask_assignee_status_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="callbacktask",
            index=models.Index(fields=["policy", "kind"], name="cbtask_policy_kind_idx"),
        ),
        migrations.AddIndex(
            model_name="callbacktask",
            index=models.Index(
                condition=models.Q(("claim__isnull", False)), fields=["claim"], name="cbtask_claim_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="callbacktask",
            index=models.Index(
                condition=models.Q(("letter_visit_approved_by__isnull", False)),
                fields=["letter_visit_approved_by"],
                name="cbtask_lv_approver_idx",
            ),
        ),
    ]
