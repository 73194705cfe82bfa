from django.db import migrations


class Migration(migrations.Migration):
    """IdempotencyKey is API plumbing and now belongs to core (same table, allowance_idempotencykey)."""

    dependencies = [
        ('allowance', '0013_insights_indexes_and_expiry_reminder'),
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name='IdempotencyKey')]),
    ]
