from __future__ import annotations

import dataclasses

import pytest

from newsletter.compose.checks import GMAIL_CLIP_BYTES, Problem, check_issue
from newsletter.core.settings import Brand
from newsletter.issue.model import Asset, Issue
from newsletter.record.assets import BUDGET_BYTES
from newsletter.record.loader import load_record
from tests.compose.helpers import PUBLIC_URL, compose
from tests.conftest import EXAMPLE

UNSUBSCRIBE = '<a href="__NL_UNSUBSCRIBE_URL__">Unsubscribe</a>'
TEXT = "Unsubscribe: __NL_UNSUBSCRIBE_URL__\n"


def issue_with(body: str, text: str = TEXT) -> Issue:
    html = f"<!DOCTYPE html><html><body>{body}{UNSUBSCRIBE}</body></html>"
    return Issue(
        slug="s",
        subject="s",
        preheader="",
        language="en",
        direction="ltr",
        html=html,
        text=text,
        web_html="",
        print_html="",
    )


def codes(problems: list[Problem]) -> list[str]:
    return [problem.code for problem in problems]


def test_the_example_has_no_problem() -> None:
    from newsletter.compose import compose_issue

    issue = compose_issue(load_record(EXAMPLE), brand=Brand(), public_url=PUBLIC_URL)
    assert check_issue(issue) == []


def test_composed_issues_have_no_problem_in_either_image_mode() -> None:
    assert check_issue(compose()) == []
    assert check_issue(compose(images="inline")) == []


def test_a_clean_handmade_issue_has_no_problem() -> None:
    body = (
        '<a href="https://example.org/">site</a><a href="mailto:info@example.org">mail</a>'
        '<a href="__NL_FORWARD_URL__">fwd</a><img src="cid:a@newsletter" alt="A">'
        '<img src="http://127.0.0.1:8000/a.png" alt=""><img src="https://x.org/b.png" alt>'
    )
    assert check_issue(issue_with(body)) == []


def test_an_image_over_the_budget_is_reported() -> None:
    small = Asset("logo.png", "image/png", b"p" * BUDGET_BYTES)
    large = Asset("speaker-1-ada.jpg", "image/jpeg", b"j" * (BUDGET_BYTES + 1))
    issue = dataclasses.replace(issue_with(""), assets=(small, large))

    assert check_issue(issue) == [
        Problem(
            "image-too-large",
            f"speaker-1-ada.jpg is {BUDGET_BYTES + 1:,} bytes, over the budget of "
            f"{BUDGET_BYTES:,} bytes per image (NEWSLETTER_PHOTO_BUDGET_BYTES)",
        )
    ]
    assert check_issue(issue, photo_budget_bytes=BUDGET_BYTES + 1) == []
    assert codes(check_issue(issue, photo_budget_bytes=10)) == ["image-too-large"] * 2


def test_html_over_gmail_clipping_size_counts_utf8_bytes() -> None:
    # Fewer characters than the limit, but more bytes: Gmail counts bytes.
    body = "<p>" + "ü" * (GMAIL_CLIP_BYTES // 2 + 100) + "</p>"
    assert len(body) < GMAIL_CLIP_BYTES
    problems = check_issue(issue_with(body))
    assert codes(problems) == ["html-too-large"]
    assert "Gmail" in problems[0].message


def test_image_without_alt_attribute() -> None:
    problems = check_issue(issue_with('<img src="https://x.org/a.png">'))
    assert codes(problems) == ["image-without-alt"]
    assert "https://x.org/a.png" in problems[0].message


@pytest.mark.parametrize(
    "body",
    [
        '<a href="/issues/">relative</a>',
        '<a href="issues/x.html">relative</a>',
        '<a href="#top">anchor</a>',
        '<a href="//example.org/">protocol-relative</a>',
        '<a href="javascript:alert(1)">js</a>',
        '<a href="">empty</a>',
        '<a href="cid:a@newsletter">a content id is not a link</a>',
        '<a href="ftp://example.org/file">ftp</a>',
        '<img src="data:image/png;base64,AAAA" alt="embedded">',
        '<img src="photos/a.png" alt="relative">',
        '<img src="file:///tmp/a.png" alt="local">',
    ],
)
def test_relative_or_non_http_links(body: str) -> None:
    assert codes(check_issue(issue_with(body))) == ["bad-link"]


def test_missing_unsubscribe_link_in_html() -> None:
    issue = issue_with("")
    without = dataclasses.replace(
        issue, html=issue.html.replace(UNSUBSCRIBE, "<p>__NL_UNSUBSCRIBE_URL__</p>")
    )
    problems = check_issue(without)
    assert codes(problems) == ["no-unsubscribe"]
    assert "HTML" in problems[0].message


def test_missing_unsubscribe_link_in_text() -> None:
    problems = check_issue(issue_with("", text="Webversion: https://example.org/\n"))
    assert codes(problems) == ["no-unsubscribe"]
    assert "text" in problems[0].message


def test_problems_read_as_one_line_each() -> None:
    problem = check_issue(issue_with('<img src="a.png">'))[0]
    assert str(problem).startswith("image-without-alt: ")
    assert "\n" not in str(problem)
