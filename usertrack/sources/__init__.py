"""Where queries run: one interface, several backends (Postgres, PostHog HTTP, local events)."""

from usertrack.sources.base import Result, Source

__all__ = ["Result", "Source"]
