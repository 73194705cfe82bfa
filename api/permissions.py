"""Who may call the merchant endpoints: shared by merchants' and refunds' API, and it asks merchants who is staff,
so it sits in the project-level api/ package, not in core (which imports no app)."""
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission, IsAuthenticated

from core.api.base import ApiView
from merchants.selectors import is_store_staff


class IsMerchantStaff(BasePermission):
    """The merchant endpoints without an object in the path (lists, search, summary, create) refuse anyone who
    is no store's staff (a consumer, an admin) with the same 403, as the consumer endpoints refuse staff, rather
    than an empty list from one and a 403 from the next. Endpoints that name an object (`…/ID/refund/`) keep
    answering 404 to everyone outside the store (SPEC §7: someone else's object is not found)."""

    message = _("Only merchant staff can do this.")

    def has_permission(self, request, view) -> bool:
        return is_store_staff(user=request.user)


class MerchantApiView(ApiView):
    permission_classes = [IsAuthenticated, IsMerchantStaff]
