"""Domain errors: one module, messages meant for users. The API maps them to 4xx JSON, pages to form errors."""
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    status_code = 400
    code = "domain_error"
    default_message = _("The request could not be carried out.")

    def __init__(self, message=None, *, field: str | None = None, other_fields: dict | None = None,
                 data: dict | None = None, **params):
        self.field = field  # the input field at fault, if one is: the API answers {field: [message]}
        self.other_fields = other_fields or {}  # more fields at fault at once, {field: message}
        self.data = data or {}  # figures the API answers beside `detail` and `code` (e.g. the new amounts)
        self.params = params
        self.message = message if message is not None else self.default_message
        super().__init__(str(self.message))

    def field_errors(self) -> dict[str, list[str]]:
        """{field: [message]} for every field at fault (empty if the error is about no field): the API's 400
        body, and the page's errors beside the fields."""
        if not self.field:
            return {}
        return {self.field: [str(self)], **{name: [str(message)] for name, message in self.other_fields.items()}}

    def __str__(self):
        try:
            return str(self.message) % self.params if self.params else str(self.message)
        except (KeyError, TypeError, ValueError):
            return str(self.message)


class NotFound(DomainError):
    """Someone else's object, or one that does not exist: the same answer for both."""

    status_code = 404
    code = "not_found"
    default_message = _("Not found.")


class NotYourStore(NotFound):
    code = "not_found"


class InsufficientAllowance(DomainError):
    status_code = 409
    code = "insufficient_allowance"
    default_message = _("Not enough allowance: %(available)s available.")


class WalletFrozen(DomainError):
    status_code = 409
    code = "wallet_frozen"
    default_message = _("This allowance has a withdrawal request in progress.")


class WalletClosed(DomainError):
    status_code = 409
    code = "wallet_closed"
    default_message = _("This allowance has been closed.")


class WalletExpired(DomainError):
    status_code = 409
    code = "wallet_expired"
    default_message = _("This allowance has expired.")


class NothingToWithdraw(DomainError):
    status_code = 409
    code = "nothing_to_withdraw"
    default_message = _("This allowance has no principal left to withdraw.")


class RequestAlreadyOpen(DomainError):
    status_code = 409
    code = "request_already_open"
    default_message = _("This allowance already has a withdrawal request in progress.")


class RequestNotPending(DomainError):
    status_code = 409
    code = "request_not_pending"
    default_message = _("This withdrawal request is no longer pending.")


class PrincipalChanged(DomainError):
    """The staff member confirmed a refund of an amount that is no longer the wallet's principal."""

    status_code = 409
    code = "principal_changed"
    default_message = _(
        "The amount to refund has changed to %(principal)s since you looked (an order was returned). "
        "Check the new amount and refund again."
    )


class WithdrawalAmountChanged(DomainError):
    """The consumer confirmed a withdrawal of an amount that is no longer the wallet's principal."""

    status_code = 409
    code = "principal_changed"
    default_message = _(
        "The amount has changed since you looked (an order was paid or returned): withdrawing now gives back "
        "%(principal)s and lets %(bonus_lapsed)s of bonus lapse. Check the new amounts and confirm again."
    )


class CampaignNotActive(DomainError):
    status_code = 409
    code = "campaign_not_active"
    default_message = _("This campaign is not on sale.")


class PurchaseLimitReached(DomainError):
    status_code = 409
    code = "purchase_limit_reached"
    default_message = _("You have already bought this campaign the maximum number of times (%(limit)s).")


class OutOfStock(DomainError):
    status_code = 409
    code = "out_of_stock"
    default_message = _("This campaign is sold out.")


class OrderRefTaken(DomainError):
    status_code = 409
    code = "order_ref_taken"
    default_message = _("An order with this reference already exists in this store.")


class ReturnExceedsOrder(DomainError):
    status_code = 409
    code = "return_exceeds_order"
    default_message = _("Only %(returnable)s of this order can still be returned.")


class InvalidAmount(DomainError):
    code = "invalid_amount"
    default_message = _("The amount must be positive.")


class InvalidCampaign(DomainError):
    code = "invalid_campaign"
    default_message = _("The campaign is not valid.")


class AccountNameTaken(DomainError):
    code = "account_name_taken"
    default_message = _("This account name is already taken.")


class PayoutNotRetryable(DomainError):
    status_code = 409
    code = "payout_not_retryable"
    default_message = _("Only a payout that needs attention can be retried.")
