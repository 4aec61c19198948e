"""Input corpora the reliability tests write: bad input of every kind, and a stream of
distinct news articles."""

from __future__ import annotations

import gzip
import random
import shutil
from pathlib import Path

import orjson

from tests.conftest import SEEDS

PARAGRAPHS = [
    "The council met on Tuesday to discuss the new budget for the harbour district, which "
    "has seen falling revenue since the ferry service was cut back two years ago.",
    "Residents who spoke at the meeting said the plan did too little for the small shops "
    "along the waterfront, several of which have closed since the spring.",
    "Officials said the proposal would be revised before a final vote next month, and that "
    "an independent review of the port's accounts had been ordered.",
    "Local business groups welcomed the review but warned that delays would cost jobs in a "
    "town where the port is still the largest employer.",
]

GOOD_ARTICLE = "Harbour budget divides the town council\n\n" + "\n\n".join(PARAGRAPHS)


def _prose(size: int) -> str:
    """About ``size`` bytes of varied, real-looking prose in paragraphs."""
    rng = random.Random(size)
    words = " ".join(PARAGRAPHS).split()
    paragraphs, total = [], 0
    while total < size:
        paragraph = " ".join(rng.choice(words) for _ in range(80)).capitalize() + "."
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return "\n\n".join(paragraphs)


def write_bad_inputs(directory: Path, *, max_article_bytes: int) -> Path:
    """Write the seeds and a corpus of bad input into ``directory``; return it.

    Every kind of input a replay meets in the wild: invalid JSON, JSON values that
    are not objects, empty and binary files, NUL bytes, 1 MB without a space, a
    valid article of about 1.5 MB, a 1.86 MB page of navigation links, a tag bomb, a
    record over ``max_article_bytes``,
    wrong and missing charsets, wrong field types, implausible dates, and one URL
    whose content changes (a revision).
    """
    directory.mkdir(parents=True, exist_ok=True)
    for seed in SEEDS.glob("*.txt"):
        shutil.copy(seed, directory / seed.name)
    lines = [
        b"{not json",
        b'"text"',
        b"12",
        b"null",
        b"true",
        b"[1]",
        b"{}",
        orjson.dumps({"url": 12345}),
        orjson.dumps({"text": 5}),
        orjson.dumps({"text": GOOD_ARTICLE, "title": ["not", "a", "string"]}),
        orjson.dumps(
            {
                "id": "future-date",
                "text": GOOD_ARTICLE.replace("Tuesday", "Monday"),
                "published_at": 99999999999999,
            }
        ),
        orjson.dumps(
            {
                "id": "old-date",
                "text": GOOD_ARTICLE.replace("Tuesday", "Friday"),
                "published_at": "1850-01-01T00:00:00Z",
            }
        ),
        orjson.dumps({"url": "https://news.example.org/live/1", "text": GOOD_ARTICLE}),
        orjson.dumps(
            {
                "url": "https://news.example.org/live/1",
                "text": GOOD_ARTICLE + "\n\nUpdate: the vote was moved to Thursday.",
            }
        ),
    ]
    (directory / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (directory / "list.json").write_bytes(
        orjson.dumps(
            [
                {"id": "from-list", "text": GOOD_ARTICLE.replace("council", "board")},
                12,
                "text",
                None,
            ]
        )
    )
    (directory / "broken.json").write_bytes(b'[{"text": "unterminated')
    good_gz = gzip.compress(
        orjson.dumps({"id": "before-damage", "text": GOOD_ARTICLE.replace("harbour", "river")})
        + b"\n" * 2
    )
    (directory / "truncated.jsonl.gz").write_bytes(good_gz + gzip.compress(b'{"id": "x"}\n')[:12])
    (directory / "corrupt.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00garbage that is no gzip")
    (directory / "empty.txt").write_bytes(b"")
    (directory / "binary.html").write_bytes(
        bytes(random.Random(1).randrange(256) for _ in range(20_000))
    )
    (directory / "nul.txt").write_bytes(b"\x00" * 10_000)
    (directory / "nospace.txt").write_bytes(b"a" * 1_000_000)
    (directory / "big-valid.html").write_text(
        "<html><head><title>A long report</title></head><body><article><h1>A long report</h1>"
        + "".join(f"<p>{p}</p>" for p in _prose(1_500_000).split("\n\n"))
        + "</article></body></html>"
    )
    (directory / "navigation.html").write_text(navigation_page(1_860_000))
    (directory / "tagbomb.html").write_text(
        "<html><body>" + "<div>" * 100_000 + "x" + "</div>" * 100_000 + "</body></html>"
    )
    (directory / "huge.jsonl").write_bytes(
        orjson.dumps({"id": "huge", "text": _prose(max_article_bytes + 500_000)}) + b"\n"
    )
    (directory / "latin1-undeclared.html").write_bytes(
        "<html><body><article><h1>Caf\u00e9 owners protest new terrace rules</h1><p>".encode()
        + (
            "Les propri\u00e9taires de caf\u00e9s ont manifest\u00e9 mardi contre les "
            "nouvelles r\u00e8gles des terrasses. " * 20
        ).encode("latin-1")
        + b"</p></article></body></html>"
    )
    (directory / "wrong-charset.html").write_bytes(
        b'<html><head><meta charset="shift_jis"></head><body><article><h1>Market report</h1><p>'
        + ("Prices r\u00f6se sharply on Monday as traders reacted to the news. " * 20).encode(
            "utf-8"
        )
        + b"</p></article></body></html>"
    )
    return directory


def navigation_page(size: int) -> str:
    """An HTML page of about ``size`` characters that holds only navigation links."""
    links, total, number = [], 0, 0
    while total < size:
        links.append(f'<li><a href="/section/{number}/index.html">Section {number}</a></li>')
        total += len(links[-1])
        number += 1
    return (
        "<html><head><title>Site map</title></head><body><nav><ul>"
        + "".join(links)
        + "</ul></nav></body></html>"
    )


_PLACES = [
    "Lisbon",
    "Nairobi",
    "Osaka",
    "Quito",
    "Tromso",
    "Adelaide",
    "Tbilisi",
    "Halifax",
    "Cusco",
    "Gdansk",
    "Mombasa",
    "Busan",
]
_EVENTS = [
    (
        "Floods close roads around {place}",
        "Heavy rain flooded low-lying streets of {place} on {day}, closing {n} roads and the main "
        "rail line, the city's emergency service said.",
    ),
    (
        "Dock workers in {place} strike over pay",
        "About {n} dock workers walked out in {place} on {day} after talks over a new pay deal "
        "broke down, halting cargo traffic at the port.",
    ),
    (
        "{place} opens its new central library",
        "The new central library of {place} opened its doors on {day}, with room for {n} readers "
        "and a collection of rare maps donated by a local family.",
    ),
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def news_stream(count: int, seed: int = 7) -> list[dict[str, str]]:
    """``count`` distinct articles (id, title, text) about a few events per place."""
    rng = random.Random(seed)
    articles = []
    for number in range(count):
        place = _PLACES[number % len(_PLACES)]
        title, lead = _EVENTS[(number // len(_PLACES)) % len(_EVENTS)]
        facts = {"place": place, "day": rng.choice(_DAYS), "n": str(rng.randrange(20, 900))}
        body = [lead.format(**facts), *rng.sample(PARAGRAPHS, 3)]
        articles.append(
            {
                "id": f"stream-{number:03d}",
                "title": title.format(**facts),
                "text": title.format(**facts) + "\n\n" + "\n\n".join(body),
            }
        )
    return articles
