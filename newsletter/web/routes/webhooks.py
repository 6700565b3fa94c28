"""The providers' bounce and complaint webhooks: `/webhooks/{ses,sendgrid,mailgun,postmark}`.

Each checks its provider's authentication (see newsletter.webhooks), then acts on the
reports in one transaction (newsletter.store.bounces) and answers 200 with a one-line
summary. Authentication comes before parsing wherever the provider allows it: Postmark's
credentials and the presence of SendGrid's signature headers before the body is even read,
SendGrid's signature over the raw body before it is parsed. SNS and Mailgun sign fields
inside the JSON, so theirs is parsed first, by a parser that turns every failure
(including nesting too deep to parse) into a 400. Answers:
- 404 while the provider's credential is not configured (the same page as any unknown path);
- 400 for a body that is not the provider's format (not UTF-8 JSON, or JSON of the wrong
  shape), 413 for one too big to be;
- 401 (Postmark, with a challenge) or 403 for a failed check: a wrong signature or
  credential, an SNS certificate from elsewhere, a topic not configured, a timestamp
  outside NEWSLETTER_WEBHOOK_MAX_AGE;
- 502 when SNS could not be reached for its certificate or a subscription confirmation,
  so that SNS tries again;
- 200 for everything acted on, including a replay (which then changes nothing) and
  addresses that are not subscribers: a provider retries any other answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import cast

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response

from newsletter.store.bounces import apply_reports
from newsletter.store.types import utcnow
from newsletter.web.context import WebContext, client_ip, get_context
from newsletter.web.db import writing
from newsletter.web.forms import limited_body
from newsletter.webhooks import mailgun, postmark, sendgrid, sns
from newsletter.webhooks.config import WebhookConfig
from newsletter.webhooks.reports import Rejected, Report

router = APIRouter(prefix="/webhooks")
log = logging.getLogger(__name__)

# SendGrid posts batches of events; a megabyte holds thousands. Nothing else comes close.
MAX_BODY = 4 * 1024 * 1024
_NO_STORE = {"Cache-Control": "no-store"}
_config_lock = threading.Lock()


class TooLarge(Rejected):
    status_code = 413


def webhook_config(request: Request) -> WebhookConfig:
    """The app's webhook configuration: built from its settings on first use, unless a
    caller (a test, an embedding app) put one in `app.state.webhooks` before."""
    state = request.app.state
    with _config_lock:
        config = getattr(state, "webhooks", None)
        if config is None:
            config = WebhookConfig.from_settings(get_context(request).settings)
            state.webhooks = config
    return cast(WebhookConfig, config)


@router.post("/ses")
async def ses_webhook(request: Request) -> Response:
    config = webhook_config(request)
    if not config.ses_topics:
        raise HTTPException(404)
    return await _handle(request, lambda body: _ses(config, body), sns.PROVIDER)


@router.post("/sendgrid")
async def sendgrid_webhook(request: Request) -> Response:
    config = webhook_config(request)
    key = config.sendgrid_key
    if key is None:
        raise HTTPException(404)
    signature = request.headers.get(sendgrid.SIGNATURE_HEADER)
    timestamp = request.headers.get(sendgrid.TIMESTAMP_HEADER)

    def check() -> None:
        sendgrid.check_headers(signature, timestamp)

    def read(body: bytes) -> list[Report] | str:
        # Parsed only once the signature over the raw body holds.
        sendgrid.verify(key, body, signature, timestamp, now=utcnow(), max_age=config.max_age)
        return sendgrid.reports(body)

    return await _handle(request, read, sendgrid.PROVIDER, check)


@router.post("/mailgun")
async def mailgun_webhook(request: Request) -> Response:
    config = webhook_config(request)
    key = config.mailgun_key
    if key is None:
        raise HTTPException(404)

    def read(body: bytes) -> list[Report] | str:
        return mailgun.verify_and_read(key, body, now=utcnow(), max_age=config.max_age)

    return await _handle(request, read, mailgun.PROVIDER)


@router.post("/postmark")
async def postmark_webhook(request: Request) -> Response:
    config = webhook_config(request)
    credentials = config.postmark
    if credentials is None:
        raise HTTPException(404)
    authorization = request.headers.get("authorization")

    def check() -> None:
        postmark.check_credentials(authorization, credentials.user, credentials.password)

    return await _handle(request, postmark.reports, postmark.PROVIDER, check)


async def _handle(
    request: Request,
    read: Callable[[bytes], list[Report] | str],
    provider: str,
    check: Callable[[], None] | None = None,
) -> Response:
    """Check what the headers alone can prove (`check`: a stranger's body is never read),
    read the body, then (in a worker thread: crypto, SNS and the database block) verify
    it and act on its reports. `read` returns the reports, or a summary when there is
    nothing to act on."""
    ctx = get_context(request)
    ip = client_ip(request)
    try:
        if check is not None:
            check()
        body = await _body(request)
        return await run_in_threadpool(_verify_and_apply, ctx, read, body)
    except Rejected as exc:
        log.warning("%s webhook from %s refused (%s): %s", provider, ip, exc.status_code, exc)
        headers = dict(_NO_STORE)
        if isinstance(exc, postmark.Unauthorised):
            headers["WWW-Authenticate"] = postmark.REALM
        return PlainTextResponse(f"{exc}\n", status_code=exc.status_code, headers=headers)


def _verify_and_apply(
    ctx: WebContext, read: Callable[[bytes], list[Report] | str], body: bytes
) -> Response:
    found = read(body)
    if isinstance(found, str):
        return PlainTextResponse(f"{found}\n", headers=_NO_STORE)
    if not found:
        return PlainTextResponse("nothing to act on\n", headers=_NO_STORE)
    with writing(ctx) as session:
        outcome = apply_reports(session, found)
    return PlainTextResponse(f"{outcome}\n", headers=_NO_STORE)


def _ses(config: WebhookConfig, body: bytes) -> list[Report] | str:
    message = sns.parse(body)
    # The cheap checks first: nothing is fetched for a message that fails them.
    sns.check_topic(message, config.ses_topics)
    sns.check_url(message.signing_cert_url, config.sns_url_pattern, certificate=True)
    certificate = config.certificates.get(message.signing_cert_url)
    sns.verify(message, certificate, now=utcnow(), max_age=config.max_age)
    if message.type == sns.SUBSCRIPTION_CONFIRMATION:
        sns.check_url(message.subscribe_url, config.sns_url_pattern)
        config.fetch(message.subscribe_url)
        log.info("confirmed the SNS subscription to %s", message.topic_arn)
        return "subscription confirmed"
    if message.type == sns.UNSUBSCRIBE_CONFIRMATION:
        return "unsubscribed"
    return sns.reports(message)


async def _body(request: Request) -> bytes:
    body = await limited_body(request, MAX_BODY)
    if body is None:
        raise TooLarge("the body is too large")
    return body
