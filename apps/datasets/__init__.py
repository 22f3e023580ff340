"""Data sets: upload, validation against the core's parsers, statistics."""
