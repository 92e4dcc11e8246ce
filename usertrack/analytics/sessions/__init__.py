"""Sessions (docs/metrics.md, "Sessions"): `run` works them out; `render` writes them as JSON,
csv and Markdown, `view` in the terminal."""
