"""Language identification with lingua, restricted to common languages.

Measured on this project's 2-core machines (lingua-language-detector 2.1, the 16 languages
below):

* lingua's high-accuracy mode uses 1- to 5-gram models only for texts under 120 letters and
  trigrams alone above that, exactly like its low-accuracy mode. Short texts are where accuracy
  matters: low-accuracy mode read "How do I reset my password?" as Italian and "Where is my
  order?" as German; high-accuracy mode got every short text of the starter set right.
* Cost per call: ~30-150 us for short texts, but up to ~430 us for 100-150 characters (all
  n-gram orders over many n-grams); ~155 us at 160 characters and ~210 us at 240, where both
  modes only use trigrams.
* Preloading every high-accuracy model takes 1.5-3 s and 250-440 MB, so models load lazily:
  the Latin-script ones on first use (~3 s CPU once, ~250 MB), others only if such text comes.

So there is one high-accuracy detector, built once per process on first use, and long texts are
judged on a sample of ``SAMPLE_CHARS`` that is still past the 120-letter switch, which keeps
their cost bounded. Known weakness, lingua's own: on trigrams alone, a long text that repeats
one short sentence can be misread. Call ``warm_up()`` in a parent process before forking
workers so the models are loaded once and shared copy-on-write.
"""

from __future__ import annotations

import functools

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

_LANGUAGES = (
    Language.ENGLISH,
    Language.SPANISH,
    Language.FRENCH,
    Language.GERMAN,
    Language.PORTUGUESE,
    Language.ITALIAN,
    Language.DUTCH,
    Language.POLISH,
    Language.TURKISH,
    Language.RUSSIAN,
    Language.UKRAINIAN,
    Language.ARABIC,
    Language.HINDI,
    Language.CHINESE,
    Language.JAPANESE,
    Language.KOREAN,
)
SUPPORTED_LANGUAGES: frozenset[str] = frozenset(
    language.iso_code_639_1.name.lower() for language in _LANGUAGES
)

# Below this many letters no detector is trustworthy ("ok", "thanks!", an order number).
MIN_LETTERS = 10
# Long texts are judged on a bounded sample; ending it between these lengths keeps it past
# lingua's 120-letter switch to trigrams (cheaper and as accurate on that much text).
SAMPLE_CHARS = 200
_SAMPLE_MIN_CHARS = 160


@functools.cache
def _detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*_LANGUAGES).build()


def _sample(stripped: str) -> str:
    if len(stripped) <= SAMPLE_CHARS:
        return stripped
    # End on a word boundary so the last word is not a fragment that reads as another language.
    cut = stripped.rfind(" ", _SAMPLE_MIN_CHARS, SAMPLE_CHARS)
    return stripped[: cut if cut > 0 else SAMPLE_CHARS]


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the language ``text`` is written in, or None when too short to tell."""
    sample = _sample(text.strip())
    if sum(map(str.isalpha, sample)) < MIN_LETTERS:
        return None
    language = _detector().detect_language_of(sample)
    return None if language is None else language.iso_code_639_1.name.lower()


def is_unexpected_language(text: str, *, expected: str = "en") -> bool:
    """True when ``text`` is confidently in a language other than ``expected``.

    Text too short to identify is never unexpected.
    """
    language = detect_language(text)
    return language is not None and language != expected.lower()


def warm_up() -> None:
    """Load the Latin-script models now rather than on the first short text."""
    detect_language("Where is my order? It has not arrived yet.")
