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
  similarity, because copies are often cut short.

Rule for the original: the **earliest seen** article of a group is the original;
a later article that matches it, or matches one of its copies, is a copy of it,
whichever of the two texts is the longer (a fuller text arriving after a cut-down
copy is marked as the copy). ``duplicate_of`` always names that earliest original.

Candidates come from keys (:func:`band_keys`): the word-shingle hashes that fall
in a fixed 1-in-``SHINGLE_SAMPLE`` sample (at most ``MAX_SHINGLE_KEYS``, the
smallest) and likewise the sampled anchor trigrams. The sample is a property of
the hash, so a copy cut short keeps a subset of its original's keys, and a spun
copy keeps its anchor keys. Buckets keep at most ``max_bucket`` ids (the most
recent), so the work per article does not grow with the index. MinHash (128
permutations) is kept per article to estimate similarity, not for retrieval.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from schemas.records import DedupVerdict, DuplicateKind, TaggedArticle
from streams.text import normalise_display, normalise_for_matching

SHINGLE_SIZE = 5
ANCHOR_GRAM = 3
NUM_PERM = 128
SHINGLE_SAMPLE = 4
MAX_SHINGLE_KEYS = 32
ANCHOR_SAMPLE = 2
MAX_ANCHOR_KEYS = 16

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
_SENTENCE_END = frozenset(".!?\n:;\"")
_MASK64 = (1 << 64) - 1


def _permutation_parameters(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable (process- and version-independent) odd multipliers and offsets."""
    raw = np.frombuffer(hashlib.shake_256(b"newswire-dedup-minhash").digest(16 * count), "<u8")
    return raw[:count] | np.uint64(1), raw[count:].copy()


_MULTIPLIERS, _OFFSETS = _permutation_parameters(NUM_PERM)
_EMPTY_SIGNATURE = np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint32)


def _token_hashes(tokens: Sequence[str]) -> np.ndarray:
    return np.fromiter(
        (zlib.crc32(token.encode()) for token in tokens), dtype=np.uint64, count=len(tokens)
    )


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
        within = blocks[: count] == blocks[size - 1 :]
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


def _sample(hashes: np.ndarray, modulus: int, limit: int) -> np.ndarray:
    """The ``limit`` smallest hashes divisible by ``modulus`` (a sample shared by copies)."""
    return hashes[hashes % np.uint64(modulus) == 0][:limit]


@dataclass(frozen=True)
class Signature:
    """The compact features of one text that the dedup tests compare."""

    fingerprint: str
    shingle_count: int
    minhash: np.ndarray
    shingle_keys: np.ndarray
    anchor_grams: np.ndarray

    @classmethod
    def of(cls, text: str, fingerprint: str) -> Signature:
        """Signature of ``text`` (``fingerprint`` as computed by ``streams.text``)."""
        lines = normalise_for_matching(text.replace("\n", " \x00 ")).split("\x00")
        words_per_line = [_WORD.findall(line) for line in lines]
        words = [word for line in words_per_line for word in line]
        blocks = np.repeat(np.arange(len(lines)), [len(line) for line in words_per_line])
        shingles = _gram_hashes(_token_hashes(words), SHINGLE_SIZE, blocks)
        anchor_grams = _gram_hashes(_token_hashes(anchors(text)), ANCHOR_GRAM)
        keys = _sample(shingles, SHINGLE_SAMPLE, MAX_SHINGLE_KEYS)
        return cls(fingerprint, len(shingles), _minhash(shingles), keys, anchor_grams)

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
        )


def band_keys(article: TaggedArticle) -> list[str]:
    """Candidate keys of ``article`` (hex): articles that may copy each other share one.

    Partitioning the index by key (one Kafka message per key) sends every possible
    pair of copies to a common partition.
    """
    signature = Signature.of(article.text, article.fingerprint)
    return [f"{key:016x}" for key in signature.lsh_keys()]


def _encode(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(values.astype(dtype).tobytes()).decode()


def _decode(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype)


def _containment(shared: int, size: int) -> float:
    return shared / size if size else 0.0


@dataclass
class _Entry:
    article_id: str
    seen_at: datetime
    signature: Signature
    verdict: DedupVerdict


class DedupIndex:
    """Signatures of the articles seen so far, and the verdict for each."""

    def __init__(
        self,
        *,
        near_jaccard: float = 0.6,
        near_containment: float = 0.8,
        min_containment_jaccard: float = 0.2,
        spun_containment: float = 0.5,
        min_shared_anchors: int = 4,
        retention: timedelta = timedelta(days=7),
        max_bucket: int = 64,
    ) -> None:
        """Create an empty index.

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
        :param retention: articles seen longer ago than this before the newest one are
            forgotten (evicted as new ones arrive), which bounds the state.
        :param max_bucket: ids kept per candidate key (the most recent), which bounds
            the work per article when a key is common.
        """
        self.near_jaccard = near_jaccard
        self.near_containment = near_containment
        self.min_containment_jaccard = min_containment_jaccard
        self.spun_containment = spun_containment
        self.min_shared_anchors = min_shared_anchors
        self.retention = retention
        self.max_bucket = max_bucket
        self._entries: dict[str, _Entry] = {}
        self._arrival: dict[str, int] = {}
        self._next_arrival = 0
        self._by_fingerprint: dict[str, str] = {}
        self._buckets: dict[int, list[str]] = {}
        self._newest: datetime | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, article_id: object) -> bool:
        """Whether ``article_id`` is indexed (seen, and not yet evicted)."""
        return article_id in self._entries

    def check(self, article: TaggedArticle, seen_at: datetime) -> DedupVerdict:
        """Verdict for ``article``, adding it to the index; same id again, same verdict."""
        self._evict(seen_at)
        known = self._entries.get(article.id)
        if known is not None:
            return known.verdict
        signature = Signature.of(article.text, article.fingerprint)
        verdict = self._judge(article.id, signature)
        self._add(_Entry(article.id, seen_at, signature, verdict))
        return verdict

    def entry(self, article_id: str) -> dict[str, Any]:
        """JSON-able state of one indexed article, for a changelog table."""
        stored = self._entries[article_id]
        return {
            "article_id": stored.article_id,
            "seen_at": stored.seen_at.isoformat(),
            "signature": stored.signature.to_json(),
            "verdict": stored.verdict.model_dump(mode="json"),
        }

    def restore(self, entry: dict[str, Any]) -> None:
        """Put back an article from :meth:`entry` (after a restart).

        Restoring every entry in arrival order gives the state, and so the future
        verdicts, of the index that wrote them.
        """
        seen_at = datetime.fromisoformat(entry["seen_at"])
        self._evict(seen_at)
        if entry["article_id"] in self._entries:
            return
        self._add(
            _Entry(
                entry["article_id"],
                seen_at,
                Signature.from_json(entry["signature"]),
                DedupVerdict.model_validate(entry["verdict"]),
            )
        )

    def _judge(self, article_id: str, signature: Signature) -> DedupVerdict:
        exact = self._by_fingerprint.get(signature.fingerprint)
        if exact is not None:
            return self._copy_of(article_id, self._entries[exact], "exact", "fingerprint", 1.0)
        best: tuple[int, float, DuplicateKind, str, _Entry] | None = None
        for candidate in self._candidates(signature):
            match = self._match(signature, candidate.signature)
            if match is None:
                continue
            kind, method, score = match
            root = candidate.verdict.duplicate_of or candidate.article_id
            arrival = self._arrival.get(root, self._arrival[candidate.article_id])
            if best is None or (arrival, -score) < (best[0], -best[1]):
                best = (arrival, score, kind, method, candidate)
        if best is None:
            return DedupVerdict(article_id=article_id)
        _, score, kind, method, candidate = best
        return self._copy_of(article_id, candidate, kind, method, score)

    @staticmethod
    def _copy_of(
        article_id: str, match: _Entry, kind: DuplicateKind, method: str, score: float
    ) -> DedupVerdict:
        original = match.verdict.duplicate_of or match.article_id
        return DedupVerdict(
            article_id=article_id, duplicate_of=original, kind=kind, method=method,
            score=round(score, 4),
        )

    def _candidates(self, signature: Signature) -> list[_Entry]:
        seen: dict[str, _Entry] = {}
        for key in signature.lsh_keys():
            for article_id in self._buckets.get(key, ()):
                if article_id not in seen:
                    seen[article_id] = self._entries[article_id]
        return list(seen.values())

    def _match(
        self, new: Signature, old: Signature
    ) -> tuple[DuplicateKind, str, float] | None:
        jaccard = float(np.mean(new.minhash == old.minhash))
        if jaccard >= self.near_jaccard:
            return "near", "minhash", jaccard
        if jaccard >= self.min_containment_jaccard:
            # |A ∩ B| estimated from J = |A ∩ B| / |A ∪ B| and the set sizes
            shared = jaccard * (new.shingle_count + old.shingle_count) / (1 + jaccard)
            smaller = min(new.shingle_count, old.shingle_count)
            containment = min(1.0, _containment(round(shared), smaller))
            if containment >= self.near_containment:
                return "near", "minhash-containment", containment
        shared_anchors = len(np.intersect1d(new.anchor_grams, old.anchor_grams, assume_unique=True))
        if shared_anchors >= self.min_shared_anchors:
            smaller = min(len(new.anchor_grams), len(old.anchor_grams))
            containment = _containment(shared_anchors, smaller)
            if containment >= self.spun_containment:
                return "spun", "anchors", containment
        return None

    def _add(self, entry: _Entry) -> None:
        self._entries[entry.article_id] = entry
        self._arrival[entry.article_id] = self._next_arrival
        self._next_arrival += 1
        self._by_fingerprint.setdefault(entry.signature.fingerprint, entry.article_id)
        for key in entry.signature.lsh_keys():
            bucket = self._buckets.setdefault(key, [])
            bucket.append(entry.article_id)
            if len(bucket) > self.max_bucket:
                del bucket[0]

    def _evict(self, seen_at: datetime) -> None:
        """Forget the oldest arrivals seen more than ``retention`` before the newest."""
        if self._newest is None or seen_at > self._newest:
            self._newest = seen_at
        horizon = self._newest - self.retention
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if oldest.seen_at >= horizon:
                return
            self._remove(oldest)

    def _remove(self, entry: _Entry) -> None:
        del self._entries[entry.article_id]
        del self._arrival[entry.article_id]
        if self._by_fingerprint.get(entry.signature.fingerprint) == entry.article_id:
            del self._by_fingerprint[entry.signature.fingerprint]
        for key in entry.signature.lsh_keys():
            bucket = self._buckets.get(key)
            if bucket is None:
                continue
            if entry.article_id in bucket:
                bucket.remove(entry.article_id)
            if not bucket:
                del self._buckets[key]
