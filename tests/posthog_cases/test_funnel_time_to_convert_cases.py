"""Cases of PostHog's funnel time-to-convert tests, posthog/hogql_queries/insights/funnels/test/
test_funnel_time_to_convert.py (BaseTestFunnelTimeToConvert, run by TestFunnelTimeToConvert and
its UDF twin) at commit 2506df87718170757426e5b47fabcdd32c06d555 of PostHog/posthog, as `funnel
--time-to-convert`, on both engines.

PostHog's tests ask for the time from step 0 to step 1 of a three-step funnel
(`funnel_from_step` 0, `funnel_to_step` 1, 0-based): `--from-step 1 --to-step 2`, 1-based, where
a case ports it whole; the others are the funnel of those first two steps (every person here has
one attempt, and the persons who reach the second step are the same in both funnels).
"""

from __future__ import annotations

from typing import Any

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, utc

CASES = Cases()
engine = engines(CASES, "time-to-convert")

JUNE = ["--since", "2021-06-07", "--until", "2021-06-13T23:59:59", "--window", "7d"]
AS_OF = "2021-06-14"
# PostHog's answer in all three cases: users A and B in the first bin, C in the last.
BINS = [(2220, 2), (42510, 0), (82800, 1)]
AVERAGE = 29_540


def bins(doc: dict[str, Any]) -> list[tuple[int, int]]:
    ttc = doc["time_to_convert"]
    return [(int(b["from_seconds"]), int(b["persons"])) for b in ttc["bins"]]


def users(*events: tuple[str, str, Any]) -> list[Ev]:
    return [Ev(user, event, when) for user, event, when in events]


def at(day: int, hour: int, minute: int = 0) -> Any:
    return utc(2021, 6, day, hour, minute)


EVENTS_C01 = CASES.add("c01", users(
    ("user a", "step one", at(8, 18)),
    ("user a", "step two", at(8, 19)),
    ("user a", "step three", at(8, 21)),
    ("user b", "step one", at(9, 13)),
    ("user b", "step two", at(9, 13, 37)),
    ("user c", "step one", at(11, 7)),
    ("user c", "step two", at(12, 6)),
))  # fmt: skip


def test_auto_bin_count_single_step(engine: Engine) -> None:
    """test_funnel_time_to_convert.py, BaseTestFunnelTimeToConvert.test_auto_bin_count_single_
    step (PostHog commit 2506df87): 3600 s, 2220 s and 82,800 s in ceil(cbrt(3)) = 2 bins of
    40,290 s (and the bin after), averaging 29,540 s."""
    args = [*EVENTS_C01["step one|step two|step three"], *JUNE, "--time-to-convert",
            "--from-step", "1", "--to-step", "2"]  # fmt: skip
    doc = engine("funnel", args, as_of=AS_OF)
    assert bins(doc) == BINS
    assert doc["time_to_convert"]["average_seconds"] == AVERAGE
    assert (doc["time_to_convert"]["from_step"], doc["time_to_convert"]["to_step"]) == (1, 2)


def test_custom_bin_count_single_step(engine: Engine) -> None:
    """test_funnel_time_to_convert.py, BaseTestFunnelTimeToConvert.test_custom_bin_count_single_
    step (PostHog commit 2506df87): the same events and steps in `bin_count` 7 bins (and the
    bin after) of ceil(80,580 / 7) = 11,512 s: A and B in the first, C in the seventh."""
    args = [*EVENTS_C01["step one|step two|step three"], *JUNE, "--time-to-convert",
            "--from-step", "1", "--to-step", "2", "--bins", "7"]  # fmt: skip
    doc = engine("funnel", args, as_of=AS_OF)
    assert bins(doc) == [
        (2220, 2), (13732, 0), (25244, 0), (36756, 0), (48268, 0), (59780, 0), (71292, 1),
        (82804, 0),
    ]  # fmt: skip
    assert doc["time_to_convert"]["average_seconds"] == AVERAGE


EVENTS_C02 = CASES.add("c02", users(
    ("user a", "step one", at(8, 18)),
    ("user a", "step one", at(8, 19)),
    ("user a", "step one", at(8, 21)),
    ("user b", "step one", at(9, 13)),
    ("user b", "step one", at(9, 13, 37)),
    ("user c", "step one", at(11, 7)),
    ("user c", "step one", at(12, 6)),
))  # fmt: skip


def test_auto_bin_count_single_step_duplicate_events(engine: Engine) -> None:
    """test_funnel_time_to_convert.py, BaseTestFunnelTimeToConvert.test_auto_bin_count_single_
    step_duplicate_events (PostHog commit 2506df87): every step the same event; each event
    fills one step only."""
    doc = engine("funnel", [*EVENTS_C02["step one|step one"], *JUNE, "--time-to-convert"],
                 as_of=AS_OF)  # fmt: skip
    assert bins(doc) == BINS
    assert doc["time_to_convert"]["average_seconds"] == AVERAGE


EVENTS_C03 = CASES.add("c03", users(
    ("user a", "step one", at(8, 18)),
    ("user a", "step two", at(8, 19)),
    ("user a", "step three", at(8, 21)),
    ("user b", "step one", at(9, 13)),
    ("user b", "step two", at(9, 13, 37)),
    ("user b", "blah", at(9, 13, 38)),
    ("user b", "step three", at(9, 13, 39)),
    ("user c", "step one", at(11, 7)),
    ("user c", "step two", at(12, 6)),
    ("user d", "step one", at(11, 7)),
    ("user d", "blah", at(12, 7)),
    ("user d", "step two", at(12, 9)),
))  # fmt: skip


def test_basic_strict(engine: Engine) -> None:
    """test_funnel_time_to_convert.py, BaseTestFunnelTimeToConvert.test_basic_strict (PostHog
    commit 2506df87): in a strict funnel user d's `blah` between the steps cancels the
    conversion; the other three are as above."""
    args = [*EVENTS_C03["step one|step two"], *JUNE, "--order", "strict", "--time-to-convert"]
    doc = engine("funnel", args, as_of=AS_OF)
    assert bins(doc) == BINS
    assert doc["time_to_convert"]["average_seconds"] == AVERAGE
