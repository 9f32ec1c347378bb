from django.urls import path

from training import coverage_views, image_views, views

app_name = "training"
urlpatterns = [
    path("", views.home, name="home"),
    path("pledge/", views.pledge, name="pledge"),
    path("courses/<slug:code>/", views.course, name="course"),
    path("courses/<slug:code>/lessons/<int:n>/", views.lesson, name="lesson"),
    path("courses/<slug:code>/lessons/<int:n>/read/", views.lesson_read, name="lesson-read"),
    path("courses/<slug:code>/start/", views.start, name="start"),
    path("attempts/<int:pk>/", views.attempt, name="attempt"),
    path("attempts/<int:pk>/certificate/", views.certificate, name="certificate"),
    path("images/<int:pk>/", image_views.lesson_image, name="lesson-image"),
    path("coverage/", coverage_views.coverage_view, name="coverage"),
]
