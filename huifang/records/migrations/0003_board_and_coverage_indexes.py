"""Policy indexes for the board and the KPIs.

* the receipt-date index also carries what the coverage KPI (BS-12, KP-05) filters and counts by,
  and the id, so that coverage is an index-only scan;
* the cooling-off-end index carries the id, so that the board's cooling-off risks read it alone;
* the org unit's own index goes (``policy_org_status_idx`` leads with the org unit), so an imported
  policy enters as many indexes as before.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("org", "0001_initial"),
        ("records", "0002_import_fingerprints_and_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="policy", name="policy_receipt_idx"),
        migrations.AlterField(
            model_name="policy",
            name="cooling_off_end",
            field=models.DateField(blank=True, null=True, verbose_name="cooling-off end (CO-03)"),
        ),
        migrations.AlterField(
            model_name="policy",
            name="org_unit",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="policies",
                to="org.orgunit",
            ),
        ),
        migrations.AddIndex(
            model_name="policy",
            index=models.Index(
                fields=["receipt_date", "org_unit", "product", "channel", "is_group", "is_long_term", "id"],
                name="policy_receipt_cover_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="policy",
            index=models.Index(fields=["cooling_off_end", "id"], name="policy_cooling_off_end_idx"),
        ),
    ]
