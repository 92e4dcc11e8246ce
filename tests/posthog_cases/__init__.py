"""Cases ported from PostHog's own insight tests, run on both of usertrack's engines."""
