"""Each segment's average engagement score and average revenue (docs/metrics.md, "Segments"),
for `usertrack segments`, its MCP tool and a dashboard's segments panel.

The engagement score is churn's (usertrack.analytics.churn.score: the same facts and SQL, as of
the classification's moment), its run success from the runs the profile holds
(queries/neon/runs.sql, the file churn reads). Revenue is what the app's database records of it:
the credits a user has spent of the 100 an account starts with (`credits`, current-only).

The score's facts do not depend on the classification: `segments` fetches them ahead
(`facts_ahead`), on a thread of its own, while its per-user queries and the classification
run, and the runs and scores cross between the two DuckDB connections as Arrow columns where
pyarrow is imported already (the Postgres source reads its rows with it), never as a Python
value per user.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from usertrack.engines.concurrency import Background
from usertrack.segments.rules import Classification

# The credits every account starts with (wasp_user.credits' default): what is under it is spent.
START_CREDITS = 100
RUN_COLUMNS = ("run_count", "runs_completed")
# Where the runs are registered on the facts' connection, and the scores on the classification's.
RUNS_VIEW = "usertrack_score_runs"


@dataclass
class ScoreFacts:
    """The score's facts (score_facts) open on `con` until `stack` is closed."""

    as_of: datetime
    con: Any
    stack: ExitStack


def open_score_facts(ws: Any, as_of: datetime, progress: Any = None) -> ScoreFacts:
    """The score's facts as of `as_of`, fetched now (the caller closes `stack`)."""
    from usertrack.analytics.churn.score import score_facts

    stack = ExitStack()
    try:
        con = stack.enter_context(score_facts(ws, as_of, progress=progress))
    except BaseException:
        stack.close()
        raise
    return ScoreFacts(as_of, con, stack)


def facts_ahead(ws: Any, as_of: datetime) -> Background[ScoreFacts]:
    """The score's facts as of `as_of` fetched from now on a thread of its own, for add_figures
    (which closes them); `cancel_ahead` lets go of them when add_figures will not run."""
    return Background(lambda: open_score_facts(ws, as_of), "usertrack-score-facts")


def cancel_ahead(ahead: Background[ScoreFacts] | None) -> None:
    """Stop the facts fetched ahead and close them (a command that failed before its figures)."""
    if ahead is None:
        return
    ahead.cancel()
    ahead.settle()
    with suppress(BaseException):  # cancelled, or failed: nothing held then
        ahead.result().stack.close()


def add_figures(
    ws: Any,
    result: Classification,
    progress: Any = None,
    ahead: Background[ScoreFacts] | None = None,
) -> None:
    """Set `result.figures`: each segment's `avg_engagement` (its members with a score: an event
    in the score's window) and `avg_revenue` (its members with a credits balance). `ahead`: the
    score's facts as of the classification's moment fetched ahead (facts_ahead), else they are
    fetched now."""
    if progress:
        progress("scoring each user's engagement")
    facts = ahead.result() if ahead is not None else None
    if facts is not None and facts.as_of != result.as_of:
        facts.stack.close()
        facts = None
    if facts is None:
        facts = open_score_facts(ws, result.as_of, progress)
    with facts.stack:
        scores = _scores(ws, result, facts.con)
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


def _scores(ws: Any, result: Classification, con: Any) -> Any:
    """Each scored person's (email, score) on the facts' connection `con`: an Arrow table where
    pyarrow is imported, else a list of pairs."""
    from usertrack.analytics.churn.score import user_scores_sql

    arrow = "pyarrow" in sys.modules
    runs = None
    if "neon" in ws.sources and all(c in result.columns for c in RUN_COLUMNS):
        # every user the app's runs know, as runs.sql gives them (users with no run: 0 runs)
        expressions = [
            "CAST(email AS VARCHAR) AS email",
            *(f'CAST(coalesce("{c}", 0) AS BIGINT) AS {c}' for c in RUN_COLUMNS),
        ]
        if arrow:
            con.register(RUNS_VIEW, result.arrow(expressions))
        else:
            rows = result.select(["email", *(f'coalesce("{c}", 0)' for c in RUN_COLUMNS)])
            con.execute(
                f"CREATE TEMP TABLE {RUNS_VIEW} AS SELECT CAST(unnest($email) AS VARCHAR) AS email,"
                " CAST(unnest($run_count) AS BIGINT) AS run_count,"
                " CAST(unnest($runs_completed) AS BIGINT) AS runs_completed",
                {
                    "email": [r[0] for r in rows],
                    "run_count": [r[1] for r in rows],
                    "runs_completed": [r[2] for r in rows],
                },
            )
        runs = RUNS_VIEW
    try:
        query = user_scores_sql(result.as_of, runs)
        if arrow:
            return con.sql(query).to_arrow_table()
        return [(str(email), float(score)) for email, score in con.execute(query).fetchall()]
    finally:
        if runs is not None and arrow:
            con.unregister(RUNS_VIEW)
        elif runs is not None:
            con.execute(f"DROP TABLE IF EXISTS {RUNS_VIEW}")
