"""A comms person's whole walk in chromium, in English and in Urdu: sign in, write an issue
from nothing with two speakers and their photos from disk, watch the preview follow, save,
send a test to the capture inbox and follow its links, make a 20-subscriber list from a
CSV, send to it, and open a delivered copy as a reader would.

The module's site (conftest.py) provides the store; the staff area under test is a second
app on that store, sending to this test's own capture server (`dev_smtp`), so the inbox
holds this walk's mail and nothing else.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from PIL import Image
from playwright.sync_api import Browser, FrameLocator, Page, expect
from sqlalchemy import select

from newsletter.core.settings import Brand, Settings, get_settings
from newsletter.devsmtp.server import DevSmtpServer
from newsletter.i18n import Language, language
from newsletter.i18n.languages import LOCALE_DIR
from newsletter.record.photos import PHOTO_WIDTH
from newsletter.store.models import Membership, MembershipStatus, Subscriber
from newsletter.store.staff import add_user
from newsletter.web import create_app
from newsletter.web.staff.senders import senders
from tests.browser import dev_smtp, live_server  # noqa: F401
from tests.e2e.site import LateApp, Site
from tests.store.databases import session_scope

pytestmark = pytest.mark.slow

PASSWORD = "a long staff password"
READERS = 20
# What each photo may weigh once prepared for mail (Settings.photo_budget_bytes).
BUDGET = Settings().photo_budget_bytes
_numbers = itertools.count()


@dataclass(frozen=True)
class Speaker:
    honorific: str
    name: str
    position: str
    role: str
    remarks: str


@dataclass(frozen=True)
class Issue:
    """What the comms person types: every field in the issue's own language."""

    language: str
    list_language: str
    kind: str
    title: str
    organiser: str
    venue: str
    summary: str
    speakers: tuple[Speaker, Speaker]
    recommendation: str

    @property
    def subject(self) -> str:
        # The subject left empty: "Kind: Title".
        return f"{self.kind}: {self.title}"


ENGLISH = Issue(
    language="en",
    list_language="",
    kind="Seminar",
    title="Water and Peace in South Asia",
    organiser="MUSLIM Institute",
    venue="Islamabad",
    summary="A seminar on **water** and how rivers shared by neighbours can keep the peace.",
    speakers=(
        Speaker("Dr.", "Ada Khan", "Professor of Hydrology", "Chair", "Welcome, all."),
        Speaker("Mr.", "Omar Ali", "Former Ambassador", "Keynote speaker", "Water is peace."),
    ),
    recommendation="Share river data between neighbours every season.",
)
URDU = Issue(
    language="ur",
    list_language="ur",
    kind="سیمینار",
    title="جنوبی ایشیا میں پانی اور امن",
    organiser="مسلم انسٹیٹیوٹ",
    venue="اسلام آباد",
    summary="پانی اور امن پر ایک **سیمینار**، جس میں دریاؤں کی تقسیم پر بات ہوئی۔",
    speakers=(
        Speaker("ڈاکٹر", "عائشہ خان", "آبیات کی پروفیسر", "صدر", "سب کو خوش آمدید۔"),
        Speaker("جناب", "عمر علی", "سابق سفیر", "کلیدی مقرر", "پانی ہی امن ہے۔"),
    ),
    recommendation="ہمسایہ ممالک ہر موسم میں دریاؤں کا ڈیٹا بانٹیں۔",
)


@dataclass(frozen=True)
class Staff:
    url: str
    inbox: DevSmtpServer
    email: str


@pytest.fixture
def staff_site(
    site: Site,
    dev_smtp: DevSmtpServer,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Staff]:
    email = f"comms{next(_numbers)}@example.org"
    with session_scope(write=True) as session:
        add_user(session, email, PASSWORD)
    monkeypatch.setenv("NEWSLETTER_SMTP_URL", dev_smtp.smtp_url)
    late = LateApp()
    try:
        with live_server(late) as url:
            monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", url)
            get_settings.cache_clear()
            late.app = create_app(Settings())
            yield Staff(url, dev_smtp, email)
    finally:
        senders.join(timeout=30)


@pytest.mark.parametrize("issue", [ENGLISH, URDU], ids=["en", "ur"])
def test_a_comms_walk(
    page: Page, browser: Browser, staff_site: Staff, tmp_path: Path, issue: Issue
) -> None:
    lang = language(issue.language)
    photos = [_phone_photo(tmp_path / f"speaker{i}.jpg", i) for i in range(2)]

    page.goto(f"{staff_site.url}/staff/issues/new")
    _log_in(page, staff_site.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("New issue")
    _write(page, issue, photos)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#notice")).to_have_text("Saved as version 1.")
    saved = page.url
    for speaker in issue.speakers:
        expect(page.get_by_role("img", name=f"The current photo of {speaker.name}")).to_be_visible()

    tester = f"tester.{issue.language}@example.org"
    _send_test(page, staff_site, issue, lang, tester)

    list_id = _new_list(page, staff_site, issue)
    readers = [f"reader{i}.{issue.language}@example.com" for i in range(READERS)]
    _import(page, staff_site, list_id, readers, tmp_path)
    page.goto(saved)
    _send_to_list(page, list_id)
    delivered = sorted(to for message in staff_site.inbox.store for to in message.envelope_to)
    assert delivered == sorted([*readers, tester])

    reader = readers[3]
    message_id = _open(page, staff_site, reader, issue.subject)
    _check_copy(page, page.frame_locator("iframe.html"), issue)
    english = _english_in(page, staff_site, message_id)
    if issue.language == "en":
        # The search finds what it looks for.
        assert {"Remarks by the Speakers", "Follow Us", "Unsubscribe", "View online"} <= english
    else:
        assert english == set(), f"English fixed strings in the copy: {sorted(english)}"
    _unsubscribe_in_the_page(page, staff_site, lang, reader, list_id)
    _one_click_unsubscribe(page, browser, staff_site, readers[4], list_id, issue.subject)


# The steps


def _log_in(page: Page, email: str) -> None:
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _write(page: Page, issue: Issue, photos: list[Path]) -> None:
    """Fill the editor from nothing, watching the preview follow the typing."""
    page.locator('[name="title"]').fill(issue.title)
    page.locator('[name="kind"]').fill(issue.kind)
    page.locator('[name="date"]').fill("2024-03-01")
    page.locator('[name="organiser"]').fill(issue.organiser)
    page.locator('[name="venue"]').fill(issue.venue)
    page.locator('[name="language"]').fill(issue.language)
    page.locator('[name="summary"]').fill(issue.summary)
    desktop = page.frame_locator("iframe.view-desktop")
    expect(desktop.locator("body")).to_contain_text(issue.title)
    for index, (speaker, photo) in enumerate(zip(issue.speakers, photos, strict=True)):
        page.get_by_role("button", name="Add a speaker").click()
        for field in ("honorific", "name", "position", "role", "remarks"):
            page.locator(f'[name="speakers-{index}-{field}"]').fill(getattr(speaker, field))
        page.locator(f'[name="speakers-{index}-photo_file"]').set_input_files(photo)
        expect(desktop.locator("body")).to_contain_text(speaker.name)
        expect(desktop.locator("body")).to_contain_text(speaker.remarks)
    page.get_by_role("button", name="Add a recommendation").click()
    page.locator('[name="recommendations-0"]').fill(issue.recommendation)
    expect(desktop.locator("body")).to_contain_text(issue.recommendation)
    page.get_by_role("button", name="Add a link").click()
    page.locator('[name="social-0-name"]').fill("facebook")
    page.locator('[name="social-0-url"]').fill("https://www.facebook.com/example")
    expect(desktop.locator('a[href="https://www.facebook.com/example"]')).to_have_count(1)
    expect(page.locator("#preview-subject")).to_have_text(issue.subject)
    if language(issue.language).rtl:
        expect(desktop.locator("html")).to_have_attribute("dir", "rtl")


def _send_test(page: Page, staff_site: Staff, issue: Issue, lang: Language, tester: str) -> None:
    """A test of the saved version; its links open a page that says it was a test."""
    page.get_by_label("Send a test to").fill(tester)
    page.get_by_role("button", name="Send test").click()
    expect(page.locator("#test-result")).to_contain_text(tester)
    subject = lang.gettext("[Test] %(subject)s") % {"subject": issue.subject}
    _open(page, staff_site, tester, subject)
    for link in ("Unsubscribe", "Manage preferences"):
        frame = page.frame_locator("iframe.html")
        frame.get_by_role("link", name=lang.gettext(link), exact=True).first.click()
        page.wait_for_url(re.compile(rf"^{re.escape(staff_site.url)}/[up]/"))
        # In the issue's language: a test is sent for no list, so the link names it.
        expect(page.get_by_role("heading", level=1)).to_have_text(
            lang.gettext("This was a test message")
        )
        expect(page.get_by_role("status")).to_have_text(
            lang.gettext(
                "This link comes from a test message, so it does nothing: "
                "no subscription was changed."
            )
        )
        page.go_back()
    # Following them made the tester no one's subscriber.
    with session_scope() as session:
        assert session.scalar(select(Subscriber.id).where(Subscriber.email == tester)) is None


def _new_list(page: Page, staff_site: Staff, issue: Issue) -> int:
    page.goto(f"{staff_site.url}/staff/lists")
    page.get_by_role("link", name="New list").click()
    name = f"walk-{issue.language}-{next(_numbers)}"
    page.get_by_label("Public name").fill(f"Seminar news ({issue.language})")
    page.get_by_label("Language of its public pages").select_option(issue.list_language)
    page.get_by_label("Internal name").fill(name)
    page.get_by_role("button", name="Create list").click()
    expect(page.locator("#saved")).to_have_text("Saved.")
    found = re.search(r"/staff/lists/(\d+)", page.url)
    assert found is not None, page.url
    return int(found.group(1))


def _import(
    page: Page, staff_site: Staff, list_id: int, readers: list[str], tmp_path: Path
) -> None:
    csv = tmp_path / "readers.csv"
    csv.write_text(
        "email,name\n" + "".join(f"{a},Reader {i}\n" for i, a in enumerate(readers)),
        encoding="utf-8",
    )
    page.goto(f"{staff_site.url}/staff/lists")
    row = page.locator(f"#list-{list_id}")
    row.locator('input[type="file"]').set_input_files(csv)
    row.get_by_role("button", name="Import").click()
    expect(page.locator("#import-summary")).to_have_text(f"added {READERS}, updated 0, skipped 0")
    expect(page.locator(f'#list-{list_id} [data-count="eligible"]')).to_have_text(str(READERS))


def _send_to_list(page: Page, list_id: int) -> None:
    link = page.get_by_role("link", name="Send to a list…")
    # It sits in the sticky preview pane, below the frames, in a pane that scrolls on its
    # own: scrolled there within the click, the pane moves as it sticks and the click
    # lands beside the link (no navigation, no error). Scrolled there first, it holds still.
    link.scroll_into_view_if_needed()
    link.click()
    page.get_by_label("List to send to").select_option(str(list_id))
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#recipient-count")).to_have_text(str(READERS))
    page.get_by_role("button", name=f"Send to {READERS} recipients").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Campaign \d+"))
    expect(page.locator("#status")).to_have_text("done", timeout=30_000)
    expect(page.locator('#progress [data-field="sent"]')).to_have_text(str(READERS))


def _open(page: Page, staff_site: Staff, recipient: str, subject: str) -> str:
    """Find `recipient`'s copy in the inbox as a user would and open it; its id."""
    page.goto(staff_site.inbox.inbox_url)
    page.get_by_label("Search by recipient or subject").fill(recipient)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#count")).to_contain_text("1 message matches")
    page.get_by_role("link", name=subject).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(subject)
    found = re.search(r"/messages/([^/?#]+)$", page.url)
    assert found is not None, page.url
    return found.group(1)


def _check_copy(page: Page, frame: FrameLocator, issue: Issue) -> None:
    """Both speakers, with their photos: shown, and made small for mail."""
    body = frame.locator("body")
    expect(body).to_contain_text(issue.title)
    for speaker in issue.speakers:
        expect(body).to_contain_text(speaker.name)
        expect(body).to_contain_text(speaker.remarks)
        photo = frame.locator(f'img[alt*="{speaker.name}"]')
        expect(photo).to_have_count(1)
        expect(photo).to_be_visible()
        expect(photo).to_have_js_property("complete", True)
        assert photo.evaluate("image => image.naturalWidth") > 0
        src = photo.get_attribute("src")
        assert src is not None
        answer = page.request.get(src)
        assert answer.status == 200, src
        data = answer.body()
        assert len(data) <= BUDGET, f"{src}: {len(data)} bytes"
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "JPEG"
            assert image.width <= PHOTO_WIDTH
            # The camera's metadata is gone.
            assert not image.getexif()


def _one_click_unsubscribe(
    page: Page, browser: Browser, staff_site: Staff, reader: str, list_id: int, subject: str
) -> None:
    """What a mailbox provider's button does (RFC 8058): one POST, no cookie."""
    _open(page, staff_site, reader, subject)
    page.get_by_role("link", name="Headers").click()
    assert _header(page, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    found = re.fullmatch(r"<(http://[^>]+)>", _header(page, "List-Unsubscribe"))
    assert found is not None
    url = found.group(1)
    assert url.startswith(f"{staff_site.url}/u/")
    provider = browser.new_context()
    try:
        answer = provider.request.post(url, form={"List-Unsubscribe": "One-Click"}, max_redirects=0)
        assert answer.status == 200
    finally:
        provider.close()
    assert _status(reader, list_id) is MembershipStatus.UNSUBSCRIBED


def _unsubscribe_in_the_page(
    page: Page, staff_site: Staff, lang: Language, reader: str, list_id: int
) -> None:
    """The copy's own link: its page, in the list's language, and one click on its button."""
    frame = page.frame_locator("iframe.html")
    frame.get_by_role("link", name=lang.gettext("Unsubscribe"), exact=True).click()
    page.wait_for_url(f"{staff_site.url}/u/*")
    expect(page.get_by_role("heading", level=1)).to_have_text(lang.gettext("Unsubscribe"))
    assert _status(reader, list_id) is MembershipStatus.ACTIVE
    page.get_by_role("button", name=lang.gettext("Unsubscribe"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(lang.gettext("You are unsubscribed"))
    assert _status(reader, list_id) is MembershipStatus.UNSUBSCRIBED


def _status(reader: str, list_id: int) -> MembershipStatus | None:
    with session_scope() as session:
        return session.scalar(
            select(Membership.status)
            .join(Subscriber, Subscriber.id == Membership.subscriber_id)
            .where(Subscriber.email == reader, Membership.list_id == list_id)
        )


def _header(page: Page, name: str) -> str:
    row = page.locator("table.headers tr").filter(
        has=page.get_by_role("rowheader", name=name, exact=True)
    )
    expect(row).to_have_count(1)
    return row.locator("td").inner_text()


# No English in a copy in another language


def _english_in(page: Page, staff_site: Staff, message_id: str) -> set[str]:
    """The English catalogue's fixed strings found in the captured message."""
    raw = page.request.get(f"{staff_site.inbox.inbox_url}/api/messages/{message_id}/raw").body()
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    words = _readable(message)
    return {
        fragment
        for fragment in english_fragments()
        if re.search(rf"(?<![A-Za-z]){re.escape(fragment)}(?![A-Za-z])", words)
    }


def english_fragments() -> set[str]:
    """The English catalogue's msgids cut at their placeholders and tags: the words a
    reader would see of each."""
    with (LOCALE_DIR / "en" / "LC_MESSAGES" / "newsletter.po").open("rb") as file:
        catalogue = read_po(file)
    fragments: set[str] = set()
    for entry in catalogue:
        ids = [entry.id] if isinstance(entry.id, str) else list(entry.id)
        for msgid in ids:
            for part in re.split(r"%\(\w+\)s|<[^>]*>", msgid):
                fragment = part.strip(" \n:.,;()?!")
                if re.search(r"[A-Za-z]", fragment):
                    fragments.add(fragment)
    return fragments


def _readable(message: EmailMessage) -> str:
    """Everything a reader of `message` can read: the subject, the text part, and the
    HTML part's text and alt/title attributes; without what is legitimately the same in
    every language (addresses, URLs, the brand's name and postal address)."""
    texts = [str(message["Subject"])]
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            texts.append(part.get_content())
        elif part.get_content_type() == "text/html":
            reader = _Text()
            reader.feed(part.get_content())
            texts.extend(reader.texts)
    joined = "\n".join(texts)
    joined = re.sub(r"(https?://|mailto:)\S+", " ", joined)
    joined = re.sub(r"\S+@\S+", " ", joined)
    brand = Brand()
    for fixed in (brand.name, brand.postal_address):
        joined = joined.replace(fixed, " ")
    return joined


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skipped = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skipped += 1
        for name, value in attrs:
            if name in ("alt", "title", "aria-label") and value:
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script") and self._skipped:
            self._skipped -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipped:
            self.texts.append(data)


# Photos as a phone takes them


def _phone_photo(path: Path, seed: int) -> Path:
    """A real, large JPEG with camera metadata: noise over a gradient, as heavy as a photo."""
    size = (2400, 1800)
    gradient = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 64 + seed)
    image = Image.merge("RGB", (gradient, noise, gradient.rotate(90 + seed)))
    exif = Image.Exif()
    exif[0x010F] = "Phone Maker"  # Make
    exif[0x0110] = "Phone 12"  # Model
    image.save(path, "JPEG", quality=92, exif=exif)
    assert path.stat().st_size > 10 * BUDGET
    return path
