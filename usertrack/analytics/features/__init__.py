"""Feature usage (docs/metrics.md, "Features"): `run` works it out; `render` writes it as JSON,
csv and Markdown, `view` in the terminal."""
