"""A subscriber's whole journey in chromium: from the capture inbox, open the newsletter that
`newsletter send` delivered and follow its links to the public web side.

Each test acts on the message of its own recipient (see conftest.py), so none depends on
what another did to the store.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, FrameLocator, Page, expect
from sqlalchemy import select

from newsletter.store.models import Event, EventKind, Membership, MembershipStatus, Subscriber
from tests.e2e.site import Site
from tests.store.databases import session_scope
from tests.web.helpers import snapshot

TITLE = "Genocide and Ethnic cleansing: A Crime against Humanity"
SUBJECT = f"Seminar: {TITLE}"
FRIEND = "friend@example.com"
NOTE = "Ana, this is the seminar I told you about."


def open_message(page: Page, site: Site, recipient: str) -> FrameLocator:
    """Find `recipient`'s copy in the inbox as a user would, open it; its HTML frame."""
    page.goto(site.inbox.inbox_url)
    page.get_by_label("Search by recipient or subject").fill(recipient)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#count")).to_contain_text("1 message matches")
    page.get_by_role("link", name=SUBJECT).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SUBJECT)
    expect(page.get_by_text(f"<{recipient}>", exact=False).first).to_be_visible()
    return page.frame_locator("iframe.html")


def header(page: Page, name: str) -> str:
    """A header's value from the inbox's Headers tab."""
    row = page.locator("table.headers tr").filter(
        has=page.get_by_role("rowheader", name=name, exact=True)
    )
    expect(row).to_have_count(1)
    return row.locator("td").inner_text()


def status(address: str, list_id: int) -> MembershipStatus | None:
    with session_scope() as session:
        return session.scalar(
            select(Membership.status)
            .join(Subscriber, Subscriber.id == Membership.subscriber_id)
            .where(Subscriber.email == address, Membership.list_id == list_id)
        )


def unsubscribed_by(address: str) -> list[str]:
    """The source of each unsubscribe event of `address`, oldest first."""
    with session_scope() as session:
        return list(
            session.scalars(
                select(Event.source)
                .join(Subscriber, Subscriber.id == Event.subscriber_id)
                .where(Subscriber.email == address, Event.kind == EventKind.UNSUBSCRIBED)
                .order_by(Event.id)
            )
        )


def is_subscriber(address: str) -> bool:
    with session_scope() as session:
        found = session.scalar(select(Subscriber.id).where(Subscriber.email == address))
        return found is not None


def test_the_campaign_reached_the_list_and_no_one_else(site: Site) -> None:
    # A forward (another test) goes to FRIEND; the campaign's own messages say so.
    campaign = f"\r\nX-Newsletter-Campaign: {site.campaign_id}\r\n".encode()
    delivered = [m for m in site.inbox.store.newest_first() if campaign in m.raw]
    recipients = sorted(to for message in delivered for to in message.envelope_to)
    assert recipients == sorted(site.audience.eligible)


def test_unsubscribe_through_the_page_and_its_button(site: Site, page: Page) -> None:
    reader = "r1@example.net"
    frame = open_message(page, site, reader)
    before = snapshot()

    frame.get_by_role("link", name="Unsubscribe", exact=True).click()
    page.wait_for_url(f"{site.public_url}/u/*")
    expect(page.get_by_role("heading", level=1)).to_have_text("Unsubscribe")
    expect(page.get_by_role("main")).to_contain_text(
        f"Do you want to stop receiving the members newsletter at {reader}?"
    )
    # Following the link (as a mail scanner would) changed nothing at all.
    assert snapshot() == before
    assert status(reader, site.audience.id) is MembershipStatus.ACTIVE

    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    expect(page.get_by_role("status")).to_have_text(
        f"Done: {reader} will no longer receive the members newsletter."
    )
    assert status(reader, site.audience.id) is MembershipStatus.UNSUBSCRIBED
    assert unsubscribed_by(reader) == ["web"]

    # Coming back takes the page's own button (its form carries the form token).
    page.get_by_role("button", name="Subscribe again").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are subscribed again")
    assert status(reader, site.audience.id) is MembershipStatus.ACTIVE


def test_one_click_unsubscribe_without_cookies(site: Site, page: Page, browser: Browser) -> None:
    reader = "r2@example.net"
    open_message(page, site, reader)
    page.get_by_role("link", name="Headers").click()
    assert header(page, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    found = re.fullmatch(r"<(http://[^>]+)>", header(page, "List-Unsubscribe"))
    assert found is not None
    url = found.group(1)
    assert url.startswith(f"{site.public_url}/u/")

    # What a mailbox provider does: a POST from nowhere, no cookie, no redirect followed.
    provider = browser.new_context()
    try:
        assert provider.cookies() == []
        answer = provider.request.post(url, form={"List-Unsubscribe": "One-Click"}, max_redirects=0)
        assert answer.status == 200
        assert answer.url == url
        assert "set-cookie" not in answer.headers
        assert status(reader, site.audience.id) is MembershipStatus.UNSUBSCRIBED
        assert unsubscribed_by(reader) == ["one-click"]

        after = snapshot()
        # Again, multipart this time (RFC 8058 allows both): harmless.
        again = provider.request.post(
            url, multipart={"List-Unsubscribe": "One-Click"}, max_redirects=0
        )
        assert again.status == 200
        assert snapshot() == after
        assert provider.cookies() == []
    finally:
        provider.close()


def test_forward_to_a_friend_delivers_exactly_one_message(site: Site, page: Page) -> None:
    forwarder = "r3@example.net"
    frame = open_message(page, site, forwarder)
    delivered = len(site.inbox.store.newest_first())

    frame.get_by_role("link", name="Send to a friend").click()
    page.wait_for_url(f"{site.public_url}/f/*")
    expect(page.get_by_role("heading", level=1)).to_have_text("Send to a friend")
    page.get_by_label("Your friend's email address").fill(FRIEND)
    page.get_by_label("A note for your friend").fill(NOTE)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_have_text(
        f"We sent {SUBJECT} to {FRIEND}. Thank you for sharing it."
    )

    # Sending it to the same friend again sends nothing.
    page.get_by_role("link", name="Send it to someone else").click()
    page.get_by_label("Your friend's email address").fill(FRIEND)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Already sent")

    page.goto(site.inbox.inbox_url)
    expect(page.locator("#count")).to_contain_text(re.compile(rf"^\s*{delivered + 1} messages\."))
    page.get_by_label("Search by recipient or subject").fill(FRIEND)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#count")).to_contain_text("1 message matches")
    page.get_by_role("link", name=f"Fwd: {SUBJECT}").click()

    friend_copy = page.frame_locator("iframe.html")
    expect(friend_copy.get_by_text("sent you this newsletter")).to_have_text(
        f"Reader 3 ({forwarder}) sent you this newsletter from MUSLIM Institute."
    )
    expect(friend_copy.get_by_text(NOTE)).to_be_visible()
    expect(friend_copy.get_by_text("You are not subscribed")).to_be_visible()
    expect(friend_copy.get_by_role("link", name="Subscribe here")).to_have_attribute(
        "href", f"{site.public_url}/subscribe/members"
    )
    # None of the forwarder's own links reach the friend.
    hrefs = friend_copy.locator("a[href]").evaluate_all("links => links.map(a => a.href)")
    personal = re.compile(rf"{re.escape(site.public_url)}/[ufp]/")
    assert hrefs
    assert [href for href in hrefs if personal.match(href)] == []
    page.get_by_role("link", name="Headers").click()
    expect(page.get_by_role("rowheader", name="List-Unsubscribe", exact=True)).to_have_count(0)

    assert not is_subscriber(FRIEND)
    assert status(forwarder, site.audience.id) is MembershipStatus.ACTIVE


def test_the_web_version_and_the_pdf_open(site: Site, page: Page) -> None:
    frame = open_message(page, site, "r4@example.net")
    issue_url = f"{site.public_url}/issues/2022-02-24-genocide-and-ethnic-cleansing-a-crime/"

    frame.get_by_role("link", name="View online").click()
    page.wait_for_url(issue_url)
    # The title is set on two lines; its accessible name reads as one.
    expect(page.get_by_role("heading", level=1, name=TITLE)).to_be_visible()
    # Its photos are served too.
    photos = page.locator("img[src*='/assets/speaker-']")
    expect(photos.first).to_be_visible()
    widths = photos.evaluate_all("images => images.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) == 6
    assert 0 not in widths

    page.go_back()
    frame = page.frame_locator("iframe.html")
    # The first PDF of a process loads WeasyPrint and renders: seconds on a busy machine.
    with page.expect_response(lambda r: r.url.endswith(".pdf"), timeout=30_000) as pdf:
        frame.get_by_role("link", name="Download PDF").first.click()
    assert pdf.value.url == f"{issue_url}newsletter.pdf"
    assert pdf.value.status == 200
    assert pdf.value.headers["content-type"] == "application/pdf"
    # Chromium shows the PDF in its viewer, which hides the bytes; the same request from
    # this browser context gets them.
    data = page.request.get(pdf.value.url).body()
    assert data.startswith(b"%PDF-")
