"""The funnel (docs/metrics.md, "Funnel"): `run` works it out (PostHog's ordered funnel, per
person), with `order` (strict, any order, exclusions), `place` (its facts in place on the
local engine), `timing` (time to convert, conversion over time), `steps` (steps written as
YAML) and `correlation` (--correlation); `render` writes it, and retention, as JSON, csv and
Markdown, `view` in the terminal."""
