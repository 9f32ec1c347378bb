from django.urls import path

from orders.api import OrderDetailView, OrderListView, OrderRevealView, OrderTransitionView

urlpatterns = [
    path("orders/", OrderListView.as_view(), name="order-list"),
    path("orders/<uuid:order_id>/", OrderDetailView.as_view(), name="order-detail"),
    path("orders/<uuid:order_id>/reveal/", OrderRevealView.as_view(), name="order-reveal"),
    path(
        "orders/<uuid:order_id>/transition/", OrderTransitionView.as_view(), name="order-transition"
    ),
]
