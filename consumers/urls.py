from django.urls import path

from consumers import views

app_name = "consumers"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("register/", views.register, name="register"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
]
