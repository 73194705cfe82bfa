from django.urls import path

from merchants.api import views

urlpatterns = [
    path("merchant/campaigns/", views.MerchantCampaignListApi.as_view(), name="api-merchant-campaigns"),
    path("merchant/campaigns/<id:pk>/end/", views.MerchantCampaignEndApi.as_view(), name="api-merchant-campaign-end"),
    path("merchant/users/", views.MerchantUserSearchApi.as_view(), name="api-merchant-users"),
    path("merchant/insights/", views.MerchantInsightsApi.as_view(), name="api-merchant-insights"),
    path("merchant/summary/", views.MerchantSummaryApi.as_view(), name="api-merchant-summary"),
]
