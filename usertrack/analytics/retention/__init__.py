"""Retention by cohort (docs/metrics.md, "Retention"): `run` works it out; `render` writes it
as JSON, csv and Markdown, `view` in the terminal."""
