"""`--persons CELL`, the people behind one number of an analysis (PostHog's "actors"): `run`
finds them, `profiles` gives them their profile columns, `kept_cells` keeps a cell's people
beside the events store; `render` writes them as JSON, csv and Markdown, `view` in the
terminal."""
