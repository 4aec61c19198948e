"""Dedup quality and cost on labelled copies of a corpus.

``python -m newswire.evaluation.dedup PATH [--limit N] [--seed S] [--scale] [--json FILE]``

PATH is a JSON-lines file (optionally gzipped) of ``{"doc_id", "text", ...}``
articles, such as ECB+ (``ecbplus-dev/articles.jsonl.gz``), whose articles are
distinct reports (same-event articles come from different outlets). Each article
gets one copy of every kind of :mod:`newswire.evaluation.variants`; originals and copies are
streamed through :class:`streams.dedup.index.DedupIndex` **interleaved**: one shuffled
stream in which each original keeps the earliest position of its group, so copies
of an article arrive after it but among other articles and copies.

``--generator spinner`` makes the copies with :mod:`newswire.evaluation.spinner` instead, a
spinner the detector was not developed against (its ``respun`` and
``respun_truncated`` kinds).

Reported: precision and recall of duplicate detection per copy kind (a detection
is right when ``duplicate_of`` names the copied original), the false-duplicate rate
among the originals, the same figures for plain MinHash at a Jaccard threshold of
0.8 (the same index with its containment and anchor tests switched off), and the
throughput of ``check``. ``--scale`` adds the time per article with 1k, 10k and
100k articles indexed (word-shuffled corpus texts as filler) and the memory per
indexed article (tracemalloc).
"""

from __future__ import annotations

import json
import random
import re
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from newswire.arguments import ArgumentParser, positive_int
from newswire.evaluation import read_json_lines
from newswire.evaluation.spinner import SPINNER_KINDS, make_copies
from newswire.evaluation.variants import VARIANT_KINDS, Variant, make_variants
from schemas.records import TaggedArticle
from streams.dedup.index import DedupIndex
from streams.text import fingerprint, normalise_for_matching

SCALE_SIZES = (1_000, 10_000, 100_000)
GENERATORS: dict[str, tuple[Sequence[str], Callable[..., list[Variant]]]] = {
    "variants": (VARIANT_KINDS, make_variants),
    "spinner": (SPINNER_KINDS, make_copies),
}
"""Copy generator name -> (its kinds, its function of (articles, seed=))."""
TIMED_BATCH = 300
MEMORY_SAMPLE = 5_000
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    """One article of the evaluation stream and the original it copies, if any."""

    article: TaggedArticle
    kind: str
    source_id: str | None


def load_articles(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """Articles of a JSON-lines file (gzipped if it ends in .gz), with ``id`` set."""
    rows = read_json_lines(path, (("id", "doc_id"), "text"), limit)
    return [{**row, "id": str(row.get("id") or row["doc_id"])} for row in rows]


def tagged(article_id: str, text: str, title: str | None = None) -> TaggedArticle:
    """A tagged article (no entities) for ``text``."""
    return TaggedArticle(
        id=article_id, title=title, text=text, fingerprint=fingerprint(text), fetched_at=_EPOCH
    )


def build_stream(
    articles: Sequence[dict[str, Any]], seed: int, generator: str = "variants"
) -> list[Item]:
    """Originals and their copies (by ``generator``, see :data:`GENERATORS`), shuffled,
    each original first of its group."""
    items = [Item(tagged(a["id"], a["text"], a.get("title")), "original", None) for a in articles]
    copies = GENERATORS[generator][1](articles, seed=seed)
    items += [Item(tagged(v.id, v.text, v.title), v.kind, v.source_id) for v in copies]
    random.Random(seed).shuffle(items)
    first_slot: dict[str, int] = {}
    for position, item in enumerate(items):
        first_slot.setdefault(item.source_id or item.article.id, position)
    originals = {item.article.id: item for item in items if item.source_id is None}
    for group, position in first_slot.items():
        original = originals[group]
        swap_with = items.index(original, position)
        items[position], items[swap_with] = items[swap_with], items[position]
    return items


def wire_groups(articles: Sequence[dict[str, Any]], threshold: float = 0.5) -> dict[str, str]:
    """Article id -> group id, grouping corpus articles that are already copies.

    Some corpus articles reprint the same wire text; two are grouped when at least
    ``threshold`` of the shorter one's word 5-shingles (exact sets, lines apart) are
    in the other. Computed independently of the index, as the reference.
    """
    shingles: dict[str, set[tuple[str, ...]]] = {}
    holders: dict[tuple[str, ...], list[str]] = {}
    for a in articles:
        own: set[tuple[str, ...]] = set()
        for line in normalise_for_matching(a["text"].replace("\n", " \x00 ")).split("\x00"):
            words = re.findall(r"\w+", line)
            own.update(tuple(words[i : i + 5]) for i in range(len(words) - 4))
        shingles[a["id"]] = own
        for shingle in own:
            holders.setdefault(shingle, []).append(a["id"])
    shared: Counter[tuple[str, str]] = Counter()
    for ids in holders.values():
        shared.update((x, y) for x in ids for y in ids if x < y)
    group = {a["id"]: a["id"] for a in articles}

    def find(article_id: str) -> str:
        while group[article_id] != article_id:
            article_id = group[article_id]
        return article_id

    for (x, y), count in shared.items():
        if count >= threshold * min(len(shingles[x]), len(shingles[y])):
            group[find(y)] = find(x)
    return {article_id: find(article_id) for article_id in group}


def score_stream(
    items: Sequence[Item],
    index: DedupIndex,
    groups: dict[str, str],
    kinds: Sequence[str] = VARIANT_KINDS,
) -> tuple[dict[str, Any], float]:
    """Per-kind detection figures of ``index`` over ``items``, and checks per second.

    A copy is detected rightly when ``duplicate_of`` is its source or an article of
    the source's wire group; an original is falsely flagged when it is called a copy
    of an article outside its own group.
    """
    flagged: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    total: Counter[str] = Counter()
    start = time.perf_counter()
    verdicts = [
        index.check(item.article, _EPOCH + timedelta(seconds=n)) for n, item in enumerate(items)
    ]
    elapsed = time.perf_counter() - start
    for item, verdict in zip(items, verdicts, strict=True):
        total[item.kind] += 1
        if verdict.duplicate_of is not None:
            flagged[item.kind] += 1
            own_group = groups[item.source_id or item.article.id]
            correct[item.kind] += groups.get(verdict.duplicate_of) == own_group
    figures: dict[str, Any] = {}
    for kind in kinds:
        figures[kind] = {
            "copies": total[kind],
            "recall": correct[kind] / total[kind] if total[kind] else 0.0,
            "precision": correct[kind] / flagged[kind] if flagged[kind] else 1.0,
        }
    all_flagged = sum(flagged.values())
    figures["all"] = {
        "copies": sum(total[kind] for kind in kinds),
        "recall": sum(correct[kind] for kind in kinds) / max(1, sum(total[kind] for kind in kinds)),
        "precision": sum(correct.values()) / all_flagged if all_flagged else 1.0,
    }
    wrong = flagged["original"] - correct["original"]
    figures["false_duplicate_rate"] = wrong / max(1, total["original"])
    figures["originals_flagged_within_wire_group"] = correct["original"]
    return figures, len(items) / elapsed


def plain_minhash() -> DedupIndex:
    """The baseline: exact fingerprints and MinHash at Jaccard 0.8, nothing else."""
    never = float("inf")
    return DedupIndex(
        near_jaccard=0.8, min_containment_jaccard=never, spun_containment=never, spun_aligned=never
    )


def fillers(articles: Sequence[dict[str, Any]], seed: int) -> Iterator[TaggedArticle]:
    """Endless distinct articles: corpus texts with their words shuffled."""
    rng = random.Random(seed)
    number = 0
    while True:
        words = rng.choice(articles)["text"].split()
        rng.shuffle(words)
        yield tagged(f"filler-{number}", " ".join(words))
        number += 1


def measure_scale(articles: Sequence[dict[str, Any]], seed: int) -> dict[str, Any]:
    """Seconds per check with 1k/10k/100k indexed, and bytes per indexed article."""
    probes = [item.article for item in build_stream(articles, seed + 1)]
    source = fillers(articles, seed)
    index = DedupIndex(retention=timedelta(days=3650))
    per_article: dict[str, float] = {}
    seen = 0
    for size in SCALE_SIZES:
        while len(index) < size:
            index.check(next(source), _EPOCH + timedelta(seconds=seen))
            seen += 1
        batch = [a.model_copy(update={"id": f"{a.id}@{size}"}) for a in probes[:TIMED_BATCH]]
        start = time.perf_counter()
        for article in batch:
            index.check(article, _EPOCH + timedelta(seconds=seen))
        per_article[str(size)] = (time.perf_counter() - start) / len(batch)
    memory_index = DedupIndex()
    memory_source = fillers(articles, seed + 2)
    sample = [next(memory_source) for _ in range(MEMORY_SAMPLE)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n, article in enumerate(sample):
        memory_index.check(article, _EPOCH + timedelta(seconds=n))
    bytes_per_article = (tracemalloc.get_traced_memory()[0] - before) / MEMORY_SAMPLE
    tracemalloc.stop()
    times = per_article.values()
    return {
        "seconds_per_check": per_article,
        "slowest_over_fastest": max(times) / min(times),
        "bytes_per_indexed_article": bytes_per_article,
    }


def _table(ours: dict[str, Any], baseline: dict[str, Any], kinds: Sequence[str]) -> str:
    lines = [f"{'kind':<18}{'copies':>7}  {'P':>6} {'R':>6}   {'MinHash0.8 P':>12} {'R':>6}"]
    for kind in (*kinds, "all"):
        a, b = ours[kind], baseline[kind]
        lines.append(
            f"{kind:<18}{a['copies']:>7}  {a['precision']:>6.3f} {a['recall']:>6.3f}"
            f"   {b['precision']:>12.3f} {b['recall']:>6.3f}"
        )
    lines.append(
        f"{'false dup rate among originals':<30} {ours['false_duplicate_rate']:.4f}"
        f"   (MinHash0.8: {baseline['false_duplicate_rate']:.4f})"
    )
    lines.append(
        f"originals flagged as copies within their wire group: "
        f"{ours['originals_flagged_within_wire_group']}"
        f"   (MinHash0.8: {baseline['originals_flagged_within_wire_group']})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; print a table and optionally write JSON."""
    parser = ArgumentParser(prog="newswire evaluate dedup", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="articles JSON lines (.jsonl or .jsonl.gz)")
    parser.add_argument("--limit", type=positive_int, default=None, help="use the first N articles")
    parser.add_argument("--seed", type=int, default=0, help="seed of variants and order")
    parser.add_argument(
        "--generator",
        choices=sorted(GENERATORS),
        default="variants",
        help="copy generator: variants (developed against) or spinner",
    )
    parser.add_argument("--scale", action="store_true", help="also time 1k/10k/100k indexed")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)

    articles = load_articles(args.path, args.limit)
    stream = build_stream(articles, args.seed, args.generator)
    groups = wire_groups(articles)
    kinds = GENERATORS[args.generator][0]
    ours, rate = score_stream(stream, DedupIndex(), groups, kinds)
    baseline, _ = score_stream(stream, plain_minhash(), groups, kinds)
    originals = sum(1 for item in stream if item.source_id is None)
    grouped = len(groups) - len(set(groups.values()))
    print(
        f"{originals} originals ({grouped} are reprints of another: wire groups), "
        f"{len(stream) - originals} copies, interleaved order"
    )
    print(_table(ours, baseline, kinds))
    print(f"DedupIndex.check: {rate:,.0f} articles/s (one core)")
    result: dict[str, Any] = {"dedup": ours, "plain_minhash_0.8": baseline, "checks_per_s": rate}
    if args.scale:
        scale = measure_scale(articles, args.seed)
        for size, seconds in scale["seconds_per_check"].items():
            print(f"  {int(size):>7,} indexed: {seconds * 1e3:.3f} ms per check")
        print(f"  slowest/fastest: {scale['slowest_over_fastest']:.2f}")
        print(f"  memory: {scale['bytes_per_indexed_article']:,.0f} bytes per indexed article")
        result["scale"] = scale
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
