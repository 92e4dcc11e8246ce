"""Paths (docs/metrics.md, "Paths"): `run` works them out; `render` writes them as JSON, csv and
Markdown (with a mermaid flowchart of the paths), `view` in the terminal."""
