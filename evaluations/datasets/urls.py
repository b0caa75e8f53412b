from django.urls import path

from evaluations.datasets import views

app_name = "datasets"

urlpatterns = [
    path("", views.datasets_index, name="index"),
    path("<int:pk>/", views.dataset_detail, name="detail"),
    path("<int:pk>/runs/", views.dataset_run_create, name="run_create"),
    path("<int:pk>/gate/", views.dataset_gate_settings, name="gate_settings"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run_resume"),
    path("runs/<int:pk>/export.csv", views.run_export, name="run_export"),
]
