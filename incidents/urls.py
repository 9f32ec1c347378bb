from django.urls import path

from incidents import views

app_name = "incidents"
urlpatterns = [
    path("", views.report_start, name="report"),
    path("for/<slug:tenant_slug>/", views.report_start_for, name="report-for"),
    path("verify/", views.report_verify, name="report-verify"),
    path("done/", views.report_done, name="report-done"),
    path("status/", views.status_start, name="status"),
    path("status/verify/", views.status_verify, name="status-verify"),
    path("status/show/", views.status_show, name="status-show"),
]
