"""Each plain-text cleaning rule on invented text it was not written from."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from streams.clean.extract import (
    JUNK_RULES,
    clean_plain_text,
    is_headline_like,
    is_repeated_title,
    is_section_label,
    junk_rule_for,
    split_leading_metadata,
)

RULES = {rule.name: rule for rule in JUNK_RULES}

# (rule name, paragraphs it must match, paragraphs it must leave alone)
CASES = [
    (
        "agency_photo_caption",
        [
            "afp20231104 Protesters march through Lyon on 4 November 2023. AFP/JEAN DUPONT",
            "Volunteers fill sandbags near the river in Dresden. REUTERS/Anna Schmidt",
            "The minister arrives for talks (Photo by Maria Lopez/Getty Images)",
            "A fisherman mends his nets at dawn. Photo: Associated Press",
        ],
        [
            "The talks between the US/UK governments resumed on Monday.",
            "Officials from the EPA/FDA joint panel said the review would take a year.",
        ],
    ),
    (
        "dateline_photo_caption",
        [
            "MADRID, SPAIN - OCTOBER 12: Soldiers parade past the royal stand during the",
            "NEW YORK, NY - JAN 3, 2021: Commuters wait on a platform at",
        ],
        [
            "MADRID (Reuters) - Spain's parliament approved the budget on Thursday.",
            "MADRID, Spain - The government said on October 12: we will act.",
        ],
    ),
    (
        "truncated_photo_caption",
        [
            "Rescuers search the rubble in Izmir on October 31, 2020. - The toll rose to …",
            "A farmer inspects his crop near Lahore. - Pakistan's wheat harvest is expected...",
        ],
        [
            "He paused at the door. - Then he left without a word.",
            "The talks dragged on and on...",
        ],
    ),
    (
        "reading_time",
        ["Reading Time: 5 minutes", "Estimated reading time: 12 min", "4 min read"],
        ["Reading time for children has fallen, the study found."],
    ),
    (
        "share_comment_widget",
        [
            "%d bloggers like this:",
            "Like this:",
            "Share this:",
            "Click to share on Twitter (Opens in new window)",
            "Please tell us if you are having problems with comments.",
            "Subscribe to our newsletter for the week's best stories",
            "Follow us on Instagram",
            "Related Articles",
            "Advertisement",
            "12 comments",
        ],
        [
            "She said she would share this with her lawyers before the hearing.",
            "Readers who subscribe to our newsletter "
            + "were told on Tuesday that prices would rise, a change the publisher said "
            + "reflected paper and delivery costs that have doubled in two years, and that "
            + "it would review again next spring.",
        ],
    ),
    (
        "related_link_bullet",
        [
            "• Five things to know about the port strike",
            "▪ Is inflation here to stay?",
            "- Opinion: why the bridge should never have been built",
            "* Markets slide as oil jumps (1:45)",
        ],
        [
            "- Visit the museum on weekdays, when it is quieter.",
            "Five things to know about the port strike",
        ],
    ),
    (
        "video_link",
        ["Why the ceasefire talks collapsed (3:45)", "• Flood waters reach the old town (0:58)"],
        [
            "He spoke for more than an hour (1:02:00).",
            "The match ended 2:1 after extra time.",
            "• Five things to know about the port strike",
        ],
    ),
    (
        "credit_line",
        [
            "AFP / Reuters",
            "Associated Press | Kyodo News",
            "Additional reporting by Jane Doe; editing by John Roe",
            "Source: Anadolu Agency",
        ],
        [
            "Reuters reported the attack on Monday.",
            "Sources close to the negotiations said no deal was in sight before the summit.",
        ],
    ),
]


@pytest.mark.parametrize(("rule_name", "junk", "kept"), CASES, ids=[case[0] for case in CASES])
def test_junk_rule_matches_its_junk_and_leaves_body_sentences(
    rule_name: str, junk: list[str], kept: list[str]
) -> None:
    rule = RULES[rule_name]
    for paragraph in junk:
        assert rule.matches(paragraph), paragraph
    for paragraph in kept:
        assert not rule.matches(paragraph), paragraph


def test_every_rule_has_cases() -> None:
    assert {case[0] for case in CASES} == set(RULES)


@pytest.mark.parametrize(
    "sentence",
    [
        "The council voted 7-2 to approve the plan, the mayor's office said on Friday.",
        "“We will not give up,” she said.",
        "Prices rose 3.2% in March, up from 2.9% in February, official data showed.",
        "Asked whether he would run again, he said: “That is for the voters.”",
    ],
)
def test_ordinary_body_sentences_match_no_rule(sentence: str) -> None:
    assert junk_rule_for(sentence) is None
    assert not is_headline_like(sentence)


def test_headline_like_lines() -> None:
    assert is_headline_like("Floods cut off mountain villages in northern Italy")
    assert is_headline_like("Can the euro survive another crisis?")
    assert is_headline_like("‘A turning point’")
    assert not is_headline_like("The river burst its banks overnight.")
    assert not is_headline_like("He said:")
    assert not is_headline_like(" ".join(["word"] * 30))
    assert not is_headline_like("2024")


def test_section_labels() -> None:
    assert is_section_label("Business")
    assert is_section_label("Sport Football")
    assert not is_section_label("Floods cut off mountain villages in northern Italy")
    assert not is_section_label("Business, finance")


def test_repeated_title_is_a_prefix_of_the_title() -> None:
    title = "Floods cut off mountain villages in northern Italy"
    assert is_repeated_title("Floods cut off mountain villages", title)
    assert is_repeated_title("floods  cut off", title)
    assert not is_repeated_title("Floods", title)
    assert not is_repeated_title("Mountain villages cut off", title)
    assert not is_repeated_title("Floods cut off", None)


def test_leading_metadata_line_gives_the_date_and_keeps_the_rest_of_the_line() -> None:
    moment, rest = split_leading_metadata(" date 2019-03-07 The bridge reopened on Thursday.")
    assert moment is not None and moment.date() == date(2019, 3, 7)
    assert rest == "The bridge reopened on Thursday."

    moment, rest = split_leading_metadata("Published: 2021-11-02T08:30:00+01:00\n\nBody text.")
    assert moment == datetime(2021, 11, 2, 7, 30, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(hours=1)
    assert rest.strip() == "Body text."


def test_no_leading_metadata_leaves_text_alone() -> None:
    text = "The date 2019-03-07 was chosen for the vote."
    assert split_leading_metadata(text) == (None, text)
    assert split_leading_metadata("date of birth unknown") == (None, "date of birth unknown")


BODY = [
    "Heavy rain has cut off a dozen villages in the Alpine valleys of northern Italy, officials "
    "said on Sunday, after rivers burst their banks overnight.",
    "Rescue teams reached the highest hamlets by helicopter, bringing food and medicine to about "
    "400 residents, the regional civil protection agency said.",
    "“We have not seen water like this in fifty years,” said the mayor of one village, standing "
    "by a road that had collapsed into the river.",
    "Engineers expect the main road to reopen within a week.",
]

INVENTED_ARTICLE = "\n\n".join(
    [
        "Business",
        "Floods cut off mountain villages in northern Italy",
        "Floods cut off mountain villages",
        "Reading Time: 2 minutes",
        BODY[0],
        "  • Italy braces for more storms\n  • What is behind Europe's wetter summers?",
        BODY[1],
        "Can the Alps adapt to a hotter climate?",
        BODY[2],
        BODY[3],
        "Agenzia Nova / Reuters",
        "Share this:",
    ]
)


def test_invented_article_keeps_exactly_its_body_in_order() -> None:
    extracted = clean_plain_text(INVENTED_ARTICLE)
    assert extracted.title == "Floods cut off mountain villages in northern Italy"
    assert extracted.title_source == "headline"
    assert extracted.paragraphs == BODY


def test_no_headline_means_no_title() -> None:
    extracted = clean_plain_text("\n\n".join(BODY))
    assert extracted.title is None
    assert extracted.paragraphs == BODY


def test_short_body_sentence_is_never_a_junk_headline() -> None:
    text = "Storm warning for the coast\n\nThe storm made landfall at noon.\n\nNobody was hurt."
    extracted = clean_plain_text(text)
    assert extracted.title == "Storm warning for the coast"
    assert extracted.paragraphs == ["The storm made landfall at noon.", "Nobody was hurt."]
