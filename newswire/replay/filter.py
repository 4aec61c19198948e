"""Which records a replay publishes: host, language and publication-time filters.

Cheap first: the host of the URL; then the language, from the page's ``<html
lang>``, else the HTTP Content-Language, else py3langid on a sample of its text;
then the publication time, only when ``since`` or ``until`` is given: the
record's ``published_at``, else htmldate's date of the page (its fast mode, as
cleaning dates pages) with the time the page gives that day, else the fetch time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from schemas.records import RawArticle
from streams.clean.extract import LANGUAGE_SAMPLE_CHARS, detect_language, publication_time, url_host

_HTML_LANG = re.compile(r"<html\b[^>]*?\slang\s*=\s*[\"']?([a-zA-Z]{2,3})\b", re.IGNORECASE)
_HTML_LANG_SCAN_CHARS = 4_096
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_TEXT_SAMPLE_HTML_CHARS = 200_000


@dataclass(frozen=True)
class Selection:
    """The filters of a replay; an empty selection takes every record.

    ``hosts`` are shell patterns (``*.example.org``, ``news.*``), case-insensitive,
    matched against the URL's host without ``www.``; a plain domain also takes its
    subdomains. ``languages`` are ISO 639-1 codes.
    """

    since: datetime | None = None
    until: datetime | None = None
    hosts: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def key(self) -> str:
        """The selection in one canonical line: what a checkpoint belongs to."""
        parts = [
            f"since={self.since.isoformat()}" if self.since else "",
            f"until={self.until.isoformat()}" if self.until else "",
            "hosts=" + ",".join(sorted(h.lower() for h in self.hosts)) if self.hosts else "",
            "languages=" + ",".join(sorted(self.languages)) if self.languages else "",
        ]
        return " ".join(part for part in parts if part)

    def rejection(self, article: RawArticle, content_language: str | None = None) -> str | None:
        """Why ``article`` is left out (a skip reason), or None to publish it."""
        if self.hosts and not self._takes_host(url_host(article.url)):
            return "other_host"
        if self.languages and article_language(article, content_language) not in self.languages:
            return "other_language"
        if self.since or self.until:
            moment = publication_moment(article)
            if self.since and moment < self.since:
                return "before_since"
            if self.until and moment > self.until:
                return "after_until"
        return None

    def _takes_host(self, host: str | None) -> bool:
        host = (host or "").lower()
        return any(
            fnmatchcase(host, pattern) or fnmatchcase(host, f"*.{pattern}")
            for pattern in (p.lower().removeprefix("www.") for p in self.hosts)
        )


def article_language(article: RawArticle, content_language: str | None = None) -> str | None:
    """The ISO 639-1 code of ``article``: declared by the page, else by HTTP, else detected."""
    if article.html is not None:
        declared = _HTML_LANG.search(article.html[:_HTML_LANG_SCAN_CHARS])
        if declared:
            return declared.group(1).lower()[:2]
    if content_language and content_language.strip()[:2].isalpha():
        return content_language.strip()[:2].lower()
    if article.html is not None:
        sample = _TAG.sub(" ", _SCRIPT_STYLE.sub(" ", article.html[:_TEXT_SAMPLE_HTML_CHARS]))
        return detect_language(" ".join(sample.split())[:LANGUAGE_SAMPLE_CHARS])
    return detect_language(article.text or "")


def publication_moment(article: RawArticle) -> datetime:
    """When ``article`` was published, as far as a quick look tells: else its fetch time."""
    if article.published_at is not None:
        return _aware(article.published_at)
    if article.html:
        from htmldate import find_date

        day = find_date(article.html, extensive_search=False, original_date=True)
        moment = publication_time(article.html, day)
        if moment is not None:
            return moment
    return _aware(article.fetched_at)


def _aware(moment: datetime) -> datetime:
    """Without an offset, UTC (as the command line reads dates)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
