"""Trends (docs/metrics.md, "Trends"): `run` works them out; `render` writes them as JSON, csv
and Markdown, `view` in the terminal."""
