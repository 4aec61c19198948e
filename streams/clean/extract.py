"""Cleaning: raw HTML or plain text to clean text plus metadata.

HTML is parsed once: trafilatura's ``bare_extraction`` takes the main text and
``page_metadata`` (trafilatura's metadata readers, lean) the title, authors,
date, site name and canonical URL. Plain text, as feeds and copy-paste deliver
it, goes through named rules (``JUNK_RULES`` and the structural steps of
``clean_plain_text``) that find the headline, a leading metadata line and the
page junk that survives copy-paste: captions, widgets, related links, credits.
Every refusal is a ``Rejected`` with a stable code and a precise reason.
"""

from __future__ import annotations

import codecs
import functools
import html as html_lib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import NamedTuple
from urllib.parse import urlsplit

import py3langid
import trafilatura
from charset_normalizer import from_bytes
from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.json_metadata import normalize_authors
from trafilatura.metadata import (
    examine_meta,
    extract_meta_json,
    extract_metainfo,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.settings import Document, set_date_params
from trafilatura.utils import load_html
from trafilatura.xpaths import AUTHOR_DISCARD_XPATHS, AUTHOR_XPATHS

from schemas.records import CleanArticle, RawArticle, TitleSource
from streams.errors import Rejected
from streams.text import (
    content_hash,
    fingerprint,
    join_paragraphs,
    normalise_for_matching,
    split_paragraphs,
)

LOGGER = logging.getLogger(__name__)
DEFAULT_MAX_BYTES = 10_000_000
MAX_NESTING_DEPTH = 512
"""Deeper HTML is refused before parsing (libxml2 silently cuts it at 256 anyway)."""
MAX_TAGS = 50_000
"""More tags are refused before parsing: trafilatura needs seconds for them (news
pages of trafilatura's evaluation set have 10,000 at most)."""
MAX_CONTROL_CHAR_SHARE = 0.05
BINARY_SAMPLE_CHARS = 20_000
LANGUAGE_SAMPLE_CHARS = 1_000
HEADLINE_MAX_WORDS = 20
HEADLINE_MAX_CHARS = 160
CLOCK_SKEW = timedelta(days=1)
"""How far a date may lie after the fetch time (or a fetch time after the cleaning
time) and still be taken as true: clocks and time zones of publishers are off."""
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)
"""Dates before this are not publication dates of web news (0, -1, year 1...)."""

# ---------------------------------------------------------------- decoding

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE
)
_META_SCAN_BYTES = 4_096
# WHATWG: these labels mean windows-1252 in HTML.
_CHARSET_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252"}
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _codec_name(label: str | None) -> str | None:
    """Python codec name for a charset label, or None when unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    return _CHARSET_ALIASES.get(name, name)


def _try_decode(data: bytes, label: str | None) -> str | None:
    codec = _codec_name(label)
    if codec is None:
        return None
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _check_not_binary(text: str, what: str) -> None:
    """Raise ``binary`` for NUL bytes or a high share of control characters."""
    if "\x00" in text:
        raise Rejected("binary", f"{what} contains NUL characters")
    sample = text[:BINARY_SAMPLE_CHARS]
    controls = len(_CONTROL_CHARS.findall(sample))
    if sample and controls / len(sample) > MAX_CONTROL_CHAR_SHARE:
        raise Rejected("binary", f"{what} is {controls / len(sample):.0%} control characters")


def page_charset(data: bytes) -> str | None:
    """The charset a page declares in a ``<meta>`` of its first 4 KB, if it does."""
    meta = _META_CHARSET.search(data[:_META_SCAN_BYTES])
    return meta.group(1).decode("ascii") if meta else None


def decode_html(data: bytes, declared_charset: str | None = None) -> str:
    """Decode an HTML payload to text.

    Order: a byte-order mark (it wins, as in the HTML standard), the charset
    declared by the transport, a ``<meta charset>`` / ``http-equiv`` in the
    first 4 KB, UTF-8, then charset-normalizer's detection. Raises
    ``Rejected("undecodable")`` when nothing fits and ``Rejected("binary")``
    for NUL bytes or mostly control characters.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = _try_decode(data[len(bom) :], codec)
            if text is None:
                raise Rejected("undecodable", f"invalid {codec} after its byte-order mark")
            _check_not_binary(text, "payload")
            return text
    if b"\x00" in data:
        raise Rejected("binary", "payload contains NUL bytes and no UTF-16/32 byte-order mark")
    candidates = [declared_charset, page_charset(data), "utf-8"]
    for label in candidates:
        text = _try_decode(data, label)
        if text is not None:
            _check_not_binary(text, "payload")
            return text
    best = from_bytes(data).best()
    if best is None:
        tried = ", ".join(label for label in candidates if label)
        raise Rejected("undecodable", f"no charset decodes the payload (tried {tried}, detection)")
    text = str(best)
    _check_not_binary(text, "payload")
    return text


# ---------------------------------------------------------------- shared

_ISO_TIME_SUFFIX = r"[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"


def _as_aware(moment: datetime) -> datetime:
    """Datetimes without an offset are taken as UTC, so all are comparable."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse_iso(value: str) -> datetime | None:
    try:
        return _as_aware(datetime.fromisoformat(value.replace(" ", "T", 1)))
    except ValueError:
        return None


@dataclass
class Extraction:
    """What one extraction found, before it becomes a CleanArticle."""

    paragraphs: list[str]
    title: str | None = None
    title_source: TitleSource | None = None
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    site_name: str | None = None
    canonical_url: str | None = None


# ---------------------------------------------------------------- plain text

_CLOSERS = "\"'”’»)]"
_SENTENCE_END = ".!:;,…"
_LIST_MARKER = re.compile(r"^[•▪◦‣►▸·*\-–—]\s+")


def _words(paragraph: str) -> list[str]:
    return paragraph.split()


def is_headline_like(paragraph: str) -> bool:
    """Short line that does not end like a sentence: a title, subhead or link.

    At most ``HEADLINE_MAX_WORDS`` words and ``HEADLINE_MAX_CHARS`` characters,
    with a letter, no list marker, and no final ``. ! : ; , …`` (a question
    mark is allowed: headlines ask questions).
    """
    stripped = paragraph.rstrip(_CLOSERS + " ")
    return (
        0 < len(_words(paragraph)) <= HEADLINE_MAX_WORDS
        and len(paragraph) <= HEADLINE_MAX_CHARS
        and any(char.isalpha() for char in paragraph)
        and not _LIST_MARKER.match(paragraph)
        and bool(stripped)
        and stripped[-1] not in _SENTENCE_END
    )


_MONTHS = (
    "JANUARY|FEBRUARY|MARCH|APRIL|MAY|JUNE|JULY|AUGUST|SEPTEMBER|OCTOBER|NOVEMBER|DECEMBER"
    "|JAN|FEB|MAR|APR|JUN|JUL|AUG|SEP|SEPT|OCT|NOV|DEC"
)
_CAPS = r"[A-Z][A-Z.'’\-]*"
_PHOTO_ID = re.compile(r"^[a-z]{2,6}\d{6,}\b")
_PHOTO_CREDIT_END = re.compile(
    r"(?:\b[A-Z]{2,}(?:[-/][A-Z]{2,})*/[A-Z][A-Za-z.'’\-]*(?: [A-Z][A-Za-z.'’\-]*)*"
    r"|\((?:Photo|Image|Picture|Credit)\b[^()]*\)"
    r"|\b(?:Photo|Image|Picture)(?: credit)?: [^.]{0,80}"
    r"|\bGetty Images)[)\s]*$"
)
_CREDIT_TAIL_CHARS = 160
_GETTY_DATELINE = re.compile(
    rf"^{_CAPS}(?: {_CAPS})*, {_CAPS}(?: {_CAPS})* [-–—] (?:{_MONTHS}) \d{{1,2}}(?:, \d{{4}})?:"
)
_TRUNCATED_BACKGROUND = re.compile(r"\S[.!?] [-–—] [A-Z\"'“‘].*(?:…|\.\.\.)$")
_READING_TIME = re.compile(
    r"^(?:estimated )?(?:reading|read) time:?\s*\d+\s*(?:min|mins|minutes?)\b"
    r"|^\d+\s*min(?:ute)?s? read$",
    re.IGNORECASE,
)
_WIDGET = re.compile(
    r"%d bloggers like this"
    r"|\bhaving (?:issues|problems|trouble) (?:with )?comment"
    r"|^(?:share|share this|like this|tweet|email|print)(?: (?:article|story|post|on \w+))?:?$"
    r"|^click to (?:share|email|print|tweet)"
    r"|^(?:leave|post|add|view|show|read|load) (?:a |the |all )?(?:comments?|reply|replies)\b"
    r"|^\d+ (?:comments?|replies|shares)$"
    r"|\bsubscribe to (?:our|the) newsletter|^sign up for (?:our|the)\b|^follow us on\b"
    r"|^(?:related|more)(?: articles| stories| posts| news| coverage)?:?$|^read more:?$"
    r"|^advertisement$",
    re.IGNORECASE,
)
_WIDGET_MAX_CHARS = 200
_VIDEO_DURATION = re.compile(r"\(\d{1,2}:\d{2}(?::\d{2})?\)$")
_NAME = r"[A-Z][\w.&'’\-]*(?: [A-Z][\w.&'’\-]*){0,3}"
_SLASHED_CREDIT = re.compile(rf"^{_NAME}(?: ?[/|] ?{_NAME})+$")
_CREDIT_PREFIX = re.compile(
    r"^\(?(?:sources?|via|credits?|(?:additional )?reporting by|writing by|editing by"
    r"|compiled by)\b[^.]{0,100}\)?$",
    re.IGNORECASE,
)
_SECTION_LABEL = re.compile(r"^[A-Z][\w&'’\-]*(?: [A-Z&][\w&'’\-]*){0,2}$")
_LEADING_METADATA = re.compile(
    r"^\s*(?:date|published|posted|updated|pubdate)\s*[:=]?\s*"
    rf"(?P<value>\d{{4}}-\d{{2}}-\d{{2}}(?:{_ISO_TIME_SUFFIX})?)(?!\S)[^\S\n]*",
    re.IGNORECASE,
)


def _is_agency_photo_caption(paragraph: str) -> bool:
    tail = paragraph[-_CREDIT_TAIL_CHARS:]  # a credit is at the end: do not scan the whole text
    return bool(_PHOTO_ID.match(paragraph) or _PHOTO_CREDIT_END.search(tail))


def _is_truncated_photo_caption(paragraph: str) -> bool:
    return paragraph.endswith(("…", "...")) and bool(_TRUNCATED_BACKGROUND.search(paragraph))


def _is_related_link_bullet(paragraph: str) -> bool:
    item = _LIST_MARKER.sub("", paragraph, count=1)
    return item != paragraph and is_headline_like(item)


def _is_video_link(paragraph: str) -> bool:
    if not _VIDEO_DURATION.search(paragraph):
        return False
    title = _VIDEO_DURATION.sub("", _LIST_MARKER.sub("", paragraph, count=1)).strip()
    return is_headline_like(title)


def _is_credit_line(paragraph: str) -> bool:
    short = len(_words(paragraph)) <= 12
    return short and bool(_SLASHED_CREDIT.match(paragraph) or _CREDIT_PREFIX.match(paragraph))


@dataclass(frozen=True)
class JunkRule:
    """A named test for a paragraph of page junk left in copied text.

    ``for_html``: also applied to the paragraphs trafilatura extracts (rules
    about list items are not: in HTML, lists are real content as often as not).
    """

    name: str
    matches: Callable[[str], bool]
    for_html: bool = True


JUNK_RULES: tuple[JunkRule, ...] = (
    JunkRule("agency_photo_caption", _is_agency_photo_caption),
    JunkRule("dateline_photo_caption", lambda par: bool(_GETTY_DATELINE.match(par))),
    JunkRule("truncated_photo_caption", _is_truncated_photo_caption),
    JunkRule("reading_time", lambda par: bool(_READING_TIME.search(par))),
    JunkRule(
        "share_comment_widget",
        lambda par: len(par) <= _WIDGET_MAX_CHARS and bool(_WIDGET.search(par)),
    ),
    JunkRule("related_link_bullet", _is_related_link_bullet, for_html=False),
    JunkRule("video_link", _is_video_link),
    JunkRule("credit_line", _is_credit_line),
)


HTML_JUNK_RULES = tuple(rule for rule in JUNK_RULES if rule.for_html)


def junk_rule_for(paragraph: str, rules: tuple[JunkRule, ...] = JUNK_RULES) -> str | None:
    """Name of the first of ``rules`` that matches ``paragraph``, or None."""
    return next((rule.name for rule in rules if rule.matches(paragraph)), None)


def split_leading_metadata(text: str) -> tuple[datetime | None, str]:
    """Take a leading ``date 2020-05-28`` metadata line off ``text``.

    Returns the date (UTC when no offset is given) and the text without the
    key and value; whatever followed them on the line is kept.
    """
    match = _LEADING_METADATA.match(text)
    if match is None:
        return None, text
    moment = _parse_iso(match.group("value"))
    return (moment, text[match.end() :]) if moment else (None, text)


def is_section_label(paragraph: str) -> bool:
    """One to three capitalised words, no punctuation: "News World", "Politics"."""
    return bool(_SECTION_LABEL.match(paragraph))


def is_repeated_title(paragraph: str, title: str | None) -> bool:
    """A short paragraph that repeats the start of the title (e.g. a teaser)."""
    if not title or len(_words(paragraph)) < 2:
        return False
    return normalise_for_matching(title).startswith(normalise_for_matching(paragraph))


def clean_plain_text(text: str) -> Extraction:
    """Headline, leading date and body paragraphs of copied plain text, junk removed.

    Steps, in order: leading metadata line; section labels above a headline;
    the headline (first paragraph if headline-like); then every paragraph that
    a ``JUNK_RULES`` rule matches, that repeats the title, or that is
    headline-like (inline related headlines, subheads) is dropped.
    """
    published_at, text = split_leading_metadata(text)
    paragraphs = split_paragraphs(text)
    while (
        len(paragraphs) >= 2 and is_section_label(paragraphs[0]) and is_headline_like(paragraphs[1])
    ):
        paragraphs.pop(0)
    title = paragraphs.pop(0) if paragraphs and is_headline_like(paragraphs[0]) else None
    body = [
        par
        for par in paragraphs
        if junk_rule_for(par) is None
        and not is_repeated_title(par, title)
        and not is_headline_like(par)
    ]
    return Extraction(
        paragraphs=body,
        title=title,
        title_source="headline" if title else None,
        published_at=published_at,
    )


# ---------------------------------------------------------------- HTML

_SCRIPT_STYLE_COMMENT = re.compile(
    r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL
)
_TAG_START = re.compile(r"</?[a-zA-Z][a-zA-Z0-9:-]*")
# Elements that never hold others (void, SVG leaves) or whose end tag pages
# routinely leave out: they do not add to the nesting depth.
_NO_DEPTH_TAGS = frozenset(
    (
        *("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"),
        *("source", "track", "wbr", "param", "keygen"),
        *("p", "li", "dt", "dd", "tr", "td", "th", "option", "thead", "tbody", "tfoot"),
        *("colgroup", "rp", "rt"),
        *("path", "circle", "rect", "line", "polyline", "polygon", "ellipse", "use", "stop"),
        "image",
    )
)


@functools.lru_cache(maxsize=2_048)
def _depth_step(tag_start: str) -> int:
    """+1 for an opening tag, -1 for a closing one, 0 for tags that do not nest."""
    closing = tag_start.startswith("</")
    if tag_start.lstrip("</").lower() in _NO_DEPTH_TAGS:
        return 0
    return -1 if closing else 1


class HtmlShape(NamedTuple):
    """Size of a page's markup, from a regex scan before any parsing."""

    tags: int
    depth: int


def scan_html_tags(html: str) -> HtmlShape:
    """Number of tags and deepest element nesting of ``html``.

    Void elements and elements with optional end tags do not add to the
    depth, so sloppy but ordinary pages stay shallow; script, style and
    comments are skipped. Costs about a millisecond for an ordinary page.
    """
    tags = _TAG_START.findall(_SCRIPT_STYLE_COMMENT.sub("", html))
    depths = accumulate(map(_depth_step, tags), lambda depth, step: max(depth + step, 0))
    return HtmlShape(tags=len(tags), depth=max(depths, default=0))


def publication_time(html: str, day: str | None) -> datetime | None:
    """The page's publication time on ``day`` (YYYY-MM-DD, trafilatura's date).

    The first ISO timestamp of that day in the page that carries an offset
    gives time and timezone; else the first one of that day; else midnight
    UTC of the day.
    """
    if not day:
        return None
    stamps = re.findall(re.escape(day) + _ISO_TIME_SUFFIX, html)
    with_offset = [stamp for stamp in stamps if stamp.endswith("Z") or stamp[-6] in "+-"]
    for stamp in (*with_offset, *stamps, day):
        moment = _parse_iso(stamp)
        if moment is not None:
            return moment
    return None


def url_host(url: str | None) -> str | None:
    """The host of ``url`` without ``www.``, if it has one."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    return host.removeprefix("www.") if host else None


def page_metadata(tree: HtmlElement, url: str | None = None) -> Document:
    """Title, author, canonical URL, date and site name of a parsed page.

    trafilatura's ``extract_metadata`` without the parts newswire does not
    keep (categories, tags, licence, hostname), which cost a third of its
    time, and without its copy of the whole tree for the author search:
    this prunes ``tree`` in place, so call it last on a tree.
    """
    metadata = examine_meta(tree)
    if metadata.author and " " not in metadata.author:
        metadata.author = None  # a single word is a login name more often than an author
    try:
        metadata = extract_meta_json(tree, metadata)
    except Exception:  # trafilatura's JSON-LD reader breaks on odd documents
        LOGGER.debug("unreadable JSON-LD metadata in %s", url, exc_info=True)
    metadata.title = metadata.title or extract_title(tree)
    metadata.url = metadata.url or extract_url(tree, url)
    metadata.date = find_date(tree, **set_date_params(extensive=True), url=metadata.url)
    metadata.sitename = (metadata.sitename or extract_sitename(tree) or "").lstrip("@") or None
    if not metadata.author:
        pruned = prune_unwanted_nodes(tree, AUTHOR_DISCARD_XPATHS)
        author = extract_metainfo(pruned, AUTHOR_XPATHS, len_limit=120)
        metadata.author = normalize_authors(None, author) if author else None
    metadata.clean_and_trim()
    return metadata


_TITLE_SEPARATOR = re.compile(r"\s+[|–—•·:\-«»~]\s+")
_SITE_PART_MAX_WORDS = 6


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def strip_site_from_title(
    title: str, site_name: str | None, headings: list[str], host: str | None = None
) -> str:
    """The page title without the site name glued to it ("Story - Site").

    Splits on title separators (`` | ``, `` - ``, `` – ``...): a run of parts
    that equals one of the page's ``<h1>`` headings wins; else leading or
    trailing parts that name the site (its name or host) are dropped.
    """
    parts = _TITLE_SEPARATOR.split(title)
    if len(parts) < 2:
        return title
    separators = _TITLE_SEPARATOR.findall(title)
    headings_folded = {_fold(heading) for heading in headings}

    def joined(start: int, end: int) -> str:
        pieces = [parts[start]]
        for index in range(start + 1, end):
            pieces += [separators[index - 1], parts[index]]
        return "".join(pieces)

    spans = sorted(
        ((start, end) for start in range(len(parts)) for end in range(start + 1, len(parts) + 1)),
        key=lambda span: span[0] - span[1],
    )
    for start, end in spans:
        if (start, end) != (0, len(parts)) and _fold(joined(start, end)) in headings_folded:
            return joined(start, end)
    site_names = {_fold(name) for name in (site_name, host) if name}

    def names_site(part: str) -> bool:
        folded = _fold(part)
        return len(part.split()) <= _SITE_PART_MAX_WORDS and (
            any(folded in name for name in site_names) or ("." in folded and " " not in folded)
        )

    start, end = 0, len(parts)
    while end - start > 1 and names_site(parts[end - 1]):
        end -= 1
    while end - start > 1 and names_site(parts[start]):
        start += 1
    return joined(start, end)


_CREDENTIAL = re.compile(r"^\s*(?:PhD|MD|MSc|MA|MBA|RD|RN|DPhil|Esq|Jr|Sr)\.?\s*$", re.IGNORECASE)
_NAME_TOKEN = re.compile(r"[^\W\d_][\w'’-]*")


def restore_name_punctuation(name: str, html: str) -> str:
    """The author name as the page writes it: "T V Raman" -> "T. V. Raman".

    trafilatura drops the periods of initials; the first spelling of the same
    words with periods after some of them, found in the page, is kept.
    """
    tokens = _NAME_TOKEN.findall(name)
    if not tokens or len(tokens) != len(name.split()):
        return name
    pattern = r"\.?\s*".join(re.escape(token) for token in tokens) + r"\.?"
    match = re.search(pattern, html)
    return " ".join(match.group(0).split()) if match and "." in match.group(0) else name


def structured_article_body(scripts: list[str]) -> str:
    """The schema.org ``articleBody`` of a page's JSON-LD scripts ("" if none).

    News pages that render their text from data often carry it here; the
    longest body wins (pages list related articles too).
    """
    bodies: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            body = node.get("articleBody")
            if isinstance(body, str):
                bodies.append(body)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for script in scripts:
        try:
            collect(json.loads(script))
        except ValueError:
            continue  # malformed JSON-LD is common; it is only a fallback
    return html_lib.unescape(max(bodies, key=len, default=""))


def clean_html(html: str, url: str | None = None) -> Extraction:
    """Main text and metadata of an HTML page, from one parse."""
    shape = scan_html_tags(html)
    if shape.depth > MAX_NESTING_DEPTH:
        raise Rejected(
            "pathological_html", f"elements nested {shape.depth:,} deep (limit {MAX_NESTING_DEPTH})"
        )
    if shape.tags > MAX_TAGS:
        raise Rejected("pathological_html", f"{shape.tags:,} tags (limit {MAX_TAGS:,})")
    try:
        tree = load_html(html)
        if tree is None:
            raise Rejected("no_main_text", "lxml found no HTML document in the page")
        # Measured on trafilatura's evaluation pages: leaving readers' comments
        # out raises precision; ``fast`` (no fallback extractors) keeps F1 above
        # trafilatura's defaults at about 1.5 times the speed, paying for metadata.
        structured_data = [
            script.text or "" for script in tree.iterfind('.//script[@type="application/ld+json"]')
        ]  # before trafilatura prunes the tree
        document = trafilatura.bare_extraction(tree, url=url, fast=True, include_comments=False)
        headings = [heading.text_content() for heading in tree.iterfind(".//h1")]
        metadata = page_metadata(tree, url)
    except Rejected:
        raise
    except Exception as error:  # the stage's contract: only Rejected leaves it
        raise Rejected(
            "extraction_error", f"{type(error).__name__} in lxml/trafilatura: {error}"
        ) from error
    # trafilatura puts one block (paragraph, heading, list item...) on a line.
    extracted = document.text or "" if isinstance(document, Document) else ""
    blocks = split_paragraphs(extracted.replace("\n", "\n\n"))
    paragraphs = [par for par in blocks if junk_rule_for(par, HTML_JUNK_RULES) is None]
    if not paragraphs:  # e.g. a page that renders its body from data: schema.org's copy
        paragraphs = [
            par
            for par in split_paragraphs(
                structured_article_body(structured_data).replace("\n", "\n\n")
            )
            if junk_rule_for(par, HTML_JUNK_RULES) is None
        ]
    if not paragraphs:
        raise Rejected("no_main_text", "no main text in the page (only boilerplate or captions)")
    authors = [
        restore_name_punctuation(name.strip(), html)
        for name in (metadata.author or "").split(";")
        if name.strip() and not _CREDENTIAL.match(name)
    ]
    title = split_paragraphs(
        strip_site_from_title(metadata.title or "", metadata.sitename, headings, url_host(url))
    )
    return Extraction(
        paragraphs=paragraphs,
        title=title[0] if title else None,
        title_source="html" if title else None,
        authors=authors,
        published_at=publication_time(html, metadata.date),
        site_name=metadata.sitename,
        canonical_url=metadata.url or None,
    )


# ---------------------------------------------------------------- article


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text`` by py3langid (offline), None for no letters."""
    sample = text[:LANGUAGE_SAMPLE_CHARS]
    if not any(char.isalpha() for char in sample):
        return None
    language, _score = py3langid.classify(sample)
    return str(language)


def _check_size(payload: str, max_bytes: int) -> None:
    """Raise ``too_large`` without encoding the payload when it is clearly small."""
    if len(payload) * 4 <= max_bytes:
        return
    size = len(payload.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise Rejected("too_large", f"payload is {size:,} bytes (limit {max_bytes:,})")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def plausible_date(
    label: str, moment: datetime | None, fetched_at: datetime, dropped: list[str]
) -> datetime | None:
    """``moment`` (naive taken as UTC) if it may be the article's publication time,
    else None, with the reason appended to ``dropped``: not before ``EARLIEST_DATE``
    nor after ``fetched_at`` plus ``CLOCK_SKEW``."""
    if moment is None:
        return None
    moment = _as_aware(moment)
    if moment > fetched_at + CLOCK_SKEW:
        dropped.append(
            f"{label} {_iso(moment)} is after the fetch time {_iso(fetched_at)}; dropped"
        )
        return None
    if moment < EARLIEST_DATE:
        dropped.append(f"{label} {_iso(moment)} is before {EARLIEST_DATE.year}; dropped")
        return None
    return moment


def plausible_fetch_time(fetched_at: datetime, now: datetime, dropped: list[str]) -> datetime:
    """``fetched_at`` (naive taken as UTC), or ``now`` when it is after ``now`` plus
    ``CLOCK_SKEW``, with the reason appended to ``dropped``."""
    fetched_at = _as_aware(fetched_at)
    if fetched_at <= now + CLOCK_SKEW:
        return fetched_at
    dropped.append(
        f"fetched_at {_iso(fetched_at)} is after the cleaning time {_iso(now)}; replaced by it"
    )
    return now


def clean_article(
    raw: RawArticle, *, max_bytes: int = DEFAULT_MAX_BYTES, now: datetime | None = None
) -> CleanArticle:
    """Extract the clean article from ``raw``; raise ``Rejected`` for unusable input.

    Implausible dates are dropped (see :func:`plausible_date`, :func:`plausible_fetch_time`;
    ``now`` defaults to the current time) and listed in ``dropped_dates``.
    """
    payload = raw.html if raw.html is not None else raw.text
    if payload is None:
        raise Rejected("no_content", "the article has neither text nor html")
    kind = "html" if raw.html is not None else "text"
    _check_size(payload, max_bytes)
    if not payload.strip():
        raise Rejected("empty", f"the {kind} is empty or whitespace only")
    _check_not_binary(payload, kind)
    extracted = clean_html(payload, raw.url) if kind == "html" else clean_plain_text(payload)
    if not extracted.paragraphs:
        raise Rejected("no_main_text", f"no main text left in the {kind} after cleaning")
    text = join_paragraphs(extracted.paragraphs)
    title, title_source = extracted.title, extracted.title_source
    if title is None and raw.title:
        title, title_source = raw.title.strip(), "feed"
    dropped: list[str] = []
    fetched_at = plausible_fetch_time(raw.fetched_at, now or datetime.now(UTC), dropped)
    page_date = plausible_date(f"date in the {kind}", extracted.published_at, fetched_at, dropped)
    given_date = plausible_date("published_at", raw.published_at, fetched_at, dropped)
    return CleanArticle(
        id=raw.id,
        url=raw.url,
        canonical_url=extracted.canonical_url,
        source=raw.source,
        provenance=raw.provenance,
        revision=raw.revision,
        content_hash=raw.content_hash or content_hash(payload),
        site_name=extracted.site_name or url_host(raw.url) or raw.source,
        title=title,
        title_source=title_source,
        authors=extracted.authors,
        published_at=page_date or given_date,
        fetched_at=fetched_at,
        language=detect_language(text),
        dropped_dates=dropped,
        text=text,
        fingerprint=fingerprint(text),
    )


# A byline date in a form only dateparser's full scan of its locales reads: the
# first such date a process sees costs it about 1.5 s of loading.
_WARM_UP_PAGE = (
    "<html><head><title>Warm-up page</title></head><body><article><h1>Warm-up page</h1>"
    "<p>Posted: 01 / 02 / 2003 10: 10 am EDT</p>"
    f"<p>{'A sentence that warms up the parsers and the language identifier. ' * 6}</p>"
    "</article></body></html>"
)


def warm_up() -> CleanArticle:
    """Clean a built-in page, so the parts that load lazily (dateparser's locales, the
    language identifier) load now rather than while a real article waits."""
    return clean_article(
        RawArticle(id="warm-up", html=_WARM_UP_PAGE, fetched_at=datetime(2004, 1, 1, tzinfo=UTC))
    )
