"""Admin helpers every app's admin uses: read-only money rows, yuan columns, and audited actions row by row."""
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils.translation import gettext_lazy as _

from core import errors
from core.money import fen_to_yuan


def yuan_column(field: str, description):
    """A ModelAdmin column (a method) showing an integer-fen field as yuan with two decimals."""

    @admin.display(description=description, ordering=field)
    def column(model_admin, obj):
        value = getattr(obj, field)
        return "" if value is None else fen_to_yuan(value)

    column.__name__ = f"{field}_yuan"
    column.fen_field = field  # YuanFields shows it in place of the fen field on detail pages and inlines
    return column


class YuanFields:
    """Detail pages and inlines show money in yuan, as the lists do: a fen field with a yuan_column on the class
    ("Paid (fen): 5000", a ledger line "-4168") is shown as that column instead ("50.00", "-41.68")."""

    def _in_yuan(self, names):
        columns = {}
        for klass in reversed(type(self).__mro__):
            for name, value in vars(klass).items():
                if getattr(value, "fen_field", None):
                    columns[value.fen_field] = name
        return [columns.get(name, name) for name in names]

    def get_fields(self, request, obj=None):
        return self._in_yuan(super().get_fields(request, obj))

    def get_readonly_fields(self, request, obj=None):
        return self._in_yuan(super().get_readonly_fields(request, obj))


def admin_action_each(model_admin, request, objects, act, *, refused_level=messages.WARNING) -> int:
    """Call an audited service (`act`) on each selected row in turn; a row the service refuses is reported
    beside the others and does not stop them. Returns how many succeeded."""
    done = 0
    for obj in objects:
        try:
            act(obj)
        except errors.DomainError as exc:
            model_admin.message_user(request, f"{obj}: {exc}", refused_level)
        else:
            done += 1
    return done


class CalendarSafeAdmin(admin.ModelAdmin):
    """Django's date drill-down adds a day, a month or a year to the day picked: at 9999-12-31 that overflows (a
    500). A day the calendar cannot step past is answered like any other bad filter: the list, "?e=1"."""

    def get_changelist_instance(self, request):
        try:
            return super().get_changelist_instance(request)
        except (OverflowError, ValueError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class ReadOnlyAdmin(YuanFields, CalendarSafeAdmin):
    """Money rows change only through services: the admin shows them and never edits them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(YuanFields, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AttentionFilter(admin.SimpleListFilter):
    """Rows the scheduled job could not resolve and marked for attention (SPEC §4.8)."""

    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(attention_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(attention_at__isnull=True)
        return queryset
