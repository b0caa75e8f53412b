"""Emotional inputs: strongly negative sentiment (VADER) or shouting.

VADER's ``polarity_scores`` is slow (pure Python, ~5 us per word, and quadratic in the words
of one call: ~0.2 ms for 200 characters, ~2 ms for 1 KB), so it is never run on a whole text.
Following the VADER authors' advice for longer texts we look at sentences (long ones in windows
of ``_WINDOW_WORDS``), and only at the one that carries the most negative cue mass: the sum of
VADER's own lexicon valences of its negative words, plus negated positive words. A sentence
needs ``_MIN_CUE_MASS`` before VADER is asked: one mildly negative word only reaches the
threshold with capitals or "!!!", which the shouting check mostly catches on its own.
``compound`` is VADER's compound score of that sentence (0.0 when no sentence qualifies): one
furious sentence in a polite message still makes it emotional, at the cost of one VADER call
per message. On the 220 starter texts this agrees with scoring every sentence with VADER.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass

from vaderSentiment.vaderSentiment import N_SCALAR, NEGATE, SentimentIntensityAnalyzer

from ._text import words_of

NEGATIVE_COMPOUND = -0.5
# Shouting: mostly capitals over enough letters that "OK" or "FAQ" do not count ...
_SHOUT_MIN_LETTERS = 12
_SHOUT_CAPS_RATIO = 0.6
# ... or repeated bursts of exclamation marks ("Why!!! Now!!!"), not one cheerful "Thanks!!!".
_SHOUT_MIN_BURSTS = 2
# Long inputs are judged on their head and tail.
_MAX_CHARS = 4000
_WINDOW_WORDS = 40
# "This is frustrating." (-1.9) scores -0.44; two cues or one strong one are needed for -0.5.
_MIN_CUE_MASS = -1.5

_SENTENCE_ENDS = (".", "!", "?", "\u2026")
_DELETE_ASCII_UPPER = str.maketrans(dict.fromkeys(string.ascii_uppercase))
_DELETE_ASCII_LOWER = str.maketrans(dict.fromkeys(string.ascii_lowercase))


@dataclass(frozen=True, slots=True)
class EmotionResult:
    is_emotional: bool
    compound: float
    shouting: bool


@dataclass(frozen=True, slots=True)
class _Vader:
    analyzer: SentimentIntensityAnalyzer
    valence: dict[str, float]
    # Negative emoticons (":(", "</3"), which only survive as whole whitespace tokens.
    emoticons: frozenset[str]
    # Single-word lexicon entries, positive and negative.
    scored: frozenset[str]
    negations: frozenset[str]
    # Negative valence of emoji, read by VADER through their descriptions ("enraged face").
    emoji: dict[str, float]


@functools.cache
def _vader() -> _Vader:
    analyzer = SentimentIntensityAnalyzer()
    valence = dict(analyzer.lexicon)
    # word_set() splits "don't" into "don" + "t", so "t" stands for every n't negation.
    negations = frozenset(word for word in NEGATE if "'" not in word) | {"t"}
    emoji = {}
    for char, description in analyzer.emojis.items():
        value = sum(min(valence.get(word, 0.0), 0.0) for word in description.split())
        if value < 0:
            emoji[char] = value
    emoticons = frozenset(
        entry
        for entry, value in valence.items()
        if value < 0 and " " not in entry and not entry.replace("'", "").isalnum()
    )
    scored = frozenset(entry for entry in valence if entry.isalnum())
    return _Vader(analyzer, valence, emoticons, scored, negations, emoji)


def _bounded(text: str) -> str:
    if len(text) <= _MAX_CHARS:
        return text
    half = _MAX_CHARS // 2
    return f"{text[:half]}\n{text[-half:]}"


def _sentences(text: str) -> list[str]:
    """Sentences of ``text``, long ones cut into windows of words."""
    # str.replace + splitlines run in C; a regex split or a token loop costs ten times more.
    for end in _SENTENCE_ENDS:
        text = text.replace(end + " ", end + "\n")
    chunks = []
    for line in text.splitlines():
        words = line.split()
        if len(words) <= _WINDOW_WORDS:
            chunks.append(line)
            continue
        chunks.extend(
            " ".join(words[start : start + _WINDOW_WORDS])
            for start in range(0, len(words), _WINDOW_WORDS)
        )
    return chunks


def _cue_words(lowered: str, vader: _Vader, *, emoticons: bool) -> tuple[list[str], bool]:
    """Lexicon entries in ``lowered``, repeats included (VADER counts every occurrence), and
    whether it contains a negation. Emoticons are whole whitespace tokens, looked for only when
    ``emoticons`` says the text has some."""
    words = words_of(lowered)
    found = [word for word in words if word in vader.scored]
    if emoticons:
        found.extend(token for token in lowered.split() if token in vader.emoticons)
    return found, not vader.negations.isdisjoint(words)


def _cue_mass(lowered: str, found: list[str], negated: bool, vader: _Vader) -> float:
    negative = sum(vader.valence[word] for word in found if vader.valence[word] < 0)
    if not lowered.isascii():
        negative += sum(vader.emoji.get(char, 0.0) for char in lowered if not char.isascii())
    if not negated:
        return negative
    # VADER flips and damps a negated positive word by N_SCALAR (-0.74).
    positive = sum(vader.valence[word] for word in found if vader.valence[word] > 0)
    return negative + positive * N_SCALAR


def _most_negative_compound(text: str) -> float:
    vader = _vader()
    lowered = text.lower()
    emoticons = not vader.emoticons.isdisjoint(lowered.split())
    found, negated = _cue_words(lowered, vader, emoticons=emoticons)
    # The whole text's mass bounds every sentence's from below: if even all cues together stay
    # above the threshold, no sentence can reach it and VADER is not needed.
    if _cue_mass(lowered, found, negated, vader) > _MIN_CUE_MASS:
        return 0.0
    best_mass, best_sentence = 0.0, ""
    for sentence in _sentences(text):
        sentence_lowered = sentence.lower()
        found, negated = _cue_words(sentence_lowered, vader, emoticons=emoticons)
        mass = _cue_mass(sentence_lowered, found, negated, vader)
        if mass < best_mass:
            best_mass, best_sentence = mass, sentence
    if best_mass > _MIN_CUE_MASS:
        return 0.0
    # Scored as written: VADER reads capitals as emphasis.
    return vader.analyzer.polarity_scores(best_sentence)["compound"]


def _is_shouting(text: str) -> bool:
    if text.count("!!") >= _SHOUT_MIN_BURSTS:
        return True
    if text.isascii():
        upper = len(text) - len(text.translate(_DELETE_ASCII_UPPER))
        lower = len(text) - len(text.translate(_DELETE_ASCII_LOWER))
    else:
        upper = sum(map(str.isupper, text))
        lower = sum(map(str.islower, text))
    cased = upper + lower
    return cased >= _SHOUT_MIN_LETTERS and upper / cased >= _SHOUT_CAPS_RATIO


def detect_emotion(text: str, *, threshold: float = NEGATIVE_COMPOUND) -> EmotionResult:
    """Whether ``text`` is strongly negative (``compound <= threshold``) or shouted.

    ``compound`` is VADER's compound score of the most negative sentence, 0.0 when no sentence
    carries a negative cue (so positive texts also report 0.0).
    """
    sample = _bounded(text)
    compound = _most_negative_compound(sample)
    shouting = _is_shouting(sample)
    return EmotionResult(
        is_emotional=shouting or compound <= threshold, compound=compound, shouting=shouting
    )
