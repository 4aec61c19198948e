"""Implausible dates: dropped by the cleaning stage with the reason, plausible ones kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from pydantic import ValidationError

from schemas.records import CleanArticle, RawArticle
from streams.clean.extract import clean_article
from streams.errors import describe_error

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FETCHED_AT = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
BODY = (
    "The harbour authority of Brightwater reopened the northern quay on Monday after "
    "three weeks of repairs to the sea wall damaged in the February storms."
)
PAGE = """<!DOCTYPE html><html lang="en"><head><title>Quay reopens</title>
<meta property="article:published_time" content="{date}"></head>
<body><article><h1>Quay reopens</h1><p>{body}</p><p>{body}</p></article></body></html>"""


def raw_from_json(**fields: object) -> RawArticle:
    """A raw article read from JSON as the cleaning stage reads it."""
    record = {"id": "a", "text": BODY, "fetched_at": FETCHED_AT.isoformat(), **fields}
    article: RawArticle = RawArticle.from_json(orjson.dumps(record))
    return article


def cleaned(raw: RawArticle) -> CleanArticle:
    return clean_article(raw, now=NOW)


def test_a_millisecond_epoch_in_the_far_future_is_dropped_with_the_reason() -> None:
    article = cleaned(raw_from_json(published_at=99999999999999))  # read as year 5138
    assert article.published_at is None
    assert article.dropped_dates == [
        "published_at 5138-11-16T09:46:39.999000Z is after the fetch time "
        "2026-03-02T11:00:00Z; dropped"
    ]


@pytest.mark.parametrize(
    ("published_at", "shown"),
    [
        (-1, "1969-12-31T23:59:59Z"),
        (0, "1970-01-01T00:00:00Z"),
        ("0001-01-01", "0001-01-01T00:00:00Z"),
        ("1989-12-31T23:59:59Z", "1989-12-31T23:59:59Z"),
    ],
)
def test_a_date_before_1990_is_dropped_with_the_reason(published_at: object, shown: str) -> None:
    article = cleaned(raw_from_json(published_at=published_at))
    assert article.published_at is None
    assert article.dropped_dates == [f"published_at {shown} is before 1990; dropped"]


def test_a_date_beyond_what_a_datetime_holds_is_an_invalid_record_naming_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        raw_from_json(published_at=1e20)
    code, reason = describe_error(raised.value)
    assert code == "invalid_record" and "published_at" in reason


@pytest.mark.parametrize(
    "published_at",
    [
        datetime(1990, 1, 1, tzinfo=UTC),
        datetime(2013, 5, 3, 9, 30, tzinfo=UTC),
        FETCHED_AT + timedelta(hours=23),
    ],  # a publisher's clock or zone a few hours off
)
def test_plausible_dates_are_kept(published_at: datetime) -> None:
    article = cleaned(raw_from_json(published_at=published_at.isoformat()))
    assert article.published_at == published_at
    assert article.dropped_dates == []


def test_naive_dates_are_taken_as_utc() -> None:
    article = cleaned(
        raw_from_json(published_at="2026-03-01T08:00:00", fetched_at="2026-03-02T11:00:00")
    )
    assert article.published_at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert article.published_at.tzinfo is not None
    assert article.fetched_at == FETCHED_AT and article.fetched_at.tzinfo is not None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            "Published: 2999-01-01",
            "date in the text 2999-01-01T00:00:00Z is after the fetch time "
            "2026-03-02T11:00:00Z; dropped",
        ),
        ("Published: 0001-01-01", "date in the text 0001-01-01T00:00:00Z is before 1990; dropped"),
    ],
)
def test_an_implausible_date_line_in_the_text_is_dropped(line: str, reason: str) -> None:
    article = cleaned(raw_from_json(text=f"{line}\n\n{BODY}"))
    assert article.published_at is None
    assert article.dropped_dates == [reason]
    assert article.text == BODY  # the metadata line is still taken off the text


def test_a_page_date_after_the_fetch_time_gives_way_to_the_given_date() -> None:
    page = PAGE.format(date="2026-03-20T10:00:00Z", body=BODY)
    article = cleaned(raw_from_json(text=None, html=page, published_at="2026-03-02T07:00:00Z"))
    assert article.published_at == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    assert article.dropped_dates == [
        "date in the html 2026-03-20T10:00:00Z is after the fetch time 2026-03-02T11:00:00Z; "
        "dropped"
    ]


@pytest.mark.parametrize("date", ["0001-01-01T00:00:00Z", "2999-01-01T00:00:00Z"])
def test_a_page_date_far_outside_never_becomes_the_publication_time(date: str) -> None:
    # htmldate refuses these itself (before 1995 or far ahead): the page has no date.
    article = cleaned(raw_from_json(text=None, html=PAGE.format(date=date, body=BODY)))
    assert article.published_at is None
    assert article.text


def test_a_future_fetch_time_is_replaced_by_the_cleaning_time() -> None:
    article = cleaned(
        raw_from_json(fetched_at="2027-01-01T00:00:00Z", published_at="2026-12-31T00:00:00Z")
    )
    assert article.fetched_at == NOW
    assert article.published_at is None  # after the fetch time once that is corrected
    assert article.dropped_dates == [
        "fetched_at 2027-01-01T00:00:00Z is after the cleaning time 2026-03-02T12:00:00Z; "
        "replaced by it",
        "published_at 2026-12-31T00:00:00Z is after the fetch time 2026-03-02T12:00:00Z; dropped",
    ]


def test_a_fetch_time_within_the_skew_is_kept() -> None:
    fetched_at = NOW + timedelta(hours=20)
    article = cleaned(raw_from_json(fetched_at=fetched_at.isoformat()))
    assert article.fetched_at == fetched_at and article.dropped_dates == []
