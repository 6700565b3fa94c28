from __future__ import annotations

import email
import re
from email import policy

import pytest
from fastapi.testclient import TestClient

from newsletter.devsmtp import inbox
from newsletter.devsmtp.capture import CapturedMessage, MessageStore
from newsletter.devsmtp.inbox import MESSAGE_CSP, create_app
from tests.devsmtp.messages import PNG_1PX, build

HTML = (
    "<!DOCTYPE html><html><head><title>Issue</title></head><body>"
    '<h1>Seminar</h1><a href="https://news.example.org/u/abc">Unsubscribe</a>'
    "<script>document.body.innerHTML = 'script ran'</script></body></html>"
)


@pytest.fixture
def store() -> MessageStore:
    return MessageStore()


@pytest.fixture
def client(store: MessageStore) -> TestClient:
    return TestClient(create_app(store, smtp_url="smtp://127.0.0.1:1025"))


def add(store: MessageStore, raw: bytes, *recipients: str) -> CapturedMessage:
    return store.add("newsletter@example.org", list(recipients) or ["ana@example.org"], raw)


def test_the_inbox_lists_messages_newest_first(store: MessageStore, client: TestClient) -> None:
    first = add(store, build("First issue"))
    second = add(store, build("Second issue", to="Bob <bob@example.org>"))

    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.index("Second issue") < page.index("First issue")
    assert f'href="/messages/{second.id}"' in page
    assert f'href="/messages/{first.id}"' in page
    assert "Bob &lt;bob@example.org&gt;" in page
    assert "2 messages." in page
    assert "smtp://127.0.0.1:1025" in page
    assert "The newest 5,000 messages are kept in memory" in page
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_an_empty_inbox_says_where_to_send(client: TestClient) -> None:
    page = client.get("/").text
    assert "No mail yet" in page
    assert "Delete all messages" not in page


def test_the_footer_counts_dropped_messages(client: TestClient) -> None:
    store = MessageStore(limit=1)
    client = TestClient(create_app(store))
    add(store, build("a"))
    add(store, build("b"))
    add(store, build("c"))
    assert "2 older messages were dropped" in client.get("/").text


def test_search_filters_by_recipient_or_subject(store: MessageStore, client: TestClient) -> None:
    add(store, build("Seminar report"), "ana@example.org")
    add(store, build("Invitation", to="Bob <bob@example.org>"), "bob@example.org")

    by_subject = client.get("/", params={"q": "seminar"}).text
    assert "Seminar report" in by_subject
    assert "Invitation" not in by_subject
    assert "1 message matches" in by_subject
    assert 'value="seminar"' in by_subject

    by_recipient = client.get("/", params={"q": "BOB@"}).text
    assert "Invitation" in by_recipient
    assert "Seminar report" not in by_recipient

    nothing = client.get("/", params={"q": "nobody"}).text
    assert "0 messages match" in nothing


def test_long_lists_are_paged(
    store: MessageStore, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox, "PAGE_SIZE", 2)
    for number in range(5):
        add(store, build(f"Issue {number}"))

    first = client.get("/").text
    assert re.findall(r"Issue \d", first) == ["Issue 4", "Issue 3"]
    assert 'href="/?page=2"' in first
    assert "Newer" not in first

    last = client.get("/", params={"page": 3}).text
    assert re.findall(r"Issue \d", last) == ["Issue 0"]
    assert 'href="/?page=2"' in last
    assert "Older" not in last
    assert client.get("/", params={"page": 0}).status_code == 422


def test_text_is_escaped_everywhere(store: MessageStore, client: TestClient) -> None:
    message = add(store, build("<script>alert(1)</script>", text="<b>not bold</b>\n"))
    for path in ("/", f"/messages/{message.id}", f"/messages/{message.id}/text"):
        page = client.get(path).text
        assert "<script>alert(1)" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in client.get(f"/messages/{message.id}/text").text


def test_the_message_page_frames_the_html(store: MessageStore, client: TestClient) -> None:
    message = add(store, build("Seminar", html=HTML))
    page = client.get(f"/messages/{message.id}").text

    frame = re.search(r"<iframe[^>]*>", page)
    assert frame is not None
    assert f'src="/messages/{message.id}/html"' in frame.group()
    assert (
        'sandbox="allow-popups allow-popups-to-escape-sandbox '
        'allow-top-navigation-by-user-activation"' in frame.group()
    )
    assert 'aria-current="page">HTML<' in page
    assert "Ana Reader &lt;ana@example.org&gt;" in page
    assert f'href="/messages/{message.id}/raw"' in page


def test_the_html_route_is_confined_by_its_policy(store: MessageStore, client: TestClient) -> None:
    message = add(store, build("Seminar", html=HTML))
    response = client.get(f"/messages/{message.id}/html")

    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert csp == MESSAGE_CSP
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    assert "frame-ancestors 'self'" in csp
    assert "sandbox allow-popups" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<head><base target="_top"><title>Issue</title>' in response.text
    assert 'href="https://news.example.org/u/abc"' in response.text


def test_a_message_without_html_says_so(store: MessageStore, client: TestClient) -> None:
    message = add(store, build(html=None))
    assert "This message has no HTML part" in client.get(f"/messages/{message.id}").text
    missing = client.get(f"/messages/{message.id}/html")
    assert missing.status_code == 404
    assert "no HTML part" in missing.text


def test_the_text_headers_and_source_tabs(store: MessageStore, client: TestClient) -> None:
    message = add(store, build("Tabs", text="Hello Ana.\n", html="<p>x</p>"))

    text = client.get(f"/messages/{message.id}/text").text
    assert '<pre class="text">Hello Ana.\n</pre>' in text
    assert 'aria-current="page">Text<' in text

    headers = client.get(f"/messages/{message.id}/headers").text
    rows = re.findall(r'<th scope="row">([^<]+)</th>', headers)
    assert rows[:5] == ["From", "To", "Subject", "Message-ID", "Date"]
    assert "<td>Tabs</td>" in headers

    source = client.get(f"/messages/{message.id}/source").text
    assert "Content-Type: multipart/alternative;" in source
    assert "Message-ID: &lt;m1@example.org&gt;" in source


def test_a_long_source_is_cut_on_the_page(
    store: MessageStore, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox, "SOURCE_PREVIEW", 100)
    message = add(store, build(text="x" * 500 + "\n"))
    page = client.get(f"/messages/{message.id}/source").text
    assert "The source is cut here" in page
    assert "x" * 100 not in page


def test_the_raw_message_downloads_as_eml(store: MessageStore, client: TestClient) -> None:
    raw = build("Download me")
    message = add(store, raw)
    response = client.get(f"/messages/{message.id}/raw")
    assert response.content == raw
    assert response.headers["content-type"] == "message/rfc822"
    assert response.headers["content-disposition"] == f'attachment; filename="{message.id}.eml"'
    assert email.message_from_bytes(response.content, policy=policy.default)["Subject"] == (
        "Download me"
    )


def test_inline_images_are_served_and_referenced(store: MessageStore, client: TestClient) -> None:
    message = add(store, build(html='<img alt="logo" src="cid:logo@x">', inline_png="logo@x"))

    framed = client.get(f"/messages/{message.id}/html").text
    assert f'src="/messages/{message.id}/cid/logo@x"' in framed
    image = client.get(f"/messages/{message.id}/cid/logo@x")
    assert image.status_code == 200
    assert image.content == PNG_1PX
    assert image.headers["content-type"] == "image/png"
    assert client.get(f"/messages/{message.id}/cid/other@x").status_code == 404


def test_attachments_are_listed_and_download(store: MessageStore, client: TestClient) -> None:
    message = add(store, build(attachment=("report.pdf", b"%PDF-1.4 test")))
    page = client.get(f"/messages/{message.id}").text
    link = re.search(rf'href="(/messages/{message.id}/parts/\d+)" download>report.pdf<', page)
    assert link is not None

    response = client.get(link.group(1))
    assert response.content == b"%PDF-1.4 test"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="report.pdf"'
    assert client.get(f"/messages/{message.id}/parts/0").status_code == 404
    assert client.get(f"/messages/{message.id}/parts/99").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/messages/{id}",
        "/messages/{id}/text",
        "/messages/{id}/headers",
        "/messages/{id}/source",
        "/messages/{id}/html",
        "/messages/{id}/raw",
        "/messages/{id}/cid/logo@x",
        "/messages/{id}/parts/1",
    ],
)
def test_unknown_ids_get_the_not_found_page(client: TestClient, path: str) -> None:
    response = client.get(path.format(id="0123456789abcdef"))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "No message with id &#39;0123456789abcdef&#39;" in response.text


def test_an_unknown_path_gets_the_not_found_page(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.text


def test_clear_empties_the_inbox(store: MessageStore, client: TestClient) -> None:
    add(store, build())
    assert "Delete all messages" in client.get("/").text
    response = client.post("/clear", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert len(store) == 0


def test_clear_refuses_a_form_from_another_site(store: MessageStore, client: TestClient) -> None:
    add(store, build())
    response = client.post("/clear", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert len(store) == 1
    same = client.post("/clear", headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert same.status_code == 303
    assert len(store) == 0


def test_the_stylesheet_is_served(client: TestClient) -> None:
    response = client.get("/static/inbox.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "@media (max-width: 40rem)" in response.text


def test_the_favicon_is_served(client: TestClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/x-icon"
    # An ICO file: reserved 0, type 1 (icon), then its images.
    assert response.content[:4] == b"\x00\x00\x01\x00"


# The JSON API


def test_api_lists_messages_newest_first(store: MessageStore, client: TestClient) -> None:
    first = add(store, build("First", message_id="<1@x>"), "ana@example.org")
    second = add(store, build("Zweite Ausgabe — März", to="Zoë <zoe@example.org>"), "zoe@x.org")

    body = client.get("/api/messages").json()

    assert body["total"] == 2
    assert body["dropped"] == 0
    assert [m["id"] for m in body["messages"]] == [second.id, first.id]
    newest = body["messages"][0]
    assert newest["subject"] == "Zweite Ausgabe — März"
    assert newest["to"] == [{"name": "Zoë", "address": "zoe@example.org"}]
    assert newest["from"] == [{"name": "MUSLIM Institute", "address": "newsletter@example.org"}]
    assert newest["envelope_from"] == "newsletter@example.org"
    assert newest["envelope_to"] == ["zoe@x.org"]
    assert newest["size"] == second.size
    assert newest["received_at"] == second.received_at.isoformat()
    assert body["messages"][1]["message_id"] == "<1@x>"


def test_api_search_and_slices(store: MessageStore, client: TestClient) -> None:
    for number in range(5):
        add(store, build(f"Issue {number}"), f"r{number}@example.org")

    found = client.get("/api/messages", params={"q": "r3@"}).json()
    assert [m["subject"] for m in found["messages"]] == ["Issue 3"]
    assert found["total"] == 1

    sliced = client.get("/api/messages", params={"start": 1, "limit": 2}).json()
    assert [m["subject"] for m in sliced["messages"]] == ["Issue 3", "Issue 2"]
    assert sliced["total"] == 5
    assert client.get("/api/messages", params={"limit": 0}).status_code == 422


def test_api_message_has_headers_text_html_and_parts(
    store: MessageStore, client: TestClient
) -> None:
    message = add(store, build("Detail", html="<p>Hi</p>", inline_png="logo@x"))

    body = client.get(f"/api/messages/{message.id}").json()

    assert body["id"] == message.id
    assert body["subject"] == "Detail"
    assert ["Subject", "Detail"] in body["headers"]
    assert body["headers"][0] == ["From", "MUSLIM Institute <newsletter@example.org>"]
    assert body["text"].startswith("Hello Ana.\n")
    assert body["html"] == "<p>Hi</p>\n"
    assert body["parts"] == [
        {
            "index": 4,
            "content_type": "image/png",
            "filename": "logo.png",
            "content_id": "logo@x",
            "size": len(PNG_1PX),
        }
    ]


def test_api_raw_is_the_message_as_received(store: MessageStore, client: TestClient) -> None:
    raw = build("Raw")
    message = add(store, raw)
    response = client.get(f"/api/messages/{message.id}/raw")
    assert response.content == raw
    assert response.headers["content-type"] == "message/rfc822"
    assert response.headers["content-disposition"].startswith("inline;")


@pytest.mark.parametrize("path", ["/api/messages/nope", "/api/messages/nope/raw"])
def test_api_unknown_ids_are_json_404s(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {
        "detail": "No message with id 'nope': it was deleted, dropped or never here."
    }


def test_api_delete_clears_everything(store: MessageStore, client: TestClient) -> None:
    add(store, build())
    add(store, build())
    assert client.delete("/api/messages").json() == {"deleted": 2}
    assert client.get("/api/messages").json()["total"] == 0
    assert client.delete("/api/messages").json() == {"deleted": 0}
