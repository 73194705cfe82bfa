from django.urls import path

from consumers.api import views

urlpatterns = [
    path("auth/token/", views.TokenApi.as_view(), name="api-token"),
    path("consumers/register/", views.RegisterApi.as_view(), name="api-register"),
]
