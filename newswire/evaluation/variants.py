"""Labelled copy variants of articles, for dedup tests and benchmarks.

From any articles (dicts or objects with ``id``, ``text`` and optionally ``title``)
:func:`make_variants` makes the copies a news feed receives of the same wire story:

- ``boilerplate``: the text verbatim, with other page junk lines added around it;
- ``truncated``: cut at a word boundary to 40-70 % of its words;
- ``shuffled``: its paragraphs (or lines, for a single paragraph) in another order;
- ``spun``: 20-40 % of its content words swapped for synonyms from the table below,
  as article spinners do, plus function-word swaps ("said" -> "mentioned");
- ``spun_truncated``: spun, then cut as ``truncated`` is.

:mod:`newswire.evaluation.spinner` is a second generator of spun copies that shares nothing with
this one, to report on what dedup was not developed against.

Everything is deterministic under ``seed``; each :class:`Variant` carries its
ground truth (``source_id``) and what was done to it.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from streams.dedup.index import STOPWORDS

VariantKind = Literal["boilerplate", "truncated", "shuffled", "spun", "spun_truncated"]
VARIANT_KINDS: tuple[VariantKind, ...] = (
    "boilerplate",
    "truncated",
    "shuffled",
    "spun",
    "spun_truncated",
)

TRUNCATE_RANGE = (0.4, 0.7)
SPIN_RANGE = (0.2, 0.4)

# word: synonyms (comma separated). Inflected forms are listed as words of their own.
_SYNONYMS_TEXT = (
    """
said:mentioned,stated,noted;says:states,notes;say:state;saying:stating;told:informed;
tell:inform;added:included;announced:declared;reported:documented;report:account;
reports:accounts;according:consistent;statement:assertion;spokesman:representative;
spokeswoman:representative;official:authorized;officials:authorities;
government:authorities;minister:secretary;president:chief;leader:chief;leaders:chiefs;
head:chief;chief:principal;director:supervisor;manager:supervisor;member:affiliate;
members:affiliates;group:gathering;groups:gatherings;team:squad;teams:squads;
company:firm;companies:firms;business:enterprise;agency:bureau;agencies:bureaus;
department:division;departments:divisions;office:workplace;offices:workplaces;
police:law enforcement;officer:official;officers:officials;authorities:officers;
military:army;army:military;forces:powers;force:drive;troops:soldiers;soldiers:troopers;
fighters:combatants;fighting:combating;fight:combat;fought:battled;war:struggle;
battle:fight;attack:assault;attacks:assaults;attacked:assaulted;conflict:battle;
killed:slain;kill:slay;killing:slaying;died:perished;dead:deceased;death:demise;
deaths:fatalities;injured:harmed;injuries:accidents;wounded:harmed;victim:casualty;
victims:casualties;people:individuals;person:individual;man:gentleman;men:males;
woman:lady;women:ladies;children:kids;child:kid;family:household;families:households;
friend:buddy;friends:buddies;wife:spouse;husband:spouse;mother:mom;father:dad;
brother:sibling;girl:lady;boy:lad;teen:teenager;teenager:adolescent;
home:residence;house:home;houses:properties;building:constructing;
buildings:structures;city:metropolis;town:city;towns:cities;village:hamlet;
villages:hamlets;country:nation;countries:nations;nation:country;area:space;
areas:zones;region:area;place:spot;places:locations;street:avenue;streets:avenues;
road:highway;world:globe;national:nationwide;local:native;international:worldwide;
foreign:overseas;political:governmental;eastern:japanese;western:westerly;
southern:southerly;northern:northerly;central:focal;remote:distant;large:massive;
big:huge;small:little;little:slight;major:main;main:primary;important:vital;
significant:vital;key:main;new:recent;old:previous;former:previous;recent:latest;
recently:currently;current:present;early:premature;late:belated;last:final;
first:initial;next:subsequent;previous:earlier;previously:beforehand;earlier:previous;
later:subsequently;soon:quickly;quickly:swiftly;long:lengthy;high:excessive;low:poor;
good:great;great:nice;best:greatest;better:higher;bad:poor;worst:poorest;strong:robust;
hard:laborious;heavy:hefty;serious:critical;critical:crucial;difficult:troublesome;
possible:doable;likely:probably;probably:most likely;whole:entire;full:complete;
numerous:many;various:varied;different:totally different;similar:comparable;
certain:sure;sure:certain;clear:clear-cut;free:gratis;close:shut;closed:shut;
near:close to;nearby:close by;far:distant;fast:quick;quick:speedy;slow:gradual;
young:younger;black:darkish;red:pink;day:date;days:dates;week:weekend;weeks:weeks;
month:mo;months:mos;year:yr;years:years;time:period;times:occasions;hour:hr;
hours:hrs;minute:min;minutes:mins;morning:forenoon;night:evening;evening:night;
today:right now;yesterday:the day past;weekend:week-end;afternoon:midday;
ago:in the past;past:previous;future:coming;history:historical past;
help:assist;helped:assisted;helping:aiding;support:help;supported:backed;
backed:supported;make:create;made:created;making:creating;take:seize;took:seized;
taken:seized;taking:seizing;give:present;gave:offered;given:offered;giving:offering;
get:acquire;got:received;getting:acquiring;go:proceed;went:proceeded;going:heading;
gone:departed;come:arrive;came:got here;coming:arriving;comes:arrives;find:discover;
found:discovered;see:observe;saw:noticed;seen:noticed;know:recognize;known:recognized;
knew:understood;think:suppose;thought:thought-about;believe:consider;believed:thought;
want:need;wanted:wished;need:want;needed:wanted;use:utilize;used:utilized;
using:utilizing;work:labor;worked:labored;working:functioning;try:attempt;tried:tried;
trying:attempting;attempt:try;attempted:tried;start:begin;started:began;
starting:beginning;begin:start;began:started;end:finish;ended:concluded;ending:concluding;
stop:cease;stopped:halted;stopping:halting;continue:proceed;continued:persisted;
keep:preserve;kept:saved;hold:maintain;held:maintained;holding:maintaining;
leave:depart;left:departed;leaving:departing;return:return again;returned:came back;
move:transfer;moved:relocated;moving:shifting;bring:carry;brought:introduced;
show:present;showed:confirmed;shown:proven;showing:exhibiting;appear:seem;
appeared:seemed;appears:seems;become:grow to be;became:grew to become;turned:became;
turn:flip;change:alter;changed:modified;changes:modifications;call:name;called:known as;
calling:naming;ask:request;asked:requested;answer:reply;decide:determine;
decided:determined;decision:resolution;decisions:selections;agree:concur;
agreed:concurred;deny:refute;denied:refuted;confirm:affirm;confirmed:affirmed;
claim:declare;claimed:asserted;describe:characterize;described:depicted;
explain:clarify;explained:defined;allow:permit;allowed:permitted;lead:guide;led:guided;
leading:main;follow:observe;followed:adopted;following:after;run:operate;ran:operated;
running:operating;walk:stroll;walked:strolled;walking:strolling;send:dispatch;
sent:despatched;receive:obtain;received:acquired;pay:compensate;paid:compensated;
buy:purchase;sold:offered;sell:promote;build:construct;built:constructed;
planned:deliberate;plans:plans;expect:anticipate;expected:anticipated;hope:wish;
fear:worry;feared:dreaded;face:confront;faced:confronted;faces:confronts;meet:encounter;
met:encountered;meeting:assembly;talk:speak;talks:discussions;spoke:talked;
include:embody;included:integrated;including:together with;remain:stay;
remained:stayed;remains:stays;reach:attain;reached:attained;win:triumph;won:gained;
winning:successful;lose:forfeit;lost:misplaced;losing:shedding;fall:drop;fell:dropped;
rise:climb;rose:climbed;raise:elevate;raised:elevated;opened:unveiled;opening:starting;
break:crack;broke:shattered;broken:damaged;destroy:wreck;destroyed:wrecked;
damage:harm;damaged:harmed;capture:seize;captured:seized;seize:grab;seized:grabbed;
arrest:detain;arrested:detained;charge:cost;charged:billed;charges:expenses;
accused:alleged;convicted:condemned;sentence:punishment;sentenced:condemned;
trial:tribulation;court:courtroom;judge:decide;jury:panel;case:matter;law:regulation;
laws:statutes;rule:regulation;rules:guidelines;crime:offense;murder:homicide;
shooting:capturing;shot:photographed;shots:photographs;gun:firearm;guns:firearms;
fire:hearth;fired:dismissed;blaze:fireplace;flames:blaze;burned:scorched;smoke:fumes;
crash:collision;accident:mishap;incident:episode;event:occasion;events:occasions;
scene:setting;site:web site;location:spot;position:place;positions:locations;
problem:downside;problems:issues;issue:subject;issues:points;question:query;
questions:queries;reason:cause;result:end result;results:outcomes;effect:impact;
situation:scenario;condition:situation;process:course of;systems:programs;
program:programme;project:mission;projects:initiatives;service:provision;
services:providers;policy:coverage;deal:settlement;agreement:settlement;
contract:settlement;offer:provide;offered:supplied;money:cash;cost:value;
price:value;market:marketplace;information:data;news:information;story:tale;
stories:tales;article:piece;evidence:proof;detail:element;details:particulars;
fact:reality;number:quantity;numbers:figures;percent:p.c.;total:complete;
part:portion;parts:elements;piece:portion;level:stage;rate:fee;record:file;
power:energy;control:management;order:command;security:safety;safety:security;
health:well being;hospital:clinic;doctor:physician;doctors:medical doctors;
school:faculty;students:college students;student:pupil;university:college;
community:neighborhood;society:culture;population:inhabitants;residents:inhabitants;
workers:staff;employees:workers;employee:worker;staff:workers;players:gamers;
player:participant;fans:followers;audience:viewers;crowd:throng;
protesters:demonstrators;election:ballot;elections:ballots;vote:ballot;
party:social gathering;campaign:marketing campaign;film:movie;movie:film;movies:films;
star:celebrity;season:period;seasons:periods;game:sport;games:video games;
match:contest;car:automobile;cars:vehicles;vehicle:automobile;vehicles:autos;
truck:lorry;trucks:vehicles;plane:airplane;planes:aircraft;aircraft:plane;
airbase:air base;ship:vessel;ships:vessels;vessel:ship;vessels:ships;boat:vessel;
boats:vessels;equipment:gear;weapons:arms;weapon:arm;water:h2o;food:meals;
ground:floor;floor:ground;door:entrance;window:pane;windows:panes;room:chamber;
roof:rooftop;front:entrance;side:facet;top:prime;frontlines:front lines;
withdrawal:pullout;departure:exit;retreat:withdrawal;retreated:withdrew;
withdrawn:pulled back;advance:progress;advanced:progressed;gesture:motion;
documented:recorded;widely:extensively;strategically:tactically;sudden:abrupt;
strides:walks;defeats:losses;blow:hit;allies:partners;allied:associated;rival:competing;
divided:split;effective:efficient;meaningful:significant;research:analysis;
analysis:evaluation;presence:nearness;journalists:writers;diplomats:representatives;
posted:published;pictures:footage;photos:pictures;driven:pushed;stronghold:bastion;
district:area;humanitarian:compassionate;armed:outfitted;defence:protection;
defense:protection;mercenaries:soldiers of fortune;mercenary:hired soldier;
fled:escaped;flee:escape;fleeing:escaping;escape:flight;escaped:fled;
million:mn;billion:bn;thousands:hundreds;hundreds:scores;dozen:twelve;half:fifty percent;
life:existence;lives:lives;career:profession;job:occupation;jobs:positions;
prison:jail;jail:prison;custody:detention;suspect:defendant;suspects:defendants;
gang:crew;crew:team;crews:teams;witnesses:onlookers;witness:onlooker;
investigation:probe;investigators:detectives;attorney:lawyer;lawyer:legal professional;
prosecutors:attorneys;sheriff:marshal;deputy:assistant;guard:sentry;guards:sentries;
church:chapel;store:shop;shop:store;shops:stores;bank:financial institution;
banks:lenders;facility:facility;center:centre;station:station;board:panel;
administration:management;federal:national;governor:governor;parliament:legislature;
protest:demonstration;protests:demonstrations;riot:rebellion;riots:disturbances;
violence:brutality;clashes:skirmishes;bomb:explosive;bombs:explosives;
explosion:blast;earthquake:quake;quake:tremor;magnitude:extent;damage:destruction;
species:species;endangered:threatened;wildlife:natural world;scientists:researchers;
scientific:technical;science:research;experts:specialists;environmental:ecological;
pirates:buccaneers;pirate:buccaneer;piracy:robbery on the high seas;warship:battleship;
merchant:trader;navy:naval force;coast:shore;sea:ocean;island:isle;
host:presenter;hosting:presenting;hosted:presented;coach:trainer;coaching:training;
champion:winner;title:crown;heavyweight:big;round:spherical;rounds:bouts;
fans:supporters;actress:performer;actor:performer;studio:workshop;sequel:follow-up;
release:launch;released:launched;rehab:rehabilitation;treatment:remedy;
treated:handled;checked:examined;degree:diploma;conference:convention;
statement:announcement;announcement:declaration;comments:remarks;
signed:signed up;deal:cope;negotiations:talks;economy:economic system;
economic:financial;crisis:disaster;debt:debt;oil:petroleum;gas:fuel;
measures:measures;protect:shield;protection:safety;regulations:laws;
review:evaluation;changes:adjustments;decades:a long time;age:age;
born:born;dozens:scores;couple:pair;partner:associate;girlfriend:partner;
scene:scene;behind:behind;inside:inside;outside:exterior;nearby:close by;
across:throughout;suspicious:suspect;fatal:deadly;fatally:mortally;
struck:hit;hit:struck;shot:fired;shooter:gunman;gunman:shooter;
injuring:wounding;hurt:injured;rescue:rescue;evacuated:cleared;
burning:blazing;flames:flames;firefighters:fire fighters;arson:fire-raising;
way:method;thing:factor;things:issues;lot:great deal;something:one thing;
anything:something;nothing:nothing;everyone:everybody;someone:somebody;
really:actually;finally:lastly;immediately:instantly;nearly:almost;
apparently:seemingly;allegedly:supposedly;reportedly:apparently;
shortly:soon;already:previously;instead:as a substitute;despite:regardless of;
due:owing;enough:sufficient;based:primarily based;involved:concerned;
identified:recognized;named:known as;listed:itemized;estimated:approximated;
caused:brought on;managed:handled;suffered:endured;failed:failed to;
threatened:threatened;responded:reacted;declined:declined;refused:refused;
ordered:ordered;required:required;carried:carried;carrying:carrying;
pulled:pulled;looking:trying;looked:appeared;look:look;feel:really feel;
felt:felt;heard:heard;hear:hear;understand:perceive;considered:thought of;
happened:occurred;occurred:happened;arrived:arrived;landed:landed;
spent:spent;spending:spending;play:play;played:performed;live:reside;
lived:lived;living:dwelling;wrote:wrote;named:named;
"""
    + """
also:additionally;but:however;while:whereas;about:round;because:as a result of;
after:following;before:prior to;during:throughout;although:though;however:nonetheless;
still:nonetheless;just:simply;only:solely;again:once more;around:round;among:amongst;
against:towards;without:with out;within:inside;across:throughout;
"""
)

FUNCTION_SWAPS = frozenset(
    {
        "also",
        "but",
        "while",
        "about",
        "because",
        "after",
        "before",
        "during",
        "although",
        "however",
        "still",
        "just",
        "only",
        "again",
        "around",
        "among",
        "against",
        "without",
        "within",
        "across",
    }
)


def _parse_synonyms(text: str) -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for entry in text.replace("\n", "").split(";"):
        word, _, synonyms = entry.strip().partition(":")
        if not word or not synonyms:
            continue
        choices = tuple(s for s in synonyms.split(",") if s and s != word)
        if choices:
            table[word] = choices
    return table


SYNONYMS: dict[str, tuple[str, ...]] = _parse_synonyms(_SYNONYMS_TEXT)

_WORD = re.compile(r"[A-Za-z]+")
_HEADERS = (
    "Advertisement",
    "Skip to main content",
    "Share this article",
    "Subscribe to our newsletter",
    "Reading Time: 4 minutes",
    "Sign in | Register",
    "Home > News > World",
    "Breaking News",
    "Follow us on Twitter",
    "Listen to this article",
)
_FOOTERS = (
    "Copyright 2020 All rights reserved.",
    "Related: more stories from our partners",
    "Please let us know if you're having issues with commenting.",
    "Click here to read more",
    "Share on Facebook Share on Twitter Email",
    "Recommended for you",
    "Tags: news, world",
    "This article was republished from a wire service.",
    "%d bloggers like this:",
)


@dataclass(frozen=True)
class Variant:
    """A labelled copy: its text, the article it copies, and what was done to it."""

    id: str
    source_id: str
    kind: str
    """A :data:`VARIANT_KINDS` kind, or another generator's (:mod:`newswire.evaluation.spinner`)."""
    text: str
    title: str | None = None
    kept_fraction: float = 1.0
    """Share of the source's words the copy keeps (truncated copies)."""
    content_words: int = 0
    """Content words of the source text (spun copies)."""
    replaced_words: int = 0
    """Content words swapped for a synonym (spun copies)."""
    function_swaps: int = 0
    """Function words swapped as well (spun copies)."""

    @property
    def replaced_fraction(self) -> float:
        """Share of content words replaced (spun copies; 0 otherwise)."""
        return self.replaced_words / self.content_words if self.content_words else 0.0


def _field(article: Mapping[str, Any] | Any, name: str) -> Any:
    if isinstance(article, Mapping):
        return article.get(name)
    return getattr(article, name, None)


def is_content_word(word: str) -> bool:
    """A lower-case word that is not a function word (spinners leave names alone)."""
    return word.isalpha() and word.islower() and word not in STOPWORDS


def match_case(template: str, word: str) -> str:
    """``word`` in the case of ``template`` (all caps, capitalised, or as it is)."""
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[0].isupper():
        return word[0].upper() + word[1:]
    return word


def count_in_range(total: int, bounds: tuple[float, float], rng: random.Random) -> int:
    """A random count between ``bounds`` (fractions) of ``total``, rounded inwards."""
    low, high = math.ceil(bounds[0] * total), math.floor(bounds[1] * total)
    return rng.randint(low, max(low, high))


def replace_spans(text: str, replacements: Mapping[int, tuple[int, str]]) -> str:
    """``text`` with each span ``start -> (end, word)`` (not overlapping) replaced by its word."""
    pieces: list[str] = []
    position = 0
    for start in sorted(replacements):
        end, word = replacements[start]
        pieces += [text[position:start], word]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def spin(text: str, rng: random.Random) -> tuple[str, int, int, int]:
    """Swap 20-40 % (``SPIN_RANGE``) of the content words for synonyms, as spinners do.

    Returns the spun text, the number of content words, of replaced content words
    and of swapped function words. Only words of the synonym table can be replaced;
    if the table covers too few of them, fewer than 20 % are.
    """
    words = list(_WORD.finditer(text))
    content = [m for m in words if is_content_word(m.group())]
    eligible = [m for m in content if m.group() in SYNONYMS]
    count = min(len(eligible), count_in_range(len(content), SPIN_RANGE, rng))
    chosen = rng.sample(eligible, count)
    function = [m for m in words if m.group().lower() in FUNCTION_SWAPS]
    swapped = rng.sample(function, count_in_range(len(function), SPIN_RANGE, rng))
    replacements = {
        m.start(): (m.end(), match_case(m.group(), rng.choice(SYNONYMS[m.group().lower()])))
        for m in chosen + swapped
    }
    return replace_spans(text, replacements), len(content), len(chosen), len(swapped)


def truncate(text: str, rng: random.Random) -> str:
    """The first 40-70 % (``TRUNCATE_RANGE``) of the words of ``text``, cut after a word."""
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    keep = max(1, count_in_range(len(ends), TRUNCATE_RANGE, rng))
    return text[: ends[keep - 1]] if ends else text


def _blocks(text: str) -> tuple[list[str], str]:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    if len(paragraphs) > 1:
        return paragraphs, "\n\n"
    return [line for line in text.strip().split("\n") if line.strip()], "\n"


def shuffle_paragraphs(text: str, rng: random.Random) -> str:
    """``text`` with its paragraphs (or its lines, if one paragraph) in another order."""
    blocks, separator = _blocks(text)
    order = list(range(len(blocks)))
    while len(blocks) > 1 and order == sorted(order):
        rng.shuffle(order)
    return separator.join(blocks[i] for i in order)


def add_boilerplate(text: str, rng: random.Random) -> str:
    """``text`` verbatim between one to three junk lines of header and of footer."""
    header = rng.sample(_HEADERS, rng.randint(1, 3))
    footer = rng.sample(_FOOTERS, rng.randint(1, 3))
    return "\n\n".join([*header, text.strip(), *footer])


def make_variant(article: Mapping[str, Any] | Any, kind: VariantKind, seed: int = 0) -> Variant:
    """One ``kind`` copy of ``article`` (deterministic for a given seed and article id)."""
    source_id = str(_field(article, "id") or _field(article, "doc_id"))
    text = str(_field(article, "text") or "")
    title = _field(article, "title")
    rng = random.Random(f"{seed}:{source_id}:{kind}")
    variant_id = f"{source_id}~{kind}"
    if kind == "boilerplate":
        return Variant(variant_id, source_id, kind, add_boilerplate(text, rng), title)
    if kind == "truncated":
        cut = truncate(text, rng)
        kept = len(cut.split()) / max(1, len(text.split()))
        return Variant(variant_id, source_id, kind, cut, title, kept_fraction=kept)
    if kind == "shuffled":
        return Variant(variant_id, source_id, kind, shuffle_paragraphs(text, rng), title)
    spun, content, replaced, swapped = spin(text, rng)
    spun_title = spin(title, rng)[0] if title else None
    kept = 1.0
    if kind == "spun_truncated":
        cut = truncate(spun, rng)
        kept, spun = len(cut.split()) / max(1, len(spun.split())), cut
    return Variant(
        variant_id,
        source_id,
        kind,
        spun,
        spun_title,
        kept_fraction=kept,
        content_words=content,
        replaced_words=replaced,
        function_swaps=swapped,
    )


def make_variants(
    articles: Iterable[Mapping[str, Any] | Any],
    kinds: Sequence[VariantKind] = VARIANT_KINDS,
    seed: int = 0,
) -> list[Variant]:
    """Every ``kinds`` copy of every article, in article order then kind order."""
    return [make_variant(article, kind, seed) for article in articles for kind in kinds]
