"""Migration scripts; alembic finds them by their `revision` variables, not their file names."""
