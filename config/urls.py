from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("admin/", admin.site.urls),
    # The HTTP API (SPEC §8), its OpenAPI schema and Swagger UI (served from drf-spectacular-sidecar, no CDN).
    path("api/v1/", include("allowance.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # The pages (SPEC §9) and the language switcher's set_language view.
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("consumers.urls")),
    path("merchant/", include("merchants.urls")),
    path("", include("refunds.urls")),
    path("", include("allowance.urls")),
]

handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
