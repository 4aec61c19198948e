"""The command line with a real broker: replay, then tail."""

from __future__ import annotations

from collections import Counter

import orjson

from newswire.replay.inputs import stable_id
from schemas.settings import Settings
from tests.conftest import SEEDS, newswire
from tests.e2e.conftest import settings_env


def test_replay_then_tail_shows_each_seed_once(pipeline_settings: Settings) -> None:
    env = settings_env(pipeline_settings)
    # A replay run again resumes: it has nothing left to publish, and says so; from the
    # start, it publishes again, with the same ids.
    for flags, published in (((), 5), ((), 0), (("--from-start",), 5)):
        replayed = newswire("replay", str(SEEDS), *flags, env=env)
        assert replayed.returncode == 0, replayed.stderr
        assert f"published {published} articles" in replayed.stdout
        assert ("replayed to its end already" in replayed.stderr) == (published == 0)
    tailed = newswire("tail", "raw", "--max", "10", env=env)
    assert tailed.returncode == 0, tailed.stderr
    ids = [orjson.loads(line)["id"] for line in tailed.stdout.splitlines()]
    expected = {stable_id(content=path.read_bytes()) for path in SEEDS.glob("*.txt")}
    assert Counter(ids) == dict.fromkeys(expected, 2)
