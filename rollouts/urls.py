from django.urls import path

from rollouts import views

urlpatterns: list = [
    path("agents/<slug:slug>/", views.rollout_page, name="rollout"),
    path("agents/<slug:slug>/confirm/<str:name>/", views.rollout_confirm, name="rollout_confirm"),
    path("agents/<slug:slug>/actions/<str:name>/", views.rollout_action, name="rollout_action"),
    path(
        "agents/<slug:slug>/approvals/<int:approval_id>/",
        views.approval_decide,
        name="rollout_approval_decide",
    ),
]

# Event bus: live feed and webhook settings.
from rollouts import event_views  # noqa: E402

urlpatterns += [
    path("events/", event_views.events_feed, name="events_feed"),
    path("agents/<slug:slug>/webhooks/", event_views.webhooks_page, name="webhooks"),
    path("agents/<slug:slug>/webhooks/<int:pk>/log/", event_views.webhook_log, name="webhook_log"),
    path(
        "agents/<slug:slug>/webhooks/<int:pk>/delete/",
        event_views.webhook_delete,
        name="webhook_delete",
    ),
    path(
        "agents/<slug:slug>/webhooks/<int:pk>/enable/",
        event_views.webhook_enable,
        name="webhook_enable",
    ),
    path(
        "agents/<slug:slug>/webhooks/deliveries/<int:pk>/redeliver/",
        event_views.webhook_redeliver,
        name="webhook_redeliver",
    ),
]
