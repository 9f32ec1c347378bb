from django.urls import path

from riders.api import AssignView, AutoAssignView

urlpatterns = [
    path("orders/<uuid:order_id>/assign/", AssignView.as_view(), name="order-assign"),
    path("orders/<uuid:order_id>/auto-assign/", AutoAssignView.as_view(), name="order-auto-assign"),
]
