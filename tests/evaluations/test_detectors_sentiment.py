"""Emotion detection: negative sentiment and shouting."""

import json
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from evaluations.detectors import sentiment
from evaluations.detectors.sentiment import NEGATIVE_COMPOUND, detect_emotion

STARTER = Path(__file__).resolve().parents[2] / "evaluations/data/starter"


@pytest.mark.parametrize(
    "text",
    [
        "You people are useless. Worst company ever. I hate this stupid app.",
        "I'm so frustrated and angry. My parcel is lost and nobody answers my emails.",
        "I am so angry :(",
        "I'm furious 😡",
        "I don't like this, it's not good at all and not helpful.",
    ],
)
def test_strongly_negative_text_is_emotional(text):
    assert detect_emotion(text).is_emotional


@pytest.mark.parametrize(
    "text",
    [
        "How long does standard shipping take?",
        "Thank you so much, you're wonderful!",
        "Thanks!!!",
        "Can I get an invoice for my FAQ plan?",
    ],
)
def test_calm_text_is_not_emotional(text):
    assert not detect_emotion(text).is_emotional


def test_capitals_are_shouting():
    assert detect_emotion("WHERE IS MY PACKAGE? I PAID FOR EXPRESS").shouting


def test_repeated_exclamation_bursts_are_shouting():
    assert detect_emotion("Why is it not here!!! I paid!!!").shouting


def test_one_furious_sentence_in_a_polite_message_counts():
    text = (
        "Hello, I hope you are well. I ordered a lamp last month. "
        "Honestly I'm absolutely furious and disgusted with this terrible service. "
        "Could you check the order for me? Thank you."
    )
    assert detect_emotion(text).compound <= -0.5


def test_compound_is_zero_without_negative_cues():
    assert detect_emotion("Please send me the invoice for March.").compound == 0.0


def test_very_long_text_is_judged_on_head_and_tail():
    text = "I hate this, it is the worst service ever. " + "order line. " * 5000
    assert detect_emotion(text).is_emotional


def _starter_texts() -> list[str]:
    texts = []
    for name in ("golden.jsonl", "redteam.jsonl"):
        with (STARTER / name).open(encoding="utf-8") as lines:
            for line in lines:
                item = json.loads(line)
                texts.extend(text for text in (item["input"], item.get("expected")) if text)
    return texts


def test_cue_selection_agrees_with_scoring_every_sentence_on_starter_texts():
    """Only the sentence with the most negative cues goes to VADER; scoring all of them would
    flag exactly the same texts."""
    analyzer = SentimentIntensityAnalyzer()
    disagreements = [
        text
        for text in _starter_texts()
        if (detect_emotion(text).compound <= NEGATIVE_COMPOUND)
        != (
            min(
                (
                    analyzer.polarity_scores(sentence)["compound"]
                    for sentence in sentiment._sentences(sentiment._bounded(text))
                ),
                default=0.0,
            )
            <= NEGATIVE_COMPOUND
        )
    ]
    assert disagreements == []
