"""Dashboards as code: a YAML file of panels, each one of usertrack's analyses with its command's
own options, computed in one process and written as JSON, Markdown (with SVG charts) or one
self-contained HTML page (docs/dashboards.md)."""
