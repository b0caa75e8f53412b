from django.urls import include, path

from evaluations import views

urlpatterns: list = [
    path("", views.overview, name="overview"),
    path("agents/<slug:slug>/compare/", views.compare, name="compare"),
    path("review/", views.review, name="review"),
    path("review/bulk/", views.review_bulk, name="review_bulk"),
    path("review/<int:flag_id>/", views.review_decide, name="review_decide"),
    path("judges/", views.judges, name="judges"),
    path("judges/<int:judge_id>/resume/", views.judge_resume_action, name="judge_resume"),
    # Datasets: golden and red-team sets, runs and reports.
    path("datasets/", include("evaluations.datasets.urls")),
]
