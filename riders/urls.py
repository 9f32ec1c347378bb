from django.urls import path

from riders import views

app_name = "riders"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.RiderLoginView.as_view(), name="login"),
    path("logout/", views.RiderLogoutView.as_view(), name="logout"),
    path("agreement/", views.agreement, name="agreement"),
    path("orders/<uuid:order_id>/", views.order_detail, name="order"),
    path("orders/<uuid:order_id>/pickup/", views.pickup, name="pickup"),
    path("orders/<uuid:order_id>/hold/", views.hold, name="hold"),
    path("orders/<uuid:order_id>/resume/", views.resume, name="resume"),
    path("orders/<uuid:order_id>/call/", views.call, name="call"),
    path("orders/<uuid:order_id>/handover/", views.handover, name="handover"),
    path("orders/<uuid:order_id>/delivered/", views.delivered, name="delivered"),
    path("orders/<uuid:order_id>/problem/", views.problem, name="problem"),
    path("violations/<int:violation_id>/", views.violation, name="violation"),
]
