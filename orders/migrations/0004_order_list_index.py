"""The lists' index (issue 21): (tenant, created_at DESC, id DESC) replaces (tenant,
created_at). It serves the same range reads and the lists' order exactly, the id breaking
ties, so a page starts at a position (keyset) and never counts or skips rows. Built before
the old one is dropped, so the table is never without one."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0003_order_remake_of"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["tenant", "-created_at", "-id"], name="order_list"),
        ),
        migrations.RemoveIndex(model_name="order", name="order_time"),
    ]
