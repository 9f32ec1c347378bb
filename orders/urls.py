from django.urls import path

from orders import views

app_name = "orders"
urlpatterns = [
    path("kitchen/", views.kitchen, name="kitchen"),
    path("kitchen/<uuid:order_id>/start/", views.kitchen_start, name="kitchen-start"),
    path("kitchen/<uuid:order_id>/ready/", views.kitchen_ready, name="kitchen-ready"),
    path("packing/", views.packing, name="packing"),
    path("packing/<uuid:order_id>/pack/", views.pack, name="pack"),
    path("<uuid:order_id>/label/", views.label, name="label"),
]
