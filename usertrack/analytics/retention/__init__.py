"""Retention by cohort (docs/metrics.md, "Retention"): `run` works it out; it is written with
the funnel's output (usertrack.analytics.funnel.render, .view)."""
