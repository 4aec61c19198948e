"""A second, independent generator of spun copies, for reporting dedup on a spinner it
was not developed against.

:mod:`newswire.evaluation.variants` spins with a hand-written synonym table. This one shares none
of it: its substitutions come from a random dictionary built from the corpus's own
words (:class:`CorpusDictionary`: each content word maps to another corpus word of the
same shape, its ending and length, as a crude part of speech), at another rate, and it
also rewrites what a synonym table does not touch:

- ``respun``: 30-50 % (``SUBSTITUTION_RANGE``) of the content words swapped through the
  dictionary, 3 % of the others misspelt (a letter dropped, doubled or two swapped),
  10-30 % of the articles and prepositions of :data:`FUNCTION_WORDS` swapped, one pair
  of adjacent lower-case words in a third of the sentences swapped, and 10-20 % of the
  sentences after the first dropped;
- ``respun_truncated``: the same, then cut after a word to 40-70 % of its words.

Names and numbers (capitalised words, digits) are kept, as spinners keep them.
Everything is deterministic under ``seed``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from newswire.evaluation.variants import (
    Variant,
    count_in_range,
    is_content_word,
    match_case,
    replace_spans,
    truncate,
)

SpinnerKind = Literal["respun", "respun_truncated"]
SPINNER_KINDS: tuple[SpinnerKind, ...] = ("respun", "respun_truncated")

SUBSTITUTION_RANGE = (0.3, 0.5)
MISSPELLING_RATE = 0.03
FUNCTION_SWAP_RANGE = (0.1, 0.3)
REORDER_RATE = 1 / 3
DROP_RANGE = (0.1, 0.2)

FUNCTION_WORDS: dict[str, tuple[str, ...]] = {
    "the": ("a", "this"),
    "a": ("the", "one"),
    "an": ("the", "one"),
    "in": ("at", "within"),
    "at": ("in", "near"),
    "on": ("upon", "about"),
    "of": ("for", "from"),
    "to": ("towards",),
    "for": ("of", "to"),
    "with": ("alongside", "plus"),
    "from": ("off", "of"),
    "by": ("through", "via"),
    "and": ("plus", "as well as"),
    "is": ("was",),
    "was": ("is",),
}
_SHAPES = ("ly", "ing", "ed", "tion", "s")
_WORD = re.compile(r"[A-Za-z]+")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*[\"')\]]*\s*|\n+")


def shape(word: str) -> tuple[str, int]:
    """A crude part of speech: the word's ending among ``_SHAPES`` and its length band."""
    ending = next((suffix for suffix in _SHAPES if word.endswith(suffix)), "")
    return ending, min(len(word) // 3, 4)


class CorpusDictionary:
    """Word -> a random other word of the corpus with the same :func:`shape`."""

    def __init__(self, texts: Iterable[str], seed: int = 0) -> None:
        by_shape: dict[tuple[str, int], list[str]] = {}
        for word in sorted(
            {w for text in texts for w in _WORD.findall(text) if is_content_word(w)}
        ):
            by_shape.setdefault(shape(word), []).append(word)
        rng = random.Random(f"corpus-dictionary:{seed}")
        self.table: dict[str, str] = {}
        for words in by_shape.values():
            cycle = rng.sample(words, len(words))  # each word -> the next: never itself
            self.table.update(zip(cycle, cycle[1:] + cycle[:1], strict=True))
        for word in [w for w, target in self.table.items() if w == target]:
            del self.table[word]  # a shape with one word

    def __contains__(self, word: object) -> bool:
        return word in self.table

    def __getitem__(self, word: str) -> str:
        return self.table[word]


def misspell(word: str, rng: random.Random) -> str:
    """``word`` with one letter dropped, doubled, or two adjacent letters swapped."""
    if len(word) < 4:
        return word
    at = rng.randrange(1, len(word) - 1)
    edit = rng.randrange(3)
    if edit == 0:
        return word[:at] + word[at + 1 :]
    if edit == 1:
        return word[:at] + word[at] + word[at:]
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


def rewrite_words(text: str, dictionary: CorpusDictionary, rng: random.Random) -> str:
    """Dictionary substitutions, misspellings and function-word swaps (see the module)."""
    words = list(_WORD.finditer(text))
    content = [m for m in words if is_content_word(m.group())]
    eligible = [m for m in content if m.group() in dictionary]
    chosen = rng.sample(
        eligible, min(len(eligible), count_in_range(len(content), SUBSTITUTION_RANGE, rng))
    )
    replacements = {m.start(): (m.end(), dictionary[m.group()]) for m in chosen}
    function = [m for m in words if m.group().lower() in FUNCTION_WORDS]
    for m in rng.sample(function, count_in_range(len(function), FUNCTION_SWAP_RANGE, rng)):
        swap = rng.choice(FUNCTION_WORDS[m.group().lower()])
        replacements[m.start()] = (m.end(), match_case(m.group(), swap))
    for m in content:
        if m.start() not in replacements and rng.random() < MISSPELLING_RATE:
            replacements[m.start()] = (m.end(), misspell(m.group(), rng))
    return replace_spans(text, replacements)


def reorder(sentence: str, rng: random.Random) -> str:
    """``sentence`` with one pair of adjacent lower-case words swapped, a third of the time."""
    words = sentence.split(" ")
    pairs = [
        i
        for i in range(len(words) - 1)
        if words[i].isalpha()
        and words[i].islower()
        and words[i + 1].isalpha()
        and words[i + 1].islower()
    ]
    if not pairs or rng.random() >= REORDER_RATE:
        return sentence
    i = rng.choice(pairs)
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def drop_sentences(sentences: Sequence[str], rng: random.Random) -> list[str]:
    """``sentences`` less 10-20 % (``DROP_RANGE``) of those after the first."""
    real = [i for i, s in enumerate(sentences) if s.strip() and i > 0]
    dropped = set(rng.sample(real, min(len(real), count_in_range(len(real), DROP_RANGE, rng))))
    return [s for i, s in enumerate(sentences) if i not in dropped]


def respin(text: str, dictionary: CorpusDictionary, rng: random.Random) -> str:
    """A ``respun`` copy of ``text`` (see the module docstring)."""
    sentences = [m.group() for m in _SENTENCE.finditer(text)]
    kept = drop_sentences(sentences, rng)
    return rewrite_words("".join(reorder(s, rng) for s in kept), dictionary, rng)


def make_copy(
    article: Mapping[str, Any], kind: SpinnerKind, dictionary: CorpusDictionary, seed: int = 0
) -> Variant:
    """One ``kind`` copy of ``article`` (a mapping with ``id`` or ``doc_id``, and ``text``)."""
    source_id = str(article.get("id") or article.get("doc_id"))
    rng = random.Random(f"spinner:{seed}:{source_id}:{kind}")
    text = respin(str(article.get("text") or ""), dictionary, rng)
    kept = 1.0
    if kind == "respun_truncated":
        cut = truncate(text, rng)
        kept, text = len(cut.split()) / max(1, len(text.split())), cut
    title = article.get("title")
    return Variant(
        f"{source_id}~{kind}",
        source_id,
        kind,
        text,
        rewrite_words(title, dictionary, rng) if title else None,
        kept_fraction=kept,
    )


def make_copies(
    articles: Sequence[Mapping[str, Any]],
    kinds: Sequence[SpinnerKind] = SPINNER_KINDS,
    seed: int = 0,
) -> list[Variant]:
    """Every ``kinds`` copy of every article, with a dictionary built from their texts."""
    dictionary = CorpusDictionary((str(a.get("text") or "") for a in articles), seed)
    return [make_copy(article, kind, dictionary, seed) for article in articles for kind in kinds]
