"""Placeholder: commands are added here by their issue."""

from __future__ import annotations
