from django.contrib import admin

from core.admin import CalendarSafeAdmin
from merchants.models import Merchant, Store, StoreMembership


class StoreInline(admin.TabularInline):
    model = Store
    extra = 0
    fields = ["name"]
    show_change_link = True


class StoreMembershipInline(admin.TabularInline):
    model = StoreMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [StoreInline]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "merchant", "created_at"]
    list_filter = ["merchant"]
    list_select_related = ["merchant"]
    search_fields = ["name", "merchant__name"]
    inlines = [StoreMembershipInline]


@admin.register(StoreMembership)
class StoreMembershipAdmin(CalendarSafeAdmin):
    """Who is merchant staff of which store (they may refund and message consumers of that store)."""

    list_display = ["user", "store", "created_at"]
    list_filter = ["store"]
    list_select_related = ["user", "store"]
    search_fields = ["user__username", "store__name"]
    autocomplete_fields = ["user", "store"]
    date_hierarchy = "created_at"
