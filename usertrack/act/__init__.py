"""Acting on segments: support alerts to Slack, and segments synced back to PostHog."""
