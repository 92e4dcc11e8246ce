"""Churn's answer (usertrack.analytics.churn.run works it out): each period's active, new, retained,
resurrected and churned persons, the lifetime of those who left, the engagement score's
distribution, the backtest, the at-risk persons and what sets them apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from usertrack.core.style import percent

# Who the engagement score counts: identified persons only (an email on their events), where
# activity's DAU, WAU and MAU and churn's periods count every person, anonymous ones too.
SCORED = "active identified persons"
HIGH_RISK_BELOW = 30.0  # a score under this is high risk
BANDS = ((0, 20), (20, 40), (40, 60), (60, 80), (80, 100))


@dataclass
class Period:
    start: Any
    active: int
    new: int
    retained: int  # active this period and the one before (PostHog's "returning")
    resurrected: int  # active, not the period before, first seen before this period
    churned: int  # active the period before, not this one (PostHog's "dormant")

    @property
    def churn_rate(self) -> float | None:
        before = self.retained + self.churned  # active the period before
        return round(100.0 * self.churned / before, 1) if before else None

    def document(self) -> dict[str, Any]:
        return {**vars(self), "churn_rate": self.churn_rate}


@dataclass
class Lifetime:
    left: int  # persons with no event in the window up to as_of
    average_days: float | None
    median_days: float | None

    def document(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Backtest:
    moment: datetime
    horizon_days: int
    scored: int  # active in the window before `moment`
    dormant: int  # of them, no event after `moment` up to as_of
    high_risk: int
    high_risk_dormant: int
    bands: list[tuple[str, int, int]]  # (band, persons scored in it, of them dormant)

    @property
    def base_rate(self) -> float | None:
        return percent(self.dormant, self.scored)

    @property
    def precision(self) -> float | None:
        return percent(self.high_risk_dormant, self.high_risk)

    @property
    def recall(self) -> float | None:
        return percent(self.high_risk_dormant, self.dormant)

    @property
    def lift(self) -> float | None:
        p, b = self.precision, self.base_rate
        return round(p / b, 2) if p is not None and b else None

    def band_rate(self, band: str) -> float | None:
        return next((percent(d, n) for b, n, d in self.bands if b == band), None)

    def document(self) -> dict[str, Any]:
        return {
            "moment": self.moment,
            "horizon_days": self.horizon_days,
            "scored": self.scored,
            "went_dormant": self.dormant,
            "base_rate": self.base_rate,
            "high_risk": self.high_risk,
            "high_risk_went_dormant": self.high_risk_dormant,
            "precision": self.precision,
            "recall": self.recall,
            "lift": self.lift,
            "bands": [
                {"band": b, "persons": n, "went_dormant": d, "rate": percent(d, n)}
                for b, n, d in self.bands
            ],
        }


@dataclass
class Characteristic:
    kind: str  # event, or app (a column of the app's database)
    name: str
    at_risk: float | None  # a share of persons (%), or a column's average
    others: float | None
    unit: str  # "%" of persons, or "average"

    @property
    def difference(self) -> float | None:
        if self.at_risk is None or self.others is None:
            return None
        return round(self.at_risk - self.others, 1)

    def document(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "unit": self.unit,
            "at_risk": self.at_risk,
            "others": self.others,
            "difference": self.difference,
        }


@dataclass
class Churn:
    as_of: datetime
    period: str
    window_days: int
    app_database: bool
    periods: list[Period]
    lifetime: Lifetime
    scored: int
    average_score: float | None
    median_score: float | None
    previous_average_score: float | None  # everyone's average as of the backtest's moment
    distribution: list[tuple[str, int]]
    backtest: Backtest | None
    at_risk: list[dict[str, Any]]
    at_risk_count: int
    characteristics: list[Characteristic] = field(default_factory=list)
    cell_persons: set[str] | None = None  # churn(cell=...): that cell's person ids

    @property
    def churn_rate(self) -> float | None:
        """Every shown period's churned over the persons active the period before each."""
        before = sum(p.retained + p.churned for p in self.periods)
        return percent(sum(p.churned for p in self.periods), before)

    def document(self) -> dict[str, Any]:
        change = None
        if self.average_score is not None and self.previous_average_score is not None:
            change = round(self.average_score - self.previous_average_score, 1)
        return {
            "as_of": self.as_of,
            "period": self.period,
            "window_days": self.window_days,
            "app_database": self.app_database,
            "churn_rate": self.churn_rate,
            "periods": [p.document() for p in self.periods],
            "lifetime": self.lifetime.document(),
            "engagement": {
                "definition": f"{SCORED}: an email on their events and an event in the window",
                "scored": self.scored,
                "average": self.average_score,
                "median": self.median_score,
                "previous_average": self.previous_average_score,
                "change": change,
                "distribution": [{"band": b, "persons": n} for b, n in self.distribution],
            },
            "backtest": self.backtest.document() if self.backtest else None,
            "at_risk": {
                "below_score": HIGH_RISK_BELOW,
                "persons": self.at_risk_count,
                "users": self.at_risk,
            },
            "characteristics": [c.document() for c in self.characteristics],
        }


def band_of(score: float) -> str:
    for low, high in BANDS:
        if score < high:
            return f"{low}-{high - 1}" if high < 100 else f"{low}-100"
    return f"{BANDS[-1][0]}-100"


def band_labels() -> list[str]:
    return [band_of(low) for low, _ in BANDS]
