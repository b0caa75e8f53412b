"""Language identification."""

import pytest

from evaluations.detectors.language import detect_language, is_unexpected_language


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("How do I reset my password?", "en"),
        ("Where is my order?", "en"),
        ("¿Cuánto tarda el envío estándar a Madrid? Hice el pedido el lunes.", "es"),
        ("Bonjour, comment puis-je télécharger ma facture pour le mois dernier ?", "fr"),
        ("Hallo, ich möchte mein Abonnement kündigen. Wie mache ich das?", "de"),
        ("Olá, meu pacote ainda não chegou. Como posso rastrear o pedido?", "pt"),
        ("パスワードを忘れました。どうすればリセットできますか？", "ja"),
    ],
)
def test_short_text_language_is_identified(text, code):
    assert detect_language(text) == code


def test_long_text_language_is_identified():
    text = (
        "Standard shipping takes three to five business days, and express shipping takes one "
        "to two business days. International orders usually arrive within two weeks. " * 20
    )
    assert detect_language(text) == "en"


@pytest.mark.parametrize("text", ["", "   ", "ok", "thanks!", "#48213"])
def test_too_short_text_has_no_language(text):
    assert detect_language(text) is None


def test_other_language_than_expected_is_unexpected():
    assert is_unexpected_language("Hola, necesito ayuda con mi pedido", expected="en")


def test_expected_language_is_not_unexpected():
    assert not is_unexpected_language("Hola, necesito ayuda con mi pedido", expected="es")


def test_too_short_text_is_never_unexpected():
    assert not is_unexpected_language("Danke", expected="en")
