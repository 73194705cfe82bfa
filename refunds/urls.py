from django.urls import path

from refunds import views

app_name = "refunds"

urlpatterns = [
    path("me/allowance/<int:wallet_id>/withdraw/", views.withdrawal_confirm, name="withdrawal_confirm"),
    path("me/withdrawals/<int:pk>/cancel/", views.withdrawal_cancel_view, name="withdrawal_cancel"),
]
