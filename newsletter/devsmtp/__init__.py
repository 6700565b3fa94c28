"""`newsletter dev-smtp`: a local SMTP server that captures every message, with a web inbox
to read them and click their links (in the spirit of Mailpit)."""
