"""Synthetic news articles, distinct from one another, for end-to-end tests and the soak.

Each article has a title and four paragraphs of sentences drawn from the spinner's
vocabulary (:data:`newswire.evaluation.variants.SYNONYMS`, so spun copies of them are as
spun as the real thing) around names, places and figures of its own; two articles
share common words but few word sequences, so none is a copy of another, and each
of their :mod:`newswire.evaluation.variants` copies points at its own original.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from newswire.evaluation.variants import SYNONYMS, make_variant

_FUNCTION_WORDS = (
    "the",
    "a",
    "of",
    "in",
    "on",
    "and",
    "to",
    "after",
    "while",
    "with",
    "for",
    "by",
    "but",
    "also",
    "about",
    "during",
    "from",
    "at",
)
_CONTENT_WORDS = tuple(sorted(word for word in SYNONYMS if word.isalpha()))
_SYLLABLES = (
    "ka",
    "lo",
    "mir",
    "sen",
    "ta",
    "vel",
    "dor",
    "an",
    "bri",
    "cos",
    "el",
    "fu",
    "gar",
    "hal",
    "is",
    "jon",
    "ku",
    "lem",
    "nor",
    "os",
    "pra",
    "ril",
    "sta",
    "ul",
)


def _name(rng: random.Random) -> str:
    return "".join(rng.choices(_SYLLABLES, k=rng.randint(2, 3))).capitalize()


def _sentence(rng: random.Random, names: list[str]) -> str:
    words = [
        rng.choice(_CONTENT_WORDS if rng.random() < 0.6 else _FUNCTION_WORDS)
        for _ in range(rng.randint(12, 20))
    ]
    words.insert(rng.randrange(len(words)), rng.choice(names))
    words.insert(rng.randrange(len(words)), str(rng.randrange(2, 9_000)))
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def article(number: int, seed: int = 0) -> dict[str, str]:
    """Article ``number`` (id, title, text): deterministic for ``number`` and ``seed``."""
    rng = random.Random(f"{seed}:{number}")
    names = [f"{_name(rng)} {_name(rng)}" for _ in range(3)] + [_name(rng) for _ in range(3)]
    title = " ".join([names[3], *rng.choices(_CONTENT_WORDS, k=5), names[0]])
    paragraphs = [" ".join(_sentence(rng, names) for _ in range(3)) for _ in range(4)]
    return {
        "id": f"synthetic-{seed}-{number:06d}",
        "title": title,
        "text": title + "\n\n" + "\n\n".join(paragraphs),
    }


def with_planted_copies(count: int, seed: int = 0) -> Iterator[tuple[dict[str, str], str | None]]:
    """``count`` articles, each followed right after by a copy of it (spun, then cut
    short, in turn): (article, the id of the original it copies, or None)."""
    for number in range(count):
        original = article(number, seed)
        yield original, None
        variant = make_variant(original, ("spun", "truncated")[number % 2], seed)
        yield {"id": variant.id, "title": variant.title or "", "text": variant.text}, original["id"]
