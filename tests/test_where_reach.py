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
