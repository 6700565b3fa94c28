"""Foundations every room uses: errors, settings, signed tokens and the public links."""
