from django.db import migrations


class Migration(migrations.Migration):
    """SandboxPayout is the sandbox gateway's books and now belongs to core with the gateway (same table,
    refunds_sandboxpayout)."""

    dependencies = [
        ('refunds', '0005_drop_request_wallet_index'),
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name='SandboxPayout')]),
    ]
