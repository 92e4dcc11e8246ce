"""Active users, stickiness, lifecycle and the hour-of-week heatmap (docs/metrics.md, "Active
users"): `run` works them out, from each person's days as bits (`masks`) and beside the day's
sessions and events (`volume`); `render` writes them as JSON, csv and Markdown, `view` in the
terminal."""
