from django.urls import path

from privacy import views

app_name = "privacy"
urlpatterns = [
    path("erasure/", views.erasure_start, name="erasure"),
    path("erasure/verify/", views.erasure_verify, name="erasure-verify"),
]
