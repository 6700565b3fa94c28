"""Mail: every message the project writes.

placeholders.py fills an issue's placeholders, personalize.py makes a recipient's values
(signed links), headers.py writes every header, mime.py the per-issue template and each
recipient's bytes, dkim.py signs them, sender.py is who a campaign's mail comes from, and
factory.py builds with them the one way campaigns, test messages, the sample (sample.py)
and the web side's own mail are made.
"""
