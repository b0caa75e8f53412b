"""Which version a user gets, and whether the other version also answers in shadow (SPEC §2).

The rule is shared with the SDK and the tests, so it is written once here and nowhere else:
a user falls in a bucket 1..100 derived from the rollout's salt; buckets at or below
`candidate_percent` get the candidate, and the other version also answers (logged only)
for buckets at or below `shadow_percent`. Raising either percent only adds buckets, so a
user never flips back.
"""

from __future__ import annotations

from dataclasses import dataclass

import mmh3

from rollouts.models import Rollout


def bucket_for(*, salt: str, user: str) -> int:
    """The user's bucket, 1..100, stable for as long as the salt stays the same."""
    return mmh3.hash(f"{salt}:{user}", 0, signed=False) % 100 + 1


@dataclass(frozen=True, slots=True)
class Assignment:
    bucket: int
    served: str | None
    shadow: str | None
    on_candidate: bool


def assignment_for(
    *,
    salt: str,
    user: str,
    production: str | None,
    candidate: str | None,
    candidate_percent: int,
    shadow_percent: int,
) -> Assignment:
    """Served version and shadow version (or None) for one user under one routing config."""
    bucket = bucket_for(salt=salt, user=user)
    if candidate is None or production is None:
        return Assignment(
            bucket=bucket, served=production or candidate, shadow=None, on_candidate=False
        )
    on_candidate = bucket <= candidate_percent
    served, other = (candidate, production) if on_candidate else (production, candidate)
    # Shadowing is independent of which version serves, so every phase keeps producing pairs.
    shadow = other if bucket <= shadow_percent else None
    return Assignment(bucket=bucket, served=served, shadow=shadow, on_candidate=on_candidate)


def assignment_for_rollout(*, rollout: Rollout, user: str) -> Assignment:
    return assignment_for(
        salt=rollout.salt,
        user=user,
        production=rollout.production.name if rollout.production else None,
        candidate=rollout.candidate.name if rollout.candidate else None,
        candidate_percent=rollout.candidate_percent,
        shadow_percent=rollout.shadow_percent,
    )
