from django.urls import path

from merchants import views

app_name = "merchants"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("campaigns/new/", views.campaign_new, name="campaign_new"),
    path("campaigns/<int:pk>/end/", views.campaign_end_view, name="campaign_end"),
    path("insights/", views.insights, name="insights"),
    path("users/", views.users, name="users"),
    path("exports/refunds.csv", views.export_refunds, name="export_refunds"),
    path("exports/users.csv", views.export_users, name="export_users"),
    path("campaigns/<int:pk>/wallets.csv", views.export_campaign_wallets, name="export_campaign_wallets"),
    path("withdrawals/<int:pk>/refund/", views.withdrawal_refund_view, name="withdrawal_refund"),
    path("withdrawals/<int:pk>/retention/", views.retention_message_view, name="retention_message"),
]
