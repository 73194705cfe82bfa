from django.contrib import admin

from merchants.models import Merchant, Store, StoreMembership


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "merchant", "created_at"]
    search_fields = ["name", "merchant__name"]


@admin.register(StoreMembership)
class StoreMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "store", "created_at"]
    list_filter = ["store"]
    search_fields = ["user__username", "store__name"]
