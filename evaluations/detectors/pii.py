"""Personal data in text: emails, phone numbers, payment cards, IBANs and national ids.

Shapes alone over-match (order numbers, years, tracking codes), so every kind that has a check
digit is validated (Luhn for cards, ISO 13616 mod-97 for IBANs, the mod-23 letter for Spanish
DNIs) and phone numbers need an international prefix or the separators people actually type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

KIND_EMAIL = "email"
KIND_PHONE = "phone"
KIND_CARD = "card"
KIND_IBAN = "iban"
KIND_SSN = "us_ssn"
KIND_NINO = "uk_nino"
KIND_DNI = "es_dni"


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: str
    value: str
    span: tuple[int, int]


# Patterns start with a literal or a small character class where possible: ``re`` can then skip
# ahead to candidates instead of trying every position, which keeps a 1 KB scan in microseconds.
# Boundary lookbehinds sit after the first character for the same reason.

# Emails are found from their "@": the domain forwards, then the local part backwards.
_EMAIL_DOMAIN = re.compile(r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# The lookbehind rejects every start but the real one, keeping the backwards search linear.
_EMAIL_LOCAL = re.compile(r"(?<![\w.+-])[\w.+-]+\Z")
_EMAIL_LOCAL_MAX = 64

# Every digit-led kind lives inside a run of digits and separators; only those runs are searched.
_NUMBER_RUN = re.compile(r"[0-9][0-9 ()./-]{4,}[0-9]")
# Room after a run for a trailing check letter ("12345678-Z") and the boundary test after it.
_RUN_TAIL = 3

# 13-19 digits, optionally grouped by single spaces or dashes ("4111 1111 1111 1111").
_CARD = re.compile(r"[2-6](?<![0-9+-][2-6])[0-9]{3}(?:[ -]?[0-9]){9,15}(?![0-9-])")

# Grouped by four as printed ("DE89 3704 0044 0532 0130 00") or compact; the check digits
# decide where a printed IBAN really ends.
_IBAN = re.compile(
    r"[A-Z]{2}(?<![A-Za-z0-9][A-Z]{2})[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"
)

# An international number ("+44 20 7946 0958") or a North-American one written with
# separators ("(555) 123-4567", "555.123.4567"). Bare digit runs are left alone: they are far
# more often order or tracking numbers.
_PHONE_INTERNATIONAL = re.compile(r"\+(?<![\w+]\+)[0-9]{1,3}(?:[ .-]?\(?[0-9]{1,4}\)?){2,5}(?!\w)")
_PHONE_PARENTHESES = re.compile(r"\((?<!\w\()[0-9]{3}\) ?[0-9]{3}[ .-][0-9]{4}(?![\w-])")
_PHONE_SEPARATED = re.compile(r"[0-9](?<![\w(.-][0-9])[0-9]{2}([ .-])[0-9]{3}\1[0-9]{4}(?![\w-])")
_PHONE_DIGITS = (8, 15)

_SSN = re.compile(
    r"[0-8](?<![\w-][0-8])[0-9]{2}(?<!000|666)-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![\w-])"
)
_NINO = re.compile(
    r"[A-CEGHJ-PR-TW-Z](?<![A-Za-z0-9][A-Z])[A-CEGHJ-NPR-TW-Z](?<!BG|GB|KN|NK|NT|TN|ZZ)"
    r" ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b"
)
_DNI = re.compile(r"([0-9](?<![\w-][0-9])[0-9]{7})-?([A-Z])\b")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"

# Deletes ASCII non-digits; anything non-ASCII is kept, which only makes the digit gates looser.
_KEEP_DIGITS = str.maketrans(dict.fromkeys(chr(c) for c in range(128) if not chr(c).isdigit()))
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")
_DIGIT = re.compile(r"[0-9]")
# Fewest digits each kind can have; cheap gates that skip whole scans on ordinary prose.
_MIN_DIGITS_PHONE = _PHONE_DIGITS[0]
_MIN_DIGITS_IBAN = 8
_MIN_DIGITS_NINO = 6


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _iban_valid(compact: str) -> bool:
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _number_runs(text: str) -> list[tuple[int, int]]:
    """(pos, endpos) windows around each run of digits and separators."""
    size = len(text)
    return [(m.start(), min(size, m.end() + _RUN_TAIL)) for m in _NUMBER_RUN.finditer(text)]


def _in_runs(
    pattern: re.Pattern[str], text: str, runs: list[tuple[int, int]]
) -> list[re.Match[str]]:
    # Lookbehinds still see the text before ``pos``, so boundaries behave as in a full scan.
    return [match for pos, endpos in runs for match in pattern.finditer(text, pos, endpos)]


def _find_emails(text: str) -> list[PiiMatch]:
    found = []
    for domain in _EMAIL_DOMAIN.finditer(text):
        at = domain.start()
        local = _EMAIL_LOCAL.search(text, max(0, at - _EMAIL_LOCAL_MAX), at)
        if local is not None:
            span = (local.start(), domain.end())
            found.append(PiiMatch(KIND_EMAIL, text[span[0] : span[1]], span))
    return found


def _find_cards(text: str, runs: list[tuple[int, int]]) -> list[PiiMatch]:
    found = []
    for match in _in_runs(_CARD, text, runs):
        digits = _NON_ALNUM.sub("", match.group())
        # A number made of one repeated digit passes Luhn for some lengths but is never a card.
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn_valid(digits):
            found.append(PiiMatch(KIND_CARD, match.group(), match.span()))
    if found:
        # Digits inside an IBAN-shaped code (even a mistyped one) are account digits.
        iban_spans = [match.span() for match in _IBAN.finditer(text)]
        found = [match for match in found if not _overlaps(match.span, iban_spans)]
    return found


def _find_ibans(text: str) -> list[PiiMatch]:
    found = []
    for match in _IBAN.finditer(text):
        candidate = match.group()
        # The optional trailing groups may have swallowed a following code; drop them one at a
        # time until the check digits agree.
        while candidate:
            if _iban_valid(candidate.replace(" ", "")):
                start = match.start()
                found.append(PiiMatch(KIND_IBAN, candidate, (start, start + len(candidate))))
                break
            candidate, _, _ = candidate.rpartition(" ")
    return found


def _find_phones(text: str, runs: list[tuple[int, int]]) -> list[PiiMatch]:
    found = []
    low, high = _PHONE_DIGITS
    candidates = [
        *_PHONE_INTERNATIONAL.finditer(text),
        *(_PHONE_PARENTHESES.finditer(text) if "(" in text else ()),
        *_in_runs(_PHONE_SEPARATED, text, runs),
    ]
    for match in candidates:
        value = match.group().rstrip(" .-")
        if low <= len(_DIGIT.findall(value)) <= high:
            found.append(PiiMatch(KIND_PHONE, value, (match.start(), match.start() + len(value))))
    return found


def _find_national_ids(text: str, runs: list[tuple[int, int]]) -> list[PiiMatch]:
    found = [
        PiiMatch(KIND_DNI, match.group(), match.span())
        for match in _in_runs(_DNI, text, runs)
        if _DNI_LETTERS[int(match.group(1)) % 23] == match.group(2)
    ]
    if "-" in text:
        found.extend(PiiMatch(KIND_SSN, m.group(), m.span()) for m in _in_runs(_SSN, text, runs))
    found.extend(PiiMatch(KIND_NINO, m.group(), m.span()) for m in _NINO.finditer(text))
    return found


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


def find_pii(text: str) -> list[PiiMatch]:
    """Every piece of personal data found in ``text``, in order of appearance.

    Validated kinds win over shapes: digits that form a valid card or IBAN are not reported
    again as a phone number.
    """
    found = _find_emails(text) if "@" in text else []
    digit_count = len(text.translate(_KEEP_DIGITS))
    if digit_count < _MIN_DIGITS_NINO:
        return found
    # Every digit-led kind, and every IBAN, contains a run of 6+ digits and separators.
    runs = _number_runs(text)
    if not runs:
        return found
    # Ordered from the strongest evidence (a check digit) to the weakest (a shape).
    candidates = [
        *_find_cards(text, runs),
        *(_find_ibans(text) if digit_count >= _MIN_DIGITS_IBAN else ()),
        *_find_national_ids(text, runs),
        *(_find_phones(text, runs) if digit_count >= _MIN_DIGITS_PHONE else ()),
    ]
    taken = [match.span for match in found]
    for match in candidates:
        if not _overlaps(match.span, taken):
            found.append(match)
            taken.append(match.span)
    return sorted(found, key=lambda match: match.span)


def _normalized(match: PiiMatch) -> str:
    if match.kind == KIND_EMAIL:
        return match.value.casefold()
    return _NON_ALNUM.sub("", match.value).upper()


def pii_leaked(*, input: str, output: str, allowed: Iterable[str] = ()) -> list[PiiMatch]:
    """Personal data in ``output`` that the user did not provide in ``input``.

    Repeating the user's own email back is fine; any other address, card or phone number in an
    answer is a leak. ``allowed`` lists public values (the support address, the hotline) that
    never count, compared after the same normalisation (case for emails, separators otherwise).
    """
    known = {_normalized(match) for match in find_pii(input)}
    known.update(
        value.casefold() if "@" in value else _NON_ALNUM.sub("", value).upper() for value in allowed
    )
    return [match for match in find_pii(output) if _normalized(match) not in known]
