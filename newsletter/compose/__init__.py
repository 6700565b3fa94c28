"""Pure rendering: a record goes in, an `Issue` comes out, with no I/O in between."""
