"""`--persons CELL` of sessions, features and churn: the people behind one of their figures,
found in the same facts, kept to the same people (`--where`, `--who`, `--segment`), as each
analysis counts that figure (usertrack.analytics.actors.run has the other analyses' cells).

- sessions: `users` (everyone with a session: its `users`), a length bucket (`2m-5m`: the persons
  with a session of that length; the bucket counts their sessions), or a row of a list,
  `LIST:VALUE` (`entry_page:/pricing`, `exit_page`, `device_type`, `browser`, `country`: that
  row's `users`). A session's person is its first event's.
- features: `FEATURE`, a feature (or, with --event, an event name) of the answer: the persons who
  used it in the period (its `persons`; queries/posthog/feature_persons.sql).
- churn: `at-risk` (the at-risk persons), a band of the score's distribution (`0-19`), `left`
  (the persons with no event in the window): usertrack.analytics.churn.run.cell_of.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.analytics.actors.run import Actors, cell_people, listed_persons, refuse

if TYPE_CHECKING:
    from usertrack.analytics.churn.answer import Churn
    from usertrack.analytics.features.run import Features
    from usertrack.analytics.sessions.run import Sessions
    from usertrack.workspace import Workspace

USERS = "users"
SESSION_LISTS = ("entry_page", "exit_page", "device_type", "browser", "country")


def _session_rows(result: Sessions, kind: str) -> list[Any]:
    if kind == "entry_page":
        return result.entry_pages
    if kind == "exit_page":
        return result.exit_pages
    return result.by.get(kind, [])


def session_cells(result: Sessions) -> list[str]:
    """The cells of a sessions answer: users, each bucket, each named row of each list."""
    from usertrack.analytics.sessions.run import BUCKETS

    cells = [USERS, *(label for label, _, _ in BUCKETS)]
    for kind in SESSION_LISTS:
        cells += [f"{kind}:{r.value}" for r in _session_rows(result, kind) if r.value is not None]
    return cells


def sessions_actors(ws: Workspace, as_of: datetime, result: Sessions, text: str) -> Actors:
    """The persons of a cell of `result` (session_cells), from session_facts.sql's sessions as
    `sessions` counts them (SESSIONS_SQL, on either engine)."""
    from usertrack.analytics.common import open_facts
    from usertrack.analytics.sessions.run import BUCKETS, QUERY, SCHEMA, session_rows

    cleaned = text.strip()
    if cleaned not in session_cells(result):
        raise refuse("sessions", text, session_cells(result))
    values: dict[str, Any] = {}
    bucket = next(((lo, hi) for label, lo, hi in BUCKETS if label == cleaned), None)
    if cleaned == USERS:
        where, about = "true", "everyone with a session"
    elif bucket is not None:
        low, high = bucket
        where = f"seconds >= {int(low)}" + (f" AND seconds < {int(high)}" if high else "")
        about = f"those with a session of {cleaned} (the bucket counts their sessions)"
    else:
        kind, _, value = cleaned.partition(":")
        where, values["value"] = f"{kind} = $value", value  # kind: one of SESSION_LISTS
        about = f"those with a session whose {kind.replace('_', ' ')} is {value}"
    sql = f"SELECT DISTINCT person_id FROM session_rows WHERE person_id IS NOT NULL AND {where}"
    span = result.range

    def find() -> set[str]:
        with open_facts(ws, QUERY, as_of, SCHEMA, since=span.start, until=span.end) as con:
            session_rows(con)
            return {str(r[0]) for r in con.execute(sql, values).fetchall()}

    people = cell_people(ws, as_of, ("sessions", as_of, span.start, span.end, cleaned), find)
    return Actors(as_of, "sessions", cleaned, about, people)


FEATURE_PERSONS = "posthog/feature_persons"


def features_actors(ws: Workspace, as_of: datetime, result: Features, text: str) -> Actors:
    """The persons who used a feature of `result` in its period (its `persons`)."""
    from usertrack.analytics.common import open_facts

    cells = [f.feature for f in result.features if f.feature and f.uses]
    name = text.strip()
    if name not in cells:
        raise refuse("features", text, cells)

    def find() -> set[str]:
        with open_facts(ws, FEATURE_PERSONS, as_of, {"person_id": "VARCHAR"},
                        split=result.start, by=result.by, feature=name) as con:  # fmt: skip
            sql = "SELECT DISTINCT person_id FROM facts WHERE person_id IS NOT NULL"
            return {str(r[0]) for r in con.execute(sql).fetchall()}

    cell = ("features", as_of, result.start, result.by, name)
    people = cell_people(ws, as_of, cell, find)
    what = "event" if result.by == "event" else "feature"
    about = f"used the {what} {name} in the {result.days} days to {as_of:%Y-%m-%d %H:%M}"
    return Actors(as_of, "features", name, about, people)


def churn_actors(ws: Workspace, as_of: datetime, result: Churn, cell: str) -> Actors:
    """The persons of a churn cell (churn.run.cell_of's), found by churn(cell=...) with the
    answer (the score reads the app's runs too)."""
    from usertrack.analytics.churn.answer import HIGH_RISK_BELOW
    from usertrack.analytics.churn.run import AT_RISK, LEFT

    ids = result.cell_persons or set()
    if cell == AT_RISK:
        about = f"at risk: an engagement score under {HIGH_RISK_BELOW:g}"
    elif cell == LEFT:
        about = f"left: no event in the {result.window_days} days to {as_of:%Y-%m-%d}"
    else:
        about = f"an engagement score in the band {cell}"
    # found with the answer, from the app's runs too: never kept beside the events store
    return Actors(as_of, "churn", cell, about, listed_persons(ws, as_of, ids))
