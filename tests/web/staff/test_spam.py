"""SpamAssassin's verdict as the preview shows it: a plain sentence and its rules explained.

The report is what `spamassassin -L -t` prints (its X-Spam-Status header, then the
"Content analysis details" table appended to the message); spamassassin itself is not
installed on the test machine.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from newsletter.web.staff import preview
from newsletter.web.staff.spam import PLAIN_WORDS, SpamResult, explain, parse_report
from tests.web.staff.helpers import logged_in

REPORT = """\
X-Spam-Checker-Version: SpamAssassin 4.0.0 (2022-12-14) on preview.example.org
X-Spam-Level: *
X-Spam-Status: No, score=1.6 required=5.0 tests=HTML_IMAGE_RATIO_04,
\tHTML_MESSAGE,MISSING_DATE,NO_RECEIVED,NO_RELAYS,T_SOME_NEW_RULE
\tautolearn=no autolearn_force=no version=4.0.0
Subject: Seminar

Hello.

Spam detection software, running on the system "preview.example.org",
has NOT identified this incoming email as spam.

Content analysis details:   (1.6 points, 5.0 required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
 1.4 MISSING_DATE           Missing Date: header
 0.6 HTML_IMAGE_RATIO_04    BODY: HTML has a low ratio of text to image
                            area
 0.0 HTML_MESSAGE           BODY: HTML included in message
-0.0 NO_RELAYS              Informational: message was not relayed via SMTP
-0.4 NO_RECEIVED            Informational: message has no Received headers
 0.0 T_SOME_NEW_RULE        Something SpamAssassin added last week

"""


def test_the_report_becomes_a_sentence_and_explained_rules() -> None:
    result = parse_report(REPORT)
    assert result.score == 1.6 and result.required == 5.0
    assert result.sentence == (
        "SpamAssassin gives this message 1.6 points; it treats a message as spam from 5.0, "
        "so this one passes easily."
    )
    assert [(rule.name, rule.points) for rule in result.rules] == [
        ("MISSING_DATE", 1.4),
        ("HTML_IMAGE_RATIO_04", 0.6),
        ("HTML_MESSAGE", 0.0),
        ("NO_RELAYS", -0.0),
        ("T_SOME_NEW_RULE", 0.0),
        ("NO_RECEIVED", -0.4),
    ]
    meanings = {rule.name: rule.meaning for rule in result.rules}
    assert meanings["MISSING_DATE"] == "The message has no Date line."
    # A numbered family shares one explanation.
    assert meanings["HTML_IMAGE_RATIO_04"] == PLAIN_WORDS["HTML_IMAGE_RATIO_"]
    # A rule with no plain words of ours keeps SpamAssassin's description, wrapped lines too.
    assert meanings["T_SOME_NEW_RULE"] == "Something SpamAssassin added last week"
    # The tests= list stops before autolearn.
    assert "autolearn" not in result.tests


@pytest.mark.parametrize(
    ("score", "ending"),
    [
        (6.2, "so this one would be marked as spam: the rules below say why."),
        (5.0, "so this one would be marked as spam: the rules below say why."),
        (3.1, "so this one passes, though not by much."),
        (-0.3, "so this one passes easily."),
    ],
)
def test_the_sentence_says_how_close_to_spam(score: float, ending: str) -> None:
    result = SpamResult(installed=True, score=score, required=5.0)
    assert result.sentence.endswith(ending)
    assert result.is_spam is (score >= 5.0)


def test_without_a_table_the_rules_come_from_the_status_line() -> None:
    result = parse_report(
        "X-Spam-Status: Yes, score=7.0 required=5.0 tests=MIME_HTML_ONLY,\n"
        "\tSUBJ_ALL_CAPS,__SUBRULE autolearn=no\n"
    )
    assert [(rule.name, rule.points) for rule in result.rules] == [
        ("MIME_HTML_ONLY", None),
        ("SUBJ_ALL_CAPS", None),
    ]
    assert result.rules[0].meaning == "There is an HTML part but no plain-text part."
    assert parse_report("X-Spam-Status: No, score=0.0 required=5.0 tests=none\n").rules == ()


def test_no_score_no_sentence_of_points() -> None:
    assert SpamResult(installed=False).sentence == SpamResult(installed=False).summary
    failed = SpamResult(installed=True, error="timed out")
    assert failed.sentence == "SpamAssassin could not score the message: timed out"


def test_explain() -> None:
    assert explain("T_REMOTE_IMAGE") == PLAIN_WORDS["REMOTE_IMAGE"]
    assert explain("HTML_IMAGE_ONLY_16") == PLAIN_WORDS["HTML_IMAGE_ONLY_"]
    assert explain("UNHEARD_OF", "its own words") == "its own words"
    assert explain("UNHEARD_OF") == "No plain explanation of this rule here yet."


def test_the_preview_shows_the_sentence_and_the_rules(
    sqlite_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preview, "spam_score", lambda message: parse_report(REPORT))
    logged_in(sqlite_client)
    html = sqlite_client.get(
        "/staff/preview", params={"record": "dir:khojaly-seminar-2022/record.yaml"}
    ).text
    assert (
        '<li id="spam" class="ok">SpamAssassin gives this message 1.6 points; it treats a '
        "message as spam from 5.0, so this one passes easily.</li>"
    ) in html
    table = re.search(r'<table class="data rules" id="spam-rules">(.*?)</table>', html, re.S)
    assert table is not None
    assert (
        '<tr><td><code>MISSING_DATE</code></td><td class="n pts">+1.4</td>'
        "<td>The message has no Date line.</td></tr>"
    ) in table.group(1)
