"""factory-boy factories shared by every test package."""
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from allowance.models import Campaign
from consumers.models import Consumer
from merchants.models import Merchant, Store, StoreMembership


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username.lower()}@example.com")
    password = factory.django.Password("correct-horse-battery")


class ConsumerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consumer

    account_name = factory.Sequence(lambda n: f"Shopper{n}")
    account_key = factory.LazyAttribute(lambda c: Consumer.key_for(c.account_name))
    user = factory.SubFactory(UserFactory, username=factory.SelfAttribute("..account_name"))


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Store {n}")


class StaffFactory(factory.django.DjangoModelFactory):
    """A store membership; `.user` is the merchant staff user."""

    class Meta:
        model = StoreMembership

    store = factory.SubFactory(StoreFactory)
    user = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"staff{n}"))


class CampaignFactory(factory.django.DjangoModelFactory):
    """"Pay 80 get 100", on sale now, valid for a year."""

    class Meta:
        model = Campaign

    store = factory.SubFactory(StoreFactory)
    name = "pay 80 get 100"
    pay_amount = 8000
    credit_amount = 10000
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    valid_until = factory.LazyFunction(lambda: timezone.now() + timedelta(days=365))
    per_consumer_limit = 5
