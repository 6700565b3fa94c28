"""Public pages and their mails speak the list's language (`lists.language`)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from newsletter.core.tokens import Token
from newsletter.store.lists import create_list
from tests.compose.helpers import compose
from tests.compose.test_i18n import urdu_record
from tests.i18n.helpers import NOT_TEXT, english_left, visible
from tests.store.databases import session_scope
from tests.transports.smtp_servers import Mailbox
from tests.web.helpers import (
    body,
    form_fields,
    mail_settled,
    new_campaign,
    new_list,
    new_member,
    parse,
    sign,
)

RTL_PAGE = '<html lang="ur" dir="rtl">'


def _list(name: str, language: str | None) -> int:
    with session_scope(write=True) as session:
        return create_list(session, name, language=language).id


def _no_english(html: str) -> None:
    assert english_left(NOT_TEXT.sub(" ", visible(html))) == []


def test_an_urdu_lists_unsubscribe_page_and_its_answer_are_in_urdu(client: TestClient) -> None:
    member = new_member("ana@example.org", _list("urdu-readers", "ur"))
    url = f"/u/{member.token('u')}"

    page = client.get(url).text

    assert RTL_PAGE in page
    assert "<title>ان سبسکرائب کریں · MUSLIM Institute</title>" in page
    assert "کیا آپ" in page and "وصول کرنا بند کرنا چاہتے ہیں؟" in page
    # The address and the list's name keep their own direction inside the Urdu sentence.
    assert '<strong><span dir="auto">ana@example.org</span></strong>' in page
    _no_english(page)

    done = client.post(url, data={"action": "unsubscribe"})
    assert done.status_code == 200
    assert "ہو گیا: اب" in done.text and "نیوز لیٹر نہیں آئے گا۔" in done.text
    _no_english(done.text)


def test_a_list_without_a_language_speaks_english(client: TestClient) -> None:
    member = new_member("ana@example.org", new_list("members"))
    page = client.get(f"/u/{member.token('u')}").text
    assert '<html lang="en" dir="ltr">' in page
    assert "Do you want to stop receiving the <strong>members</strong> newsletter" in page
    assert 'dir="auto"' not in page


def test_preferences_for_every_list_speak_the_language_the_lists_share(
    client: TestClient,
) -> None:
    ana = new_member("ana@example.org", _list("urdu-readers", "ur"))
    new_member("ana@example.org", _list("urdu-press", "ur-PK"))
    everything = f"/p/{sign(Token('p', ana.subscriber_id))}"

    page = client.get(everything).text

    assert RTL_PAGE in page
    assert "آپ کی سبسکرپشنز" in page and "میرا انتخاب محفوظ کریں" in page
    _no_english(page)
    saved = client.post(
        everything, data={"action": "save", "list": str(ana.list_id), **form_fields(page, "save")}
    )
    assert "آپ کا انتخاب محفوظ کر لیا گیا ہے۔" in saved.text

    # On an English list too: the lists disagree, so English.
    new_member("ana@example.org", new_list("members"))
    assert '<html lang="en" dir="ltr">' in client.get(everything).text
    # A link for one list speaks that list's language.
    assert RTL_PAGE in client.get(f"/p/{ana.token('p')}").text


def test_signing_up_to_an_urdu_list_is_in_urdu_mail_included(
    client: TestClient, mailbox: Mailbox
) -> None:
    _list("urdu-readers", "ur")

    form = client.get("/subscribe/urdu-readers").text
    assert RTL_PAGE in form and "ای میل ایڈریس" in form and "سبسکرائب کریں" in form
    _no_english(form)

    thanks = client.post("/subscribe/urdu-readers", data={"email": "new@example.org"})
    assert "براہِ کرم اپنا ان باکس دیکھیں" in thanks.text
    _no_english(thanks.text)
    mail_settled(client)

    message = parse(mailbox.accepted[-1].data)
    assert message["Subject"] == "براہِ کرم MUSLIM Institute کی سبسکرپشن کی تصدیق کریں"
    html, text = body(message, "html"), body(message, "plain")
    assert RTL_PAGE in html and "'Noto Nastaliq Urdu'" in html.replace("&#39;", "'")
    assert "تصدیق کے لیے یہ لنک کھولیں اور بٹن دبائیں:" in text
    assert "\u2068new@example.org\u2069" in text
    _no_english(html)
    assert english_left(NOT_TEXT.sub(" ", text)) == []

    link = re.search(r"http://127\.0\.0\.1:8000(/c/\S+)", text)
    assert link is not None
    confirm = client.get(link.group(1)).text
    assert RTL_PAGE in confirm and "میری سبسکرپشن کی تصدیق کریں" in confirm
    _no_english(confirm)


def test_the_forward_page_speaks_the_list_and_the_banner_the_issue(
    client: TestClient, mailbox: Mailbox
) -> None:
    list_id = _list("urdu-readers", "ur")
    member = new_member("ana@example.org", list_id, name="Ana Example")
    issue = compose(urdu_record())
    campaign = new_campaign(list_id, list_name="urdu-readers", issue=issue)
    url = f"/f/{member.token('f', campaign_id=campaign.id)}"

    page = client.get(url).text
    assert RTL_PAGE in page and "دوست کو بھیجیں" in page
    assert "(اختیاری، زیادہ سے زیادہ 500 حروف)" in page
    _no_english(page)

    long_note = client.post(url, data={"email": "friend@example.org", "note": "ن" * 600})
    assert "براہِ کرم پیغام 500 حروف تک محدود رکھیں (اس میں 600 حروف ہیں)۔" in long_note.text

    sent = client.post(url, data={"email": "friend@example.org"})
    assert "ہم نے" in sent.text
    _no_english(sent.text)
    message = parse(mailbox.accepted[-1].data)
    text = body(message, "plain")
    assert text.startswith(
        "\u2068Ana Example\u2069 (\u2068ana@example.org\u2069) نے آپ کو"
        " \u2068MUSLIM Institute\u2069 کا یہ نیوز لیٹر بھیجا ہے۔"
    )
    assert "یہاں سبسکرائب کریں: http://127.0.0.1:8000/subscribe/urdu-readers" in text
    assert '<div dir="rtl"' in body(message, "html")
