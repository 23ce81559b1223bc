from django.urls import path

import views

urlpatterns = [
    path("", views.index),
    path("api/greeting", views.greeting),
]
