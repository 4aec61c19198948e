"""Cleaning stage: the seed stream's acceptance items, HTML pages, decoding and rejects."""

from __future__ import annotations

import codecs
import json
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import trafilatura

from schemas.records import CleanArticle, RawArticle
from streams.clean.extract import (
    clean_article,
    decode_html,
    restore_name_punctuation,
    scan_html_tags,
    strip_site_from_title,
    warm_up,
)
from streams.errors import Rejected
from streams.text import fingerprint, normalise_for_matching, split_paragraphs
from tests.conftest import SEEDS

FETCHED_AT = datetime(2021, 6, 16, 12, 0, tzinfo=UTC)  # after every page date below

# seeds/EXPECTED.md, "Titles": the first headline line (004 opens with a "News World" label).
EXPECTED_TITLES = {
    "000": "Russian fighters flown out of western Libya after Haftar retreat",
    "001": "Russian fighters flown out of western Libya as Turkish-backed forces press advantage",
    "003": "Reports: Hundreds of Russian, Syrian Fighters Retreat from Libyan Capital",
    "004": "Hundreds more Russian mercenaries flee western Libya: GNA forces",
}

# seeds/EXPECTED.md, "Boilerplate gone", and the seeds' other page junk, as it appears in them.
JUNK = {
    "000": [
        "epa06143927",
        "EPA/SERGEI ILNITSKY",
        "Reading Time",
        "bloggers like this",
        "Reuters / Libya Observer",
    ],
    "001": [],
    "002": ["date 2020-05-28"],
    "003": [
        "Fierce fighting for control of Libya's capital",
        "Fighters loyal to the internationally-recognised Government",
        "Please let us know if you're having issues with commenting.",
    ],
    "004": [
        "News World",
        "UN-perceived Libya gov’t propels against Haftar’s powers",
        "Libya: GNA dispatch hostile to catch al-Watiya airbase",
        "Is Khalifa Haftar losing in Libya?",
        "UN agent cautions remote supporters will compound Libyan clash",
        "(2:20)",
        "TRIPOLI, LIBYA - MAY 20",
        "Will mishap to Khalifa Haftar change the course of Libya’s war?",
    ],
}

# A few body sentences per seed, by hand, including short ones and ones next to junk.
BODY_SENTENCES = {
    "000": [
        "Russian fighters in Libya were flow out a town south of Tripoli by their Libyan allies",
        "On Friday, the Libyan Health Ministry said three people were killed by mine explosions",
    ],
    "001": ["With its Libyan allies in the ascendancy, Turkey has continued to pile in"],
    "002": [
        "Russian fighters in Libya have been flown out of a city south of Tripoli by their",
        "He informed Reuters the Russians had now been flown out of western Libya to Jufra",
    ],
    "003": [
        "Over 1,000 Russian and Syrian mercenary fighters in Libya retreated",
        "On Saturday, the Libya Observer reported that the foreign ministers of Russia",
    ],
    "004": [
        "Clearings a significant mishap for officer Haftar, denying LNA of its most powerful",
        "The Kremlin has consistently denied association.",
        "He noticed the move had significant ramifications for the skirmish of Tripoli.",
        "Libya has been without focal government control for a long time",
    ],
}

LONG_LINE = 120


def _seed_files() -> dict[str, Path]:
    return {path.name[:3]: path for path in sorted(SEEDS.glob("*.txt"))}


@pytest.fixture(scope="module")
def cleaned_seeds() -> dict[str, tuple[str, CleanArticle]]:
    result = {}
    for number, path in _seed_files().items():
        text = path.read_text(encoding="utf-8")
        raw = RawArticle(id=path.stem, source="seeds", text=text, fetched_at=FETCHED_AT)
        result[number] = (text, clean_article(raw))
    return result


def _matching(text: str) -> str:
    return normalise_for_matching(text)


def test_all_five_seeds_are_there() -> None:
    assert sorted(_seed_files()) == ["000", "001", "002", "003", "004"]


@pytest.mark.parametrize("number", sorted(EXPECTED_TITLES))
def test_seed_title_is_its_first_headline_line(
    cleaned_seeds: dict[str, tuple[str, CleanArticle]], number: str
) -> None:
    _raw, article = cleaned_seeds[number]
    assert article.title == EXPECTED_TITLES[number]
    assert article.title_source == "headline"
    assert not article.text.startswith(EXPECTED_TITLES[number])


def test_seed_002_date_line_becomes_the_publication_date(
    cleaned_seeds: dict[str, tuple[str, CleanArticle]],
) -> None:
    _raw, article = cleaned_seeds["002"]
    assert article.published_at is not None
    assert article.published_at.date() == date(2020, 5, 28)
    assert article.title is None or article.title_source == "derived"
    assert article.text.startswith("Russian fighters in Libya have been flown out of a city")


@pytest.mark.parametrize("number", sorted(JUNK))
def test_seed_boilerplate_is_gone(
    cleaned_seeds: dict[str, tuple[str, CleanArticle]], number: str
) -> None:
    _raw, article = cleaned_seeds[number]
    for junk in JUNK[number]:
        assert _matching(junk) not in _matching(article.text), junk


def test_seed_004_repeated_title_line_is_gone(
    cleaned_seeds: dict[str, tuple[str, CleanArticle]],
) -> None:
    _raw, article = cleaned_seeds["004"]
    assert "Hundreds more Russian mercenaries" not in article.text.split("\n\n")


@pytest.mark.parametrize("number", sorted(BODY_SENTENCES))
def test_seed_body_sentences_are_kept(
    cleaned_seeds: dict[str, tuple[str, CleanArticle]], number: str
) -> None:
    raw, article = cleaned_seeds[number]
    clean = _matching(article.text)
    listed = BODY_SENTENCES[number]
    long_lines = [
        line
        for line in raw.splitlines()
        if len(line) > LONG_LINE and not any(junk in line for junk in JUNK[number])
    ]
    assert long_lines, "every seed has long body lines"
    for sentence in [*listed, *long_lines]:
        assert _matching(sentence) in clean, sentence[:80]


def test_seed_text_layout_and_fields(cleaned_seeds: dict[str, tuple[str, CleanArticle]]) -> None:
    for raw, article in cleaned_seeds.values():
        assert article.language == "en"
        assert article.fingerprint == fingerprint(article.text)
        assert article.site_name == "seeds"
        assert article.fetched_at == FETCHED_AT
        assert "\n\n\n" not in article.text
        assert article.text == unicodedata.normalize("NFC", article.text)
        assert "\u00a0" not in article.text and "\u00ad" not in article.text
        paragraphs = article.text.split("\n\n")
        assert len(paragraphs) >= 5
        assert all(par == par.strip() and "\n" not in par for par in paragraphs)
        assert len(raw) > len(article.text)


def test_curly_quotes_are_kept_for_display(
    cleaned_seeds: dict[str, tuple[str, CleanArticle]],
) -> None:
    _raw, article = cleaned_seeds["001"]
    assert "Haftar’s" in article.text and "“They (the Russians)" in article.text


def test_feed_title_is_used_when_the_text_has_no_headline() -> None:
    raw = RawArticle(
        id="feed-1",
        title="Ferry services resume",
        text="Ferry services resumed on Monday after a two-day strike, the operator said.",
        fetched_at=FETCHED_AT,
        url="https://www.example-news.org/ferries",
    )
    article = clean_article(raw)
    assert (article.title, article.title_source) == ("Ferry services resume", "feed")
    assert article.site_name == "example-news.org"


# ---------------------------------------------------------------- HTML

PARAGRAPHS = [
    "The city council of Brightwater voted on Tuesday evening to turn the disused railway "
    "yard beside the harbour into a public park, ending a dispute that has lasted a decade.",
    "Under the plan, the old engine shed will become a covered market, and the tracks will "
    "be kept as paths through a meadow of native grasses planted by local schools.",
    "Opponents had argued that the land should be sold to pay for road repairs, but the "
    "council said a grant from the regional government covers most of the cost of the work.",
]

ARTICLE_PAGE = f"""<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8">
<title>Old railway yard to become a park | Brightwater Courier</title>
<meta property="og:title" content="Old railway yard to become a park">
<meta property="og:site_name" content="Brightwater Courier">
<meta name="author" content="Maria Okafor">
<meta property="article:published_time" content="2021-06-15T18:30:00+02:00">
<link rel="canonical" href="https://courier.example.com/news/railway-park">
</head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<article>
<h1>Old railway yard to become a park</h1>
<p class="byline">By Maria Okafor</p>
{"".join(f"<p>{paragraph}</p>" for paragraph in PARAGRAPHS[:2])}
<p>The engine shed at Brightwater in 1952. COURIER/JOHN MBEKI</p>
<p>{PARAGRAPHS[2]}</p>
</article>
<footer><p>Copyright Brightwater Courier. All rights reserved.</p></footer>
</body></html>"""


def _html_article(html: str, **fields: str) -> CleanArticle:
    return clean_article(RawArticle(id="page", html=html, fetched_at=FETCHED_AT, **fields))


def test_html_page_keeps_paragraphs_and_metadata() -> None:
    article = _html_article(ARTICLE_PAGE, url="https://courier.example.com/news/railway-park?x=1")
    for paragraph in PARAGRAPHS:
        assert paragraph in article.text.split("\n\n")
    assert "\n\n".join(PARAGRAPHS) in article.text
    assert "All rights reserved" not in article.text
    assert "JOHN MBEKI" not in article.text
    assert article.title == "Old railway yard to become a park"
    assert article.title_source == "html"
    assert article.authors == ["Maria Okafor"]
    assert article.published_at == datetime(2021, 6, 15, 16, 30, tzinfo=UTC)
    assert article.published_at.utcoffset() == timedelta(hours=2)
    assert article.site_name == "Brightwater Courier"
    assert article.canonical_url == "https://courier.example.com/news/railway-park"
    assert article.language == "en"
    assert article.fingerprint == fingerprint(article.text)


def test_title_loses_the_site_name_but_keeps_its_own_separators() -> None:
    assert strip_site_from_title("Rates rise again | The Daily Ledger", "The Daily Ledger", []) == (
        "Rates rise again"
    )
    assert strip_site_from_title("ledger.example - Rates rise again", None, []) == (
        "Rates rise again"
    )
    assert strip_site_from_title("Rates rise - what it means - Ledger", None, ["Rates rise"]) == (
        "Rates rise"
    )
    assert strip_site_from_title("Rates rise - what it means", "The Daily Ledger", []) == (
        "Rates rise - what it means"
    )


def test_author_initials_keep_their_periods_when_the_page_has_them() -> None:
    page = "<span class=author>By T. S. Eliot Jr.</span>"
    assert restore_name_punctuation("T S Eliot Jr", page) == "T. S. Eliot Jr."
    assert restore_name_punctuation("Maria Okafor", page) == "Maria Okafor"


def test_html_site_name_falls_back_to_host_then_source() -> None:
    page = "<html><body><article>" + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    page += "</article></body></html>"
    with_url = _html_article(page, url="https://www.harbour-news.example/a/1", source="feed-x")
    assert with_url.site_name == "harbour-news.example"
    assert _html_article(page, source="feed-x").site_name == "feed-x"


def test_html_without_main_text_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        _html_article(
            "<html><head><title>Loading</title></head>"
            "<body><script>window.app = {};</script><div id='root'></div></body></html>"
        )
    assert caught.value.code == "no_main_text"


def test_body_rendered_from_data_falls_back_to_the_json_ld_article_body() -> None:
    body = (
        "The council approved the new harbour plan on Monday after a long debate.\n"
        "Work on the first pier will start in spring, the mayor said."
    )
    structured = json.dumps(
        {
            "@graph": [
                {"@type": "NewsArticle", "headline": "Harbour plan approved", "articleBody": body},
                {"@type": "NewsArticle", "articleBody": "Short teaser."},
            ]
        }
    )
    page = (
        "<html><head><title>Harbour plan approved</title>"
        '<script type="application/ld+json">{not json</script>'
        f'<script type="application/ld+json">{structured}</script></head>'
        "<body><article><p>The mayor of Kiel speaks to reporters at the old harbour on March 3,"
        " a few hours before the council vote on the plan that the city has debated for more "
        "than two years, as fishermen and residents gather behind her to follow the "
        "announcement of the final decision on the pier. Photo: Reuters</p></article></body>"
        "</html>"
    )
    article = clean_article(RawArticle(id="ld", html=page, fetched_at=FETCHED_AT))
    assert article.text == body.replace("\n", "\n\n")


def test_pathological_nesting_is_rejected() -> None:
    page = "<html><body>" + "<div>" * 100_000 + "text" + "</div>" * 100_000 + "</body></html>"
    assert scan_html_tags(page).depth >= 100_000
    with pytest.raises(Rejected) as caught:
        _html_article(page)
    assert caught.value.code == "pathological_html"
    assert "deep" in caught.value.reason


def test_a_flood_of_flat_tags_is_rejected() -> None:
    page = "<html><body>" + "<p>x</p>" * 200_000 + "</body></html>"
    assert scan_html_tags(page).depth <= 2
    with pytest.raises(Rejected) as caught:
        _html_article(page)
    assert caught.value.code == "pathological_html"
    assert "tags" in caught.value.reason


def test_nesting_depth_ignores_void_tags_scripts_and_comments() -> None:
    page = "<div><p>a<br><img src=x><p>b</div>" + "<script>'<div>'.repeat(9)</script><!-- <div> -->"
    assert scan_html_tags(page) == (6, 1)


# ---------------------------------------------------------------- rejects


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"text": "  \n\t \n"}, "empty"),
        ({"html": "   "}, "empty"),
        ({}, "no_content"),
        ({"text": "Reading Time: 3 minutes\n\n%d bloggers like this:"}, "no_main_text"),
        ({"text": "PK\x03\x04\x00\x00binary zip"}, "binary"),
        ({"text": "\x01\x02\x03\x04\x05\x06 abc \x07\x08\x0e\x0f\x10\x11"}, "binary"),
        ({"html": "<html>\x00\x00</html>"}, "binary"),
    ],
)
def test_reject_codes(fields: dict[str, str], code: str) -> None:
    with pytest.raises(Rejected) as caught:
        clean_article(RawArticle(id="bad", fetched_at=FETCHED_AT, **fields))
    assert caught.value.code == code
    assert caught.value.reason


def test_an_extractor_crash_becomes_a_reject(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_args: object, **_kwargs: object) -> None:
        raise KeyError("unexpected markup")

    monkeypatch.setattr(trafilatura, "bare_extraction", crash)
    with pytest.raises(Rejected) as caught:
        _html_article(ARTICLE_PAGE)
    assert caught.value.code == "extraction_error"
    assert "KeyError" in caught.value.reason


@pytest.mark.parametrize("field", ["text", "html"])
def test_too_large_is_rejected_before_parsing(field: str) -> None:
    payload = "<p>" + "é" * 600 + "</p>"
    with pytest.raises(Rejected) as caught:
        clean_article(
            RawArticle(id="big", fetched_at=FETCHED_AT, **{field: payload}), max_bytes=1_000
        )
    assert caught.value.code == "too_large"
    assert "1,000" in caught.value.reason


# ---------------------------------------------------------------- decoding


def test_decode_with_declared_charset() -> None:
    data = "<p>Café crème, 10 €</p>".encode("cp1252")
    assert decode_html(data, "windows-1252") == "<p>Café crème, 10 €</p>"


def test_decode_with_meta_charset() -> None:
    page = '<html><head><meta charset="shift_jis"></head><body>東京の天気</body></html>'
    assert decode_html(page.encode("shift_jis")) == page


def test_decode_with_http_equiv_latin1_means_windows_1252() -> None:
    page = (
        '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        "<p>Ça coûte 5 € – déjà</p>"
    )
    assert decode_html(page.encode("cp1252")) == page


def test_decode_with_bom_wins_over_a_wrong_declaration() -> None:
    assert decode_html(codecs.BOM_UTF8 + "naïve".encode(), "iso-8859-1") == "naïve"
    assert decode_html(codecs.BOM_UTF16_LE + "Grüße".encode("utf-16-le")) == "Grüße"


def test_decode_without_any_declaration() -> None:
    assert decode_html("Zoë’s café".encode()) == "Zoë’s café"
    assert decode_html("Zoë’s café".encode(), "no-such-charset") == "Zoë’s café"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (codecs.BOM_UTF16_LE + b"a", "undecodable"),
        (b"GIF89a\x00\x01\x00\x01", "binary"),
        (bytes(range(1, 32)) * 20, "binary"),
    ],
)
def test_decode_rejects(data: bytes, code: str) -> None:
    with pytest.raises(Rejected) as caught:
        decode_html(data)
    assert caught.value.code == code


def test_split_paragraphs_normalises_whitespace_and_invisibles() -> None:
    text = "First\u00a0line\r\ncontinues\u00ad here\n\n\n  • item one\n  • item\u200b two\n\nLast"
    assert split_paragraphs(text) == [
        "First line continues here",
        "• item one",
        "• item two",
        "Last",
    ]


def test_the_warm_up_page_goes_through_the_date_parser() -> None:
    # The page's only date is its byline, in a form only dateparser's locale scan reads.
    article = warm_up()
    assert article.published_at is not None and article.published_at.year == 2003
    assert article.title == "Warm-up page" and article.language == "en"
