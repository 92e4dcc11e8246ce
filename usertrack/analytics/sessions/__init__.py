"""Sessions (docs/metrics.md, "Sessions"): `run` works them out; they are written with the
paths' output (usertrack.analytics.paths.render, .view)."""
