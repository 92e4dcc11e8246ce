"""Churn, lifetime, the engagement score and a churn risk checked against history
(docs/metrics.md, "Churn and engagement"): `run` works them out, from the events and what `app`
reads of the app's database; `render` writes them as JSON, csv and Markdown, `view` in the
terminal."""
