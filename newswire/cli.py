"""The ``newswire`` command line."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from newswire.arguments import (
    ArgumentParser,
    UsageError,
    broker_url,
    language_code,
    moment,
    positive_float,
    positive_int,
    tcp_port,
)

if TYPE_CHECKING:
    from newswire.replay.inputs import Reader, ReplayCounts
    from newswire.replay.progress import ReplayProgress
    from newswire.replay.state import ReplayCheckpoints
    from newswire.watch import StatusLine
    from schemas.settings import Settings

# Each command imports what it needs when it runs: `newswire --help` stays fast.
SEEDS_DIR = Path("seeds")
EVALUATIONS = ("cleaning", "entities", "dedup", "stories")


def _settings(args: argparse.Namespace) -> Settings:
    from schemas.settings import Settings

    settings = Settings()
    if getattr(args, "broker", None):
        settings = settings.model_copy(update={"broker_url": args.broker})
    return settings


def _broker_settings(args: argparse.Namespace) -> Settings:
    """Settings of a command that needs a broker: it is given, and its profile resolved."""
    from agents.runtime.broker import with_profile

    settings = _settings(args)
    if not settings.broker_url:
        sys.exit(
            "newswire: no broker: pass --broker kafka://HOST:PORT, set NEWSWIRE_BROKER_URL, "
            "or start one with `newswire broker`"
        )
    return with_profile(settings)


def _check_inputs(paths: Sequence[Path], hint: str) -> None:
    import glob

    missing = [
        str(path)
        for path in paths
        if str(path) != "-" and not path.exists() and not glob.glob(str(path))
    ]
    if missing:
        raise UsageError(f"no such input: {', '.join(missing)} ({hint})")


def _announce_worker(settings: Settings) -> None:
    """Say which broker and profile the worker uses; log a lost broker in a few lines."""
    from agents.runtime.broker import bootstrap_servers
    from agents.runtime.logs import quiet_broker_outages

    assert settings.broker_url, "a worker needs a broker URL"
    print(
        f"newswire: worker on {settings.broker_url}, broker profile {settings.broker_profile}",
        file=sys.stderr,
        flush=True,
    )
    quiet_broker_outages(bootstrap_servers(settings.broker_url))


def _replay_reader(
    args: argparse.Namespace,
    settings: Settings,
    counts: ReplayCounts,
    status: StatusLine | None = None,
    progress: ReplayProgress | None = None,
) -> tuple[Reader, ReplayCheckpoints]:
    """The reader of a replay's flags (filters, limit, checkpoints), and its checkpoints;
    its reports go to ``status`` (else stderr), each record read to ``progress``."""
    from newswire.replay.filter import Selection
    from newswire.replay.inputs import Reader
    from newswire.replay.state import ReplayCheckpoints

    if args.since and args.until and args.since > args.until:
        raise UsageError(
            f"--since {args.since.isoformat()} is after --until {args.until.isoformat()}"
        )
    selection = Selection(
        since=args.since, until=args.until, hosts=tuple(args.host), languages=tuple(args.language)
    )
    checkpoints = ReplayCheckpoints(
        settings.data_dir / "replay", selection.key(), from_start=args.from_start
    )
    reader = Reader(
        settings,
        counts,
        *([status.say] if status else []),
        selection=selection,
        limit=args.limit,
        checkpoints=checkpoints,
        on_record=progress.at if progress else None,
    )
    return reader, checkpoints


def cmd_run(args: argparse.Namespace) -> int:
    from newswire.replay.inputs import ReplayCounts
    from newswire.run import WorkerRun

    paths = args.replay or [SEEDS_DIR]
    _check_inputs(paths, "run from the project folder, or pass --replay PATH")
    settings = _settings(args)
    if settings.broker_url:
        settings = _broker_settings(args)
        _announce_worker(settings)
    if not args.quiet:
        print(
            f"newswire: replaying {', '.join(str(p) for p in paths)}", file=sys.stderr, flush=True
        )
    counts = ReplayCounts()
    reader, checkpoints = _replay_reader(args, settings, counts)
    return WorkerRun(
        settings,
        watch=True,
        messages=reader.read(paths),
        counts=counts,
        checkpoints=checkpoints,
        rate=args.rate,
        once=args.once,
        timeout=args.timeout,
        stories_out=args.stories_out,
        articles_out=args.articles_out,
        quiet=args.quiet,
    ).execute()


def cmd_worker(args: argparse.Namespace) -> int:
    from newswire.run import WorkerRun

    settings = _broker_settings(args)
    _announce_worker(settings)
    return WorkerRun(settings).execute()


def cmd_replay(args: argparse.Namespace) -> int:
    import asyncio

    from agents.runtime.broker import ensure_topics_sync
    from newswire.replay.inputs import ReplayCounts, input_files, publish
    from newswire.replay.progress import ReplayProgress
    from newswire.watch import StatusLine

    _check_inputs(args.paths, "give files, directories, globs or - to publish")
    settings = _broker_settings(args)
    counts = ReplayCounts()
    files = input_files(args.paths)
    status = StatusLine(sys.stderr)
    progress = ReplayProgress(
        counts, status, {file: file.stat().st_size for file in files if str(file) != "-"}
    )
    shown = status.terminal or args.progress
    reader, checkpoints = _replay_reader(
        args, settings, counts, status, progress if shown else None
    )
    ensure_topics_sync(settings)
    try:
        asyncio.run(
            publish(settings, reader.read(files), counts, checkpoints=checkpoints, rate=args.rate)
        )
    finally:
        if shown:
            progress.finish()
    print(counts.summary())
    return 0


def cmd_follow(args: argparse.Namespace) -> int:
    import asyncio

    from agents.runtime.broker import ensure_topics_sync
    from newswire.follow.feeds import FeedFollower
    from newswire.follow.fetch import FetchError, check_url
    from newswire.replay.inputs import RawPublisher

    settings = _settings(args)
    if not args.sources and not args.list:
        raise UsageError("give at least one SOURCE URL or --list FILE")
    for url in args.sources:
        try:
            check_url(url, settings.follow_allow_loopback)
        except FetchError as error:
            raise UsageError(f"{error} (a source is an http or https URL)") from None
    _check_inputs([args.list] if args.list else [], "give a list of source URLs")
    floor = settings.follow_min_interval_seconds
    if args.interval < floor:
        raise UsageError(
            f"--interval {args.interval:g} is below the floor of {floor:g} s "
            "(NEWSWIRE_FOLLOW_MIN_INTERVAL_SECONDS)"
        )
    settings = _broker_settings(args)
    ensure_topics_sync(settings)

    async def follow() -> FeedFollower:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with RawPublisher(settings) as publisher:
            follower = FeedFollower(
                settings, args.sources, publisher, interval=args.interval, source_list=args.list
            )
            await follower.run(stop, once=args.once)
        return follower

    sources = f"{len(args.sources)} sources" + (f" and the list {args.list}" if args.list else "")
    print(
        f"newswire: following {sources}"
        + (" once" if args.once else f" every {args.interval:g} s (Ctrl-C stops)"),
        file=sys.stderr,
        flush=True,
    )
    follower = asyncio.run(follow())
    print(
        f"newswire: published {follower.published['page']} pages and "
        f"{follower.published['feed_summary']} feed summaries",
        file=sys.stderr,
        flush=True,
    )
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, datetime

    from newswire.watch import consume
    from schemas.graph import ALL_TOPICS

    settings = _settings(args)
    names = {topic.role: topic.name(settings.topic_prefix) for topic in ALL_TOPICS}
    if args.topic not in names and args.topic not in names.values():
        raise UsageError(
            f"unknown topic {args.topic!r}: give a role ({', '.join(names)}) "
            f"or a full topic name such as {names['raw']}"
        )
    topic = names.get(args.topic, args.topic)
    settings = _broker_settings(args)
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
    from agents.runtime.broker import EmbeddedBroker, ensure_topics_sync

    settings = _settings(args)
    with EmbeddedBroker(port=args.port) as broker:
        ensure_topics_sync(settings.model_copy(update={"broker_url": broker.url}))
        print(
            f"newswire: embedded broker at {broker.url} (memory only; Ctrl-C stops it)", flush=True
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(KeyboardInterrupt):
            code = broker.wait()
            said = broker.last_words()
            print(
                f"newswire: the embedded broker stopped (exit status {code})"
                + (f": {said}" if said else ""),
                file=sys.stderr,
            )
            return 1
    return 0


def cmd_stories(args: argparse.Namespace) -> int:
    import sqlite3

    from newswire.watch import format_story
    from streams.stories.store import SQLiteStoryStore

    path = args.db or _settings(args).story_db_path
    if not path.is_file():
        raise UsageError(f"no story database at {path} (run the pipeline first, or --db FILE)")
    try:
        with SQLiteStoryStore(path) as store:
            stories = store.search(
                entity=args.entity,
                text=args.text,
                since=args.since,
                until=args.until,
                limit=args.limit,
            )
    except sqlite3.DatabaseError as error:
        raise UsageError(f"{path} is not a story database ({error})") from error
    for story in stories:
        print(story.to_json().decode() if args.json else format_story(story) + "\n")
    if not args.json:
        print(f"{len(stories)} stor{'y' if len(stories) == 1 else 'ies'}")
    return 0


def cmd_deadletter(args: argparse.Namespace) -> int:
    import asyncio

    from newswire import deadletters

    settings = _broker_settings(args)
    chosen = deadletters.select(
        asyncio.run(deadletters.read_dead_letters(settings)),
        stages=args.stage,
        reasons=args.reason,
        article_ids=args.id,
        positions=args.at,
    )
    if not args.resend:
        for stored in chosen:
            print(
                stored.letter.to_json().decode() if args.json else deadletters.format_letter(stored)
            )
        if not args.json:
            print("\n".join([f"{len(chosen)} dead letters", *deadletters.format_counts(chosen)]))
        return 0
    resends, refused = [], 0
    for stored in chosen:
        try:
            resends.append(deadletters.resend_of(stored.letter, settings))
        except deadletters.Refused as why:
            refused += 1
            print(
                f"newswire deadletter: not sent {stored.position} "
                f"({stored.letter.article_id or stored.letter.location}): {why}",
                file=sys.stderr,
            )
    asyncio.run(deadletters.send_again(settings, resends))
    print(f"sent {len(resends)} dead letters again" + (f", refused {refused}" if refused else ""))
    return 1 if refused else 0


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
    parser = ArgumentParser(
        prog="newswire",
        description="Streaming news ingestion on Kafka: clean, tag, dedup, group into stories.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_broker(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--broker",
            metavar="URL",
            type=broker_url,
            help="Kafka broker, kafka://HOST:PORT (default: NEWSWIRE_BROKER_URL)",
        )

    def with_replay_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--since",
            type=moment,
            help="only articles published at or after (ISO date/time, UTC if "
            "no offset; the page's date, else the record's)",
        )
        sub.add_argument(
            "--until", type=moment, help="only articles published at or before (as --since)"
        )
        sub.add_argument(
            "--host",
            action="append",
            default=[],
            metavar="PATTERN",
            help="only articles of this host or its subdomains; wildcards "
            "(*.example.org); repeatable",
        )
        sub.add_argument(
            "--language",
            action="append",
            default=[],
            type=language_code,
            metavar="CODE",
            help="only articles in this language (ISO 639-1, e.g. en); repeatable",
        )
        sub.add_argument(
            "--limit", type=positive_int, metavar="N", help="publish at most N articles"
        )
        sub.add_argument(
            "--rate", type=positive_float, metavar="N", help="publish at most N articles a second"
        )
        sub.add_argument(
            "--from-start",
            action="store_true",
            help="ignore the checkpoints: read every input from its start",
        )

    run = commands.add_parser(
        "run",
        help="run every agent (embedded broker unless --broker) and replay inputs",
        description="Start the pipeline (on an embedded broker unless --broker or "
        "NEWSWIRE_BROKER_URL names one), replay the seeds or --replay inputs, and keep "
        "running until Ctrl-C (or, with --once, until every input has reached its story). "
        "Progress goes to stderr; a replay of at most 20 articles prints each story as it "
        "changes, a larger one its 10 largest stories at the end; a summary line ends the "
        "replay. Exit codes with --once: 0 every input is in a story, 1 timeout, "
        "3 some inputs were dead-lettered.",
    )
    with_broker(run)
    run.add_argument(
        "--replay",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="inputs to replay instead of the seeds (files, directories, "
        "globs, - for standard input)",
    )
    with_replay_options(run)
    run.add_argument(
        "--once",
        action="store_true",
        help="exit when every input has reached the stories topic (exit 3 if "
        "some were dead-lettered)",
    )
    run.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="with --once: give up (exit 1) after this long",
    )
    run.add_argument(
        "--quiet",
        action="store_true",
        help="print only the summary line (and errors): no stories, no progress",
    )
    run.add_argument(
        "--stories-out",
        type=Path,
        metavar="FILE",
        help="write the final state of every story as JSON lines",
    )
    run.add_argument(
        "--articles-out",
        type=Path,
        metavar="FILE",
        help="write every enriched article as JSON lines",
    )
    run.set_defaults(func=cmd_run)

    worker = commands.add_parser(
        "worker",
        help="run every agent against a broker (for production and scale-out)",
        description="Run the agents against --broker; start several for more throughput.",
    )
    with_broker(worker)
    worker.set_defaults(func=cmd_worker)

    replay = commands.add_parser(
        "replay",
        help="publish files and web archives to the raw topic of a running broker",
        description="Publish .txt, .html, .json, .jsonl and .warc (and .gz of those: "
        "CC-NEWS, wget --warc-file, Heritrix, Browsertrix) files, directories, globs or - "
        "(standard input) to the raw topic; from a WARC, the HTML pages of its HTTP 200 "
        "responses, the other records counted by reason and skipped. Ids are stable: "
        "replaying twice adds nothing. An interrupted replay, run again with the same "
        "arguments, resumes where it stopped (checkpoints in NEWSWIRE_DATA_DIR/replay).",
    )
    with_broker(replay)
    replay.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    with_replay_options(replay)
    replay.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even when it is not a terminal",
    )
    replay.set_defaults(func=cmd_replay)

    follow = commands.add_parser(
        "follow",
        help="monitor news sites (feeds, sitemaps, home pages) and publish new "
        "articles to the raw topic",
        description="Poll each source (an RSS/Atom feed, a sitemap or news sitemap, or a "
        "site's home page, whose feeds are found) with conditional GETs, fetch each new or "
        "changed article's page and publish it to the raw topic. Polite by default: "
        "robots.txt, one request at a time per host, Crawl-delay, Retry-After. What was "
        "published is kept in DATA_DIR/follow.sqlite, so a restart publishes nothing twice.",
    )
    with_broker(follow)
    follow.add_argument(
        "sources", nargs="*", metavar="SOURCE", help="feed, sitemap or home page URL"
    )
    follow.add_argument(
        "--list",
        type=Path,
        metavar="FILE",
        help="more sources: an OPML file or one URL a line, re-read when edited",
    )
    follow.add_argument(
        "--interval",
        type=positive_float,
        default=300.0,
        help="seconds between polls of a source (default 300, at least "
        "NEWSWIRE_FOLLOW_MIN_INTERVAL_SECONDS, default 60)",
    )
    follow.add_argument(
        "--once",
        action="store_true",
        help="poll every source once, fetch what is new, then exit (for cron)",
    )
    follow.set_defaults(func=cmd_follow)

    tail = commands.add_parser(
        "tail",
        help="print a topic's records, as a downstream consumer sees them",
        description="Print each record of TOPIC as a JSON line. TOPIC is a role (raw, clean, "
        "tagged, deduped, enriched, stories, deadletter) or a full topic name.",
    )
    with_broker(tail)
    tail.add_argument("topic", metavar="TOPIC")
    tail.add_argument(
        "--from",
        dest="from_",
        choices=("beginning", "now"),
        default="beginning",
        help="start from the first record (default) or only show new ones",
    )
    tail.add_argument("--max", type=positive_int, help="stop after this many records")
    tail.set_defaults(func=cmd_tail)

    broker = commands.add_parser(
        "broker",
        help="run only the embedded broker, for other processes",
        description="Start the embedded Tansu broker (memory only) with every topic created.",
    )
    broker.add_argument(
        "--port", type=tcp_port, default=None, help="port on 127.0.0.1 (default: free)"
    )
    broker.set_defaults(func=cmd_broker)

    stories = commands.add_parser(
        "stories",
        help="list and search the current stories (the worker's story database)",
        description="Search the stories a worker has stored (NEWSWIRE_DATA_DIR/stories.sqlite): "
        "by entity (id, name or surface form), by words, by time.",
    )
    stories.add_argument("--entity", help="entity id, name or surface form, e.g. 'Haftar'")
    stories.add_argument("--text", help="words found in headline, summary, titles or entities")
    stories.add_argument(
        "--since",
        type=moment,
        help="last published at or after (ISO date/time; UTC if no offset; "
        "seen time for a story with no publication dates)",
    )
    stories.add_argument(
        "--until", type=moment, help="first published at or before (ISO date/time; as --since)"
    )
    stories.add_argument(
        "--limit", type=positive_int, default=20, help="at most this many stories (default 20)"
    )
    stories.add_argument("--json", action="store_true", help="print JSON lines")
    stories.add_argument("--db", type=Path, help="story database (default: in the data dir)")
    stories.set_defaults(func=cmd_stories)

    deadletter = commands.add_parser(
        "deadletter",
        help="list dead letters by stage and reason, and send chosen ones through again",
        description="List the dead-letter topic's letters (position "
        "PARTITION:OFFSET, stage, reason, article) and how many of each stage and reason; "
        "with --resend, send the selected ones again to the topic they came from, once "
        "their cause is fixed (a reader's letter to the raw topic, if it now parses). "
        "Sending one twice changes nothing downstream: every stage sees a repeat. Exit 1 "
        "if a letter could not be sent (only a prefix of its message was kept).",
    )
    with_broker(deadletter)
    deadletter.add_argument(
        "--stage",
        action="append",
        default=[],
        help="only letters of this stage (clean, tag, replay...); repeatable",
    )
    deadletter.add_argument(
        "--reason",
        action="append",
        default=[],
        help="only letters of this reason (error type, e.g. too_large); repeatable",
    )
    deadletter.add_argument(
        "--id",
        action="append",
        default=[],
        metavar="ARTICLE_ID",
        help="only the letters of this article; repeatable",
    )
    deadletter.add_argument(
        "--at",
        action="append",
        default=[],
        metavar="PARTITION:OFFSET",
        help="only the letter at this position; repeatable",
    )
    deadletter.add_argument(
        "--resend",
        action="store_true",
        help="send the selected letters again instead of listing them",
    )
    deadletter.add_argument("--json", action="store_true", help="list the letters as JSON lines")
    deadletter.set_defaults(func=cmd_deadletter)

    bench = commands.add_parser(
        "bench",
        help="benchmark throughput, latency, memory and scale-out (see `newswire bench --help`)",
        add_help=False,
        description="Run the whole-pipeline benchmark.",
    )
    bench.set_defaults(func=cmd_bench)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a stage on a corpus (see `newswire evaluate STAGE --help`)",
        description="Run a stage's evaluation script on a corpus file given as a path.",
    )
    stages = evaluate.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for stage in EVALUATIONS:
        # The rest of the line, --help included, goes to the stage's own script.
        stages.add_parser(stage, help=f"evaluate {stage}", add_help=False)
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
    except BrokenPipeError:
        # The reader has gone (`newswire stories | head`): nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UsageError as error:
        print(f"newswire {args.command}: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        known = _explained(error)
        if known is None:
            raise
        code, message = known
        print(f"newswire {args.command}: {message}", file=sys.stderr)
    return code


def _explained(error: Exception) -> tuple[int, str] | None:
    """Exit status and one line for an error a user can act on; None for a bug."""
    from aiokafka.errors import KafkaConnectionError
    from pydantic import ValidationError

    from agents.runtime.broker import BrokerStartError

    if isinstance(error, ValidationError) and error.title == "Settings":
        return 2, "bad setting: " + "; ".join(
            f"NEWSWIRE_{'_'.join(map(str, problem['loc'])).upper()}={problem['input']!r}: "
            f"{problem['msg'].removeprefix('Value error, ')}"
            for problem in error.errors()
        )
    if isinstance(error, KafkaConnectionError):
        return 1, f"cannot reach the Kafka broker: {error}"
    if isinstance(error, BrokerStartError | OSError | ValueError | LookupError):
        return 1, str(error)
    return None


if __name__ == "__main__":
    sys.exit(main())
