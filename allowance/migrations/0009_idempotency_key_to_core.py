from django.db import migrations


class Migration(migrations.Migration):
    """IdempotencyKey is API plumbing and now belongs to core (same table, allowance_idempotencykey)."""

    dependencies = [
        ('allowance', '0008_ledger_partial_cause_indexes'),
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name='IdempotencyKey')]),
    ]
