"""One root exception, so callers can catch everything the project raises on purpose.

The whole hierarchy: each class, the module it lives in (below `newsletter.`) and what it
means. tests/core/test_errors.py holds this drawing to the code, both ways.

    NewsletterError                 core.errors                the root: a deliberate failure
    ├── ConfigError                 core.errors                a setting is missing or invalid
    ├── TokenError                  core.errors                a signed token is bad or foreign
    ├── RecordError                 core.errors                a record is invalid; see `problems`
    ├── ComposeError                core.errors                a template or check failed
    ├── AssetError                  record.assets              an image is missing or unusable
    ├── NotRegularFile              record.assets              a device, fifo or socket; an OSError
    ├── ArchiveError                record.archive             a zip cannot be imported as a record
    ├── MessageError                mail.headers               a message cannot be built
    ├── DkimError                   mail.dkim                  a message cannot be signed
    ├── TransportError              transports.base            a batch could not be attempted
    ├── StoreError                  store.errors               the store refused the data given
    │   ├── UnknownListError        store.errors               no list by that name
    │   ├── DuplicateListError      store.errors               a list by that name exists
    │   ├── UnknownSubscriberError  store.errors               no subscriber with that address
    │   ├── AddressTakenError       store.errors               another subscriber has that address
    │   ├── SuppressedError         store.errors               suppressed: no (re)subscribing
    │   ├── ImportFileError         store.errors               the CSV file cannot be imported
    │   ├── ImportBusyError         store.errors               another import is running
    │   ├── InvalidAddress          store.addresses            email-validator refused the address
    │   ├── TooManySignups          store.optin                one client signed up too often
    │   ├── UnknownCampaignError    store.campaigns            no campaign with that id
    │   ├── CampaignStateError      store.campaigns            not allowed in the campaign's state
    │   ├── StaffUserExistsError    store.staff                that staff account exists already
    │   ├── NoSuchStaffUserError    store.staff                no staff account for that address
    │   ├── WeakPasswordError       store.staff                the password is too weak
    │   ├── ImportTakenOver         store.staged               a stalled import was rolled back
    │   ├── UnknownIssueError       store.issues               no such issue or version
    │   ├── StaleVersionError       store.issues               saved since: this save is refused
    │   ├── SlugTakenError          store.issues               another issue has that web address
    │   └── ErasureBusyError        store.erasure              an import holds them: erase later
    ├── LeaseHeldError              sending.lease              another runner sends the campaign
    ├── LeaseLostError              sending.lease              the lease was taken over: stop
    ├── DeliveryTakenError          sending.journal            not this runner's: not handed over
    ├── BrokerError                 sending.worker             no broker: not handed to workers
    ├── RateRedisError              sending.shared_rate        the shared rate limit's Redis fails
    ├── ScheduleError               sending.schedule           a send time without zone, or past
    ├── Rejected                    webhooks.reports           a webhook refused; see `status_code`
    │   ├── Malformed               webhooks.reports           400: not a report that can be read
    │   ├── Unauthenticated         webhooks.reports           403: the signature does not hold
    │   │   └── Stale               webhooks.reports           403: signed too long ago (a replay)
    │   ├── Unauthorised            webhooks.postmark          401: no or wrong basic auth
    │   ├── FetchFailed             webhooks.sns_certificates  502: SNS's certificate not fetched
    │   └── TooLarge                web.routes.webhooks        413: the body is too large
    ├── BadLink                     web.pages                  a bad link: the one fixed 400 page
    ├── LinkFromTest                web.test_links             a test message's link: says so
    ├── LoginRequired               web.staff.context          no valid staff login: a redirect
    ├── UnknownRecord               web.staff.records          no such record to preview: a 404
    ├── DevSmtpError                devsmtp.capture            the capture server cannot start
    ├── DemoError                   cli.demo_servers           the demo cannot start (a port)
    └── PasswordInputError          cli.users                  no password on standard input

Rules:
- Every exception the project raises on purpose derives from `NewsletterError`, so the
  edges (CLI commands, staff pages) catch that one class for every failure a person can
  act on, and anything else surfaces as the bug it is.
- An exception callers also catch as a built-in keeps that base too (`NotRegularFile` is
  an OSError: `read_regular_file` promises one, and the record loader catches it as one).
- Private signals never leave their module, and derive from plain `Exception` so that one
  escaping by mistake is not mistaken for a deliberate failure. There is one:
  `record.loader._Refused` (a limit hit while YAML is composed; it becomes a RecordError
  problem).
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Root of every error the project raises deliberately."""


class ConfigError(NewsletterError):
    """A setting is missing or invalid."""


class RecordError(NewsletterError):
    """A seminar record is invalid. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ComposeError(NewsletterError):
    """A record could not be turned into an issue (template or check failure)."""


class TokenError(NewsletterError):
    """A signed token is malformed, tampered with or signed with another key."""
