"""Where queries run: one interface, several backends (Postgres, PostHog HTTP, local events)."""

from usertrack.engines.base import Result, Source

__all__ = ["Result", "Source"]
