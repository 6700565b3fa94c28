"""Provider webhooks for bounces and complaints: verifying and reading them, no I/O.

One module per provider turns a request (body, headers, the time now) into `Report`s or
raises `Rejected`. Each checks the provider's own authentication: Amazon SNS's RSA
signature over the message (`sns`), SendGrid's ECDSA signature (`sendgrid`), Mailgun's
HMAC (`mailgun`), Postmark's basic auth (`postmark`). Fetching SNS certificates
(`sns_certificates`), the database (`newsletter.store.bounces`) and HTTP
(`newsletter.web.routes.webhooks`) sit at the edges.
"""
