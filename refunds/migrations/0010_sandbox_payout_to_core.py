from django.db import migrations


class Migration(migrations.Migration):
    """SandboxPayout is the sandbox gateway's books and now belongs to core with the gateway (same table,
    refunds_sandboxpayout)."""

    dependencies = [
        ('refunds', '0009_insights_rollup_and_export_indexes'),
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name='SandboxPayout')]),
    ]
