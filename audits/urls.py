from django.urls import path

from audits import dashboard

app_name = "audits"
urlpatterns = [
    path("", dashboard.dashboard_view, name="dashboard"),
]
