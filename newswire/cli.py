"""The ``newswire`` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.errors import KafkaConnectionError

from newswire.broker import EmbeddedBroker, ensure_topics_sync
from newswire.inputs import publish, read_inputs
from newswire.settings import Settings
from schemas.topics import ALL_TOPICS

SEEDS_DIR = Path("seeds")
EVALUATIONS = ("cleaning", "entities", "dedup", "stories")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if getattr(args, "broker", None):
        settings = settings.model_copy(update={"broker_url": args.broker})
    return settings


def _require_broker(settings: Settings) -> Settings:
    if not settings.broker_url:
        sys.exit("newswire: no broker: pass --broker kafka://HOST:PORT, set NEWSWIRE_BROKER_URL, "
                 "or start one with `newswire broker`")
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    from newswire.run import WorkerRun

    paths = args.replay or [SEEDS_DIR]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        sys.exit(f"newswire: no such input: {', '.join(missing)} (run from the project folder, "
                 "or pass --replay PATH)")
    messages = read_inputs(paths)
    if not args.quiet:
        print(f"newswire: replaying {len(messages)} articles from "
              f"{', '.join(str(p) for p in paths)}", file=sys.stderr, flush=True)
    return WorkerRun(
        _settings(args), watch=True, messages=messages, once=args.once, timeout=args.timeout,
        stories_out=args.stories_out, articles_out=args.articles_out, quiet=args.quiet,
    ).execute()


def cmd_worker(args: argparse.Namespace) -> int:
    from newswire.run import WorkerRun

    return WorkerRun(_require_broker(_settings(args))).execute()


def cmd_replay(args: argparse.Namespace) -> int:
    settings = _require_broker(_settings(args))
    messages = read_inputs(args.paths)
    ensure_topics_sync(settings)
    count = asyncio.run(publish(settings, messages))
    print(f"newswire: published {count} articles")
    return 0


def cmd_follow(args: argparse.Namespace) -> int:
    from newswire.feeds import FeedFollower

    settings = _require_broker(_settings(args))
    ensure_topics_sync(settings)

    async def follow() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await FeedFollower(settings, args.feed_urls, interval=args.interval).run(stop)

    print(f"newswire: following {len(args.feed_urls)} feeds every {args.interval:g} s "
          "(Ctrl-C stops)", flush=True)
    asyncio.run(follow())
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from newswire.watch import consume

    settings = _require_broker(_settings(args))
    names = {topic.role: topic.name(settings.topic_prefix) for topic in ALL_TOPICS}
    topic = names.get(args.topic, args.topic)
    since = datetime.now(UTC) if args.from_ == "now" else None

    async def tail() -> None:
        count = 0
        async for _topic, _key, value in consume(settings, [topic], since=since):
            print(value.decode("utf-8", "replace"), flush=True)
            count += 1
            if args.max and count >= args.max:
                return

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(tail())
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    with EmbeddedBroker(port=args.port) as broker:
        settings = Settings().model_copy(update={"broker_url": broker.url})
        ensure_topics_sync(settings)
        print(f"newswire: embedded broker at {broker.url} (memory only; Ctrl-C stops it)",
              flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


def cmd_stories(args: argparse.Namespace) -> int:
    from newswire.story_store import SQLiteStoryStore
    from newswire.watch import format_story

    path = args.db or _settings(args).story_db_path
    if not path.exists():
        sys.exit(f"newswire: no story database at {path} (run the pipeline first, or --db FILE)")
    with SQLiteStoryStore(path) as store:
        stories = store.search(entity=args.entity, text=args.text, since=args.since,
                               until=args.until, limit=args.limit)
    for story in stories:
        print(story.to_json().decode() if args.json else format_story(story) + "\n")
    if not args.json:
        print(f"{len(stories)} stor{'y' if len(stories) == 1 else 'ies'}")
    return 0


def _datetime(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_bench(args: argparse.Namespace) -> int:
    from newswire import bench

    code: int = bench.main(args.args)
    return code


def cmd_evaluate(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"newswire.evaluation.{args.stage}")
    code: int = module.main(args.args)
    return code


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="newswire",
        description="Streaming news ingestion on Kafka: clean, tag, dedup, group into stories.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_broker(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--broker", metavar="URL",
                         help="Kafka broker, kafka://HOST:PORT (default: NEWSWIRE_BROKER_URL)")

    run = commands.add_parser(
        "run", help="run every agent (embedded broker unless --broker) and replay inputs",
        description="Start the pipeline (on an embedded broker unless --broker or "
        "NEWSWIRE_BROKER_URL names one), replay the seeds or --replay inputs, and keep "
        "running until Ctrl-C (or, with --once, until every input has reached its story). "
        "Progress goes to stderr; a replay of at most 20 articles prints each story as it "
        "changes, a larger one its 10 largest stories at the end; a summary line ends the "
        "replay. Exit codes with --once: 0 every input is in a story, 1 timeout, "
        "3 some inputs were dead-lettered.")
    with_broker(run)
    run.add_argument("--replay", nargs="+", type=Path, metavar="PATH",
                     help="inputs to replay instead of the seeds")
    run.add_argument("--once", action="store_true",
                     help="exit when every input has reached the stories topic (exit 3 if "
                     "some were dead-lettered)")
    run.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                     help="with --once: give up (exit 1) after this long")
    run.add_argument("--quiet", action="store_true",
                     help="print only the summary line (and errors): no stories, no progress")
    run.add_argument("--stories-out", type=Path, metavar="FILE",
                     help="write the final state of every story as JSON lines")
    run.add_argument("--articles-out", type=Path, metavar="FILE",
                     help="write every enriched article as JSON lines")
    run.set_defaults(func=cmd_run)

    worker = commands.add_parser(
        "worker", help="run every agent against a broker (for production and scale-out)",
        description="Run the agents against --broker; start several for more throughput.")
    with_broker(worker)
    worker.set_defaults(func=cmd_worker)

    replay = commands.add_parser(
        "replay", help="publish files to the raw topic of a running broker",
        description="Publish .txt, .html, .json, .jsonl (and .gz of those) files or "
        "directories to the raw topic. Ids are stable: replaying twice adds nothing.")
    with_broker(replay)
    replay.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    replay.set_defaults(func=cmd_replay)

    follow = commands.add_parser(
        "follow", help="monitor RSS/Atom feeds and publish new articles to the raw topic",
        description="Poll each feed (conditional GET, backoff on failure), fetch each new "
        "entry's page and publish it to the raw topic; a failing feed never stops the others.")
    with_broker(follow)
    follow.add_argument("feed_urls", nargs="+", metavar="FEED_URL")
    follow.add_argument("--interval", type=float, default=300.0,
                        help="seconds between polls of a feed (default 300)")
    follow.set_defaults(func=cmd_follow)

    tail = commands.add_parser(
        "tail", help="print a topic's records, as a downstream consumer sees them",
        description="Print each record of TOPIC as a JSON line. TOPIC is a role (raw, clean, "
        "tagged, deduped, enriched, stories, deadletter) or a full topic name.")
    with_broker(tail)
    tail.add_argument("topic", metavar="TOPIC")
    tail.add_argument("--from", dest="from_", choices=("beginning", "now"), default="beginning",
                      help="start from the first record (default) or only show new ones")
    tail.add_argument("--max", type=int, default=0, help="stop after this many records")
    tail.set_defaults(func=cmd_tail)

    broker = commands.add_parser(
        "broker", help="run only the embedded broker, for other processes",
        description="Start the embedded Tansu broker (memory only) with every topic created.")
    broker.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: free)")
    broker.set_defaults(func=cmd_broker)

    stories = commands.add_parser(
        "stories", help="list and search the current stories (the worker's story database)",
        description="Search the stories a worker has stored (NEWSWIRE_DATA_DIR/stories.sqlite): "
        "by entity (id, name or surface form), by words, by time.")
    stories.add_argument("--entity", help="entity id, name or surface form, e.g. 'Haftar'")
    stories.add_argument("--text", help="words found in headline, summary, titles or entities")
    stories.add_argument("--since", type=_datetime, help="active at or after (ISO date/time)")
    stories.add_argument("--until", type=_datetime, help="started at or before (ISO date/time)")
    stories.add_argument("--limit", type=int, default=20)
    stories.add_argument("--json", action="store_true", help="print JSON lines")
    stories.add_argument("--db", type=Path, help="story database (default: in the data dir)")
    stories.set_defaults(func=cmd_stories)

    bench = commands.add_parser(
        "bench", help="benchmark throughput, latency, memory and scale-out "
        "(see `newswire bench --help`)", add_help=False,
        description="Run the whole-pipeline benchmark.")
    bench.set_defaults(func=cmd_bench)

    evaluate = commands.add_parser(
        "evaluate", help="score a stage on a corpus (see `newswire evaluate STAGE --help`)",
        description="Run a stage's evaluation script on a corpus file given as a path.")
    evaluate.add_argument("stage", choices=EVALUATIONS)
    evaluate.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``newswire`` command."""
    parser = build_parser()
    # `bench` and `evaluate` hand the rest of the line to their own scripts.
    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in ("bench", "evaluate"):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.args = rest
    try:
        code: int = args.func(args)
    except KafkaConnectionError as error:
        sys.exit(f"newswire: cannot reach the Kafka broker: {error}")
    except (OSError, ValueError) as error:
        sys.exit(f"newswire: {error}")
    return code


if __name__ == "__main__":
    sys.exit(main())
