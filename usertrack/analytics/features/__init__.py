"""Feature usage (docs/metrics.md, "Features"): `run` works it out; it is written with
activity's output (usertrack.analytics.activity.render, .view)."""
