"""Mail: placeholders and personalisation, the MIME template, headers, DKIM."""
