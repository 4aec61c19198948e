"""The records newswire carries on its topics.

Every record is plain JSON on the wire (serialised with orjson) and carries a
``schema_version``. ``python -m schemas.generate`` writes the JSON Schema of each
topic's value into ``schemas/json/`` for downstream consumers; a test fails
when those files are stale.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
DEAD_LETTER_PAYLOAD_BYTES = 65_536
"""Default of how much of a refused value a dead letter keeps (the rest is summed up by
its size and SHA-256), so that a dead letter always fits in a Kafka request."""

EntityType = Literal["PERSON", "ORG", "LOC", "MISC"]
DuplicateKind = Literal["original", "exact", "near", "spun"]
ContentKind = Literal["page", "feed_summary"]
TitleSource = Literal["headline", "html", "feed", "derived"]


class Record(BaseModel):
    """Base of every wire record: strict field names, JSON in and out."""

    model_config = ConfigDict(extra="ignore", frozen=False)

    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        """Serialise to compact JSON bytes (orjson)."""
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes | str) -> Any:
        """Parse JSON bytes, raising ``ValueError`` with a precise message."""
        return cls.model_validate(orjson.loads(data))


def extended_json(fields: dict[str, Any], **more: Any) -> bytes:
    """The JSON of a record given as its JSON fields (its ``model_dump(mode="json")``)
    with ``more`` fields (records, or JSON values) after them: a subclass's record
    built from a valid one without validating its fields again."""
    added = {
        name: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        for name, value in more.items()
    }
    return orjson.dumps(fields | added)


class RawArticle(Record):
    """An article as a feed or an archive delivers it: text or HTML, unprocessed."""

    id: str = Field(description="Stable article id; a replay of the same input gives the same id.")
    url: str | None = None
    source: str | None = Field(
        default=None, description="The publisher: site name or URL host, if known."
    )
    provenance: str | None = Field(
        default=None, description="Where newswire read it: 'file:PATH[:LINE]' or 'feed:URL'."
    )
    revision: int = Field(
        default=1,
        ge=1,
        description=(
            "1 for the first content seen under this id; new content under a known id "
            "(an updated page at the same URL) comes again with the next revision."
        ),
    )
    content_hash: str | None = Field(
        default=None,
        description="SHA-256 (hex, 16 digits) of the text or HTML; computed when absent.",
    )
    content_kind: ContentKind = Field(
        default="page",
        description=(
            "'page' for the article as published; 'feed_summary' for the summary a feed gave "
            "while the page could not be fetched (the page comes later as the next revision)."
        ),
    )
    title: str | None = Field(default=None, description="Title given by the feed, if any.")
    text: str | None = Field(default=None, description="Plain-text body (exclusive with html).")
    html: str | None = Field(default=None, description="Raw HTML page (exclusive with text).")
    published_at: datetime | None = None
    fetched_at: datetime


class CleanArticle(Record):
    """Main text and metadata extracted from a raw article."""

    id: str
    url: str | None = None
    canonical_url: str | None = None
    source: str | None = None
    provenance: str | None = None
    revision: int = Field(default=1, ge=1, description="Revision of the raw article.")
    content_hash: str = Field(default="", description="Content hash of the raw article.")
    site_name: str | None = None
    title: str | None = None
    title_source: TitleSource | None = Field(
        default=None, description="Where the title came from; 'derived' means not in the text."
    )
    authors: list[str] = Field(default_factory=list)
    published_at: datetime | None = None
    fetched_at: datetime
    language: str | None = Field(default=None, description="ISO 639-1 code.")
    dropped_dates: list[str] = Field(
        default_factory=list,
        description="Implausible dates given for the article, dropped, each with the reason.",
    )
    text: str = Field(description="Clean main text; paragraphs separated by a blank line.")
    fingerprint: str = Field(description="Hash of the normalised text, for exact-copy dedup.")


class Entity(Record):
    """A canonical entity of one article (or, with counts, of a story)."""

    id: str = Field(description="Stable id derived from type and canonical name.")
    name: str = Field(description="Canonical (fullest) name.")
    type: EntityType
    surface_forms: list[str] = Field(default_factory=list)
    mentions: int = 1
    salience: float = 0.0


class TaggedArticle(CleanArticle):
    """A clean article with its canonical entities."""

    entities: list[Entity] = Field(default_factory=list)


class DedupVerdict(Record):
    """Whether an article copies an earlier one, how, and how closely."""

    article_id: str
    duplicate_of: str | None = Field(default=None, description="Earliest original; never itself.")
    kind: DuplicateKind = "original"
    method: str = Field(default="", description="Which test decided (exact, minhash, anchors...).")
    score: float = 0.0


class DedupSignature(Record):
    """The features the dedup tests compare (arrays as base64 of little-endian bytes)."""

    fingerprint: str
    shingle_count: int
    minhash: str = Field(description="MinHash of the word 5-shingles, uint32 per permutation.")
    shingle_keys: str = Field(description="Sampled word-shingle hashes (candidate keys), uint64.")
    anchor_grams: str = Field(description="Hashes of the anchor trigrams, uint64.")
    content_words: str = Field(
        default="", description="Hashes of the content words in order, uint16 (first 1,024)."
    )


class DedupProbe(Record):
    """An article's candidate keys held by one dedup shard, sent to that shard.

    The probe to the article's home partition (where its verdict is decided)
    also carries the article, and how many shards hold keys of it; its ``keys``
    are empty when that shard holds none.
    """

    article_id: str
    keys: list[str] = Field(
        description="Candidate keys of this shard (sampled shingles, names, 'fp:' fingerprint)."
    )
    arrived_at: datetime = Field(description="Arrival time: fetched_at, never before earlier ones.")
    sequence: int = Field(description="Arrival tie-break: offset on the tagged topic.")
    revision: int = Field(default=1, ge=1, description="The article's revision.")
    content_hash: str = Field(default="", description="The article's content hash.")
    fetched_at: datetime | None = Field(
        default=None, description="The article's fetch time (orders two revisions of one number)."
    )
    signature: DedupSignature
    article: TaggedArticle | None = Field(
        default=None, description="Set on the probe to the article's home partition only."
    )
    shards_total: int | None = Field(
        default=None, description="Set with the article: how many shards hold keys of it."
    )


class DedupMatch(Record):
    """An earlier article that a shard found to be copied by the probing one."""

    article_id: str
    arrived_at: datetime
    sequence: int
    kind: DuplicateKind
    method: str
    score: float


class DedupReport(Record):
    """One shard's matches for an article whose home partition is elsewhere.

    Keyed by article id and sent to its home partition, where the verdict is
    decided once the article and every shard's matches are in.
    """

    article_id: str
    arrived_at: datetime
    sequence: int
    shard: int = Field(description="The reporting shard's partition.")
    revision: int = Field(default=1, ge=1, description="Revision of the article probed.")
    content_hash: str = Field(default="", description="Content hash of the article probed.")
    fetched_at: datetime | None = Field(
        default=None, description="Fetch time of the article probed."
    )
    matches: list[DedupMatch] = Field(default_factory=list)


class StoryIndexEntry(Record):
    """An original article's index keys held by one story-index partition."""

    article_id: str
    arrived_at: datetime = Field(
        description="Article time (published, else seen), never before earlier ones."
    )
    sequence: int = Field(description="Arrival tie-break: offset on the deduped topic.")
    revision: int = Field(
        default=1, ge=1, description="A higher one replaces the article's keys held."
    )
    keys: list[str] = Field(
        description="Index keys of this partition ('entity:<id>', 'term:<stem>')."
    )


class StoryCandidate(Record):
    """An earlier article a story-index partition found for an article."""

    article_id: str
    shared_keys: int = Field(description="Keys of this partition the two articles share.")


class StoryIndexReply(Record):
    """One story-index partition's candidates for an article, back to the story stage."""

    article_id: str
    shard: int = Field(description="The replying partition.")
    candidates: list[StoryCandidate] = Field(
        default_factory=list, description="Earlier articles sharing the most keys, most first."
    )


class DedupedArticle(TaggedArticle):
    """A tagged article with its dedup verdict."""

    dedup: DedupVerdict
    duplicate_of: str | None = None


class EnrichedArticle(DedupedArticle):
    """The final article: clean text, entities, dedup verdict and its story."""

    story_id: str


class StoryMember(Record):
    """One article of a story, as the story lists it."""

    id: str
    revision: int = Field(default=1, description="The member's current revision.")
    source: str | None = None
    title: str | None = None
    url: str | None = None
    published_at: datetime | None = None
    first_seen: datetime
    duplicate_of: str | None = None


class StoryEntity(Record):
    """An entity of a story, merged across its articles."""

    id: str
    name: str
    type: EntityType
    surface_forms: list[str] = Field(default_factory=list)
    count: int = Field(description="Mentions across the story's articles.")
    articles: int = Field(description="How many articles mention it.")
    salience: float = 0.0


class Story(Record):
    """One real-world event: its articles, copies, entities and time span.

    Emitted on every change with a higher ``version``; the latest record per
    ``story_id`` is the story's current state.
    """

    story_id: str
    version: int
    headline: str
    summary: str = ""
    article_ids: list[str] = Field(description="Every member, duplicates included.")
    duplicates: dict[str, str] = Field(
        default_factory=dict, description="Member id -> id of the original it copies."
    )
    members: list[StoryMember] = Field(default_factory=list)
    entities: list[StoryEntity] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    first_seen: datetime
    last_seen: datetime
    first_published: datetime | None = Field(
        default=None, description="Earliest publication time of a member (news time)."
    )
    last_published: datetime | None = Field(
        default=None, description="Latest publication time of a member (news time)."
    )
    article_count: int
    unique_article_count: int


class DeadLetter(Record):
    """A message a stage could not process, with where it came from and why."""

    stage: str = Field(
        description="The stage that rejected it: replay, clean, tag, dedup-*, story*, store."
    )
    reason: str = Field(description="Human-readable cause.")
    error_type: str = Field(description="Exception class or reject code.")
    article_id: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    location: str | None = Field(
        default=None,
        description="For a record an input reader refused: 'PATH:LINE' or 'PATH@OFFSET'.",
    )
    payload: str = Field(
        description=(
            "The original message value (UTF-8, or base64 if binary); only its first "
            "bytes when payload_truncated."
        )
    )
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    payload_bytes: int = Field(default=0, description="Size of the whole original value.")
    payload_sha256: str = Field(default="", description="SHA-256 (hex) of the whole value.")
    payload_truncated: bool = Field(
        default=False, description="Whether payload holds only a prefix of the value."
    )
    failed_at: datetime

    @classmethod
    def of(
        cls,
        value: bytes,
        *,
        max_payload_bytes: int = DEAD_LETTER_PAYLOAD_BYTES,
        **fields: Any,
    ) -> DeadLetter:
        """A dead letter for the refused ``value``: at most ``max_payload_bytes`` of it kept
        (UTF-8, or base64 when it is not text), with its whole size and SHA-256."""
        kept = value[:max_payload_bytes]
        try:
            payload, encoding = kept.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as error:
            if len(kept) < len(value) and error.start >= len(kept) - 3:
                payload, encoding = kept[: error.start].decode("utf-8"), "utf-8"  # cut mid-char
            else:
                payload, encoding = base64.b64encode(kept).decode("ascii"), "base64"
        return cls(
            payload=payload,
            payload_encoding=encoding,
            payload_bytes=len(value),
            payload_sha256=hashlib.sha256(value).hexdigest(),
            payload_truncated=len(kept) < len(value),
            **fields,
        )
