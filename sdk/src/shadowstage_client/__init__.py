"""Shadowstage client: route users between agent versions, run the candidate in shadow,
and record both answers without slowing down or breaking the production path."""

from shadowstage_client._http import Backoff
from shadowstage_client.interactions import Answer, Interaction, Response
from shadowstage_client.recorder import Recorder, RecorderStats
from shadowstage_client.routing import Assignment, Router, RoutingTable, bucket_for
from shadowstage_client.shadow import ShadowPool, arun_with_shadow, run_with_shadow

__all__ = [
    "Answer",
    "Assignment",
    "Backoff",
    "Interaction",
    "Recorder",
    "RecorderStats",
    "Response",
    "Router",
    "RoutingTable",
    "ShadowPool",
    "arun_with_shadow",
    "bucket_for",
    "run_with_shadow",
]
