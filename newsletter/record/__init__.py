"""The seminar record: its models, its loader, and the photos it refers to."""
