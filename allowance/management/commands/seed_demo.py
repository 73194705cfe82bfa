"""Create the demo data of SPEC §10. Idempotent: running it again changes nothing that is already there."""
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from allowance.models import Campaign
from allowance.services import campaign_create
from consumers.models import Consumer
from consumers.services import consumer_register
from merchants.models import Merchant, Store, StoreMembership

DEMO_STORE = "Demo Store"
DEMO_MERCHANT = "Demo Merchant"
DEMO_CAMPAIGN = "pay 80 get 100"
DEMO_CONSUMERS = ("alice", "bob")


class Command(BaseCommand):
    help = "Create the demo store, merchant staff, consumers, admin and an active 'pay 80 get 100' campaign."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Run even though DEBUG is off (demo passwords!).")

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates accounts with well-known passwords; it refuses to run with DEBUG off. "
                "Use --force if you really mean it."
            )
        with transaction.atomic():
            lines = self._seed()
        for line in lines:
            self.stdout.write(line)

    def _seed(self) -> list[str]:
        User = get_user_model()
        lines = []
        merchant, _ = Merchant.objects.get_or_create(name=DEMO_MERCHANT)
        store, _ = Store.objects.get_or_create(merchant=merchant, name=DEMO_STORE)
        lines.append(f"store: {store.name} (id {store.pk}) of {merchant.name}")

        staff = self._user(User, "merchant", "merchant@example.com")
        StoreMembership.objects.get_or_create(store=store, user=staff)
        lines.append("merchant staff: merchant / merchant")

        for name in DEMO_CONSUMERS:
            if not Consumer.objects.filter(account_key=Consumer.key_for(name)).exists():
                consumer_register(account_name=name, password=name, email=f"{name}@example.com", validate=False)
            else:
                self._password_ensure(User.objects.get(username__iexact=name), name)
            lines.append(f"consumer: {name} / {name}")

        admin = self._user(User, "admin", "admin@example.com")
        if not (admin.is_staff and admin.is_superuser):
            admin.is_staff = admin.is_superuser = True
            admin.save(update_fields=["is_staff", "is_superuser"])
        lines.append("superuser: admin / admin")

        now = timezone.now()
        campaign = (
            Campaign.objects.filter(
                store=store, name=DEMO_CAMPAIGN, ended_at__isnull=True, starts_at__lte=now, ends_at__gt=now
            ).order_by("pk").first()
        )
        if campaign is None:
            campaign = campaign_create(
                store=store, actor=staff, name=DEMO_CAMPAIGN, pay_amount=8000, credit_amount=10000,
                starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(days=365),
                valid_until=now + timedelta(days=365), per_consumer_limit=1,
            )
        lines.append(f"campaign: {campaign.name} (id {campaign.pk}), valid until {campaign.valid_until:%Y-%m-%d}")
        return lines

    def _user(self, User, username: str, email: str):
        user = User.objects.filter(username__iexact=username).first()
        if user is None:
            user = User(username=username, email=email)
            user.set_password(username)
            user.save()
        else:
            self._password_ensure(user, username)
        return user

    @staticmethod
    def _password_ensure(user, password: str) -> None:
        # The demo promises these passwords; put them back if someone changed them.
        if not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
