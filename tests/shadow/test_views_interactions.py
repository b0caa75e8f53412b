import csv
import io
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shadow.selectors import PAGE_SIZE, Cursor, InteractionFilters, interactions_page
from shadow.views import filters_from_query
from tests.evaluations.dashboard_support import demo_rollout, open_flag, scored_pair
from tests.factories import user_with_role


@pytest.fixture
def viewer_client(client, db):
    client.force_login(user_with_role("viewer"))
    return client


@pytest.fixture
def rollout(db):
    return demo_rollout()


def many(rollout, count: int, **kwargs):
    start = timezone.now() - timedelta(hours=2)
    return [
        scored_pair(
            rollout,
            production_value=0.5,
            candidate_value=0.6,
            verdict="win",
            created_at=start + timedelta(seconds=i),
            input=f"question number {i}",
            **kwargs,
        )
        for i in range(count)
    ]


def listed(client, query: str = "") -> list[int]:
    return [i.pk for i in client.get(f"/interactions/?{query}").context["page"].rows]


def test_list_shows_newest_first(viewer_client, rollout):
    made = many(rollout, 3)
    assert listed(viewer_client) == [i.pk for i in reversed(made)]


def test_older_page_continues_where_the_first_ended(viewer_client, rollout):
    made = many(rollout, PAGE_SIZE + 5)
    first = viewer_client.get("/interactions/")
    token = first.context["next_token"]
    assert listed(viewer_client, f"after={token}") == [i.pk for i in reversed(made[:5])]


def test_newer_page_returns_to_the_first(viewer_client, rollout):
    many(rollout, PAGE_SIZE + 5)
    first = viewer_client.get("/interactions/")
    second = viewer_client.get(f"/interactions/?after={first.context['next_token']}")
    back = listed(viewer_client, f"before={second.context['previous_token']}")
    assert back == [i.pk for i in first.context["page"].rows]


def test_rows_sharing_a_timestamp_are_neither_skipped_nor_repeated(rollout):
    moment = timezone.now()
    made = {
        scored_pair(
            rollout, production_value=0.5, candidate_value=0.5, verdict="tie", created_at=moment
        ).pk
        for _ in range(5)
    }
    seen, cursor = [], None
    while True:
        page = interactions_page(filters=InteractionFilters(), after=cursor, limit=2)
        seen += [i.pk for i in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(made)


def test_agents_are_merged_in_time_order(rollout):
    other = demo_rollout("other-bot")
    now = timezone.now()
    a = scored_pair(
        rollout,
        production_value=0.5,
        candidate_value=0.5,
        verdict="tie",
        created_at=now - timedelta(minutes=3),
    )
    b = scored_pair(
        other,
        production_value=0.5,
        candidate_value=0.5,
        verdict="tie",
        created_at=now - timedelta(minutes=2),
    )
    c = scored_pair(
        rollout,
        production_value=0.5,
        candidate_value=0.5,
        verdict="tie",
        created_at=now - timedelta(minutes=1),
    )
    assert [i.pk for i in interactions_page(filters=InteractionFilters()).rows] == [
        c.pk,
        b.pk,
        a.pk,
    ]


def test_filter_by_agent(viewer_client, rollout):
    other = demo_rollout("other-bot")
    mine = many(rollout, 2)
    many(other, 2)
    assert sorted(listed(viewer_client, f"agent={rollout.agent.slug}")) == sorted(
        i.pk for i in mine
    )


def test_filter_by_slice(viewer_client, rollout):
    many(rollout, 2)
    [adversarial] = many(rollout, 1, slices=["adversarial"])
    assert listed(viewer_client, "slice=adversarial") == [adversarial.pk]


def test_filter_by_metadata_slice(viewer_client, rollout):
    many(rollout, 2, metadata={"channel": "web"})
    [email] = many(rollout, 1, metadata={"channel": "email"})
    assert listed(viewer_client, "slice=meta:channel%3Demail") == [email.pk]


def test_filter_by_judge_verdict(viewer_client, rollout):
    many(rollout, 2)
    loss = scored_pair(rollout, production_value=0.9, candidate_value=0.1, verdict="loss")
    assert listed(viewer_client, "verdict=loss") == [loss.pk]


def test_filter_by_low_score(viewer_client, rollout):
    many(rollout, 2)
    low = scored_pair(rollout, production_value=0.9, candidate_value=0.1, verdict="loss")
    assert listed(viewer_client, "verdict=low") == [low.pk]


def test_filter_by_open_flag(viewer_client, rollout):
    made = many(rollout, 3)
    open_flag(made[1])
    assert listed(viewer_client, "flagged=open") == [made[1].pk]


def test_filter_by_unflagged(viewer_client, rollout):
    made = many(rollout, 2)
    open_flag(made[1])
    assert listed(viewer_client, "flagged=none") == [made[0].pk]


def test_filter_by_version(viewer_client, rollout):
    made = many(rollout, 2)
    made[0].responses.filter(version=rollout.candidate).delete()
    assert listed(viewer_client, f"version={rollout.candidate.pk}") == [made[1].pk]


def test_filter_by_date_range(viewer_client, rollout):
    old = scored_pair(
        rollout,
        production_value=0.5,
        candidate_value=0.5,
        verdict="tie",
        created_at=timezone.now() - timedelta(days=10),
    )
    many(rollout, 2)
    day = old.created_at.date()
    assert listed(viewer_client, f"since={day}&until={day}") == [old.pk]


def test_text_search_matches_input_and_answers(viewer_client, rollout):
    many(rollout, 2)
    by_answer = scored_pair(
        rollout, production_value=0.5, candidate_value=0.5, verdict="tie",
        candidate_output="Your refund is on its way.",
    )  # fmt: skip
    assert listed(viewer_client, "q=REFUND") == [by_answer.pk]


def test_malformed_filters_are_ignored(db):
    from django.http import QueryDict

    filters = filters_from_query(QueryDict("verdict=maybe&since=yesterday&version=abc"))
    assert filters == InteractionFilters()


def test_pagination_links_keep_the_filters(viewer_client, rollout):
    many(rollout, PAGE_SIZE + 1)
    html = viewer_client.get("/interactions/?verdict=win&flagged=none").content.decode()
    older = next(line for line in html.splitlines() if 'rel="next"' in line or "after=" in line)
    href = older.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    params = parse_qs(urlparse(href).query)
    assert (params["verdict"], params["flagged"]) == (["win"], ["none"])


def test_a_page_never_counts_the_table(viewer_client, rollout):
    many(rollout, 3)
    with CaptureQueriesContext(connection) as queries:
        viewer_client.get(f"/interactions/?agent={rollout.agent.slug}")
    assert not [
        q for q in queries if "COUNT(" in q["sql"].upper() and "shadow_interaction" in q["sql"]
    ]


def test_a_page_walks_the_agent_recent_index(rollout):
    many(rollout, 3)
    filters = InteractionFilters(agent=rollout.agent)
    cursor = Cursor(created_at=timezone.now(), id=10**9)
    from shadow.selectors import _base

    query = (
        _base(agent=rollout.agent, filters=filters)
        .filter(created_at__lte=cursor.created_at)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)[:PAGE_SIZE]
    )
    # A handful of test rows makes any plan cheap; forbid sorting so the planner must find an
    # index that already yields the page order.
    with connection.cursor() as db:
        db.execute("SET LOCAL enable_sort = off")
        plan = query.explain()
    assert "interaction_agent_recent" in plan


def test_empty_list_says_how_to_get_traffic(viewer_client, db):
    html = viewer_client.get("/interactions/").content.decode()
    assert "No traffic yet" in html


def test_htmx_filter_change_returns_only_results(viewer_client, rollout):
    many(rollout, 1)
    html = viewer_client.get("/interactions/", headers={"HX-Request": "true"}).content.decode()
    assert 'id="results"' in html and 'id="filters"' not in html


def test_csv_export_streams_one_row_per_response(viewer_client, rollout):
    many(rollout, 3)
    response = viewer_client.get("/interactions/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 6


def test_csv_export_respects_filters(viewer_client, rollout):
    many(rollout, 3)
    loss = scored_pair(rollout, production_value=0.9, candidate_value=0.1, verdict="loss")
    response = viewer_client.get("/interactions/export.csv?verdict=loss")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["interaction_id"] for row in rows} == {str(loss.pk)}


def test_csv_export_keeps_formulas_as_text(viewer_client, rollout):
    scored_pair(
        rollout, production_value=0.5, candidate_value=0.5, verdict="tie",
        candidate_output='=HYPERLINK("http://evil.example","click")',
    )  # fmt: skip
    response = viewer_client.get("/interactions/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert all(not row["output"].startswith("=") for row in rows)


def test_jsonl_export_has_one_line_per_interaction_with_scores(viewer_client, rollout):
    many(rollout, 2)
    response = viewer_client.get("/interactions/export.jsonl")
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [len(line["scores"]) for line in lines] == [3, 3]


def test_export_is_streamed(viewer_client, rollout):
    many(rollout, 1)
    assert viewer_client.get("/interactions/export.jsonl").streaming


def test_export_reads_in_batches_beyond_one_batch(viewer_client, rollout, monkeypatch):
    from shadow import selectors

    monkeypatch.setattr(selectors, "EXPORT_BATCH", 2)
    many(rollout, 5)
    response = viewer_client.get("/interactions/export.jsonl")
    assert len(b"".join(response.streaming_content).splitlines()) == 5


def test_unknown_export_format_is_not_found(viewer_client, db):
    assert viewer_client.get("/interactions/export.xlsx").status_code == 404


def test_rare_word_search_is_case_insensitive_in_input_and_answers(viewer_client, rollout):
    many(rollout, 30)
    in_input = scored_pair(
        rollout, production_value=0.5, candidate_value=0.5, verdict="tie",
        input="Is the Zanzibar warehouse open?", created_at=timezone.now() - timedelta(minutes=2),
    )  # fmt: skip
    in_answer = scored_pair(
        rollout, production_value=0.5, candidate_value=0.5, verdict="tie",
        production_output="It ships from ZANZIBAR tomorrow.",
    )  # fmt: skip
    assert listed(viewer_client, "q=zanzibar") == [in_answer.pk, in_input.pk]
