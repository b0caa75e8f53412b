from django.urls import path

from shadow import views

urlpatterns: list = [
    path("interactions/", views.interaction_list, name="interactions"),
    path("interactions/export.<str:fmt>", views.interaction_export, name="interactions_export"),
    path("interactions/<int:pk>/", views.interaction_detail, name="interaction_detail"),
]
