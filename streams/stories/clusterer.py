"""Stories: online clustering of articles into versioned stories.

Each arriving article is compared with the live stories of the earlier articles
that share the most of its *index keys* (its salient entities and rare terms, see
:meth:`StoryClusterer.index_keys`) in an inverted index of recent articles
(:class:`streams.keyindex.KeyBuckets`, in-process or, in the pipeline, optionally
partitioned by key through Kafka), and joins the best one whose evidence clears the
bar; otherwise it opens a new story. The evidence is what an editor looks at:

- the shared canonical entities, weighted by salience and rarity;
- the text, as sub-linear TF-IDF against the story centroid;
- the titles, the same way;
- the story's *core*, the entities, dates (years, month-days) and counts
  ("23 pirates", "magnitude 5.6") that at least half its originals name: an
  article naming most of it gains, one naming little of it loses;
- matching and conflicting specifics: an article gains for each *slot* (the
  year, each counted thing) it fills with a value one of the story's
  originals gave it (the same year, the same "23 pirates"), and loses for each
  slot it fills with a value none of them gave it (another year, another
  magnitude, another death toll), which keeps apart two events of the same
  kind with the same people (two fights of one boxer, two quakes of one
  region); counts are read from the opening sentences with dates and clock
  times cut out, and a capitalised word before the counted noun, or two
  joined by "and" ("23 Somali and Yemeni pirates"), is skipped as an adjective;
- time: the bar rises as the gap between the article and the story grows,
  and a story nothing has joined for ``cold_after`` (by article time) is
  retired, so a later article about the same people starts a new story.

Of the stories whose bar the article clears, it joins the one with the highest
margin over the bar plus its *complete linkage* to the story: the lowest text
cosine between the article and any of the story's first originals (its
founders). A centroid favours a big story that has absorbed a neighbouring
event early; an article of that other event resembles some of its founders but
not all, and so prefers the story all of whose founders it resembles.

Rarity (IDF) comes from document frequencies over the original articles of the
live stories: a retired story's articles leave them, so they are bounded like the
rest of the state, and a restart (which re-adds the live articles) rebuilds them
exactly. Centroids keep raw (sub-linear, length-normalised) term weights; IDF is
applied when comparing, so early members are not stuck with early statistics.
A duplicate joins the story of its original directly, as a member that adds no
new information (centroid and headline unchanged).

Revisions (:mod:`streams.revisions`): a record with the id and content hash of a
member is a redelivery and changes nothing; one with a member's id, other content
and a greater ``(revision, fetched_at)`` is an update, which replaces the member (a
story never lists one article twice): the old revision's features leave the
document frequencies and the story's centroids and core, and the new one is placed
like an article, its own story scored with the candidates; it stays in its story
unless it joins another one better (then the story it left gets a new version, and
one left with no members is retired). A stale revision changes nothing. Members
show their ``revision``. Updates of articles of retired stories are not placed.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
import sys
import zlib
from array import array
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, NamedTuple, Protocol

import orjson
from pydantic import TypeAdapter

from schemas.records import DedupedArticle, Entity, Story, StoryMember
from streams.keyindex import Arrival, ArrivalClock, Candidate, KeyBuckets
from streams.revisions import Revision
from streams.tag.entities import StoryEntityMerge, merge_story_entities
from streams.text import normalise_display, normalise_for_matching

_STOPWORD_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    said says say told according new one two three year years time times last first week weeks
    day days monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow
    mr mrs ms may might must shall us news report reported reports people like get got make made
    many much well back since still even however another around among including via per
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_TOKEN = re.compile(r"[^\W_]+(?:[.'-][^\W_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_NUMBER = (
    {name: i for i, name in enumerate(_MONTH_NAMES, 1)}
    | {name[:3]: i for i, name in enumerate(_MONTH_NAMES, 1)}
    | {"Sept": 9}
)
_MONTH = r"(" + "|".join(sorted(_MONTH_NUMBER, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_QUANTITY_SENTENCES = 4
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s*{_DAY}\b|\b{_DAY}\s+(?:of\s+)?{_MONTH}\b")
_YEAR = re.compile(r"(?<![\w.,$£€-])(1[89]\d\d|20\d\d)(?![\w%]|[.,]\d)")


def _stem(token: str) -> str:
    """A light English suffix stripper: plural and -ing/-ed forms meet their stem."""
    if token.isdigit() or len(token) <= 4:
        return token
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("s", "")):
        if token.endswith(suffix) and not token.endswith("ss") and len(token) - len(suffix) >= 4:
            return token[: len(token) - len(suffix)] + replacement
    return token


def terms(text: str) -> Counter[str]:
    """Counts of the content terms of ``text``: stems and adjacent stem pairs.

    Matching form, stop words out, light stemming; a pair (``a_b``) joins two
    content words not separated by a stop word, so names and phrases count. The
    terms are interned: the many articles that hold one term share its string.
    """
    counts: Counter[str] = Counter()
    previous = None
    for token in _TOKEN.findall(normalise_for_matching(text)):
        token = token.removesuffix("'s")
        if len(token) <= 1 or token in _STOPWORDS:
            previous = None
            continue
        stem = sys.intern(_stem(token))
        counts[stem] += 1
        if previous is not None:
            counts[sys.intern(f"{previous}_{stem}")] += 1
        previous = stem
    return counts


def date_marks(text: str) -> list[str]:
    """The calendar dates ``text`` names: years (``year:2013``), month-days (``date:05-03``).

    These are the specifics that tell two events of the same kind apart (last
    year's fight from this year's); weekdays and "yesterday" are left out.
    """
    marks = {f"year:{year}" for year in _YEAR.findall(text)}
    for month, day, day_first, month_second in _MONTH_DAY.findall(text):
        number = int(day or day_first)
        if 1 <= number <= 31:
            marks.add(f"date:{_MONTH_NUMBER[month or month_second]:02d}-{number:02d}")
    return sorted(marks)


_NUMBER_WORD_TEXT = """
    zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty
"""
_NUMBER_WORDS = {word: str(value) for value, word in enumerate(_NUMBER_WORD_TEXT.split())}
_NUMBER = r"(\d+(?:[.,]\d+)?|" + "|".join(_NUMBER_WORDS) + r")"
# The counted noun: lower-case or all-caps ("3 DEAD"); a capitalised word, or two joined by "and"
# or "or", between the number and a lower-case noun is an adjective ("23 Somali pirates", "23
# Somali and Yemeni pirates"); a capitalised word alone is a name or the next sentence ("May 5,
# 2010 A firebomb"), not a counted thing.
_ADJECTIVES = r"(?:[A-Z][a-z]+\s+(?:(?:and|or)\s+[A-Z][a-z]+\s+)?)?"
_COUNT_NOUN = re.compile(
    rf"(?<![\w.,:/-])(?i:{_NUMBER})(?:\s*-\s*|\s+){_ADJECTIVES}([a-z]+|[A-Z]+\b)"
    r"(\s*-\s*old)?"
)
# Dates and clock times ("Nov 11", "20: 09 IST", "05 / 05 / 2010") are cut before counting.
_NOT_COUNTS = re.compile(
    rf"{_MONTH_DAY.pattern}|\b\d{{1,2}}\s*[:/]\s*\d{{1,2}}(?:\s*/\s*\d{{2,4}})?\b"
)
_NOUN_COUNT = re.compile(rf"\b(magnitude|toll|aged)\s+(?:of\s+)?{_NUMBER}(?![\w,]|\.\d)", re.I)
_UNCOUNTED_TEXT = """
    am pm gmt utc hrs hour hours minute minutes percent per cent times year years month months
    million billion thousand hundred th st nd rd
"""
# Units, clock and calendar words, and stop words ("people" aside) are not counted things.
_UNCOUNTED = (
    frozenset(_UNCOUNTED_TEXT.split())
    | frozenset(name.lower() for name in _MONTH_NUMBER)
    | frozenset(_NUMBER_WORDS)
    | _STOPWORDS - {"people"}
)


def quantities(text: str) -> list[str]:
    """The counted things ``text`` names in its first sentences: ``count:<noun>=<value>``.

    "23 pirates", "three people", "a 15-year-old", "magnitude 5.6": the
    numbers an editor checks to tell two events of the same kind apart (death
    tolls, magnitudes, ages, head counts). Years, month-days and clock times
    are left out, and so is a number followed by a name ("APR 28 Obama");
    "23 Somali pirates" and "23 Somali and Yemeni pirates" count pirates.
    """
    found: set[str] = set()
    opening = _NOT_COUNTS.sub(" ; ", " ".join(sentences(text)[:_QUANTITY_SENTENCES]))
    for value, noun, old in _COUNT_NOUN.findall(opening):
        noun = "year-old" if old else noun.lower()
        if noun in _UNCOUNTED:
            continue
        number = _NUMBER_WORDS.get(value.lower(), value.replace(",", ""))
        if not (len(number) == 4 and number.startswith(("19", "20"))):
            found.add(f"count:{_stem(noun)}={number}")
    for noun, value in _NOUN_COUNT.findall(opening):
        found.add(f"count:{noun.lower()}={_NUMBER_WORDS.get(value.lower(), value)}")
    return sorted(found)


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (paragraph breaks and sentence ends), stripped."""
    out: list[str] = []
    for paragraph in re.split(r"\n+", normalise_display(text)):
        out.extend(s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip())
    return out


def lead(text: str, *, title: str | None = None, count: int = 2, max_chars: int = 300) -> str:
    """The first ``count`` sentences of ``text`` (the title line skipped), at most ``max_chars``."""
    body = [s for s in sentences(text) if title is None or s.strip() != title.strip()]
    summary = " ".join(body[:count])
    if len(summary) <= max_chars:
        return summary
    cut = summary[: max_chars - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def _sublinear(counts: Mapping[str, float]) -> dict[str, float]:
    """``1 + log(tf)`` per key, scaled to unit length (before any IDF)."""
    weights = {key: 1.0 + math.log(count) for key, count in counts.items() if count > 0}
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return {key: w / norm for key, w in weights.items()}


class Weighted(Protocol):
    """Weights by key, iterated in order: a dict, or :class:`PackedWeights`."""

    def __iter__(self) -> Iterator[str]: ...

    def items(self) -> Iterable[tuple[str, float]]: ...


class PackedWeights:
    """Weights by key, in order, packed for holding: the keys in a tuple (shared
    with another vector of the same keys, if given), the weights in a float32
    array. About a quarter of a dict's memory; iterated, never looked up."""

    __slots__ = ("keys", "values")

    def __init__(self, weights: Mapping[str, float], keys: tuple[str, ...] | None = None) -> None:
        self.keys = tuple(weights) if keys is None else keys
        self.values = array("f", map(weights.__getitem__, self.keys))

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys)

    def items(self) -> Iterator[tuple[str, float]]:
        """(key, weight) pairs in order."""
        return zip(self.keys, self.values, strict=True)

    def to_json(self) -> dict[str, float]:
        """The weights as a dict (JSON-able)."""
        return dict(self.items())


def packed(weights: Mapping[str, float]) -> PackedWeights:
    """``weights`` packed, their keys interned (weights read back from JSON)."""
    return PackedWeights({sys.intern(key): weight for key, weight in weights.items()})


class DocumentFrequency:
    """Document frequencies over a changing set of documents, for IDF weights.

    ``prior_documents`` pseudo-documents that contain no key keep the first
    articles' IDF from treating everything they share as common. IDF values are
    remembered until the next :meth:`add`.
    """

    def __init__(self, prior_documents: int = 0) -> None:
        self.prior_documents = prior_documents
        self.documents = 0
        self.counts: dict[str, int] = {}
        self._idf: dict[str, float] = {}

    def add(self, keys: Iterable[str]) -> None:
        """Count one more document containing each of ``keys`` (distinct)."""
        self.documents += 1
        counts = self.counts
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        self._idf.clear()

    def remove(self, keys: Iterable[str]) -> None:
        """Count one document containing each of ``keys`` (as added) less."""
        self.documents -= 1
        counts = self.counts
        for key in keys:
            left = counts[key] - 1
            if left:
                counts[key] = left
            else:
                del counts[key]
        self._idf.clear()

    def idf(self, key: str) -> float:
        """Smoothed IDF: ``log((1 + prior + N) / (1 + df)) + 1``; unseen keys are the rarest."""
        idf = self._idf.get(key)
        if idf is None:
            documents = 1 + self.prior_documents + self.documents
            idf = self._idf[key] = math.log(documents / (1 + self.counts.get(key, 0))) + 1.0
        return idf


class Profile:
    """A story centroid of raw weights; IDF is applied when compared.

    A one-member centroid is that member's packed weights, shared, not copied (most
    stories have one member); the second member turns it into a dict of sums.
    """

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.weights: dict[str, float] | PackedWeights = {}
        self._norm: float | None = None

    def __bool__(self) -> bool:
        return bool(self.weights) if isinstance(self.weights, dict) else True

    def add(self, weights: PackedWeights, df: DocumentFrequency) -> None:
        """Add one member's weights, keeping the ``max_keys`` heaviest keys by TF-IDF."""
        self._norm = None
        if not self and 0 < len(weights.keys) <= self.max_keys:
            self.weights = weights
            return
        merged = self.weights if isinstance(self.weights, dict) else dict(self.weights.items())
        for key, weight in weights.items():
            merged[key] = merged.get(key, 0.0) + weight
        if len(merged) > self.max_keys:
            kept = heapq.nlargest(self.max_keys, merged, key=lambda k: merged[k] * df.idf(k))
            merged = {k: merged[k] for k in kept}
        self.weights = merged

    def norm(self, df: DocumentFrequency) -> float:
        """Length of the IDF-weighted centroid (cached until the next :meth:`add`)."""
        if self._norm is None:
            self._norm = math.sqrt(sum((w * df.idf(k)) ** 2 for k, w in self.weights.items()))
        return self._norm

    def cosine(self, vector: Weighted, df: DocumentFrequency) -> float:
        """Cosine between a unit TF-IDF vector, IDF-weighted once more, and this centroid.

        The centroid keeps raw weights; multiplying the article's side by IDF
        applies the current IDF to the centroid's side of each shared key.
        """
        weights = self.weights
        if isinstance(weights, PackedWeights):
            lookup = vector if isinstance(vector, Mapping) else dict(vector.items())
            dot = sum(weight * lookup[key] for key, weight in weights.items() if key in lookup)
        else:
            dot = sum(weight * weights[key] for key, weight in vector.items() if key in weights)
        return dot / self.norm(df) if dot else 0.0


def tfidf(weights: Weighted, df: DocumentFrequency, limit: int) -> dict[str, float]:
    """Unit TF-IDF vector of the ``limit`` heaviest keys of sub-linear ``weights``."""
    scored = sorted(((w * df.idf(k), k) for k, w in weights.items()), reverse=True)[:limit]
    norm = math.sqrt(sum(w * w for w, _ in scored)) or 1.0
    return {k: w / norm for w, k in scored}


def text_cosine(vector: Mapping[str, float], other: Weighted) -> float:
    """Cosine of two unit vectors (dot product over ``other``'s keys)."""
    weight_of = vector.get
    return sum(weight * weight_of(key, 0.0) for key, weight in other.items())


def idf_weighted(vector: Mapping[str, float], df: DocumentFrequency) -> dict[str, float]:
    """``vector`` with each weight multiplied by its key's IDF (for :meth:`Profile.cosine`)."""
    return {k: v * df.idf(k) for k, v in vector.items()}


_DETAIL_PREFIXES = ("year:", "date:", "count:")


def _slot(key: str) -> str | None:
    """What a specific is about, when two different values of it contradict each other.

    A year (``year``) or a counted thing (``count:<noun>``); month-days are not
    slots, as reports of one event name the days before and after it.
    """
    if key.startswith("year:"):
        return "year"
    if key.startswith("count:"):
        return key.partition("=")[0]
    return None


def add_to_slots(slots: dict[str, set[str]], keys: Iterable[str]) -> dict[str, set[str]]:
    """``slots`` (slot -> values) with the slotted ``keys`` added; returns ``slots``."""
    for key in keys:
        slot = _slot(key)
        if slot is not None:
            slots.setdefault(slot, set()).add(key)
    return slots


def compare_slots(named: Mapping[str, set[str]], specifics: Iterable[str]) -> tuple[int, int]:
    """How many slots (the year, each counted thing) both fill: ``(agreeing, conflicting)``.

    A slot agrees when ``specifics`` give it one of the values ``named`` gives
    it ("23 pirates" against a story that says 23), and conflicts when they give
    it none of them ("magnitude 5.6" against a story that says 6.1). Slots only
    one side fills count neither way.
    """
    agreeing = conflicting = 0
    for slot, values in add_to_slots({}, specifics).items():
        if slot in named:
            if named[slot].isdisjoint(values):
                conflicting += 1
            else:
                agreeing += 1
    return agreeing, conflicting


def _entity_key(entity_id: str) -> str:
    return sys.intern(f"entity:{entity_id}")


def _term_key(term: str) -> str:
    return sys.intern(f"term:{term}")


@dataclass(slots=True)
class _Features:
    """What the clusterer keeps of an article: all it needs to re-add it."""

    text_terms: PackedWeights
    title_terms: PackedWeights
    entity_weights: PackedWeights
    lead: str
    first_sentence: str
    dates: list[str] = field(default_factory=list)
    quantities: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, article: DedupedArticle) -> _Features:
        text = article.text
        title = article.title
        counts = terms(f"{title}\n{text}" if title else text)
        salience = {e.id: max(e.salience, 0.05) for e in article.entities}
        first = next(iter(sentences(text)), "")
        return cls(
            text_terms=PackedWeights(_sublinear(counts)),
            title_terms=PackedWeights(_sublinear(terms(title)) if title else {}),
            entity_weights=PackedWeights(_unit(salience)),
            lead=lead(text, title=title),
            first_sentence=first[:160],
            dates=date_marks(text),
            quantities=quantities(text),
        )

    def specifics(self) -> frozenset[str]:
        """The entities, dates and counts the article names."""
        return frozenset(self.entity_weights).union(self.dates, self.quantities)

    def to_json(self) -> dict[str, Any]:
        return {
            "text_terms": self.text_terms.to_json(),
            "title_terms": self.title_terms.to_json(),
            "entity_weights": self.entity_weights.to_json(),
            "lead": self.lead,
            "first_sentence": self.first_sentence,
            "dates": self.dates,
            "quantities": self.quantities,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Features:
        """Inverse of :meth:`to_json`."""
        return cls(
            text_terms=packed(data["text_terms"]),
            title_terms=packed(data["title_terms"]),
            entity_weights=packed(data["entity_weights"]),
            lead=data["lead"],
            first_sentence=data["first_sentence"],
            dates=data["dates"],
            quantities=data["quantities"],
        )


def _unit(weights: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return {k: w / norm for k, w in weights.items()}


@dataclass
class _Vectors:
    """An article's IDF-weighted unit vectors, its candidate keys and specifics, and
    its unit TF-IDF text vector (``unit_text``, for the linkage to single members)."""

    text: dict[str, float]
    titles: dict[str, float]
    entities: dict[str, float]
    keys: list[str]
    specifics: frozenset[str]
    unit_text: dict[str, float] = field(default_factory=dict)


_ENTITY_LIST = TypeAdapter(list[Entity])


class _Listing(NamedTuple):
    """What a story lists of a member, beside its revision and when it was first seen."""

    id: str
    source: str | None
    title: str | None
    url: str | None
    published_at: datetime | None
    duplicate_of: str | None

    @classmethod
    def of(cls, article: DedupedArticle) -> _Listing:
        """The listing of ``article``."""
        return cls(
            article.id,
            article.source,
            article.title,
            article.url,
            article.published_at,
            article.duplicate_of,
        )


@dataclass(slots=True)
class _Member:
    """One article of a live story: what the story lists of it (:meth:`record`), its
    entities as zlib-compressed JSON (read back to rebuild the story, :meth:`entity_list`),
    and what placed it."""

    listing: _Listing
    entities: bytes
    features: _Features
    article_time: datetime
    seen_at: datetime
    is_original: bool
    revision: Revision
    text_vector: PackedWeights = field(default_factory=lambda: PackedWeights({}))
    unit_text: PackedWeights | None = None  # founders only (_linkage)
    versions: dict[str, int] = field(default_factory=dict)  # story id -> version published
    index_keys: list[str] = field(default_factory=list)  # originals only

    @property
    def id(self) -> str:
        """The article's id."""
        return self.listing.id

    def entities_json(self) -> bytes:
        """Its entities as JSON."""
        return zlib.decompress(self.entities)

    def entity_list(self) -> list[Entity]:
        """Its entities."""
        return _ENTITY_LIST.validate_json(self.entities_json())

    def record(self) -> StoryMember:
        """The member as its story lists it (built when asked for, not held)."""
        return StoryMember.model_construct(
            **self.listing._asdict(), revision=self.revision.number, first_seen=self.seen_at
        )


@dataclass(slots=True)
class _LiveStory:
    """The mutable state of one live story."""

    story_id: str
    text: Profile
    titles: Profile
    entities: Profile
    members: list[_Member] = field(default_factory=list)
    founders: list[PackedWeights] = field(default_factory=list)  # their unit text vectors
    merged_entities: StoryEntityMerge | None = None  # None with one member: its entities
    specifics: Counter[str] = field(default_factory=Counter)
    core: frozenset[str] = frozenset()
    slots: dict[str, set[str]] = field(default_factory=dict)
    originals: int = 0
    version: int = 0
    first_time: datetime | None = None
    last_time: datetime | None = None
    headline: str = ""
    summary: str = ""


@dataclass(frozen=True, slots=True)
class IndexedArticle:
    """What the story index holds of an original article: its arrival, its keys, and
    the revision they are of."""

    arrival: Arrival
    keys: tuple[str, ...]
    revision: int = 1

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {**self.arrival.to_json(), "keys": list(self.keys), "revision": self.revision}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexedArticle:
        """Inverse of :meth:`to_json`."""
        return cls(Arrival.from_json(data), tuple(data["keys"]), int(data["revision"]))


def enter_revision(
    index: KeyBuckets[IndexedArticle], article_id: str, held: IndexedArticle
) -> list[Candidate[IndexedArticle]]:
    """Enter an article in a story index; a later revision of one held replaces its keys."""
    own = index.articles.get(article_id)
    if own is not None and held.revision > own.revision:
        index.remove(article_id)
    return index.enter(article_id, held)


def story_index(
    cold_after: timedelta, articles: MutableMapping[str, IndexedArticle] | None = None
) -> KeyBuckets[IndexedArticle]:
    """A (partition of the) story index: the 16 most recent originals per key, 48
    candidates per article, entries kept for ``cold_after`` (as long as a story takes to go cold).

    A key more than 256 originals entered within ``cold_after`` (a common entity or
    term) is not looked up: like a stop word, it would find recent articles of
    unrelated stories, whose scoring is most of the stage's cost.
    """
    return KeyBuckets(
        retention=cold_after,
        max_bucket=16,
        max_candidates=48,
        common_key_articles=256,
        articles=articles,
    )


CLOCK_SKEW = timedelta(days=1)
"""How far after the time an article was seen its publication time may lie and count."""


def news_time(published_at: datetime | None, seen_at: datetime) -> datetime | None:
    """``published_at``, unless it is after ``seen_at`` plus ``CLOCK_SKEW`` (then None)."""
    if published_at is None or published_at > seen_at + CLOCK_SKEW:
        return None
    return published_at


class NewsClock:
    """The time of each article on the story clock (watermark, time gaps, index arrival).

    A dated article's time is its :func:`news_time`: a date after the article was seen
    is wrong (a unit, a zone, a typo), and the seen time bounds the truth. An undated
    article's time is the stream's news time: its seen time less the median lag (seen
    time - publication time) of the last ``window`` dated articles. In a replayed archive
    the undated articles then fall among the dated ones around them, instead of retiring
    every story at the time of the replay; in a live stream (lags near 0) they fall at
    their seen time. A median, so no one article (a retrospective, a bad date) moves it.
    """

    def __init__(self, window: int = 64) -> None:
        self._lags: deque[timedelta] = deque(maxlen=window)

    def time_of(self, published_at: datetime | None, seen_at: datetime) -> datetime:
        """The story-clock time of an article published at ``published_at`` (if known)."""
        published = news_time(published_at, seen_at)
        if published is not None:
            return published
        return seen_at - self._median_lag() if self._lags else seen_at

    def observe(self, published_at: datetime | None, seen_at: datetime) -> None:
        """Count a placed article's lag in the median, if it is dated."""
        published = news_time(published_at, seen_at)
        if published is not None:
            self._lags.append(seen_at - published)

    def _median_lag(self) -> timedelta:
        return sorted(self._lags)[len(self._lags) // 2]


def story_id_for(first_article_id: str) -> str:
    """Stable story id derived from the id of the story's first article."""
    return "story-" + hashlib.sha256(first_article_id.encode()).hexdigest()[:16]


class StoryClusterer:
    """Assigns each arriving article to a story and keeps the stories current.

    Parameters (defaults are tuned for general news, see the module docstring):

    - ``threshold``: evidence score (0-1) an article needs to join a story.
    - ``text_weight``, ``entity_weight``, ``title_weight``: weights of the text,
      entity and title cosines in the score (re-normalised over the signals
      both sides have).
    - ``grace``: time gap with no penalty; beyond it the bar rises linearly up
      to ``threshold + cold_penalty`` at ``cold_after``.
    - ``cold_after``: a story no article has joined for this long (article
      time, see :class:`NewsClock`, against the latest seen) is retired from the index.
    - ``vector_terms``: terms kept per article vector; ``profile_terms``:
      terms kept per story centroid.
    - ``key_entities``, ``key_terms``: how many salient entities and rare terms
      make an article's index keys.
    - ``max_candidates``: stories scored per article (those of the candidate
      articles the index found that share the most keys with it).
    - ``local_index``: keep the story index in this object, for :meth:`add` and
      :meth:`look_up`; a pipeline that partitions it through Kafka turns it off and
      calls :meth:`index_keys` and :meth:`place` itself.
    - ``archive_size``: retired stories remembered so that a late redelivery
      of their articles is still recognised.
    - ``idf_prior_documents``: pseudo-documents in the IDF, for a cold start.
    - ``core_weight``, ``core_expected``: the score moves by ``core_weight``
      times how far the article's coverage of the story's core (IDF-weighted
      share of the entities and dates at least half its originals name) is
      above or below ``core_expected``.
    - ``conflict_penalty``: taken off the score for each slot (the year, each
      counted thing, see :func:`quantities`) the article fills with none of the
      values the story's originals gave it.
    - ``agreement_bonus``: added to the score for each slot the article fills
      with one of the values the story's originals gave it (see
      :func:`compare_slots`).
    - ``linkage_weight``, ``linkage_members``: among the stories whose bar the
      article clears, it joins the one with the highest margin plus
      ``linkage_weight`` times its lowest text cosine to the story's first
      ``linkage_members`` originals (bounds the work per candidate).
    """

    def __init__(
        self,
        *,
        threshold: float = 0.1,
        text_weight: float = 0.65,
        entity_weight: float = 0.2,
        title_weight: float = 0.15,
        grace: timedelta = timedelta(days=1),
        cold_after: timedelta = timedelta(days=7),
        cold_penalty: float = 0.35,
        vector_terms: int = 200,
        profile_terms: int = 400,
        key_entities: int = 5,
        key_terms: int = 16,
        max_candidates: int = 24,
        archive_size: int = 10_000,
        idf_prior_documents: int = 50,
        core_weight: float = 0.2,
        core_expected: float = 0.4,
        conflict_penalty: float = 0.1,
        agreement_bonus: float = 0.07,
        linkage_weight: float = 1.0,
        linkage_members: int = 16,
        local_index: bool = True,
    ) -> None:
        if cold_after <= grace:
            raise ValueError("cold_after must be longer than grace")
        self.threshold = threshold
        self.text_weight = text_weight
        self.entity_weight = entity_weight
        self.title_weight = title_weight
        self.grace = grace
        self.cold_after = cold_after
        self.cold_penalty = cold_penalty
        self.vector_terms = vector_terms
        self.profile_terms = profile_terms
        self.key_entities = key_entities
        self.key_terms = key_terms
        self.max_candidates = max_candidates
        self.archive_size = archive_size
        self.core_weight = core_weight
        self.core_expected = core_expected
        self.conflict_penalty = conflict_penalty
        self.agreement_bonus = agreement_bonus
        self.linkage_weight = linkage_weight
        self.linkage_members = linkage_members
        self._term_df = DocumentFrequency(idf_prior_documents)
        self._title_df = DocumentFrequency(idf_prior_documents)
        self._entity_df = DocumentFrequency(idf_prior_documents)
        self._detail_df = DocumentFrequency(idf_prior_documents)
        self._stories: dict[str, _LiveStory] = {}
        self._story_of: dict[str, str] = {}
        self._index = story_index(cold_after) if local_index else None
        self._clock = ArrivalClock()
        self.news_clock = NewsClock()
        self._admitted: dict[str, tuple[_Features, _Vectors, int]] = {}
        self._df_changes = 0
        self._retirements: list[tuple[datetime, str]] = []
        self._watermark: datetime | None = None
        self._archive: OrderedDict[str, bytes] = OrderedDict()  # retired: compressed JSON
        self._archived_story_of: dict[str, str] = {}
        self._left: list[Story] = []
        self._version_floor: dict[str, int] = {}  # restored: versions published before

    # -- public API -----------------------------------------------------------------

    def clock_time(self, article: DedupedArticle, seen_at: datetime) -> datetime:
        """The article's time on the story clock (see :class:`NewsClock`)."""
        return self.news_clock.time_of(article.published_at, seen_at)

    @property
    def live_stories(self) -> int:
        """How many stories are live (not retired)."""
        return len(self._stories)

    def __contains__(self, article_id: object) -> bool:
        """Whether ``article_id`` is a member of a live (not yet retired) story."""
        return article_id in self._story_of

    def story(self, story_id: str) -> Story | None:
        """The current record of a live or archived story."""
        live = self._stories.get(story_id)
        if live is not None:
            return self._record(live)
        archived = self._archive.get(story_id)
        return _archived(archived) if archived else None

    def add(self, article: DedupedArticle, seen_at: datetime) -> tuple[Story, bool]:
        """The article's story after adding it, and whether the story changed: the
        article is looked up in (and added to) the in-process index, then placed.

        A redelivered article id returns its current story unchanged
        (``changed`` is False).
        """
        self._local_index()  # before admitting anything
        (keys,) = self.index_keys([article], seen_at)
        return self.place(article, seen_at, self.look_up(article, keys, seen_at))

    def look_up(
        self, article: DedupedArticle, keys: Sequence[str], seen_at: datetime
    ) -> list[tuple[str, int]]:
        """Enter an admitted article under ``keys`` (from :meth:`index_keys`) in the
        in-process index: the earlier articles sharing the most keys with it (article
        id, keys shared), for :meth:`place`."""
        index = self._local_index()
        if not keys:
            return []
        arrival = self._clock.stamp(self.clock_time(article, seen_at))
        found = enter_revision(
            index, article.id, IndexedArticle(arrival, tuple(keys), article.revision)
        )
        return [(candidate.article_id, candidate.shared_keys) for candidate in found]

    def _local_index(self) -> KeyBuckets[IndexedArticle]:
        if self._index is None:
            raise RuntimeError("this clusterer has no in-process index (local_index=False)")
        return self._index

    def index_keys(self, articles: Sequence[DedupedArticle], seen_at: datetime) -> list[list[str]]:
        """The keys to look each article up under in the story index, in order.

        An original article is admitted: it counts in the term statistics from now
        on, and its keys are its most salient rare entities, then its rarest terms
        (plain strings, ``entity:<id>`` and ``term:<stem>``, so the index can be
        partitioned by key). A known article id (unless it is an update of a member), or
        a copy of an article placed or admitted before it, has no keys: it is not looked
        up. Each article must then go to :meth:`place`, in the same order, or to
        :meth:`discard`.
        """
        keys: list[list[str]] = []
        for article in articles:
            original = article.duplicate_of
            if (
                (self._known(article.id) is not None and not self._updates(article))
                or article.id in self._admitted
                or original in self._story_of
                or original in self._admitted
            ):
                keys.append([])
                continue
            self._advance(self.clock_time(article, seen_at))
            features = _Features.of(article)
            self._count(features, add=True)
            vectors = self._vectors(features)
            self._admitted[article.id] = (features, vectors, self._df_changes)
            keys.append(vectors.keys)
        return keys

    def place(
        self, article: DedupedArticle, seen_at: datetime, candidates: Sequence[tuple[str, int]]
    ) -> tuple[Story, bool]:
        """Place an article in its story, given the earlier articles the index found
        for it (article id, keys shared), and whether the story changed.

        A redelivered article id, or a stale revision, returns its current story
        unchanged. An update replaces its old revision's member: in the same story,
        or in another one (then :meth:`left_stories` gives the story it left).
        """
        self._left = []
        known = self._known(article.id)
        if known is not None and not self._updates(article):
            return known, False
        return self._place(article, seen_at, candidates=candidates), True

    def left_stories(self) -> list[Story]:
        """The story the article last placed has left, if it is an update that moved:
        its new version without it (a story left with no members is retired)."""
        return self._left

    def discard(self, article_id: str) -> None:
        """Undo :meth:`index_keys` for an article that will not be placed."""
        admitted = self._admitted.pop(article_id, None)
        if admitted is not None:
            self._count(admitted[0], add=False)

    def entry(self, article_id: str) -> dict[str, Any]:
        """JSON-able state needed to re-add one article after a restart."""
        story = self._stories[self._story_of[article_id]]
        member = next(m for m in story.members if m.id == article_id)
        listing = member.listing
        return {
            "story_id": story.story_id,
            "seen_at": member.seen_at.isoformat(),
            "article": {
                **listing._asdict(),
                "published_at": listing.published_at and listing.published_at.isoformat(),
                "entities": orjson.loads(member.entities_json()),
                **member.revision.to_json(),
            },
            "features": member.features.to_json(),
            "index_keys": member.index_keys,
            "versions": member.versions,
        }

    def restore(self, entry: dict[str, Any]) -> None:
        """Re-add an article from :meth:`entry`, in arrival order, into its recorded story.

        The article goes back into the in-process index, if there is one, under the
        keys it was indexed under (the pipeline's index has its own table).
        """
        data = entry["article"]
        if self._known(data["id"]) is not None:
            return
        article = DedupedArticle.model_validate(
            {
                "fetched_at": entry["seen_at"],
                **data,
                "text": "",
                "fingerprint": "",
                "dedup": {"article_id": data["id"], "duplicate_of": data["duplicate_of"]},
            }
        )
        features = _Features.from_json(entry["features"])
        seen_at = datetime.fromisoformat(entry["seen_at"])
        self._place(article, seen_at, restored=(features, entry["story_id"]))
        # Updates published versions that re-adding the members does not count again.
        for story_id, version in entry.get("versions", {}).items():
            self._version_floor[story_id] = max(self._version_floor.get(story_id, 0), version)
            live = self._stories.get(story_id)
            if live is not None and version > live.version:
                live.version = version
        if self._index is not None:
            self.look_up(article, entry.get("index_keys") or [], seen_at)

    # -- placement -----------------------------------------------------------------

    def _known(self, article_id: str) -> Story | None:
        story_id = self._story_of.get(article_id) or self._archived_story_of.get(article_id)
        return self.story(story_id) if story_id else None

    def _member(self, article_id: str) -> _Member | None:
        story_id = self._story_of.get(article_id)
        if story_id is None:
            return None
        return next(m for m in self._stories[story_id].members if m.id == article_id)

    def _updates(self, article: DedupedArticle) -> bool:
        """Whether ``article`` is an update of a member of a live story."""
        member = self._member(article.id)
        return member is not None and Revision.of(article).updates(member.revision)

    def _vectors(self, features: _Features) -> _Vectors:
        """The article's IDF-weighted vectors under the current IDF, and its candidate keys."""
        unit_text, unit_titles, unit_entities = (
            tfidf(weights, df, self.vector_terms)
            for weights, df in (
                (features.text_terms, self._term_df),
                (features.title_terms, self._title_df),
                (features.entity_weights, self._entity_df),
            )
        )
        text = idf_weighted(unit_text, self._term_df)
        titles = idf_weighted(unit_titles, self._title_df)
        entities = idf_weighted(unit_entities, self._entity_df)
        keys = [_entity_key(e) for e in islice(entities, self.key_entities)]
        keys += [_term_key(t) for t in islice(text, self.key_terms)]
        specifics = features.specifics()
        return _Vectors(
            text=text,
            titles=titles,
            entities=entities,
            keys=keys,
            specifics=specifics,
            unit_text=unit_text,
        )

    def _place(
        self,
        article: DedupedArticle,
        seen_at: datetime,
        candidates: Sequence[tuple[str, int]] = (),
        restored: tuple[_Features, str] | None = None,
    ) -> Story:
        """Place a new article (or an update, in place of its member): into its recorded
        story if ``restored`` (features, story id), else into its original's story, the
        best candidate's, the story it was in, or a new one."""
        article_time = self.clock_time(article, seen_at)
        self.news_clock.observe(article.published_at, seen_at)
        self._advance(article_time)
        withdrawn = self._withdraw(article.id) if article.id in self._story_of else None
        if withdrawn is not None:
            seen_at = withdrawn[1].seen_at  # first seen with its first revision
        original_story = self._story_of.get(article.duplicate_of or "")
        is_original = original_story is None
        admitted = self._admitted.pop(article.id, None)
        if restored is not None:
            features, story_id = restored
        else:
            features, story_id = (admitted[0] if admitted else _Features.of(article)), None
        vectors = None
        if is_original:
            if admitted is None:
                self._count(features, add=True)
            elif admitted[2] == self._df_changes:
                vectors = admitted[1]  # the statistics have not changed since
            vectors = vectors or self._vectors(features)
            if story_id is None:
                current = withdrawn[0] if withdrawn and withdrawn[0].members else None
                story_id = self._best_story(vectors, article_time, candidates, current)
        elif admitted is not None:  # admitted as an original, whose copy it turned out to be
            self._count(features, add=False)
        story_id = story_id or original_story or (withdrawn[0].story_id if withdrawn else None)
        story = self._stories.get(story_id or "")
        if story is None:
            story = self._open(story_id or story_id_for(article.id))
        member = _Member(
            listing=_Listing.of(article),
            entities=zlib.compress(_ENTITY_LIST.dump_json(article.entities), 1),
            features=features,
            article_time=article_time,
            seen_at=seen_at,
            is_original=is_original,
            revision=Revision.of(article),
        )
        self._join(story, member, vectors, article.entities)
        placed = self._publish(story)
        if withdrawn is not None:
            member.versions = {**withdrawn[1].versions, story.story_id: placed.version}
            if withdrawn[0] is not story:
                left = self._leave(withdrawn[0], withdrawn[2])
                member.versions[left.story_id] = left.version
                self._left.append(left)
        return placed

    def _withdraw(self, article_id: str) -> tuple[_LiveStory, _Member, Story | None]:
        """Take an article's member out of its story (for its update to take its place):
        its features leave the document frequencies and the story's aggregates. Returns
        the story, the member and, if the story is left empty, its record as it was."""
        story = self._stories[self._story_of.pop(article_id)]
        before = self._record(story) if len(story.members) == 1 else None
        member = next(m for m in story.members if m.id == article_id)
        story.members.remove(member)
        if member.is_original:
            self._count(member.features, add=False)
        self._rebuild(story)
        return story, member, before

    def _leave(self, story: _LiveStory, before: Story | None) -> Story:
        """The new version of a story a member has left; one left empty (its record
        ``before``) is retired."""
        if story.members:
            return self._publish(story)
        assert before is not None
        story.version += 1
        emptied = before.model_copy(
            update={
                "version": story.version,
                "article_ids": [],
                "duplicates": {},
                "members": [],
                "entities": [],
                "sources": [],
                "article_count": 0,
                "unique_article_count": 0,
            }
        )
        self._retire(story, emptied)
        return emptied

    def _best_story(
        self,
        vectors: _Vectors,
        article_time: datetime,
        candidates: Sequence[tuple[str, int]],
        current: _LiveStory | None = None,
    ) -> str | None:
        """Of the live stories of the candidate articles (those sharing the most keys
        with the article first), and the ``current`` story of an update, the one it
        joins, or None."""
        shared_by_story: dict[str, int] = {}
        for article_id, shared in candidates:
            story_id = self._story_of.get(article_id)
            if story_id is not None and shared > shared_by_story.get(story_id, 0):
                shared_by_story[story_id] = shared
        ranked = sorted(shared_by_story, key=shared_by_story.__getitem__, reverse=True)
        if current is not None and current.story_id not in ranked:
            ranked.insert(0, current.story_id)
        best_id, best_preference = None, -math.inf
        for story_id in ranked[: self.max_candidates]:
            story = self._stories[story_id]
            margin = self._evidence(story, vectors) - self._bar(story, article_time)
            if margin < 0:
                continue
            preference = margin + self.linkage_weight * self._linkage(story, vectors.unit_text)
            if preference >= best_preference:
                best_id, best_preference = story_id, preference
        return best_id

    def _score(self, story: _LiveStory, vectors: _Vectors) -> float:
        """Weighted mean of the cosines of the signals both the article and the story have."""
        total = weights = 0.0
        for weight, profile, article_vector, df in (
            (self.text_weight, story.text, vectors.text, self._term_df),
            (self.title_weight, story.titles, vectors.titles, self._title_df),
            (self.entity_weight, story.entities, vectors.entities, self._entity_df),
        ):
            if article_vector and profile:
                total += weight * profile.cosine(article_vector, df)
                weights += weight
        return total / weights if weights else 0.0

    def _linkage(self, story: _LiveStory, unit_text: Mapping[str, float]) -> float:
        """Complete linkage: the lowest text cosine between the article and the story's
        first ``linkage_members`` originals (its founders)."""
        return min((text_cosine(unit_text, founder) for founder in story.founders), default=0.0)

    def _evidence(self, story: _LiveStory, vectors: _Vectors) -> float:
        """:meth:`_score`, raised by how much of the story's core the article names
        and for each slot (the year, a counted thing) it fills with a value one of
        the story's originals gave it, lowered for each slot it fills with a value
        none of them gave it.

        The core is the entities, dates and counts named by at least half the
        story's originals; its coverage is IDF-weighted, so the rare specifics count.
        """
        specifics = vectors.specifics
        score = self._score(story, vectors)
        agreeing, conflicting = compare_slots(story.slots, specifics)
        score += self.agreement_bonus * agreeing - self.conflict_penalty * conflicting
        total = covered = 0.0
        for key in story.core:
            weight = self._specific_idf(key)
            total += weight
            if key in specifics:
                covered += weight
        if total:
            score += self.core_weight * (covered / total - self.core_expected)
        return score

    def _specific_idf(self, key: str) -> float:
        df = self._detail_df if key.startswith(_DETAIL_PREFIXES) else self._entity_df
        return df.idf(key)

    def _bar(self, story: _LiveStory, article_time: datetime) -> float:
        """The score needed to join ``story``: rises with the time gap beyond ``grace``."""
        assert story.first_time is not None and story.last_time is not None
        gap = max(article_time - story.last_time, story.first_time - article_time, timedelta(0))
        cold = (gap - self.grace) / (self.cold_after - self.grace)
        return self.threshold + self.cold_penalty * min(max(cold, 0.0), 1.0)

    # -- story state ---------------------------------------------------------------

    def _open(self, story_id: str) -> _LiveStory:
        story = _LiveStory(
            story_id=story_id,
            text=Profile(self.profile_terms),
            titles=Profile(self.profile_terms),
            entities=Profile(self.profile_terms),
        )
        story.version = self._version_floor.pop(story_id, 0)
        self._stories[story_id] = story
        return story

    def _join(
        self,
        story: _LiveStory,
        member: _Member,
        vectors: _Vectors | None,
        entities: Sequence[Entity],
    ) -> None:
        """Add ``member`` (its ``entities``); ``vectors`` (originals only) update the
        centroids and keys."""
        if vectors is not None:
            member.text_vector = PackedWeights(vectors.text)
            member.index_keys = vectors.keys
            if len(story.founders) < self.linkage_members:
                member.unit_text = PackedWeights(vectors.unit_text, member.text_vector.keys)
        story.members.append(member)
        self._story_of[member.id] = story.story_id
        self._take_in(story, member, entities)
        assert story.last_time is not None
        heapq.heappush(self._retirements, (story.last_time, story.story_id))
        if member.is_original:
            self._choose_headline(story)

    def _take_in(self, story: _LiveStory, member: _Member, entities: Sequence[Entity]) -> None:
        """Add a member of ``story`` (its ``entities``) to the story's entities (merged from
        its second member on), time span, and, an original, to its founders, centroids,
        specifics and core."""
        if story.merged_entities is None and member is not story.members[0]:
            story.merged_entities = StoryEntityMerge()
            for earlier in story.members[: story.members.index(member)]:
                story.merged_entities.add(earlier.entity_list())
        if story.merged_entities is not None:
            story.merged_entities.add(entities)
        time = member.article_time
        story.first_time = min(story.first_time or time, time)
        story.last_time = max(story.last_time or time, time)
        if not member.is_original:
            return
        features = member.features
        if member.unit_text is not None:
            story.founders.append(member.unit_text)
        story.text.add(features.text_terms, self._term_df)
        story.titles.add(features.title_terms, self._title_df)
        story.entities.add(features.entity_weights, self._entity_df)
        specifics = features.specifics()
        story.specifics.update(specifics)
        add_to_slots(story.slots, specifics)
        story.originals += 1
        story.core = frozenset(k for k, n in story.specifics.items() if 2 * n >= story.originals)

    def _rebuild(self, story: _LiveStory) -> None:
        """Recompute a story's aggregates from its members (after one has left)."""
        members = story.members
        story.text, story.titles, story.entities = (Profile(self.profile_terms) for _ in range(3))
        story.founders, story.merged_entities = [], None
        story.specifics, story.slots, story.core, story.originals = Counter(), {}, frozenset(), 0
        story.first_time = story.last_time = None
        for member in members:
            self._take_in(story, member, member.entity_list())
        if story.originals:
            self._choose_headline(story)
        if story.last_time is not None:
            heapq.heappush(self._retirements, (story.last_time, story.story_id))

    def _choose_headline(self, story: _LiveStory) -> None:
        """Headline: title of the most central titled original; summary: its lead."""
        originals = [m for m in story.members if m.is_original]
        titled = [m for m in originals if m.listing.title] or originals
        central = max(titled, key=lambda m: story.text.cosine(m.text_vector, self._term_df))
        story.headline = central.listing.title or central.features.first_sentence
        story.summary = central.features.lead

    def _publish(self, story: _LiveStory) -> Story:
        story.version += 1
        return self._record(story)

    def _record(self, story: _LiveStory) -> Story:
        """The record of a live story, as last published (built when asked for, not held)."""
        members = [m.record() for m in story.members]
        published = [moment for m in members if (moment := news_time(m.published_at, m.first_seen))]
        return Story(
            story_id=story.story_id,
            version=story.version,
            headline=story.headline,
            summary=story.summary,
            article_ids=[m.id for m in members],
            duplicates={
                m.id: m.duplicate_of
                for m in members
                if m.duplicate_of and self._story_of.get(m.duplicate_of) == story.story_id
            },
            members=members,
            entities=story.merged_entities.entities()
            if story.merged_entities is not None
            else merge_story_entities(m.entity_list() for m in story.members),
            sources=list(dict.fromkeys(m.source for m in members if m.source)),
            first_seen=min(m.first_seen for m in members),
            last_seen=max(m.first_seen for m in members),
            first_published=min(published, default=None),
            last_published=max(published, default=None),
            article_count=len(members),
            unique_article_count=story.originals,
        )

    # -- retirement ----------------------------------------------------------------

    def _advance(self, article_time: datetime) -> None:
        """Move the watermark to ``article_time`` and retire stories gone cold."""
        if self._watermark is not None and article_time <= self._watermark:
            return
        self._watermark = article_time
        horizon = article_time - self.cold_after
        while self._retirements and self._retirements[0][0] < horizon:
            last_time, story_id = heapq.heappop(self._retirements)
            story = self._stories.get(story_id)
            if story is not None and story.last_time == last_time:
                self._retire(story)

    def _count(self, features: _Features, *, add: bool) -> None:
        """Count an original article in the document frequencies, or count it out."""
        for df, keys in (
            (self._term_df, features.text_terms),
            (self._title_df, features.title_terms),
            (self._entity_df, features.entity_weights),
            (self._detail_df, [*features.dates, *features.quantities]),
        ):
            if add:
                df.add(keys)
            else:
                df.remove(keys)
        self._df_changes += 1

    def _retire(self, story: _LiveStory, record: Story | None = None) -> None:
        """Retire ``story`` into the archive, with its last ``record`` (built if not given)."""
        record = record or self._record(story)
        del self._stories[story.story_id]
        for member in story.members:
            del self._story_of[member.id]
            if member.is_original:
                self._count(member.features, add=False)
        self._archive[story.story_id] = zlib.compress(record.model_dump_json().encode())
        for member in story.members:
            self._archived_story_of[member.id] = story.story_id
        while len(self._archive) > self.archive_size:
            _, dropped = self._archive.popitem(last=False)
            for article_id in _archived(dropped).article_ids:
                self._archived_story_of.pop(article_id, None)


def _archived(compressed: bytes) -> Story:
    """A retired story's record from the archive's compressed JSON."""
    return Story.model_validate_json(zlib.decompress(compressed))
