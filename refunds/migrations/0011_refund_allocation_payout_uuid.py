import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    """Payout keys from a value never reused (issue 20). The column is added empty, with no database default:
    parts written before (and by the previous release's code while a deploy rolls) keep the key they were or will
    be sent with, refund-<id>-payment-<id>, so a payout in flight is asked about under the key it was sent with.
    New parts get their UUID from the code that writes them."""

    dependencies = [
        ('refunds', '0010_sandbox_payout_to_core'),
    ]

    operations = [
        migrations.AddField(
            model_name='refundallocation',
            name='payout_uuid',
            field=models.UUIDField(blank=True, editable=False, null=True, unique=True),
        ),
        # The Python default only (no change in the database): rows the ORM writes get a fresh UUID each.
        migrations.AlterField(
            model_name='refundallocation',
            name='payout_uuid',
            field=models.UUIDField(blank=True, default=uuid.uuid4, editable=False, null=True, unique=True),
        ),
    ]
