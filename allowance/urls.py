from django.urls import path

from allowance import views

app_name = "allowance"

urlpatterns = [
    path("", views.home, name="home"),
    path("campaigns/<int:pk>/buy/", views.campaign_buy, name="campaign_buy"),
    path("me/allowance/", views.my_allowance, name="my_allowance"),
    path("me/orders/", views.orders, name="orders"),
    path("me/orders/<int:pk>/return/", views.order_return_view, name="order_return"),
]
