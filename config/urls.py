from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The pages (SPEC §9) and the language switcher's set_language view.
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("consumers.urls")),
    path("merchant/", include("merchants.urls")),
    path("", include("refunds.urls")),
    path("", include("allowance.urls")),
]
