"""``newswire bench``: throughput, latency, memory and scale-out of the whole pipeline.

One run measures, side by side on the same generated stream:

1. each stage's CPU time per article, alone and in-process (one thread), in a
   fresh process pinned to one core, just before and just after the 2-worker run
   through the broker (the mean is used: a shared machine's speed drifts); the
   *ideal* rate on ``c`` cores is ``c / sum(stage times)``;
2. end-to-end throughput through the real broker with 1 worker process pinned
   to one core, then 2 worker processes pinned to one core each (speed-up); the
   broker and the bench client run on the same cores as the workers. The stream
   is published at once and throughput is the sustained rate, from the first
   story update to the last: the time the first article takes to get through
   (batches filling, every hop) is latency, reported beside it;
3. latency from publish on the raw topic to the story update, p50/p95/p99, at
   a steady rate of 50% of the measured 2-worker capacity;
4. peak memory (RSS) of the broker and the workers, and the size of the
   stateful stages' state per 10k articles.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import gzip
import html
import multiprocessing
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, astuple, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import psutil

from schemas.graph import RAW, STORIES
from schemas.records import DedupedArticle, RawArticle, TaggedArticle
from schemas.settings import Settings, env_variable

# Kafka, faust, spaCy and the stages are imported where they are used: `newswire bench
# --help` stays fast.
if TYPE_CHECKING:
    from agents.runtime.broker import EmbeddedBroker
    from newswire.evaluation.variants import VariantKind
    from streams.dedup.index import DedupIndex
    from streams.stories.clusterer import StoryClusterer

COPY_KINDS: tuple[VariantKind, ...] = ("boilerplate", "truncated", "spun")
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
WARMUP_ARTICLES = 16
SITES = ("Daily Courier", "World Wire", "The Ledger", "Metro Times")


@dataclass
class StageCosts:
    """CPU seconds per article of each stage, measured alone in-process."""

    clean: float
    tag: float
    dedup: float
    story: float

    @property
    def total(self) -> float:
        """Sum over the stages: the CPU one article costs."""
        return self.clean + self.tag + self.dedup + self.story

    @classmethod
    def mean(cls, first: StageCosts, second: StageCosts) -> StageCosts:
        """Stage by stage, the mean of two measurements."""
        return cls(*((a + b) / 2 for a, b in zip(astuple(first), astuple(second), strict=True)))


@dataclass
class PipelineRun:
    """One run of the stream through the broker and worker processes."""

    workers: int
    articles: int
    #: From the first story update to the last.
    seconds: float
    #: Articles per second after the first: ``(articles - 1) / seconds``.
    throughput: float
    #: From publishing the stream to the first story update.
    first_story_seconds: float
    latencies: list[float] = field(default_factory=list, repr=False)
    peak_rss_broker: int = 0
    peak_rss_workers: int = 0
    cpu_seconds_broker: float = 0.0
    cpu_seconds_per_worker: list[float] = field(default_factory=list)
    #: Of ``cpu_seconds_per_worker``, what each worker's main process used (the rest is
    #: its stage process: cleaning and NER).
    cpu_seconds_per_worker_main: list[float] = field(default_factory=list)
    cpu_seconds_client: float = 0.0
    #: How busy each core the run was pinned to was, from publishing to the last story
    #: update (0-1, every process on the machine counted).
    cores_busy: list[float] = field(default_factory=list)
    #: Records the workers wrote to each topic of the run (warm-up included), by name
    #: without the run's prefix; changelog topics end in ``-changelog``.
    records_written: dict[str, int] = field(default_factory=dict)

    @property
    def stage_process_seconds(self) -> float:
        """CPU seconds per article of the stage processes: cleaning and NER as the run
        ran them."""
        return (
            sum(self.cpu_seconds_per_worker) - sum(self.cpu_seconds_per_worker_main)
        ) / self.articles


# -- the stream ------------------------------------------------------------------


def load_originals(seeds: Path, corpus: Path | None) -> list[dict[str, str]]:
    """Original articles: the seeds, then a corpus file's articles (JSON lines, .gz or not)."""
    originals = []
    for path in sorted(seeds.glob("*.txt")):
        lines = path.read_text().strip().split("\n", 1)
        title, text = (lines[0], lines[1]) if len(lines) == 2 else ("", lines[0])
        originals.append({"id": path.stem, "title": title.strip(), "text": text.strip()})
    if corpus:
        data = corpus.read_bytes()
        data = gzip.decompress(data) if corpus.suffix == ".gz" else data
        for number, line in enumerate(data.splitlines()):
            record = orjson.loads(line)
            text = record.get("text") or ""
            if len(text.split()) >= 80:
                first, _, rest = text.partition("\n")
                title = record.get("title") or (first if len(first) < 150 else "")
                body = rest if title == first else text
                originals.append(
                    {
                        "id": str(record.get("id") or record.get("doc_id") or number),
                        "title": title,
                        "text": body,
                    }
                )
    return originals


def render_html(title: str, text: str, site: str, rng: random.Random) -> str:
    """A news page around ``text``: navigation, byline, related links, footer."""
    paragraphs = "\n".join(
        f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n") if p.strip()
    )
    related = "\n".join(
        f'<li><a href="/story/{rng.randrange(10**6)}">More news {i}</a></li>' for i in range(5)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} | {site}</title>
<meta property="og:site_name" content="{site}"><meta name="author" content="Staff Reporter">
</head><body><header><nav><a href="/">Home</a> <a href="/world">World</a>
<a href="/business">Business</a> <a href="/subscribe">Subscribe</a></nav></header>
<main><article><h1>{html.escape(title)}</h1><p class="byline">By Staff Reporter</p>
{paragraphs}</article><aside><h2>Related</h2><ul>{related}</ul></aside></main>
<footer><p>&copy; 2026 {site}. All rights reserved.</p>
<p>Sign up for our newsletter.</p></footer></body></html>"""


def build_stream(originals: Sequence[dict[str, str]], size: int, seed: int = 0) -> list[RawArticle]:
    """About ``size`` raw articles: originals, a quarter of them followed later by a copy
    (with other boilerplate, cut short, or spun); each an HTML page or text, at random
    (alternating formats would put them all on one partition each when the publisher
    deals articles to two partitions in turn)."""
    from newswire.evaluation.variants import make_variant

    rng = random.Random(seed)
    chosen = list(originals[: max(1, round(size / 1.25))])
    stream: list[dict[str, str]] = [dict(article) for article in chosen]
    for number, article in enumerate(chosen[::4]):
        variant = make_variant(article, COPY_KINDS[number % len(COPY_KINDS)], seed)
        copy = {"id": variant.id, "title": variant.title or "", "text": variant.text}
        stream.insert(min(len(stream), stream.index(article) + rng.randint(1, 20)), copy)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    raws = []
    for number, article in enumerate(stream[:size]):
        fields: dict[str, Any] = {
            "id": f"bench-{number:05d}-{article['id']}",
            "fetched_at": start + timedelta(seconds=number),
        }
        if rng.random() < 0.5:
            site = SITES[number % len(SITES)]
            fields["html"] = render_html(article["title"], article["text"], site, rng)
            fields["url"] = f"https://{site.lower().replace(' ', '')}.example/{number}"
        else:
            fields["text"] = f"{article['title']}\n\n{article['text']}".strip()
        raws.append(RawArticle.model_validate(fields))
    return raws


def warmup_stream(raws: Sequence[RawArticle]) -> list[RawArticle]:
    """Articles that make every worker load its lazily loaded parts first (models,
    date parsers): HTML and text, but word salad from the stream's own vocabulary,
    so they copy nothing and join no story of the measured stream."""
    rng = random.Random(1)
    words = sorted({word for raw in raws for word in (raw.text or "").split() if word.isalpha()})
    fetched = min(raw.fetched_at for raw in raws) - timedelta(hours=1)
    warmup = []
    for number in range(WARMUP_ARTICLES):
        title = " ".join(rng.choices(words, k=8)).capitalize()
        text = "\n".join(" ".join(rng.choices(words, k=60)).capitalize() + "." for _ in range(4))
        fields: dict[str, Any] = {"id": f"warmup-{number}", "fetched_at": fetched}
        if number % 2:
            fields["html"] = render_html(title, text, SITES[0], rng)
        else:
            fields["text"] = f"{title}\n\n{text}"
        warmup.append(RawArticle.model_validate(fields))
    return warmup


# -- stage costs, in-process -----------------------------------------------------


def measure_stages_apart(raws: Sequence[RawArticle], settings: Settings) -> tuple[StageCosts, int]:
    """:func:`measure_stages` in a fresh process pinned to one core, as a worker's stage
    process runs: the stream is new to it, as to the workers (a second pass in one
    process is faster, up to 40 % for cleaning, from what the first one cached)."""
    spawn = multiprocessing.get_context("spawn")
    pin = functools.partial(os.sched_setaffinity, 0, {0})
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn, initializer=pin) as apart:
        return apart.submit(measure_stages, raws, settings).result()


def measure_stages(raws: Sequence[RawArticle], settings: Settings) -> tuple[StageCosts, int]:
    """CPU seconds per article of each stage alone, and state bytes per article.

    Each stage runs once untimed first (cleaning on its warm-up page, as the
    workers' stage processes do), so that what loads lazily (dateparser's
    locales, language identification, spaCy) is not counted as per-article work.
    """
    from streams.clean.extract import clean_article, warm_up
    from streams.tag.entities import load_tagger

    warm_up()
    cleans, clean_cost = _timed(lambda: [clean_article(raw) for raw in raws])
    tagger = load_tagger(settings.spacy_model)
    tagger.tag(cleans[:2])
    batches = [
        cleans[i : i + settings.batch_size] for i in range(0, len(cleans), settings.batch_size)
    ]
    entity_batches, tag_cost = _timed(lambda: [tagger.tag(batch) for batch in batches])
    entities = [article for batch in entity_batches for article in batch]
    tagged = [
        TaggedArticle(**clean.model_dump(), entities=found)
        for clean, found in zip(cleans, entities, strict=True)
    ]
    _cluster_all(_dedup_all(tagged[:2])[1])
    (_, deduped), dedup_cost = _timed(lambda: _dedup_all(tagged))
    _, story_cost = _timed(lambda: _cluster_all(deduped))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    state = (_dedup_all(tagged)[0], _cluster_all(deduped))  # the indexes, not the records
    state_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del state
    count = len(raws)
    return StageCosts(
        clean_cost / count, tag_cost / count, dedup_cost / count, story_cost / count
    ), state_bytes // count


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    start = time.process_time()
    result = work()
    return result, time.process_time() - start


def _dedup_all(tagged: Sequence[TaggedArticle]) -> tuple[DedupIndex, list[DedupedArticle]]:
    from streams.dedup.index import DedupIndex

    index = DedupIndex()
    deduped = []
    for article in tagged:
        verdict = index.check(article, seen_at=article.fetched_at)
        deduped.append(
            DedupedArticle(**article.model_dump(), dedup=verdict, duplicate_of=verdict.duplicate_of)
        )
    return index, deduped


def _cluster_all(deduped: Sequence[DedupedArticle]) -> StoryClusterer:
    from streams.stories.clusterer import StoryClusterer

    clusterer = StoryClusterer()
    for article in deduped:
        clusterer.add(article, seen_at=article.fetched_at)
    return clusterer


# -- the pipeline through the broker ------------------------------------------------


async def run_pipeline(
    broker: EmbeddedBroker,
    raws: Sequence[RawArticle],
    warmup: Sequence[RawArticle],
    *,
    workers: int,
    rate: float | None,
    work_dir: Path,
    partitions: int,
) -> PipelineRun:
    """Publish ``raws`` (all at once, or at ``rate`` per second) through ``workers``
    worker processes pinned one per core; measure until every article is in a story."""
    from agents.runtime.broker import ensure_topics
    from newswire.replay.inputs import Outbound, publish

    name = f"bench{workers}w{int(time.time() * 1000) % 10**8}"
    settings = Settings(
        broker_url=broker.url,
        app_id=name,
        topic_prefix=name,
        partitions=partitions,
        data_dir=work_dir / name,
        broker_profile="tansu",
    )
    await ensure_topics(settings)
    cores = [number % (os.cpu_count() or 1) for number in range(workers)]
    processes = [_start_worker(settings, core) for core in cores]
    meter = _ProcessMeter([broker.pid or 0, *(p.pid for p in processes)], cores)
    # The broker and this client share the workers' cores, so that a run uses exactly
    # the cores it is credited with (one worker: everything on one core).
    pinned = contextlib.ExitStack()
    try:
        _pin_processes([broker.pid or 0, os.getpid()], set(cores), restore=pinned)
        await _wait_for_group(settings, members=workers)
        watcher = asyncio.ensure_future(_story_times(settings, [r.id for r in warmup]))
        await publish(settings, [Outbound.of(raw) for raw in warmup])
        await watcher  # every worker has joined and loaded its models
        meter.start()
        client_started = time.process_time()
        ids = [raw.id for raw in raws]
        watcher = asyncio.ensure_future(_story_times(settings, ids))
        published = await _publish_paced(settings, raws, rate)
        seen = await watcher
        meter.stop()
        client_seconds = time.process_time() - client_started
    finally:
        pinned.close()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    records_written = await _records_written(settings)
    first_story, last_story = min(seen.values()), max(seen.values())
    return PipelineRun(
        workers=workers,
        articles=len(raws),
        seconds=last_story - first_story,
        throughput=(len(raws) - 1) / (last_story - first_story),
        first_story_seconds=first_story - min(published.values()),
        latencies=sorted(seen[i] - published[i] for i in ids),
        peak_rss_broker=meter.peak_rss[0],
        peak_rss_workers=sum(meter.peak_rss[1:]),
        cpu_seconds_broker=meter.cpu_seconds[0],
        cpu_seconds_client=client_seconds,
        cpu_seconds_per_worker=meter.cpu_seconds[1:],
        cpu_seconds_per_worker_main=meter.cpu_seconds_main[1:],
        cores_busy=meter.cores_busy,
        records_written=records_written,
    )


def _pin_processes(pids: Sequence[int], cores: set[int], restore: contextlib.ExitStack) -> None:
    """Pin every thread of the processes ``pids`` to ``cores``; closing ``restore`` gives
    each thread pinned so far back the cores it had."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            thread = int(task.name)
            restore.callback(_set_affinity, thread, os.sched_getaffinity(thread))
            _set_affinity(thread, cores)


def _set_affinity(thread: int, cores: set[int]) -> None:
    with contextlib.suppress(ProcessLookupError):  # the thread has ended
        os.sched_setaffinity(thread, cores)


async def _wait_for_group(settings: Settings, members: int, timeout: float = 120.0) -> None:
    """Wait until every worker has joined the consumer group and it is stable, so that
    no rebalance pauses the measured run."""
    from aiokafka.admin import AIOKafkaAdminClient

    from agents.runtime.broker import bootstrap_servers

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker_url or ""))
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            (response,) = await admin.describe_consumer_groups([settings.app_id])
            (group,) = response.groups
            _error, _name, state, *_protocols, joined = group
            if state == "Stable" and len(joined) == members:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"{members} workers did not form a stable group in {timeout} s")
    finally:
        await admin.close()


def _start_worker(settings: Settings, core: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **SINGLE_THREADED}
    for name in (
        "broker_url",
        "app_id",
        "topic_prefix",
        "partitions",
        "data_dir",
        "broker_profile",
    ):
        env[env_variable(name)] = str(getattr(settings, name))
    return subprocess.Popen(
        [sys.executable, "-m", "newswire.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )


async def _publish_paced(
    settings: Settings, raws: Sequence[RawArticle], rate: float | None
) -> dict[str, float]:
    """Publish all at once (``rate`` None) or one by one at ``rate``; when each was sent."""
    from newswire.replay.inputs import Outbound, RawPublisher

    published: dict[str, float] = {}
    async with RawPublisher(settings) as publisher:
        if rate is None:
            now = time.monotonic()
            published = {raw.id: now for raw in raws}
            await publisher.send([Outbound.of(raw) for raw in raws])
            return published
        start = time.monotonic()
        for number, raw in enumerate(raws):
            await asyncio.sleep(max(0.0, start + number / rate - time.monotonic()))
            published[raw.id] = time.monotonic()
            await publisher.send([Outbound.of(raw)])
    return published


async def _story_times(settings: Settings, ids: Sequence[str]) -> dict[str, float]:
    """When each article first appears in a story update on the stories topic."""
    from newswire.watch import consume

    waiting = set(ids)
    seen: dict[str, float] = {}
    async for _topic, _key, value in consume(settings, [STORIES.name(settings.topic_prefix)]):
        now = time.monotonic()
        for article_id in orjson.loads(value)["article_ids"]:
            if article_id in waiting:
                waiting.discard(article_id)
                seen[article_id] = now
        if not waiting:
            return seen
    return seen


async def _records_written(settings: Settings) -> dict[str, int]:
    """Records in each topic of the run but the raw one (whose count is known)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from agents.runtime.broker import bootstrap_servers, tansu_end_offsets

    prefix = settings.topic_prefix
    raw = RAW.name(prefix)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(settings.broker_url or ""))
    await consumer.start()
    try:
        names = sorted(
            name for name in await consumer.topics() if name.startswith(prefix) and name != raw
        )
        partitions = [
            TopicPartition(name, number)
            for name in names
            for number in consumer.partitions_for_topic(name) or ()
        ]
        ends = await tansu_end_offsets(consumer, partitions)
    finally:
        await consumer.stop()
    short = {name: name.removeprefix(prefix).lstrip(".-") for name in names}
    written = dict.fromkeys(short.values(), 0)
    for partition, end in ends.items():
        written[short[partition.topic]] += end
    return written


class _ProcessMeter:
    """Peak resident memory (sampled in the background) and CPU seconds used between
    :meth:`start` and :meth:`stop` of some processes (the broker, each worker), each
    counted with its children (a worker's stage processes), and by the process alone;
    and how busy the ``cores`` were meanwhile."""

    def __init__(self, pids: Sequence[int], cores: Sequence[int]) -> None:
        self.groups = [[psutil.Process(pid)] for pid in pids]
        self.peak_rss = [0] * len(pids)
        self.cpu_seconds = [0.0] * len(pids)
        self.cpu_seconds_main = [0.0] * len(pids)
        self.cores = list(cores)
        self.cores_busy = [0.0] * len(self.cores)
        self._core_times: list[Any] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        for group in self.groups:
            with contextlib.suppress(psutil.Error):
                group.extend(group[0].children(recursive=True))
        self.cpu_seconds = [-self._total(group, self._cpu) for group in self.groups]
        self.cpu_seconds_main = [-self._total(group[:1], self._cpu) for group in self.groups]
        self._core_times = psutil.cpu_times(percpu=True)
        self._task = asyncio.ensure_future(self._sample())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()
        for number, group in enumerate(self.groups):
            self.cpu_seconds[number] += self._total(group, self._cpu)
            self.cpu_seconds_main[number] += self._total(group[:1], self._cpu)
        now = psutil.cpu_times(percpu=True)
        self.cores_busy = [_busy(self._core_times[core], now[core]) for core in self.cores]

    @staticmethod
    def _total(
        group: Sequence[psutil.Process], measure: Callable[[psutil.Process], float]
    ) -> float:
        total = 0.0
        for process in group:
            with contextlib.suppress(psutil.Error):  # the process has ended
                total += measure(process)
        return total

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    async def _sample(self) -> None:
        while True:
            for number, group in enumerate(self.groups):
                rss = self._total(group, lambda process: process.memory_info().rss)
                self.peak_rss[number] = max(self.peak_rss[number], int(rss))
            await asyncio.sleep(0.2)


def _busy(before: Any, after: Any) -> float:
    """The share of the time between two ``psutil.cpu_times`` of a core it was busy."""
    elapsed = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (
        getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0)
    )
    return (elapsed - idle) / elapsed if elapsed > 0 else 0.0


# -- the report ------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile of sorted ``values`` (nearest rank)."""
    return values[min(len(values) - 1, max(0, round(share * len(values)) - 1))]


def run_benchmark(
    articles: int, corpus: Path | None, seeds: Path, latency_articles: int, partitions: int
) -> dict[str, Any]:
    """The whole benchmark; returns the report as a JSON-able dict."""
    from agents.runtime.broker import EmbeddedBroker
    from agents.runtime.tansu import CHANGELOG_SUFFIX

    settings = Settings()
    raws = build_stream(load_originals(seeds, corpus), articles)
    warmup = warmup_stream(raws)
    cores = min(2, os.cpu_count() or 1)
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as work:
        one = asyncio.run(
            run_pipeline(
                broker,
                raws,
                warmup,
                workers=1,
                rate=None,
                work_dir=Path(work),
                partitions=partitions,
            )
        )
        # The ideal is measured right around the run it is compared with.
        before, state_bytes = measure_stages_apart(raws, settings)
        two = asyncio.run(
            run_pipeline(
                broker,
                raws,
                warmup,
                workers=cores,
                rate=None,
                work_dir=Path(work),
                partitions=partitions,
            )
        )
        after, _ = measure_stages_apart(raws, settings)
        steady = asyncio.run(
            run_pipeline(
                broker,
                raws[:latency_articles],
                warmup,
                workers=cores,
                rate=two.throughput / 2,
                work_dir=Path(work),
                partitions=partitions,
            )
        )
    costs = StageCosts.mean(before, after)
    ideal = cores / costs.total
    # The stages as the two-worker run paid them: cleaning and NER from its stage
    # processes, dedup and stories alone. Against it, the machine's drift between the
    # stage measurements and the run drops out of the fraction; the overhead stays.
    run_stage_cost = two.stage_process_seconds + costs.dedup + costs.story
    processed = len(raws) + len(warmup)
    written = two.records_written
    on_changelogs = sum(count for name, count in written.items() if name.endswith(CHANGELOG_SUFFIX))
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "cores_used": cores,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "model": settings.spacy_model,
        },
        "partitions": partitions,
        "stream": {
            "articles": len(raws),
            "html": sum(1 for r in raws if r.html),
            "copies": sum(1 for r in raws if "~" in r.id),
            "corpus": str(corpus or ""),
        },
        "stage_cpu_ms_per_article": {k: v * 1000 for k, v in asdict(costs).items()},
        "stage_cpu_ms_per_article_around_the_two_worker_run": [
            {k: v * 1000 for k, v in asdict(measured).items()} for measured in (before, after)
        ],
        "ideal_articles_per_s": ideal,
        "end_to_end": {
            "one_worker_articles_per_s": one.throughput,
            "two_workers_articles_per_s": two.throughput,
            "fraction_of_ideal": two.throughput / ideal,
            "stage_cpu_ms_per_article_as_the_two_worker_run_paid_it": run_stage_cost * 1000,
            "fraction_of_ideal_at_that_cost": two.throughput * run_stage_cost / cores,
            "speed_up": two.throughput / one.throughput,
            "first_story_s": {
                "one_worker": one.first_story_seconds,
                "two_workers": two.first_story_seconds,
            },
            # Articles / (last story update - publishing): the first story's time counted in.
            "two_workers_articles_per_s_counting_first_story": two.articles
            / (two.seconds + two.first_story_seconds),
        },
        "cpu_ms_per_article": {
            run_name: {
                "workers": sum(run.cpu_seconds_per_worker) * 1000 / run.articles,
                "per_worker": [cpu * 1000 / run.articles for cpu in run.cpu_seconds_per_worker],
                "per_worker_main_process": [
                    cpu * 1000 / run.articles for cpu in run.cpu_seconds_per_worker_main
                ],
                # Cleaning and NER as the pipeline ran them, to set beside the
                # stages measured alone: the ideal rests on that measurement.
                "stage_processes": run.stage_process_seconds * 1000,
                "broker": run.cpu_seconds_broker * 1000 / run.articles,
                "client": run.cpu_seconds_client * 1000 / run.articles,
            }
            for run_name, run in (("one_worker", one), ("two_workers", two))
        },
        "cores_busy_fraction": {"one_worker": one.cores_busy, "two_workers": two.cores_busy},
        "kafka_records_per_article": {
            "topics": (sum(written.values()) - on_changelogs) / processed,
            "changelogs": on_changelogs / processed,
            "by_topic": {name: count / processed for name, count in written.items() if count},
        },
        "latency_s": {
            "rate_articles_per_s": two.throughput / 2,
            "articles": steady.articles,
            "p50": percentile(steady.latencies, 0.50),
            "p95": percentile(steady.latencies, 0.95),
            "p99": percentile(steady.latencies, 0.99),
        },
        "memory": {
            "peak_rss_broker_mib": max(one.peak_rss_broker, two.peak_rss_broker) / 2**20,
            "peak_rss_one_worker_mib": one.peak_rss_workers / 2**20,
            "peak_rss_two_workers_mib": two.peak_rss_workers / 2**20,
            "state_mib_per_10k_articles": state_bytes * 10_000 / 2**20,
        },
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as a table a person reads."""
    stages = report["stage_cpu_ms_per_article"]
    e2e, latency, memory = report["end_to_end"], report["latency_s"], report["memory"]
    machine, stream = report["machine"], report["stream"]
    records = report["kafka_records_per_article"]
    first = e2e["first_story_s"]
    measured_before, measured_after = report["stage_cpu_ms_per_article_around_the_two_worker_run"]
    counting = e2e["two_workers_articles_per_s_counting_first_story"]
    lines = [
        f"newswire bench: {stream['articles']} articles ({stream['html']} HTML, "
        f"{stream['copies']} copies), {machine['cpus']} CPUs, Python {machine['python']}",
        "",
        "stage CPU per article (alone, in-process, in a fresh process on one core: the mean "
        "of just before and just after the 2-worker run, "
        f"{sum(measured_before.values()):.2f} and {sum(measured_after.values()):.2f} ms)",
        *(f"  {name:<8}{value:9.2f} ms" for name, value in stages.items()),
        f"  {'total':<8}{sum(stages.values()):9.2f} ms -> ideal "
        f"{report['ideal_articles_per_s']:.1f} articles/s on {machine['cores_used']} cores",
        "",
        "end to end through the broker",
        f"  1 worker, 1 core      {e2e['one_worker_articles_per_s']:8.1f} articles/s",
        f"  2 workers, 1 core each{e2e['two_workers_articles_per_s']:8.1f} articles/s"
        f"  ({e2e['fraction_of_ideal']:.0%} of ideal, speed-up {e2e['speed_up']:.2f}x)",
        "  against the stages as that run paid them "
        f"({e2e['stage_cpu_ms_per_article_as_the_two_worker_run_paid_it']:.1f} ms: cleaning "
        "and NER as its stage processes ran them, dedup and stories alone): "
        f"{e2e['fraction_of_ideal_at_that_cost']:.0%} (the machine's drift between the "
        "stage measurements and the run taken out)",
        f"  sustained rates, after the first story update ({first['one_worker']:.2f} s and "
        f"{first['two_workers']:.2f} s after publishing); counting that time, 2 workers give "
        f"{counting:.1f} articles/s ({counting / report['ideal_articles_per_s']:.0%})",
        "",
        "CPU per article through the broker (stage work + overhead)",
        *(
            f"  {name.replace('_', ' '):<12} workers {cpu['workers']:6.1f} ms "
            f"({' + '.join(format(w, '.1f') for w in cpu['per_worker'])})   broker "
            f"{cpu['broker']:5.1f} ms   bench client {cpu['client']:5.1f} ms"
            for name, cpu in report["cpu_ms_per_article"].items()
        ),
        "  worker main processes alone (faust and Kafka, dedup, stories; the rest is "
        "cleaning and NER in their stage processes)",
        *(
            f"  {name.replace('_', ' '):<12} "
            f"{' + '.join(format(w, '.1f') for w in cpu['per_worker_main_process'])} ms"
            for name, cpu in report["cpu_ms_per_article"].items()
        ),
        "  their stage processes (cleaning and NER as the pipeline ran them; alone, in-process: "
        f"{stages['clean'] + stages['tag']:.1f} ms)",
        *(
            f"  {name.replace('_', ' '):<12} {cpu['stage_processes']:.1f} ms"
            for name, cpu in report["cpu_ms_per_article"].items()
        ),
        "  how busy the pinned cores were, from publishing to the last story update",
        *(
            f"  {name.replace('_', ' '):<12} {' + '.join(format(b, '.0%') for b in busy)}"
            for name, busy in report["cores_busy_fraction"].items()
        ),
        "",
        "Kafka records the workers write per article (2 workers; the raw topic aside)",
        f"  {records['topics']:.1f} on topics + {records['changelogs']:.1f} on changelogs: "
        + ", ".join(f"{name} {count:.2f}" for name, count in records["by_topic"].items()),
        "",
        f"latency publish -> story update at {latency['rate_articles_per_s']:.1f} articles/s "
        f"(50% of capacity), {latency['articles']} articles",
        f"  p50 {latency['p50']:.2f} s   p95 {latency['p95']:.2f} s   p99 {latency['p99']:.2f} s",
        "",
        f"peak memory: broker {memory['peak_rss_broker_mib']:.0f} MiB, 1 worker "
        f"{memory['peak_rss_one_worker_mib']:.0f} MiB, 2 workers "
        f"{memory['peak_rss_two_workers_mib']:.0f} MiB in all",
        f"state of dedup + stories: {memory['state_mib_per_10k_articles']:.0f} MiB per 10k "
        "articles",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``newswire bench``."""
    parser = argparse.ArgumentParser(prog="newswire bench", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, help="articles JSON lines (.gz) to add to the seeds")
    parser.add_argument("--articles", type=int, default=300, help="stream size (default 300)")
    parser.add_argument(
        "--latency-articles",
        type=int,
        default=150,
        help="articles sent at the steady rate (default 150)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=Settings().partitions,
        help="partitions of the scalable topics (default: the settings')",
    )
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    if min(args.articles, args.latency_articles) < 2:
        parser.error(
            "--articles and --latency-articles: at least 2 each (throughput is "
            "measured between story updates)"
        )
    report = run_benchmark(
        args.articles, args.corpus, args.seeds, args.latency_articles, args.partitions
    )
    print(format_report(report))
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return 0
