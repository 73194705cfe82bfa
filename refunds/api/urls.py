from django.urls import path

from refunds.api import views

urlpatterns = [
    path("wallets/<id:pk>/withdrawal-preview/", views.WithdrawalPreviewApi.as_view(), name="api-withdrawal-preview"),
    path("wallets/<id:pk>/withdrawals/", views.WithdrawalCreateApi.as_view(), name="api-withdrawal-create"),
    path("withdrawals/", views.WithdrawalListApi.as_view(), name="api-withdrawals"),
    path("withdrawals/<id:pk>/", views.WithdrawalDetailApi.as_view(), name="api-withdrawal"),
    path("withdrawals/<id:pk>/cancel/", views.WithdrawalCancelApi.as_view(), name="api-withdrawal-cancel"),
    path("merchant/withdrawals/", views.MerchantWithdrawalListApi.as_view(), name="api-merchant-withdrawals"),
    path("merchant/withdrawals/<id:pk>/refund/", views.MerchantWithdrawalRefundApi.as_view(),
         name="api-merchant-withdrawal-refund"),
    path("merchant/withdrawals/<id:pk>/retention/", views.MerchantRetentionApi.as_view(),
         name="api-merchant-withdrawal-retention"),
]
