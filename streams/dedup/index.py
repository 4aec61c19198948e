"""Dedup: exact, near and spun copies of earlier articles.

Three tests, cheapest first, each against the few candidates an inverted index
returns (never against every indexed article):

- **exact**: same ``fingerprint`` (same normalised text);
- **near**: MinHash over word 5-shingles of the matching text. A copy is near when
  its estimated Jaccard similarity reaches ``near_jaccard`` (page junk around the
  same text, paragraphs reordered), or when one text is mostly contained in the
  other (``near_containment``: a copy cut short);
- **spun**: synonym-swapping tools rewrite common words but keep what they cannot
  safely change: names and numbers, in their order. The *anchors* of a text are its
  capitalised words not at the start of a sentence (adjacent ones merged into one
  name) and its numbers; a copy is spun when one text's anchor trigrams are mostly
  (``spun_containment``) found in the other's. Containment, not a symmetric
  similarity, because copies are often cut short. A text with too few names for
  that (fewer than ``min_shared_anchors`` anchor trigrams) is spun when its
  *content words* (not function words) line up with the other's in order
  (``spun_aligned``): a spinner swaps some words for others but leaves the rest
  where they were, so the words two texts share fall along one diagonal with
  short, equal gaps, where two reports written apart share words in another order
  and at other distances (see :func:`aligned_share`).

Rule for the original: the **earliest seen** article of a group is the original;
a later article that matches it, or matches one of its copies, is a copy of it,
whichever of the two texts is the longer (a fuller text arriving after a cut-down
copy is marked as the copy). ``duplicate_of`` always names that earliest original.

Candidates come from keys (:func:`probe_keys`): the word-shingle hashes that fall
in a fixed 1-in-``SHINGLE_SAMPLE`` sample (at most ``MAX_SHINGLE_KEYS``, the
smallest), likewise the sampled anchor trigrams, and the fingerprint. The sample
is a property of the hash, so a copy cut short keeps a subset of its original's
keys, and a spun copy keeps its anchor keys. MinHash (128 permutations) is kept
per article to estimate similarity, not for retrieval.

The index is a :class:`KeyShard` (or several, each holding a share of the keys):
buckets of article ids per key, at most ``max_bucket``
(the most recent), so the work per article does not grow with the index; and
each article's :class:`Signature` once per shard. An article is compared at most
once with each candidate of a shard, however many keys they share. A
:class:`ShardReportCollector` turns the shards' matches into the verdict; :class:`DedupIndex`
runs both in one process.

Revisions (:mod:`streams.revisions`): a record with the id and content hash of an
article held is a redelivery and gets its verdict again; one with a known id, other
content and a greater ``(revision, fetched_at)`` is an update, judged afresh: its
old revision's entries in the shards are replaced by its own, it keeps the arrival of
the article's first revision (so an article that copied the old revision is never
taken for its original), and it is never a copy of its own older revision (same id);
the decision entry records the revision and content hash it is of. Copies judged
against an old revision keep their verdict. A stale revision, replayed late,
changes nothing and goes no further.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import itertools
import logging
import re
import zlib
from collections import defaultdict, deque
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from schemas.records import DedupMatch, DedupVerdict, DuplicateKind, TaggedArticle
from streams.keyindex import Arrival, ArrivalClock, Candidate, KeyBuckets
from streams.revisions import Revision
from streams.text import normalise_display, normalise_for_matching

log = logging.getLogger(__name__)

SHINGLE_SIZE = 5
ANCHOR_GRAM = 3
NUM_PERM = 128
SHINGLE_SAMPLE = 4
MAX_SHINGLE_KEYS = 32
ANCHOR_SAMPLE = 2
MAX_ANCHOR_KEYS = 16
MAX_CONTENT_WORDS = 1024
ALIGNED_GAP = 3

_STOPWORD_TEXT = """a about above across after again against all almost along already also
although always am among an and another any are around as at away back be because been
before being below between both but by can cannot could did do does doing done down during
each either else even ever every few for from further had has have having he her here hers
herself him himself his how however i if in into is it its itself just least less many may
me might more most much must my myself neither never no nor not now of off often on once one
only onto or other others our ours out over own per perhaps quite rather same several shall
she should since so some still such than that the their theirs them themselves then there
therefore these they this those though through thus to too toward towards under unless
until up upon us very via was we well were what whatever when where whether which while who
whom whose why will with within without would yet you your yours s t"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""English function words: never anchors, never counted as content words."""

_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\w+|[^\w\s]|\n")
_SENTENCE_END = frozenset('.!?\n:;"')
_MASK64 = (1 << 64) - 1


def _permutation_parameters(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable (process- and version-independent) odd multipliers and offsets."""
    raw = np.frombuffer(hashlib.shake_256(b"newswire-dedup-minhash").digest(16 * count), "<u8")
    return raw[:count] | np.uint64(1), raw[count:].copy()


_MULTIPLIERS, _OFFSETS = _permutation_parameters(NUM_PERM)
_EMPTY_SIGNATURE = np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint32)


def _token_hashes(tokens: Sequence[str]) -> np.ndarray:
    return np.fromiter(map(zlib.crc32, map(str.encode, tokens)), dtype=np.uint64, count=len(tokens))


def _gram_hashes(
    token_hashes: np.ndarray, size: int, blocks: np.ndarray | None = None
) -> np.ndarray:
    """64-bit hashes of the runs of ``size`` consecutive tokens (unique, sorted).

    With ``blocks`` (the block number of each token), runs that span two blocks
    are left out, unless that leaves none.
    """
    if len(token_hashes) < size:
        size = len(token_hashes)
        if size == 0:
            return np.zeros(0, dtype=np.uint64)
    count = len(token_hashes) - size + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(size):
        combined = combined * np.uint64(0x100000001B3) + token_hashes[offset : offset + count]
    # splitmix64 finaliser: spreads the polynomial hash over all 64 bits
    combined ^= combined >> np.uint64(30)
    combined *= np.uint64(0xBF58476D1CE4E5B9)
    combined ^= combined >> np.uint64(27)
    combined *= np.uint64(0x94D049BB133111EB)
    combined ^= combined >> np.uint64(31)
    if blocks is not None:
        within = blocks[:count] == blocks[size - 1 :]
        if within.any():
            combined = combined[within]
    return np.unique(combined)


def _minhash(shingles: np.ndarray) -> np.ndarray:
    if len(shingles) == 0:
        return _EMPTY_SIGNATURE
    permuted = (shingles[:, None] * _MULTIPLIERS[None, :] + _OFFSETS[None, :]) >> np.uint64(32)
    return permuted.min(axis=0).astype(np.uint32)


def anchors(text: str) -> list[str]:
    """Names and numbers of ``text`` in order: what a synonym spinner leaves alone.

    Capitalised words that do not start a sentence (adjacent ones merged into one
    name, function words such as "He" excluded) and numbers, lower-cased.
    """
    found: list[str] = []
    name: list[str] = []
    sentence_start = True
    for token in _TOKEN.findall(normalise_display(text)):
        first = token[0]
        is_anchor = (first.isdigit() or first.isupper()) and token.lower() not in STOPWORDS
        if is_anchor and not sentence_start:
            name.append(token.lower())
            continue
        if name:
            found.append(" ".join(name))
            name = []
        sentence_start = token in _SENTENCE_END or (sentence_start and not first.isalnum())
    if name:
        found.append(" ".join(name))
    return found


def _content_word_hashes(words: Sequence[str], hashes: np.ndarray) -> np.ndarray:
    """16-bit hashes of the words that are not function words, in order (the first
    :data:`MAX_CONTENT_WORDS`), from the hashes of all ``words``: what
    :func:`aligned_share` lines up."""
    content = np.fromiter((word not in STOPWORDS for word in words), bool, len(words))
    return hashes[content][:MAX_CONTENT_WORDS].astype(np.uint16)


def _alignment(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """A longest common subsequence of ``a`` and ``b``, as (position in a, position in b)
    pairs in order (Hunt-Szymanski: work in the number of equal pairs, not len(a) × len(b))."""
    positions: defaultdict[int, list[int]] = defaultdict(list)
    for j, value in enumerate(b.tolist()):
        positions[value].append(j)
    tails: list[int] = []  # tails[k]: smallest end in b of a common subsequence of k + 1
    ends: list[tuple[int, int]] = []
    previous: dict[tuple[int, int], tuple[int, int] | None] = {}
    for i, value in enumerate(a.tolist()):
        for j in reversed(positions.get(value, ())):
            k = bisect.bisect_left(tails, j)
            previous[(i, j)] = ends[k - 1] if k else None
            if k == len(tails):
                tails.append(j)
                ends.append((i, j))
            else:
                tails[k] = j
                ends[k] = (i, j)
    pairs: list[tuple[int, int]] = []
    node = ends[-1] if ends else None
    while node is not None:
        pairs.append(node)
        node = previous[node]
    return pairs[::-1]


def aligned_share(a: np.ndarray, b: np.ndarray, gap: int = ALIGNED_GAP) -> float:
    """Share of the shorter word sequence that lines up with the other along a diagonal.

    Of a longest common subsequence, a step from one shared word to the next counts
    when it skips at most ``gap`` words on each side and about as many on both (a
    word swapped for another, or for two): what a spinner leaves. Two reports of one
    event share words too, but at unequal distances.
    """
    shorter = min(len(a), len(b))
    if not shorter:
        return 0.0
    pairs = _alignment(a, b)
    steps = sum(
        1
        for (i1, j1), (i2, j2) in itertools.pairwise(pairs)
        if max(i2 - i1, j2 - j1) <= gap and abs((i2 - i1) - (j2 - j1)) <= 1
    )
    return steps / shorter


def _sample(hashes: np.ndarray, modulus: int, limit: int) -> np.ndarray:
    """The ``limit`` smallest hashes divisible by ``modulus`` (a sample shared by copies)."""
    return hashes[hashes % np.uint64(modulus) == 0][:limit]


@dataclass(frozen=True, slots=True)
class Signature:
    """The compact features of one text that the dedup tests compare."""

    fingerprint: str
    shingle_count: int
    minhash: np.ndarray
    shingle_keys: np.ndarray
    anchor_grams: np.ndarray
    content_words: np.ndarray

    @classmethod
    def of(cls, text: str, fingerprint: str) -> Signature:
        """Signature of ``text`` (``fingerprint`` as computed by ``streams.text``)."""
        lines = normalise_for_matching(text.replace("\n", " \x00 ")).split("\x00")
        words_per_line = [_WORD.findall(line) for line in lines]
        words = [word for line in words_per_line for word in line]
        blocks = np.repeat(np.arange(len(lines)), [len(line) for line in words_per_line])
        word_hashes = _token_hashes(words)
        shingles = _gram_hashes(word_hashes, SHINGLE_SIZE, blocks)
        anchor_grams = _gram_hashes(_token_hashes(anchors(text)), ANCHOR_GRAM)
        keys = _sample(shingles, SHINGLE_SAMPLE, MAX_SHINGLE_KEYS)
        content = _content_word_hashes(words, word_hashes)
        return cls(fingerprint, len(shingles), _minhash(shingles), keys, anchor_grams, content)

    def lsh_keys(self) -> list[int]:
        """Candidate keys: sampled word shingles, then sampled anchor trigrams."""
        anchor_keys = _sample(self.anchor_grams, ANCHOR_SAMPLE, MAX_ANCHOR_KEYS)
        return [int(key) for key in self.shingle_keys] + [int(key) for key in anchor_keys]

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (arrays as base64 of little-endian bytes)."""
        return {
            "fingerprint": self.fingerprint,
            "shingle_count": self.shingle_count,
            "minhash": _encode(self.minhash, "<u4"),
            "shingle_keys": _encode(self.shingle_keys, "<u8"),
            "anchor_grams": _encode(self.anchor_grams, "<u8"),
            "content_words": _encode(self.content_words, "<u2"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signature:
        """Inverse of :meth:`to_json`."""
        return cls(
            data["fingerprint"],
            int(data["shingle_count"]),
            _decode(data["minhash"], "<u4").astype(np.uint32),
            _decode(data["shingle_keys"], "<u8").astype(np.uint64),
            _decode(data["anchor_grams"], "<u8").astype(np.uint64),
            _decode(data.get("content_words", ""), "<u2").astype(np.uint16),
        )


def _encode(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(values.astype(dtype).tobytes()).decode()


def _decode(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype)


def _shared_count(values: np.ndarray, sorted_other: np.ndarray) -> int:
    """How many of ``values`` (repeats counted) occur in the sorted array ``sorted_other``;
    of two arrays of unique values, how many they have in common."""
    if len(values) == 0 or len(sorted_other) == 0:
        return 0
    at = np.minimum(np.searchsorted(sorted_other, values), len(sorted_other) - 1)
    return int(np.count_nonzero(sorted_other[at] == values))


def _containment(shared: int, size: int) -> float:
    return shared / size if size else 0.0


def probe_keys(signature: Signature) -> list[str]:
    """Keys an article is probed under: its candidate keys (hex), then its fingerprint.

    Articles that may copy each other share a key, and exact copies always do
    (``fp:`` key), so partitioning the index by key sends every possible pair of
    copies to a common shard. The keys are distinct.
    """
    keys = [f"{key:016x}" for key in signature.lsh_keys()]
    return list(dict.fromkeys([*keys, f"fp:{signature.fingerprint}"]))


@dataclass(frozen=True)
class MatchRules:
    """Thresholds of the near and spun tests (exact is an equal fingerprint).

    :param near_jaccard: estimated Jaccard similarity of word 5-shingles from
        which a text is a near copy.
    :param near_containment: share of the shorter text's shingles found in the
        longer one from which a text is a (cut-down) near copy.
    :param min_containment_jaccard: the containment test applies only above this
        Jaccard estimate (containment estimated from MinHash is unreliable below).
    :param spun_containment: share of the smaller anchor-trigram set found in the
        other from which a text is a spun copy.
    :param min_shared_anchors: anchor trigrams two texts must share at least to
        be spun copies (short texts have too few names to tell).
    :param spun_aligned: share of the shorter text's content words lined up with
        the other's (:func:`aligned_share`) from which a text is a spun copy.
    :param min_content_words: content words the shorter text needs for that test.
    """

    near_jaccard: float = 0.6
    near_containment: float = 0.8
    min_containment_jaccard: float = 0.2
    spun_containment: float = 0.5
    min_shared_anchors: int = 4
    spun_aligned: float = 0.55
    min_content_words: int = 12

    def match(self, new: Signature, old: Signature) -> tuple[DuplicateKind, str, float] | None:
        """(kind, method, score) when ``new`` copies ``old``, else None."""
        if new.fingerprint == old.fingerprint:
            return "exact", "fingerprint", 1.0
        jaccard = np.count_nonzero(new.minhash == old.minhash) / NUM_PERM
        if jaccard >= self.near_jaccard:
            return "near", "minhash", jaccard
        if jaccard >= self.min_containment_jaccard:
            # |A ∩ B| estimated from J = |A ∩ B| / |A ∪ B| and the set sizes
            shared = jaccard * (new.shingle_count + old.shingle_count) / (1 + jaccard)
            smaller = min(new.shingle_count, old.shingle_count)
            containment = min(1.0, _containment(round(shared), smaller))
            if containment >= self.near_containment:
                return "near", "minhash-containment", containment
        if min(len(new.anchor_grams), len(old.anchor_grams)) >= self.min_shared_anchors:
            return self._spun_by_anchors(new, old)
        return self._spun_by_alignment(new, old)

    def _spun_by_anchors(
        self, new: Signature, old: Signature
    ) -> tuple[DuplicateKind, str, float] | None:
        smaller = min(len(new.anchor_grams), len(old.anchor_grams))
        shared_anchors = _shared_count(new.anchor_grams, old.anchor_grams)
        if shared_anchors >= self.min_shared_anchors:
            containment = _containment(shared_anchors, smaller)
            if containment >= self.spun_containment:
                return "spun", "anchors", containment
        return None

    def _spun_by_alignment(
        self, new: Signature, old: Signature
    ) -> tuple[DuplicateKind, str, float] | None:
        """For texts with too few names for the anchor test: their words in order."""
        shorter, longer = sorted((new.content_words, old.content_words), key=len)
        if len(shorter) < self.min_content_words:
            return None
        # the share of the shorter text's words found at all bounds the aligned share
        if _shared_count(shorter, np.sort(longer)) < self.spun_aligned * len(shorter):
            return None
        share = aligned_share(shorter, longer)
        return ("spun", "aligned", share) if share >= self.spun_aligned else None


_HEX_KEY = re.compile(r"(fp:)?([0-9a-f]{16})")
_FINGERPRINT_KEY = 1 << 64
"""Added to a fingerprint key's number, to tell it from the 64-bit hash keys."""

ShardKey = int | str
"""A probe key as a shard holds it: the number a key of :func:`probe_keys` spells
(hex, or ``fp:`` and hex), smaller than its text; any other key as is."""


def shard_key(key: str) -> ShardKey:
    """The form a shard holds ``key`` in (the inverse of :func:`key_text`)."""
    spelled = _HEX_KEY.fullmatch(key)
    if spelled is None:
        return key
    fingerprint, digits = spelled.groups()
    return int(digits, 16) + (_FINGERPRINT_KEY if fingerprint else 0)


def key_text(key: ShardKey) -> str:
    """The probe key a shard's ``key`` stands for."""
    if isinstance(key, str):
        return key
    if key >= _FINGERPRINT_KEY:
        return f"fp:{key - _FINGERPRINT_KEY:016x}"
    return f"{key:016x}"


class ShardArticle:
    """What a shard keeps of one article: its arrival, its keys there (as
    :data:`ShardKey`), its signature, and which revision of it they are of.

    The shard's table holds it as is (faust writes its :meth:`to_json` to the
    changelog through ``__json__``), so the index and the table share one copy.
    Not a dataclass: faust's JSON writer (orjson) would write a dataclass's fields.
    """

    __slots__ = ("arrival", "keys", "revision", "signature")

    def __init__(
        self,
        arrival: Arrival,
        keys: tuple[ShardKey, ...],
        signature: Signature,
        revision: Revision,
    ) -> None:
        self.arrival = arrival
        self.keys = keys
        self.signature = signature
        self.revision = revision

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (the keys as probe keys)."""
        return {
            **self.arrival.to_json(),
            "keys": [key_text(key) for key in self.keys],
            "signature": self.signature.to_json(),
            **self.revision.to_json(),
        }

    __json__ = to_json

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardArticle:
        """Inverse of :meth:`to_json`."""
        return cls(
            Arrival.from_json(data),
            tuple(map(shard_key, data["keys"])),
            Signature.from_json(data["signature"]),
            Revision.from_json(data),
        )


class KeyShard(KeyBuckets[ShardArticle]):
    """Candidate key -> the most recent articles under it: one partition of the dedup index.

    A :class:`streams.keyindex.KeyBuckets` of :class:`ShardArticle` (so each
    article's signature is held once per shard). An article probes all its keys held
    by the shard at once, so a candidate that shares several keys with it is
    compared once, and it is compared with at most ``max_candidates`` earlier
    articles (those sharing the most keys).
    """

    def __init__(
        self,
        rules: MatchRules,
        *,
        retention: timedelta,
        max_bucket: int = 64,
        max_candidates: int = 32,
        articles: MutableMapping[str, ShardArticle] | None = None,
    ) -> None:
        super().__init__(
            retention=retention,
            max_bucket=max_bucket,
            max_candidates=max_candidates,
            articles=articles,
        )
        self.rules = rules

    def probe(
        self,
        article_id: str,
        arrival: Arrival,
        signature: Signature,
        keys: Sequence[str],
        revision: Revision,
    ) -> list[DedupMatch]:
        """Matches of the article among the earlier entries under ``keys``; then add it
        (idempotent, see :meth:`~streams.keyindex.KeyBuckets.enter`).

        An update of an article held replaces its entries (it keeps the arrival of the
        revision held, and is never compared with it); a stale revision finds nothing
        and changes nothing.
        """
        held = self.articles.get(article_id)
        if held is not None and held.revision.content_hash != revision.content_hash:
            if not revision.updates(held.revision):
                return []
            self.remove(article_id)
            arrival = held.arrival
        if not keys:
            return []
        held = ShardArticle(arrival, tuple(map(shard_key, keys)), signature, revision)
        found = self.enter(article_id, held)
        return [
            match
            for candidate in found
            if (match := self._compare(signature, candidate)) is not None
        ]

    def _compare(
        self, signature: Signature, candidate: Candidate[ShardArticle]
    ) -> DedupMatch | None:
        held = candidate.held
        found = self.rules.match(signature, held.signature)
        if found is None:
            return None
        kind, method, score = found
        return DedupMatch(
            article_id=candidate.article_id,
            arrived_at=held.arrival.time,
            sequence=held.arrival.seq,
            kind=kind,
            method=method,
            score=score,
        )


_KIND_RANK: dict[DuplicateKind, int] = {"exact": 0, "near": 1, "spun": 2, "original": 3}


def decide(article_id: str, arrival: Arrival, matches: Iterable[DedupMatch]) -> DedupVerdict:
    """Verdict of an article from its shards' matches: the earliest copied article wins.

    Only articles that arrived before it count, never itself; at equal arrival an
    exact match beats a near one, which beats a spun one, then the higher score.
    """
    earlier = [
        match
        for match in matches
        if match.article_id != article_id and Arrival(match.arrived_at, match.sequence) < arrival
    ]
    if not earlier:
        return DedupVerdict(article_id=article_id)
    best = min(
        earlier,
        key=lambda match: (
            Arrival(match.arrived_at, match.sequence),
            _KIND_RANK[match.kind],
            -match.score,
        ),
    )
    return DedupVerdict(
        article_id=article_id,
        duplicate_of=best.article_id,
        kind=best.kind,
        method=best.method,
        score=round(best.score, 4),
    )


class Decision:
    """A decided article's entry in the decisions table: the arrival and revision
    decided, and the verdict.

    The table holds it as is, as :class:`ShardArticle`; its JSON
    (:meth:`to_json`) is the arrival and revision fields and ``verdict``. Not a
    dataclass, for the same reason.
    """

    __slots__ = ("arrival", "article_id", "duplicate_of", "kind", "method", "revision", "score")

    def __init__(self, arrival: Arrival, revision: Revision, verdict: DedupVerdict) -> None:
        self.arrival = arrival
        self.revision = revision
        self.article_id = verdict.article_id
        self.duplicate_of = verdict.duplicate_of
        self.kind: DuplicateKind = verdict.kind
        self.method = verdict.method
        self.score = verdict.score

    @property
    def verdict(self) -> DedupVerdict:
        """The verdict decided."""
        return DedupVerdict(
            article_id=self.article_id,
            duplicate_of=self.duplicate_of,
            kind=self.kind,
            method=self.method,
            score=self.score,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            **self.arrival.to_json(),
            **self.revision.to_json(),
            "verdict": self.verdict.model_dump(mode="json"),
        }

    __json__ = to_json

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Decision:
        """Inverse of :meth:`to_json`."""
        return cls(
            Arrival.from_json(data),
            Revision.from_json(data),
            DedupVerdict.model_validate(data["verdict"]),
        )


DecisionEntry = dict[str, Any] | Decision
"""An entry of the decisions table: a pending state (JSON), or a :class:`Decision`
(as JSON when recovered from the changelog, see :func:`compact_decision`)."""


def compact_decision(entry: DecisionEntry) -> DecisionEntry:
    """``entry`` with a decision as JSON decoded (held in less memory), else as is."""
    if isinstance(entry, dict) and "verdict" in entry:
        return Decision.from_json(entry)
    return entry


def _revision_of(entry: DecisionEntry) -> Revision:
    return entry.revision if isinstance(entry, Decision) else Revision.from_json(entry)


def _arrival_of(entry: DecisionEntry) -> Arrival:
    return entry.arrival if isinstance(entry, Decision) else Arrival.from_json(entry)


@dataclass(frozen=True)
class VerdictWithArticle:
    """A verdict and the payload the routing stage attached to its article."""

    verdict: DedupVerdict
    payload: Any


class ShardReportCollector:
    """Collects an article's shard reports and decides once they are all in.

    One partition of the decision stage, on one mapping (a changelog-backed table
    in the pipeline) keyed by article id. An entry is first the pending state
    (arrival, revision, shard reports expected, shards reported, matches so far, and
    the article once it is in), then, in its place, a :class:`Decision`: the verdict
    with the arrival and the revision it is of (kept for idempotency: a redelivered
    article gets its verdict again). An update of the article
    (:mod:`streams.revisions`) starts a new pending state in place of the entry, with
    the first revision's arrival; parts of a stale revision change nothing. An article thus
    costs one write per part that arrives and none to clear. VerdictWithArticle articles that
    arrived more than ``retention`` before the newest are forgotten; one still
    waiting for a part is forgotten once decided, or when more than
    ``max_overdue`` are waiting (a part was dead-lettered). Given a filled
    mapping, ``ids`` are the article ids this decider holds in it (all by default).
    """

    def __init__(
        self,
        *,
        retention: timedelta,
        entries: MutableMapping[str, DecisionEntry] | None = None,
        ids: Iterable[str] | None = None,
        max_overdue: int = 10_000,
    ) -> None:
        self.retention = retention
        self.max_overdue = max_overdue
        self.entries: MutableMapping[str, DecisionEntry] = {} if entries is None else entries
        held = sorted(
            (self._arrival_of(article_id), article_id)
            for article_id in (self.entries.keys() if ids is None else ids)
        )
        self._order: deque[tuple[datetime, str]] = deque(
            (arrival.time, article_id) for arrival, article_id in held
        )
        self._tracked = {article_id for _, article_id in held}
        self._overdue: dict[str, None] = {}
        self._newest: datetime | None = held[-1][0].time if held else None

    def verdict(self, article_id: str, revision: Revision) -> DedupVerdict | None:
        """The verdict held for ``article_id`` if ``revision`` does not update it (a
        redelivery, or a stale revision: the held one's verdict), else None."""
        decided = self._decided(article_id)
        if decided is None or revision.updates(decided.revision):
            return None
        return decided.verdict

    def add_article(
        self,
        article_id: str,
        arrival: Arrival,
        revision: Revision,
        shards_total: int,
        payload: Any,
        home_report: tuple[int, Iterable[DedupMatch]] | None = None,
    ) -> VerdictWithArticle | None:
        """The routed article; a verdict when it completes one, or it was decided before
        (a redelivery). A stale revision gets None.

        ``home_report`` is the report (shard, matches) of the shard that decides, when
        it holds keys of the article: both are then stored in one write.
        """
        decided = self._decided(article_id)
        if decided is not None and decided.revision.content_hash == revision.content_hash:
            return VerdictWithArticle(decided.verdict, payload)
        state = self._state(article_id, arrival, revision)
        if state is None:
            return None
        state["shards_total"] = shards_total
        state["payload"] = payload
        if home_report is not None:
            self._record(state, *home_report)
        return self._settle(article_id, state)

    def add_report(
        self,
        article_id: str,
        arrival: Arrival,
        revision: Revision,
        shard: int,
        matches: Iterable[DedupMatch],
    ) -> VerdictWithArticle | None:
        """One shard's matches; a verdict when it is the last part missing.

        A report for a decided revision, of a stale one, or from a shard already
        reported, changes nothing.
        """
        state = self._state(article_id, arrival, revision)
        if state is None or not self._record(state, shard, matches):
            return None
        return self._settle(article_id, state)

    @staticmethod
    def _record(state: dict[str, Any], shard: int, matches: Iterable[DedupMatch]) -> bool:
        """Add a shard's matches to the pending ``state``; False if it had reported."""
        if shard in state["shards"]:
            return False
        state["shards"].append(shard)
        state["matches"].extend(match.model_dump(mode="json") for match in matches)
        return True

    def _state(
        self, article_id: str, arrival: Arrival, revision: Revision
    ) -> dict[str, Any] | None:
        """The pending state the parts of ``revision`` go into: the one held, or a new
        one (an update's keeps the arrival held); None if that revision is decided, or
        stale."""
        self._evict(arrival.time)
        if article_id not in self._tracked:
            self._tracked.add(article_id)
            self._order.append((arrival.time, article_id))
        entry = self.entries.get(article_id)
        if entry is not None:
            held = _revision_of(entry)
            if held.content_hash == revision.content_hash:
                pending = compact_decision(entry)
                return pending if isinstance(pending, dict) else None
            if not revision.updates(held):
                return None
            arrival = _arrival_of(entry)
        return {
            **arrival.to_json(),
            **revision.to_json(),
            "shards_total": None,
            "shards": [],
            "matches": [],
        }

    def _settle(self, article_id: str, state: dict[str, Any]) -> VerdictWithArticle | None:
        """Store the pending ``state``, or, if it is complete, the verdict in its place."""
        total = state["shards_total"]
        if total is None or len(state["shards"]) < total:
            self.entries[article_id] = state
            return None
        matches = [DedupMatch.model_validate(match) for match in state["matches"]]
        arrival = Arrival.from_json(state)
        verdict = decide(article_id, arrival, matches)
        self.entries[article_id] = Decision(arrival, Revision.from_json(state), verdict)
        if article_id in self._overdue:  # decided at last, and already out of the window
            self._forget(article_id)
        return VerdictWithArticle(verdict, state["payload"])

    def _arrival_of(self, article_id: str) -> Arrival:
        return _arrival_of(self.entries[article_id])

    def _decided(self, article_id: str) -> Decision | None:
        """The decision held for ``article_id``; None if none, or it is pending."""
        entry = self.entries.get(article_id)
        decided = None if entry is None else compact_decision(entry)
        return decided if isinstance(decided, Decision) else None

    def _evict(self, time: datetime) -> None:
        if self._newest is None or time > self._newest:
            self._newest = time
        horizon = self._newest - self.retention
        while self._order and self._order[0][0] < horizon:
            _, article_id = self._order.popleft()
            entry = self.entries.get(article_id)
            if entry is None or not isinstance(compact_decision(entry), dict):
                self._forget(article_id)
            else:
                # Still waiting for a part in flight (a replay can jump ahead in time):
                # forgetting it now would lose the article. Kept until it is decided.
                self._overdue[article_id] = None
        while len(self._overdue) > self.max_overdue:
            article_id = next(iter(self._overdue))
            log.warning("dedup: article %s never got all its parts; forgotten", article_id)
            self._forget(article_id)

    def _forget(self, article_id: str) -> None:
        self._overdue.pop(article_id, None)
        self._tracked.discard(article_id)
        self.entries.pop(article_id, None)


class DedupIndex:
    """The whole dedup stage in one process: one shard holding every key, and its decider.

    The pipeline runs the same :class:`KeyShard` and :class:`ShardReportCollector` partitioned
    over Kafka; this composition gives the same verdicts for the same stream.
    """

    def __init__(
        self,
        *,
        near_jaccard: float = 0.6,
        near_containment: float = 0.8,
        min_containment_jaccard: float = 0.2,
        spun_containment: float = 0.5,
        min_shared_anchors: int = 4,
        spun_aligned: float = 0.55,
        min_content_words: int = 12,
        retention: timedelta = timedelta(days=7),
        max_bucket: int = 64,
    ) -> None:
        """Create an empty index; thresholds as in :class:`MatchRules`.

        :param retention: articles that arrived longer ago than this before the
            newest one are forgotten (evicted as new ones arrive), which bounds the state.
        :param max_bucket: entries kept per candidate key (the most recent), which
            bounds the work per article when a key is common.
        """
        rules = MatchRules(
            near_jaccard,
            near_containment,
            min_containment_jaccard,
            spun_containment,
            min_shared_anchors,
            spun_aligned,
            min_content_words,
        )
        self.shard = KeyShard(rules, retention=retention, max_bucket=max_bucket)
        self.decider = ShardReportCollector(retention=retention)
        self._clock = ArrivalClock()

    def __len__(self) -> int:
        return len(self.decider.entries)

    def __contains__(self, article_id: object) -> bool:
        """Whether ``article_id`` has a verdict (seen, and not yet forgotten)."""
        return article_id in self.decider.entries

    def check(self, article: TaggedArticle, seen_at: datetime) -> DedupVerdict:
        """Verdict for ``article``, adding it to the index; same id again, same verdict,
        unless it is an update (see :mod:`streams.revisions`), which is judged afresh."""
        revision = Revision.of(article)
        known = self.decider.verdict(article.id, revision)
        if known is not None:
            return known
        arrival = self._clock.stamp(seen_at)
        signature = Signature.of(article.text, article.fingerprint)
        matches = self.shard.probe(article.id, arrival, signature, probe_keys(signature), revision)
        decided = self.decider.add_article(
            article.id, arrival, revision, 1, None, home_report=(0, matches)
        )
        assert decided is not None, "the only shard has reported"
        return decided.verdict
