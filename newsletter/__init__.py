"""Compose seminar newsletters and send them to mailing lists."""

__version__ = "0.1.0"
