from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """The ledger's request and refund causes become plain ids in Django's state, so allowance's models import
    nothing from refunds (refunds builds on allowance). State only: the columns, their foreign-key constraints
    to refunds' tables and the partial indexes stay exactly as 0002 and 0008 made them, so the database still
    refuses an entry pointing at a request or refund that does not exist."""

    dependencies = [
        ('allowance', '0014_idempotency_key_to_core'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=[
        migrations.RemoveIndex(
            model_name='ledgerentry',
            name='ledger_by_request',
        ),
        migrations.RemoveIndex(
            model_name='ledgerentry',
            name='ledger_by_refund',
        ),
        migrations.RemoveField(
            model_name='ledgerentry',
            name='refund',
        ),
        migrations.RemoveField(
            model_name='ledgerentry',
            name='request',
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='refund_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='request_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(condition=models.Q(('request_id__isnull', False)), fields=['request_id'], name='ledger_by_request'),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(condition=models.Q(('refund_id__isnull', False)), fields=['refund_id'], name='ledger_by_refund'),
        ),
    ])]
