"""Evaluate newswire's entity tagger against the raw spaCy model, side by side.

Corpus: a CoNLL-2003 file (``token POS chunk NER`` a line, IOB1 tags,
``-DOCSTART-`` between documents, a blank line between sentences). Each document
is given to a system as text: tokens joined by spaces, sentences by newlines, so
every gold entity is a character span of that text.

Scoring: PER, ORG and LOC spans (MISC aside), exact match of start, end and type;
precision, recall and F1 per type and micro-averaged overall. newswire's types map
PERSON->PER, ORG->ORG, LOC->LOC; the raw model's PERSON->PER, ORG->ORG,
GPE/LOC/FAC->LOC; every other label is ignored.

Systems: newswire's tagger (``load_tagger``: ``ner`` and what it listens to, plus
span repair and evidence-weighted types) and the raw model (``spacy.load(name)``,
its default pipeline). Timing: one thread; for each document the two systems run
back to back, alternating which goes first, so load on the machine hits both
alike; tokens/s is the corpus tokens over the summed wall time of a system's calls.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from newswire.arguments import ArgumentParser, UsageError, positive_int
from schemas.records import CleanArticle
from streams.tag.entities import DEFAULT_MODEL, SpacyTagger, load_pipeline
from streams.text import fingerprint

SCORED_TYPES = ("PER", "ORG", "LOC")
IOB_TAG = re.compile(r"O|[BI]-[A-Z]+")
NEWSWIRE_TYPES = {"PERSON": "PER", "ORG": "ORG", "LOC": "LOC"}
SPACY_TYPES = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC"}

#: A typed character span of a document's text: (start, end, type).
Span = tuple[int, int, str]
#: A system: the typed spans of each document text.
Predictor = Callable[[Sequence[str]], list[list[Span]]]


@dataclass
class Document:
    """One CoNLL document as text, with its gold PER/ORG/LOC spans."""

    text: str
    tokens: int
    gold: list[Span] = field(default_factory=list)


def read_conll(path: Path, limit_docs: int | None = None) -> list[Document]:
    """Documents of a CoNLL-2003 file (IOB1), the first ``limit_docs`` if given."""
    documents: list[list[list[tuple[str, str]]]] = [[[]]]
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        columns = line.split()
        if len(columns) == 1 or (columns and not IOB_TAG.fullmatch(columns[-1])):
            raise UsageError(
                f"{path} line {number}: not a CoNLL line: each line must be "
                "'WORD ... TAG' with TAG O, I-TYPE or B-TYPE (or be blank)"
            )
        if not columns:
            if documents[-1][-1]:
                documents[-1].append([])
        elif columns[0] == "-DOCSTART-":
            if any(documents[-1]):
                documents.append([[]])
        else:
            documents[-1][-1].append((columns[0], columns[-1]))
    built = [_document(sentences) for sentences in documents if any(sentences)]
    return built[:limit_docs] if limit_docs is not None else built


def _document(sentences: list[list[tuple[str, str]]]) -> Document:
    """Text of a document and its gold spans (IOB1: B- only splits two same-type entities)."""
    lines: list[str] = []
    gold: list[Span] = []
    offset = 0
    tokens = 0
    for sentence in (s for s in sentences if s):
        current: list[int] | None = None
        current_type = ""
        position = offset
        for word, tag in sentence:
            prefix, _, entity_type = tag.partition("-")
            continues = prefix == "I" and current is not None and entity_type == current_type
            if current is not None and not continues:
                gold.append((current[0], current[1], current_type))
                current = None
            if prefix in {"I", "B"} and current is None:
                current, current_type = [position, position + len(word)], entity_type
            elif current is not None:
                current[1] = position + len(word)
            position += len(word) + 1
        if current is not None:
            gold.append((current[0], current[1], current_type))
        lines.append(" ".join(word for word, _ in sentence))
        offset += len(lines[-1]) + 1
        tokens += len(sentence)
    return Document(
        text="\n".join(lines), tokens=tokens, gold=[s for s in gold if s[2] in SCORED_TYPES]
    )


@dataclass
class Scores:
    """Span counts per type and the metrics computed from them."""

    true_positives: Counter[str] = field(default_factory=Counter)
    false_positives: Counter[str] = field(default_factory=Counter)
    false_negatives: Counter[str] = field(default_factory=Counter)

    def add(self, gold: Iterable[Span], predicted: Iterable[Span]) -> None:
        """Count one document's exact matches, spurious and missed spans."""
        gold_set = {s for s in gold if s[2] in SCORED_TYPES}
        predicted_set = {s for s in predicted if s[2] in SCORED_TYPES}
        for span in gold_set & predicted_set:
            self.true_positives[span[2]] += 1
        for span in predicted_set - gold_set:
            self.false_positives[span[2]] += 1
        for span in gold_set - predicted_set:
            self.false_negatives[span[2]] += 1

    def metrics(self, entity_type: str | None = None) -> dict[str, float]:
        """Precision, recall and F1 of one type, or micro-averaged over all when None."""
        types = SCORED_TYPES if entity_type is None else (entity_type,)
        tp = sum(self.true_positives[t] for t in types)
        fp = sum(self.false_positives[t] for t in types)
        fn = sum(self.false_negatives[t] for t in types)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


@dataclass
class Result:
    """A system's scores and throughput on a corpus."""

    name: str
    scores: Scores = field(default_factory=Scores)
    seconds: float = 0.0
    tokens: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        per_type = {t: self.scores.metrics(t) for t in SCORED_TYPES}
        return {
            "system": self.name,
            "overall": self.scores.metrics(),
            "per_type": per_type,
            "tokens": self.tokens,
            "seconds": self.seconds,
            "tokens_per_second": self.tokens_per_second,
        }


def evaluate(documents: Sequence[Document], systems: dict[str, Predictor]) -> list[Result]:
    """Run every system on every document (order alternating per document) and score it."""
    results = {name: Result(name) for name in systems}
    names = list(systems)
    for index, document in enumerate(documents):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            started = time.perf_counter()
            (predicted,) = systems[name]([document.text])
            results[name].seconds += time.perf_counter() - started
            results[name].tokens += document.tokens
            results[name].scores.add(document.gold, predicted)
    return [results[name] for name in names]


def newswire_predictor(tagger: SpacyTagger) -> Predictor:
    """newswire's typed, repaired mentions as CoNLL spans."""

    def predict(texts: Sequence[str]) -> list[list[Span]]:
        now = datetime.now(UTC)
        articles = [
            CleanArticle(id=str(i), text=text, fetched_at=now, fingerprint=fingerprint(text))
            for i, text in enumerate(texts)
        ]
        return [
            [(m.start, m.end, NEWSWIRE_TYPES[m.type]) for m in mentions if m.type in NEWSWIRE_TYPES]
            for mentions in tagger.mentions(articles)
        ]

    return predict


def spacy_predictor(model: str) -> Predictor:
    """The raw spaCy model, default pipeline, its labels mapped to CoNLL types."""
    import spacy

    nlp = spacy.load(model)

    def predict(texts: Sequence[str]) -> list[list[Span]]:
        return [
            [
                (e.start_char, e.end_char, SPACY_TYPES[e.label_])
                for e in doc.ents
                if e.label_ in SPACY_TYPES
            ]
            for doc in nlp.pipe(texts)
        ]

    return predict


def format_table(results: Sequence[Result]) -> str:
    """Plain-text table: P/R/F1 per type and overall, and tokens/s, for each system."""
    rows = [f"{'system':<10} {'type':<8} {'P':>6} {'R':>6} {'F1':>6} {'tp':>6} {'fp':>6} {'fn':>6}"]
    for result in results:
        for entity_type in (*SCORED_TYPES, None):
            m = result.scores.metrics(entity_type)
            rows.append(
                f"{result.name:<10} {entity_type or 'overall':<8} {m['precision']:>6.3f} "
                f"{m['recall']:>6.3f} {m['f1']:>6.3f} {m['tp']:>6.0f} {m['fp']:>6.0f} "
                f"{m['fn']:>6.0f}"
            )
    rows.append("")
    rows.extend(
        f"{r.name:<10} {r.tokens} tokens in {r.seconds:.2f} s: {r.tokens_per_second:,.0f} tokens/s"
        for r in results
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Score newswire's tagger and the raw spaCy model on a CoNLL-2003 file."""
    parser = ArgumentParser(prog="newswire evaluate entities", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="CoNLL-2003 file (e.g. eng.testa)")
    parser.add_argument(
        "--limit-docs", type=positive_int, default=None, help="only the first N documents"
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="spaCy package for both systems")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    documents = read_conll(args.path, args.limit_docs)
    systems = {
        "newswire": newswire_predictor(SpacyTagger(load_pipeline(args.model))),
        "spacy": spacy_predictor(args.model),
    }
    results = evaluate(documents, systems)
    print(
        f"{len(documents)} documents, {sum(d.tokens for d in documents)} tokens, "
        f"{sum(len(d.gold) for d in documents)} PER/ORG/LOC entities"
    )
    print(format_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
