"""Datasets pages: who may do what, uploads through the form, runs, live progress, export."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from evaluations.models import Dataset, DatasetRun
from tests.evaluations.datasets_support import STARTER, finished_run, redteam_dataset
from tests.factories import RolloutFactory, user_with_role

pytestmark = pytest.mark.django_db
INDEX = "/datasets/"


@pytest.fixture
def rollout():
    return RolloutFactory()


@pytest.fixture
def dataset(rollout):
    return redteam_dataset(agent=rollout.agent)


@pytest.fixture
def run(dataset, rollout):
    return finished_run(
        dataset=dataset,
        version=rollout.candidate,
        outcomes={"a1": (True, {"refused": True}), "a2": (False, {"refused": True})},
    )


@pytest.fixture
def operator(client):
    client.force_login(user_with_role("operator"))
    return client


@pytest.fixture
def viewer(client):
    client.force_login(user_with_role("viewer"))
    return client


def upload(client, *, content: bytes, name: str = "faq", kind: str = "golden", **fields):
    data = {
        "file": SimpleUploadedFile(fields.pop("filename", "f.jsonl"), content),
        "name": name,
        "kind": kind,
        **fields,
    }
    return client.post(INDEX, data)


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get(INDEX).status_code == 302


@pytest.mark.parametrize("page", ["index", "detail", "run"])
def test_viewer_reads_every_page(viewer, run, page):
    url = {
        "index": INDEX,
        "detail": reverse("datasets:detail", args=[run.dataset_id]),
        "run": reverse("datasets:run", args=[run.pk]),
    }[page]
    assert viewer.get(url).status_code == 200


def test_viewer_does_not_see_the_upload_form(viewer):
    assert b'enctype="multipart/form-data"' not in viewer.get(INDEX).content


@pytest.mark.parametrize(
    "action", ["upload", "run_create", "gate_settings", "run_cancel", "run_resume"]
)
def test_post_by_a_viewer_is_forbidden(viewer, run, action):
    if action == "upload":
        response = upload(viewer, content=b'{"input": "a", "expected": "b"}')
    elif action in ("run_create", "gate_settings"):
        response = viewer.post(reverse(f"datasets:{action}", args=[run.dataset_id]), {})
    else:
        response = viewer.post(reverse(f"datasets:{action}", args=[run.pk]))
    assert response.status_code == 403


def test_operator_imports_the_starter_set_through_the_page(operator, rollout):
    response = upload(
        operator,
        content=(STARTER / "redteam.jsonl").read_bytes(),
        filename="redteam.jsonl",
        name="starter-redteam",
        kind="redteam",
        agent=rollout.agent.pk,
    )
    dataset = Dataset.objects.get(name="starter-redteam")
    assert (response.status_code, response.url, dataset.items.count()) == (
        302,
        reverse("datasets:detail", args=[dataset.pk]),
        len((STARTER / "redteam.jsonl").read_text().strip().splitlines()),
    )


def test_upload_with_a_column_mapping(operator):
    upload(
        operator,
        content=b"question,gold\nWhat is 2+2?,4\n",
        filename="maths.csv",
        name="maths",
        map_input="question",
        map_expected="gold",
    )
    assert Dataset.objects.get(name="maths").items.get().expected == "4"


def test_bad_upload_shows_line_numbers_and_imports_nothing(operator):
    response = upload(operator, content=b'{"id": "1", "input": "q"}\n{broken\n')
    body = response.content.decode()
    assert (response.status_code, "line 2" in body, Dataset.objects.exists()) == (400, True, False)


def test_mapping_to_a_missing_column_is_explained(operator):
    response = upload(
        operator, content=b"prompt\nhello\n", filename="x.csv", kind="redteam", map_input="text"
    )
    assert "names column(s) the file does not have" in response.content.decode()


def test_a_100_mb_upload_is_refused_before_the_body_is_read(operator):
    response = operator.post(
        INDEX,
        {"name": "huge", "kind": "redteam", "file": SimpleUploadedFile("huge.jsonl", b"{}")},
        CONTENT_LENGTH=str(100 * 1024 * 1024),
    )
    assert (response.status_code, "limit" in response.content.decode()) == (413, True)


def test_operator_starts_a_run_from_the_dataset_page(operator, dataset, rollout):
    response = operator.post(
        reverse("datasets:run_create", args=[dataset.pk]),
        {
            "version": rollout.candidate.pk,
            "connector": "demo",
            "concurrency": 2,
            "timeout": 30,
            "max_retries": 2,
            "golden_match": "fuzzy",
        },
    )
    run = DatasetRun.objects.get()
    assert (response.status_code, run.status, run.connector["kind"]) == (302, "queued", "demo")


def test_run_form_explains_a_bad_connector_config(operator, dataset, rollout):
    response = operator.post(
        reverse("datasets:run_create", args=[dataset.pk]),
        {
            "version": rollout.candidate.pk,
            "connector": "openai",
            "base_url": "http://h/v1",
            "concurrency": 2,
            "timeout": 30,
            "max_retries": 2,
            "golden_match": "fuzzy",
        },
    )
    assert (response.status_code, "needs a model name" in response.content.decode()) == (400, True)


def test_htmx_poll_returns_only_the_live_part_and_keeps_polling_while_active(viewer, run):
    DatasetRun.objects.filter(pk=run.pk).update(status="running")
    response = viewer.get(reverse("datasets:run", args=[run.pk]), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert ("<html" in body, 'hx-trigger="every 2s"' in body) == (False, True)


def test_finished_run_page_stops_polling(viewer, run):
    body = viewer.get(reverse("datasets:run", args=[run.pk])).content.decode()
    assert 'hx-trigger="every 2s"' not in body


def test_csv_export_downloads_every_result(viewer, run):
    response = viewer.get(reverse("datasets:run_export", args=[run.pk]))
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert (response["Content-Type"].startswith("text/csv"), len(lines)) == (True, 3)


def test_operator_cancels_and_resumes_a_run(operator, dataset, rollout):
    run = DatasetRun.objects.create(
        dataset=dataset, version=rollout.candidate, connector={"kind": "demo"}, total=3
    )
    operator.post(reverse("datasets:run_cancel", args=[run.pk]))
    cancelled = DatasetRun.objects.get(pk=run.pk).status
    operator.post(reverse("datasets:run_resume", args=[run.pk]))
    assert (cancelled, DatasetRun.objects.get(pk=run.pk).status) == ("cancelled", "queued")


def test_operator_makes_a_dataset_required_by_the_gate(operator, dataset):
    operator.post(
        reverse("datasets:gate_settings", args=[dataset.pk]),
        {"required_for_gate": "on", "pass_threshold": "0.75"},
    )
    dataset.refresh_from_db()
    assert (dataset.required_for_gate, dataset.pass_threshold) == (True, 0.75)
