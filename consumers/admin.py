from django.contrib import admin

from consumers.models import Consumer


@admin.register(Consumer)
class ConsumerAdmin(admin.ModelAdmin):
    list_display = ["account_name", "user", "created_at"]
    search_fields = ["account_key"]
    readonly_fields = ["account_key"]
