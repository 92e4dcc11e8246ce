"""`--where` says what it removed, as `--who` and `--segment` do: on stderr how many persons with
an event in the answer's range it kept and left out, and in JSON as `where_persons`. It said
nothing, so a filter that kept a handful of persons read like the whole product."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_runner import run

CHROME = ["--where", "properties.$browser = 'Chrome'"]


def test_where_says_how_many_persons_it_kept_and_left_out(fixed_demo_home: Path) -> None:
    # activity over the same 30 days: its MAU is the persons with an event in them, with and
    # without the filter, worked out by the analysis itself
    everyone = json.loads(run(["activity", "-f", "json"], fixed_demo_home).stdout)["mau"]
    chrome = json.loads(run(["activity", *CHROME, "-f", "json"], fixed_demo_home).stdout)["mau"]
    assert 0 < chrome < everyone
    line = (
        f"usertrack: --where kept {chrome:,} of {everyone:,} persons with an event in the range,"
        f" left out {everyone - chrome:,}"
    )
    for command in (["funnel"], ["trends", "$pageview"], ["sessions"], ["paths"], ["features"]):
        result = run([*command, *CHROME, "-f", "json"], fixed_demo_home)
        assert result.exit_code == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["where_persons"] == {
            "kept": chrome, "left_out": everyone - chrome, "persons": everyone
        }, command  # fmt: skip
        assert line in result.stderr.splitlines(), (command, result.stderr)
        if command == ["features"]:  # its adoption's denominator: the persons kept
            assert answer["active_persons"] == chrome
    table = run(["funnel", *CHROME], fixed_demo_home)
    assert line in table.stderr.splitlines()
    quiet = run(["-q", "funnel", *CHROME, "-f", "json"], fixed_demo_home)
    assert "--where kept" not in quiet.stderr
    plain = run(["funnel", "-f", "json"], fixed_demo_home)
    assert "where_persons" not in json.loads(plain.stdout) and "--where" not in plain.stderr


def test_retention_and_churn_say_it_over_the_range_they_read(fixed_demo_home: Path) -> None:
    """Retention over its cohorts (the first cohort's start to the as-of), churn over its
    engagement window (30 days, as activity's MAU)."""
    everyone = json.loads(run(["activity", "-f", "json"], fixed_demo_home).stdout)["mau"]
    chrome = json.loads(run(["activity", *CHROME, "-f", "json"], fixed_demo_home).stdout)["mau"]
    churn = run(["churn", *CHROME, "-f", "json"], fixed_demo_home)
    assert churn.exit_code == 0, churn.stderr
    answer = json.loads(churn.stdout)
    assert answer["window_days"] == 30
    assert answer["where_persons"] == {
        "kept": chrome, "left_out": everyone - chrome, "persons": everyone
    }  # fmt: skip
    retention = run(["retention", *CHROME, "-f", "json"], fixed_demo_home)
    assert retention.exit_code == 0, retention.stderr
    answer = json.loads(retention.stdout)
    start, as_of = answer["cohorts"][0]["start"], answer["as_of"]
    # sessions over the same range, by its own --since and --until
    same = run(["sessions", *CHROME, "--since", start, "--until", as_of, "-f", "json"],
               fixed_demo_home)  # fmt: skip
    assert same.exit_code == 0, same.stderr
    reached = answer["where_persons"]
    assert reached == json.loads(same.stdout)["where_persons"]
    assert 0 < reached["kept"] < reached["persons"] and reached["persons"] > everyone
    line = (
        f"usertrack: --where kept {reached['kept']:,} of {reached['persons']:,} persons with an"
        f" event in the range, left out {reached['left_out']:,}"
    )
    assert line in retention.stderr.splitlines()
    table = run(["churn", *CHROME], fixed_demo_home)
    assert table.exit_code == 0, table.stderr
    assert "usertrack: --where kept" in table.stderr
