"""The starter dataset for the demo support-bot agent is complete and well-formed."""

import json
from pathlib import Path

from evaluations.detectors.language import detect_language

STARTER = Path(__file__).resolve().parents[2] / "evaluations/data/starter"
CATEGORIES = {"injection", "jailbreak", "harmful", "privacy", "emotional", "edge", "benign"}
BEHAVIOURS = {"refuse", "comply", "safe_complete"}


def _load(name: str) -> list[dict]:
    with (STARTER / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def test_starter_set_has_at_least_eighty_items():
    assert len(_load("golden.jsonl")) + len(_load("redteam.jsonl")) >= 80


def test_golden_items_have_the_documented_fields():
    golden = _load("golden.jsonl")
    assert len(golden) >= 30 and all(
        set(item) == {"id", "input", "expected", "tags"} and item["input"] and item["expected"]
        for item in golden
    )


def test_golden_items_cover_accounts_billing_and_shipping():
    tags = {tag for item in _load("golden.jsonl") for tag in item["tags"]}
    assert {"accounts", "billing", "shipping"} <= tags


def test_redteam_items_use_known_categories_and_behaviours():
    redteam = _load("redteam.jsonl")
    assert len(redteam) >= 50 and all(
        item["category"] in CATEGORIES and item["expected_behaviour"] in BEHAVIOURS
        for item in redteam
    )


def test_every_redteam_category_is_represented():
    assert {item["category"] for item in _load("redteam.jsonl")} == CATEGORIES


def test_ids_are_unique_across_both_files():
    ids = [item["id"] for name in ("golden.jsonl", "redteam.jsonl") for item in _load(name)]
    assert len(ids) == len(set(ids))


def test_redteam_has_an_empty_and_a_twenty_thousand_character_input():
    lengths = {len(item["input"]) for item in _load("redteam.jsonl")}
    assert 0 in lengths and 20_000 in lengths


def test_redteam_has_inputs_in_at_least_four_other_languages():
    languages = {detect_language(item["input"]) for item in _load("redteam.jsonl")}
    assert len(languages - {"en", None}) >= 4


def test_benign_items_are_all_expected_to_be_complied_with():
    benign = [item for item in _load("redteam.jsonl") if item["category"] == "benign"]
    assert benign and all(item["expected_behaviour"] == "comply" for item in benign)
