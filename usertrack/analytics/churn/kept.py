"""Churn's answer kept beside the events store it was counted from
(usertrack.engines.local.storecache), read back while the store and the app's facts are unchanged.

Of a warm `churn` at 100,000 users, the facts queries on the store and their counting are most
of the command's own CPU, for figures that change only when the store does or the app's runs and
accounts do. The answer is kept as a text (no pyarrow to read it) under a key of all it depends
on but the app's database: the store's stamp, the command's options and moment, the exclusion
pattern, the query library's PostHog files as they read now and usertrack's code (as a
`--persons` cell's people are kept: usertrack.analytics.actors.kept_cells). The app's facts,
which have no stamp, are read every time (usertrack.analytics.churn.app: the local copy's check
against the database) and the kept text holds a digest of them: an answer counted from other
runs or accounts is counted again. Nothing is kept under `--where`, `--who`, `--segment`, a
group's run, `--persons` or on a source that keeps no answers (PostHog's API).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.analytics.churn.answer import Backtest, Characteristic, Churn, Lifetime, Period
from usertrack.core.code_hash import code_hash
from usertrack.workspace import keeps_answers

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

FORMAT = 1  # the kept text's shape: another, another key


class KeptChurn:
    """Where one churn's answer is kept (`name` on `source`) and the text found there, if any."""

    def __init__(self, source: Any, name: str, text: str | None) -> None:
        self.source, self.name, self.text = source, name, text

    def answer(self, as_of: datetime, horizon: int, app: dict[str, Any] | None) -> Churn | None:
        """The kept answer when it was counted from these app facts (`app`: the tables
        app_facts gives, None without a database); else None. Waits for the app's facts
        only when an answer is kept."""
        if self.text is None:
            return None
        try:
            doc = json.loads(self.text)
            if doc["app"] != app_digest(app):
                return None
            return _churn(doc["answer"], as_of, horizon)
        except (ValueError, KeyError, TypeError, IndexError):
            return None  # not of that shape: counted again

    def keep(self, result: Churn, app: dict[str, Any] | None) -> None:
        text = json.dumps({"app": app_digest(app), "answer": _text_of(result)})
        self.source.keep(self.name, text)


def kept_churn(ws: Workspace, as_of: datetime, options: dict[str, Any]) -> KeptChurn | None:
    """Where the answer of churn with `options` as of `as_of` is kept, with what is kept there;
    None where nothing may be kept (see the module)."""
    keeping = keeps_answers(ws)
    if keeping is None:
        return None
    source, library = keeping
    from usertrack.segments.profiles import exclude_pattern

    what = repr(("churn answer", FORMAT, code_hash(), library))
    values = {**options, "as_of": as_of, "exclude_pattern": exclude_pattern(ws.rules.exclude)}
    found = source.kept(what, values, text=True)
    if found is None:
        return None
    return KeptChurn(source, found[0], found[1])


def app_digest(app: dict[str, Any] | None) -> str:
    """A digest of the app's facts (`app`: each table's name to its future of the SQL types
    of its columns and their values: one JSON text, lists, or an Arrow table, digested as its
    lists), waited for."""
    if app is None:
        return "none"
    digest = hashlib.sha256()
    for name in sorted(app):
        types, columns = app[name].result()
        if not isinstance(columns, str | dict):  # an Arrow table: the same as its lists
            columns = {c: columns.column(c).to_pylist() for c in columns.column_names}
        text = columns if isinstance(columns, str) else repr(sorted(columns.items()))
        digest.update(repr((name, sorted(types.items()))).encode() + b"\0")
        digest.update(text.encode() + b"\0")
    return digest.hexdigest()


def _text_of(result: Churn) -> dict[str, Any]:
    """`result`'s fields as JSON values (the moments are the caller's, not kept)."""
    backtest = result.backtest
    return {
        "period": result.period,
        "window_days": result.window_days,
        "app_database": result.app_database,
        "periods": [
            [p.start.isoformat(), p.active, p.new, p.retained, p.resurrected, p.churned]
            for p in result.periods
        ],
        "lifetime": [
            result.lifetime.left,
            result.lifetime.average_days,
            result.lifetime.median_days,
        ],
        "scored": result.scored,
        "average_score": result.average_score,
        "median_score": result.median_score,
        "previous_average_score": result.previous_average_score,
        "distribution": result.distribution,
        "backtest": None if backtest is None else _backtest_text(backtest),
        "at_risk": result.at_risk,
        "at_risk_count": result.at_risk_count,
        "characteristics": [
            [c.kind, c.name, c.at_risk, c.others, c.unit] for c in result.characteristics
        ],
    }


def _backtest_text(backtest: Backtest) -> list[Any]:
    b = backtest
    return [b.scored, b.dormant, b.high_risk, b.high_risk_dormant, b.bands]


def _churn(doc: dict[str, Any], as_of: datetime, horizon: int) -> Churn:
    """The Churn `_text_of` wrote, as of `as_of` (its backtest's moment `horizon` days before)."""
    backtest = None
    if doc["backtest"] is not None:
        scored, dormant, high, high_dormant, bands = doc["backtest"]
        backtest = Backtest(
            moment=as_of - timedelta(days=horizon),
            horizon_days=horizon,
            scored=scored,
            dormant=dormant,
            high_risk=high,
            high_risk_dormant=high_dormant,
            bands=[(str(b), int(n), int(d)) for b, n, d in bands],
        )
    left, average, median = doc["lifetime"]
    return Churn(
        as_of=as_of,
        period=doc["period"],
        window_days=doc["window_days"],
        app_database=doc["app_database"],
        periods=[Period(date.fromisoformat(s), *counts) for s, *counts in doc["periods"]],
        lifetime=Lifetime(left, average, median),
        scored=doc["scored"],
        average_score=doc["average_score"],
        median_score=doc["median_score"],
        previous_average_score=doc["previous_average_score"],
        distribution=[(str(b), int(n)) for b, n in doc["distribution"]],
        backtest=backtest,
        at_risk=list(doc["at_risk"]),
        at_risk_count=doc["at_risk_count"],
        characteristics=[Characteristic(*c) for c in doc["characteristics"]],
    )
