"""Each segment's average engagement score and average revenue (docs/metrics.md, "Segments"),
for `usertrack segments`, its MCP tool and a dashboard's segments panel.

The engagement score is churn's (usertrack.analytics.churn.score.user_scores: the same facts
and SQL, as of the classification's moment), its run success from the runs the profile holds
(queries/neon/runs.sql, the file churn reads). Revenue is what the app's database records of it:
the credits a user has spent of the 100 an account starts with (`credits`, current-only).
"""

from __future__ import annotations

from typing import Any

from usertrack.segments.rules import Classification

# The credits every account starts with (wasp_user.credits' default): what is under it is spent.
START_CREDITS = 100
RUN_COLUMNS = ("run_count", "runs_completed")


def add_figures(ws: Any, result: Classification, progress: Any = None) -> None:
    """Set `result.figures`: each segment's `avg_engagement` (its members with a score: an event
    in the score's window) and `avg_revenue` (its members with a credits balance)."""
    from usertrack.analytics.churn.score import user_scores

    runs = None
    if "neon" in ws.sources and all(c in result.columns for c in RUN_COLUMNS):
        # every user the app's runs know, as runs.sql gives them (users with no run: 0 runs)
        rows = result.select(["email", *(f'coalesce("{c}", 0)' for c in RUN_COLUMNS)])
        runs = {
            "email": [r[0] for r in rows],
            "run_count": [r[1] for r in rows],
            "runs_completed": [r[2] for r in rows],
        }
    if progress:
        progress("scoring each user's engagement")
    scores = user_scores(ws, result.as_of, runs, progress=progress)
    expressions = {"avg_engagement": "s.score"}
    if "credits" in result.columns:
        # (DuckDB's greatest() passes NULL over: a person with no account is no 0)
        expressions["avg_revenue"] = (
            f"CASE WHEN c.credits IS NOT NULL THEN greatest(0, {START_CREDITS} - c.credits) END"
        )
    means = result.segment_means(expressions, scores)
    result.figures = {
        sid: {"avg_engagement": found["avg_engagement"], "avg_revenue": found.get("avg_revenue")}
        for sid, found in means.items()
    }
