"""The soak benchmark: generated articles at a steady rate through the default
``newswire run`` (its embedded broker on disk, with a retention short enough to act
within the run), against the same run with the broker in memory.

``python -m newswire.soak --articles N --rate R --retention-seconds S --json F``
samples every few seconds the resident memory of the run's processes (the worker with
its stage processes, the broker, rclone) and the data directory's size; it reports the
worker's memory per article held (its growth over the articles placed since its start,
within the first ``--dedup-seconds``: every article placed then is held), the sustained
rate (articles placed a second, first to last) and, with ``--kill-at``, the recovery
after a SIGKILL of the run's process group once that share of the articles is placed
(seconds from the kill to the next article placed by the run started again, after those
placed within a second of the kill, which were on their way). Progress is
read from the story database the run keeps, as a user would. ``--dedup-seconds T`` sets
the dedup retention to T (default: its own, 14 days), so that the dedup state and its
changelogs stop growing within the run (the story stage's cold time is at least a day).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
import psutil

from newswire.evaluation.synthetic import article

MODES = ("disk", "memory")
TABLE_ROWS = 8
"""Samples a mode's time series is condensed to in the table."""
RUN_LOG = "run.log"
"""The file of the data directory the run's stderr goes to."""
RECOVERY_TICK = 0.5
"""Seconds between looks at the story database while a kill waits for its recovery."""

IN_FLIGHT_SECONDS = 1.0
"""Articles placed this soon after a kill were on their way before it."""


@dataclass(frozen=True)
class Sample:
    """The run's state at one moment."""

    seconds: float
    placed: int
    worker_rss: int
    broker_rss: int
    rclone_rss: int
    data_bytes: int
    start: int = 0
    """Which start of the run it belongs to (1 after a kill)."""


@dataclass
class ModeResult:
    """One mode's run: its samples and what they come to."""

    mode: str
    samples: list[Sample] = field(default_factory=list)
    sustained_rate: float = 0.0
    memory_per_article: float | None = None
    recovery_seconds: float | None = None


def process_rss(root: psutil.Process) -> dict[str, int]:
    """Resident bytes of ``root``'s process tree: the broker (Tansu), its object store
    (rclone) and the worker (every other process: the run and its stage processes)."""
    rss = {"worker": 0, "broker": 0, "rclone": 0}
    for process in [root, *root.children(recursive=True)]:
        try:
            command = " ".join(process.cmdline())
            resident = process.memory_info().rss
        except psutil.Error:  # exited meanwhile
            continue
        kind = (
            "rclone"
            if "rclone" in command
            else "broker"
            if "--storage-engine" in command or "tansu" in command
            else "worker"
        )
        rss[kind] += resident
    return rss


def directory_bytes(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def story_progress(database: Path) -> int:
    """Articles placed in the story database; 0 before it exists or while it is locked."""
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as db:
            (placed,) = db.execute(
                "SELECT coalesce(sum(json_array_length(record, '$.article_ids')), 0) FROM stories"
            ).fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(placed)


def write_articles(path: Path, count: int, seed: int) -> Path:
    """``count`` generated articles, one JSON object a line."""
    with path.open("wb") as file:
        for number in range(count):
            file.write(orjson.dumps(article(number, seed)) + b"\n")
    return path


def sustained_rate(samples: Sequence[Sample]) -> float:
    """Articles placed a second, from the first sample with one placed to the last."""
    placing = [sample for sample in samples if sample.placed > 0]
    if len(placing) < 2 or placing[-1].seconds == placing[0].seconds:
        return 0.0
    return (placing[-1].placed - placing[0].placed) / (placing[-1].seconds - placing[0].seconds)


def memory_per_article(samples: Sequence[Sample], window: float | None = None) -> float | None:
    """The worker's resident growth per article placed over its last start (from its
    first sample with an article placed, for ``window`` seconds if given: while every
    article placed is held); None with too few samples."""
    last_start = [sample for sample in samples if sample.start == samples[-1].start]
    # From the first article it placed itself (a restarted run begins with the earlier ones).
    placing = [sample for sample in last_start if sample.placed > last_start[0].placed]
    if window is not None and placing:
        placing = [sample for sample in placing if sample.seconds <= placing[0].seconds + window]
    if len(placing) < 2 or placing[-1].placed == placing[0].placed:
        return None
    return (placing[-1].worker_rss - placing[0].worker_rss) / (
        placing[-1].placed - placing[0].placed
    )


def condense(samples: Sequence[Sample], rows: int = TABLE_ROWS) -> list[Sample]:
    """At most ``rows`` samples, evenly spaced, the first and the last among them."""
    if len(samples) <= rows:
        return list(samples)
    step = (len(samples) - 1) / (rows - 1)
    return [samples[round(row * step)] for row in range(rows)]


def format_table(results: Sequence[ModeResult]) -> str:
    """The modes side by side, then each one's time series condensed (sizes in MiB)."""
    mib = 1024 * 1024

    def number(value: float | None, unit: str = "") -> str:
        return "—" if value is None else f"{value:,.1f}{unit}"

    lines = [
        "| | " + " | ".join(result.mode for result in results) + " |",
        "| --- |" + " --- |" * len(results),
    ]
    rows = [
        ("articles placed", [str(r.samples[-1].placed if r.samples else 0) for r in results]),
        ("sustained rate (articles/s)", [number(r.sustained_rate) for r in results]),
        (
            "worker memory per article placed",
            [
                number(None if r.memory_per_article is None else r.memory_per_article / 1024, " KB")
                for r in results
            ],
        ),
        ("recovery after SIGKILL", [number(r.recovery_seconds, " s") for r in results]),
        (
            "data directory at the end",
            [
                number(r.samples[-1].data_bytes / mib if r.samples else None, " MiB")
                for r in results
            ],
        ),
    ]
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in rows]
    for result in results:
        lines += [
            "",
            f"{result.mode}: seconds, placed, worker / broker / rclone RSS and data "
            "directory (MiB)",
            "",
            "| s | placed | worker | broker | rclone | data |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {s.seconds:.0f} | {s.placed} | {s.worker_rss / mib:.0f} | "
            f"{s.broker_rss / mib:.0f} | {s.rclone_rss / mib:.0f} | "
            f"{s.data_bytes / mib:.1f} |"
            for s in condense(result.samples)
        ]
    return "\n".join(lines)


@dataclass
class Soak:
    """One run of the benchmark's settings, in one mode (see the module docstring)."""

    articles: Path
    count: int
    rate: float
    retention_seconds: float
    sample_seconds: float = 5.0
    kill_at: float | None = None
    timeout: float = 3600.0
    dedup_seconds: float | None = None

    def run(self, mode: str, data_dir: Path) -> ModeResult:
        """Run the articles through ``newswire run`` in ``mode``; return its result."""
        result = ModeResult(mode)
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("NEWSWIRE_")
        } | {
            "NEWSWIRE_DATA_DIR": str(data_dir),
            "NEWSWIRE_EMBEDDED_BROKER_STORAGE": mode,
            "NEWSWIRE_TOPIC_RETENTION_DAYS": str(self.retention_seconds / 86400),
            "NEWSWIRE_RETENTION_SWEEP_SECONDS": str(max(1.0, self.retention_seconds / 4)),
        }
        if self.dedup_seconds is not None:
            env["NEWSWIRE_DEDUP_RETENTION_DAYS"] = str(self.dedup_seconds / 86400)
        database = data_dir / "stories.sqlite"
        started = time.monotonic()
        process = self._start(env, data_dir)
        start, placed_at_kill = 0, 0
        killed_at: float | None = None
        try:
            while (now := time.monotonic()) - started < self.timeout:
                placed = story_progress(database)
                if killed_at is not None and result.recovery_seconds is None:
                    if now - killed_at < IN_FLIGHT_SECONDS:
                        placed_at_kill = max(placed_at_kill, placed)
                    elif placed > placed_at_kill:
                        result.recovery_seconds = now - killed_at
                recovering = killed_at is not None and result.recovery_seconds is None
                rss = process_rss(psutil.Process(process.pid))
                result.samples.append(
                    Sample(
                        round(now - started, 1),
                        placed,
                        rss["worker"],
                        rss["broker"],
                        rss["rclone"],
                        directory_bytes(data_dir),
                        start,
                    )
                )
                if placed >= self.count:
                    break
                if process.poll() is not None:
                    log = (data_dir / RUN_LOG).read_text(errors="replace")
                    log = log[max(0, log.find("Traceback")) :][:3000]  # the first error
                    raise RuntimeError(
                        f"newswire run exited {process.returncode} in {mode} "
                        f"mode with {placed} of {self.count} placed:\n{log}"
                    )
                if (
                    mode == "disk"
                    and self.kill_at is not None
                    and killed_at is None
                    and placed >= self.kill_at * self.count
                ):
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    killed_at, placed_at_kill, start = time.monotonic(), placed, start + 1
                    process, recovering = self._start(env, data_dir), True
                time.sleep(RECOVERY_TICK if recovering else self.sample_seconds)
            else:
                raise TimeoutError(f"{mode}: {self.count} articles not placed in {self.timeout} s")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        result.sustained_rate = sustained_rate(result.samples)
        result.memory_per_article = memory_per_article(result.samples, self.dedup_seconds)
        return result

    def _start(self, env: dict[str, str], data_dir: Path) -> subprocess.Popen[bytes]:
        data_dir.mkdir(parents=True, exist_ok=True)
        with (data_dir / RUN_LOG).open("ab") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "newswire.cli",
                    "run",
                    "--replay",
                    str(self.articles),
                    "--rate",
                    str(self.rate),
                    "--quiet",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak in each mode and print its table; write its JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m newswire.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=20.0, help="articles a second")
    parser.add_argument("--retention-seconds", type=float, default=600.0)
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument(
        "--dedup-seconds",
        type=float,
        default=None,
        help="dedup retention (default: its own)",
    )
    parser.add_argument(
        "--kill-at",
        type=float,
        default=None,
        metavar="SHARE",
        help="SIGKILL the disk run once this share (0-1) is placed",
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds a mode may take (default: twice the publishing time)",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="FILE")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="newswire-soak-") as folder:
        articles = write_articles(Path(folder) / "articles.jsonl", options.articles, options.seed)
        soak = Soak(
            articles,
            options.articles,
            options.rate,
            options.retention_seconds,
            options.sample_seconds,
            options.kill_at,
            options.timeout or 2 * options.articles / options.rate + 300,
            options.dedup_seconds,
        )
        results = [soak.run(mode, Path(folder) / mode) for mode in options.modes]
    print(format_table(results))
    if options.json:
        options.json.write_bytes(
            orjson.dumps(
                {
                    "articles": options.articles,
                    "rate": options.rate,
                    "retention_seconds": options.retention_seconds,
                    "kill_at": options.kill_at,
                    "dedup_seconds": options.dedup_seconds,
                    "modes": [asdict(result) for result in results],
                },
                option=orjson.OPT_INDENT_2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
