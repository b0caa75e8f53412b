"""Approximate token counts against OpenAI's published averages for English."""

import json
from pathlib import Path

import pytest

from evaluations.detectors.tokens import count_tokens

GOLDEN = Path(__file__).resolve().parents[2] / "evaluations/data/starter/golden.jsonl"
# OpenAI: "1 token ~= 4 chars in English", "1 token ~= 3/4 words".
PUBLISHED_CHARS_PER_TOKEN = 4.0
PUBLISHED_TOKENS_PER_WORD = 4 / 3


def _english() -> str:
    with GOLDEN.open(encoding="utf-8") as lines:
        return " ".join(json.loads(line)["expected"] for line in lines)


def test_characters_per_token_is_within_fifteen_percent_of_published_average():
    text = _english()
    chars_per_token = len(text) / count_tokens(text)
    assert abs(chars_per_token / PUBLISHED_CHARS_PER_TOKEN - 1) <= 0.15


def test_tokens_per_word_is_within_fifteen_percent_of_published_average():
    text = _english()
    tokens_per_word = count_tokens(text) / len(text.split())
    assert abs(tokens_per_word / PUBLISHED_TOKENS_PER_WORD - 1) <= 0.15


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_text_has_no_tokens(text):
    assert count_tokens(text) == 0


def test_punctuation_splits_off_words():
    assert count_tokens("Hello, world!") == 4


def test_long_rare_words_cost_more_than_short_ones():
    assert count_tokens("pneumonoultramicroscopicsilicovolcanoconiosis") > count_tokens("cat")


def test_long_numbers_split_into_three_digit_groups():
    assert count_tokens("1234567") == 3


def test_cjk_costs_about_a_token_per_character():
    text = "パスワードを忘れました"
    assert len(text) <= count_tokens(text) <= 2 * len(text)


def test_count_grows_with_text():
    sentence = "Where is my parcel? "
    assert count_tokens(sentence * 10) > count_tokens(sentence * 5) > count_tokens(sentence)
