"""The validation layer on its own: numbers, dates, header values and JSON bodies."""

from __future__ import annotations

from datetime import date

import pytest

from services.validation import (
    INT64_MAX,
    BadJson,
    NumberRefused,
    header_value,
    number,
    parse_json,
    sane_date,
    signed_query,
    telegram_id,
)


@pytest.mark.parametrize(
    ("typed", "read"),
    [("12", 12), ("#12", 12), ("１２", 12), ("＃７", 7), (" 3 ", 3), (str(INT64_MAX), INT64_MAX)],
)
def test_ascii_and_full_width_digits_are_read(typed: str, read: int) -> None:
    assert number(typed) == read


@pytest.mark.parametrize("typed", ["", "abc", "-1", "1.5", "1e3", "12a", "#", "+3", "1 2"])
def test_what_is_no_number_is_none_for_the_callers_usage_message(typed: str) -> None:
    assert number(typed) is None


@pytest.mark.parametrize("typed", ["²", "#²", "1²", "٣", "①", "Ⅻ", "𝟗", "१२"])
def test_digit_look_alikes_are_refused_by_name(typed: str) -> None:
    with pytest.raises(NumberRefused) as refused:
        number(typed)
    assert refused.value.reason == "look_alike"


@pytest.mark.parametrize("typed", [str(INT64_MAX + 1), "9" * 40, "0" * 20 + "1"])
def test_numbers_beyond_64_bits_are_refused(typed: str) -> None:
    with pytest.raises(NumberRefused) as refused:
        number(typed)
    assert refused.value.reason == "too_large"


def test_a_business_limit_refuses_above_it() -> None:
    assert number("28", maximum=28) == 28
    with pytest.raises(NumberRefused):
        number("29", maximum=28)


def test_telegram_ids_may_be_negative_groups() -> None:
    assert telegram_id("-1001000000001") == -1001000000001
    assert telegram_id("@mia") is None
    with pytest.raises(NumberRefused):
        telegram_id("-99999999999999999999")


def test_dates_stay_within_the_years_the_bot_deals_with() -> None:
    assert sane_date(date(2026, 11, 30))
    assert not sane_date(date(9999, 12, 31)) and not sane_date(date(1, 1, 1))


def test_header_values_are_printable_ascii_and_bounded() -> None:
    assert header_value("s3cret-token") == "s3cret-token"
    assert header_value(None) is None
    for bad in ("sécret", "秘密", "a\x00b", "a\nb", "\udcff", "x" * 5000):
        assert header_value(bad) is None, bad
    good = "auth_date=1&hash=" + "ab" * 32
    assert signed_query(good) == good
    assert signed_query("auth_date=1&hash=%C3%A9") is None
    assert signed_query("auth_date=1") is None


def test_json_bodies_are_bounded_in_size_and_depth() -> None:
    assert parse_json(b'{"update_id": 1, "text": "[[[[{{{{"}', max_bytes=100) == {
        "update_id": 1,
        "text": "[[[[{{{{",
    }
    for body in (b"[" * 40 + b"]" * 40, b"[" * 10**5, b"\xff", b"{", b"x" * 200):
        with pytest.raises(BadJson):
            parse_json(body, max_bytes=150)
