"""Personal-data detection and leak checks."""

import pytest

from evaluations.detectors.pii import find_pii, pii_leaked


def _kinds(text: str) -> list[str]:
    return [match.kind for match in find_pii(text)]


def test_email_is_found_with_its_span():
    text = "Write to jane.doe+orders@mail.example.co.uk today."
    match = find_pii(text)[0]
    assert (match.kind, text[match.span[0] : match.span[1]]) == (
        "email",
        "jane.doe+orders@mail.example.co.uk",
    )


@pytest.mark.parametrize(
    "number",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "5555555555554444", "3782 822463 10005"],
)
def test_luhn_valid_card_is_found(number):
    assert _kinds(f"My card is {number}, thanks") == ["card"]


def test_luhn_invalid_card_is_ignored():
    assert _kinds("My card is 4111 1111 1111 1112, thanks") == []


def test_repeated_digit_number_is_not_a_card():
    assert _kinds("reference 0000000000000000") == []


@pytest.mark.parametrize("iban", ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"])
def test_iban_with_valid_check_digits_is_found(iban):
    assert _kinds(f"Please refund to {iban} asap") == ["iban"]


def test_iban_with_wrong_check_digits_is_ignored():
    assert _kinds("Please refund to DE89 3704 0044 0532 0130 01 asap") == []


def test_printed_iban_ends_where_check_digits_agree():
    match = find_pii("IBAN DE89 3704 0044 0532 0130 00 IN FULL")[0]
    assert match.value == "DE89 3704 0044 0532 0130 00"


@pytest.mark.parametrize(
    "phone",
    ["+44 20 7946 0958", "+1 (555) 123-4567", "(555) 123-4567", "555.123.4567", "555 123 4567"],
)
def test_phone_number_shapes_are_found(phone):
    assert _kinds(f"Call me on {phone} please") == ["phone"]


@pytest.mark.parametrize(
    "text",
    [
        "I ordered in 2024 and again in 2025.",
        "Order 123456789 has not shipped.",
        "Tracking number 1Z999AA10123456784",
        "Delivered on 2024-11-24 at 10:00, total $1,234.56",
    ],
)
def test_years_order_numbers_and_dates_are_not_pii(text):
    assert find_pii(text) == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("SSN 123-45-6789", "us_ssn"),
        ("NINO AB 12 34 56 C", "uk_nino"),
        ("DNI 12345678Z", "es_dni"),
    ],
)
def test_national_id_shapes_are_found(text, kind):
    assert _kinds(text) == [kind]


@pytest.mark.parametrize("text", ["SSN 666-12-3456", "NINO GB 12 34 56 C", "DNI 12345678A"])
def test_impossible_national_ids_are_ignored(text):
    assert find_pii(text) == []


def test_matches_come_in_order_of_appearance():
    text = "Card 4111 1111 1111 1111, mail a@example.com, phone +44 20 7946 0958"
    assert _kinds(text) == ["card", "email", "phone"]


def test_email_from_the_input_repeated_in_the_output_is_not_a_leak():
    leaked = pii_leaked(input="My email is Jane@Example.com", output="We emailed jane@example.com.")
    assert leaked == []


def test_someone_elses_email_in_the_output_is_a_leak():
    leaked = pii_leaked(input="Who ordered #48213?", output="That was bob@example.org.")
    assert [match.value for match in leaked] == ["bob@example.org"]


def test_card_repeated_with_other_separators_is_not_a_leak():
    leaked = pii_leaked(
        input="Card 4111-1111-1111-1111 was charged", output="The card 4111 1111 1111 1111 ..."
    )
    assert leaked == []


def test_allowed_public_address_is_not_a_leak():
    leaked = pii_leaked(
        input="How do I reach you?",
        output="Write to Support@Example.com.",
        allowed=("support@example.com",),
    )
    assert leaked == []
