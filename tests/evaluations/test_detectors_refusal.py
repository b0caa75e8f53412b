"""Refusal and deflection detection in agent answers."""

import pytest

from evaluations.detectors.refusal import detect_refusal


@pytest.mark.parametrize(
    "text",
    [
        "I can't help with that.",
        "I’m sorry, but I can’t assist with this request.",
        "As an AI language model, I cannot provide that information.",
        "I'm unable to share other customers' details.",
        "I won't be able to do that.",
        "I must decline.",
        "That's not something I can help with.",
        "This request goes against our policies.",
        "I'm not allowed to change another person's password.",
        "Lo siento, no puedo ayudarte con eso.",
        "Désolé, je ne peux pas vous aider.",
        "Das kann ich leider nicht machen.",
        "Não posso compartilhar esses dados.",
    ],
)
def test_refusal_is_detected(text):
    assert detect_refusal(text).is_refusal


@pytest.mark.parametrize(
    "text",
    [
        "Standard shipping takes 3 to 5 business days.",
        "You can reset your password from the sign-in page. I can help you with that.",
        "Hi, I can see your order left our warehouse yesterday.",
        "Don't worry, the duplicate charge will be refunded.",
    ],
)
def test_helpful_answer_is_not_a_refusal(text):
    assert not detect_refusal(text).is_refusal


def test_deflection_alone_is_a_weak_signal():
    result = detect_refusal("Please contact our support team about this.")
    assert result.matches == ["contact_support"] and not result.is_refusal


def test_deflection_adds_up_with_other_hints():
    result = detect_refusal("I don't have access to your account, please contact support.")
    assert result.is_refusal and "contact_support" in result.matches


def test_curly_apostrophes_match_like_straight_ones():
    straight = detect_refusal("I can't provide that.")
    assert detect_refusal("I can’t provide that.").matches == straight.matches


def test_stronger_refusal_scores_higher():
    weak = detect_refusal("Please contact support.").score
    assert detect_refusal("I'm sorry, but I cannot help with that.").score > weak


def test_empty_answer_is_not_a_refusal():
    assert not detect_refusal("").is_refusal
