"""`--anonymize`: every person a stable keyed pseudonym, in every format, on the real demo."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
import sys
from pathlib import Path

import anyio

from tests.cli_runner import REPO, run
from usertrack.demo.vocabulary import FIRST_NAMES, INTERNAL_NAMES, LAST_NAMES

EMAIL = re.compile(r"[A-Za-z0-9._%+\\-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PSEUDONYM = re.compile(r"person-[0-9a-f]{8}")
# Every full name the demo can give a person ("Jane Doe"), as its PostHog persons hold them.
NAME = re.compile(
    r"\b(?:"
    + "|".join(n.capitalize() for n in {*FIRST_NAMES, *INTERNAL_NAMES})
    + r") (?:"
    + "|".join(n.capitalize() for n in LAST_NAMES)
    + r")\b"
)


def key_file() -> Path:
    return Path(os.environ["USERTRACK_CONFIG"]).parent / "pseudonym.key"


def pseudonym_of(email: str) -> str:
    key = bytes.fromhex(key_file().read_text().strip())
    return "person-" + hmac.new(key, email.lower().encode(), hashlib.sha256).hexdigest()[:8]


def shows_nobody(text: str) -> None:
    assert not EMAIL.findall(text), EMAIL.findall(text)[:3]
    assert not NAME.findall(text), NAME.findall(text)[:3]


def ok(args: list[str], home: Path) -> str:
    result = run(args, home=home)
    assert result.exit_code == 0, result.stderr
    shows_nobody(result.stderr) if "--anonymize" in args else None
    return result.stdout


def test_segments_in_every_format_show_pseudonyms(demo_home: Path) -> None:
    plain = json.loads(ok(["-q", "segments", "-f", "json", "--no-save"], demo_home))
    emails = [u["email"] for u in plain["users"]]
    assert EMAIL.fullmatch(emails[0])
    answer = ok(["segments", "--anonymize", "-f", "json", "--no-save"], demo_home)
    shows_nobody(answer)
    assert answer == ok(["--anonymize", "segments", "-f", "json", "--no-save"], demo_home)
    shown = [u["email"] for u in json.loads(answer)["users"]]
    # Each person's own pseudonym: HMAC-SHA256 of the email under the key, in the same rows.
    assert shown == [pseudonym_of(e) for e in emails]
    assert len(set(shown)) == len(shown)
    for fmt in ("table", "csv", "md"):
        text = ok(["--anonymize", "segments", "-f", fmt, "--no-save"], demo_home)
        shows_nobody(text)
        found = set(PSEUDONYM.findall(text))
        assert found and found <= set(shown), fmt


def test_the_same_person_has_one_pseudonym_and_user_finds_them(demo_home: Path) -> None:
    plain = json.loads(ok(["-q", "segments", "-f", "json", "--no-save"], demo_home))
    email = plain["users"][3]["email"]
    segments = json.loads(ok(["--anonymize", "segments", "-f", "json", "--no-save"], demo_home))
    name = segments["users"][3]["email"]
    assert PSEUDONYM.fullmatch(name)
    by_email = ok(["user", email.upper(), "--anonymize", "-f", "json"], demo_home)
    shows_nobody(by_email)
    assert json.loads(by_email)["email"] == name
    by_name = ok(["--anonymize", "user", name, "-f", "json"], demo_home)
    assert by_name == by_email
    # Without --anonymize the pseudonym still finds the person, shown as they are.
    assert json.loads(ok(["-q", "user", name, "-f", "json"], demo_home))["email"] == email
    for fmt in ("table", "md"):
        shows_nobody(ok(["--anonymize", "user", name, "-f", fmt], demo_home))
    nobody = run(["--anonymize", "user", "person-00000000"], home=demo_home)
    assert nobody.exit_code == 3
    assert "no user 'person-00000000'" in nobody.stderr


def test_names_beside_emails_are_pseudonyms_too(demo_home: Path) -> None:
    # PostHog's persons hold a name beside the email: whoever reads them shows neither.
    ask = ["query", "posthog/alert_activity", "-p", "lookback_minutes=100000"]
    plain = json.loads(ok(["-q", *ask, "-f", "json"], demo_home))
    email, name = plain["columns"].index("email"), plain["columns"].index("name")
    named = [r for r in plain["rows"] if r[name]]
    assert named and NAME.fullmatch(named[0][name])
    answer = json.loads(ok(["--anonymize", *ask, "-f", "json"], demo_home))
    shows_nobody(json.dumps(answer, ensure_ascii=False))
    shown = {r[email]: r[name] for r in answer["rows"]}
    assert shown[pseudonym_of(named[0][email])] == pseudonym_of(named[0][email])
    for fmt in ("csv", "md", "table"):
        shows_nobody(ok(["--anonymize", *ask, "-f", fmt], demo_home))
    shows_nobody(ok(["--anonymize", "alerts", "-f", "json"], demo_home))


def test_report_weekly_anonymized_in_html_md_json(demo_home: Path, tmp_path: Path) -> None:
    for fmt in ("html", "md", "json"):
        out = tmp_path / f"weekly.{fmt}"
        ok(["--anonymize", "report", "weekly", "--out", str(out)], demo_home)
        text = out.read_text()
        shows_nobody(text)
        if fmt != "html":  # the page draws charts of counts; md and json list who moved
            assert PSEUDONYM.search(text), fmt
    plain = tmp_path / "plain.md"
    ok(["-q", "report", "weekly", "--out", str(plain)], demo_home)
    assert EMAIL.search(plain.read_text())  # the report does name people


def test_a_persons_cell_shows_pseudonyms(demo_home: Path, tmp_path: Path) -> None:
    for fmt in ("json", "csv", "md", "table"):
        text = ok(["--anonymize", "funnel", "--persons", "2", "-f", fmt], demo_home)
        shows_nobody(text)
        assert PSEUDONYM.search(text), fmt
    out = tmp_path / "cell.csv"
    ok(["--anonymize", "funnel", "--persons", "2", "--out", str(out)], demo_home)
    shows_nobody(out.read_text())
    assert PSEUDONYM.search(out.read_text())


def test_the_lists_across_users_in_every_format_show_pseudonyms(demo_home: Path) -> None:
    # The lists a weekly review reads row by row name a person on every row, and their free
    # text (a failed run's error, a custom tool's description) is the app's users' own words.
    lists = [
        ["tools", "--by-user"],
        ["tools", "--executions"],
        ["tools", "--custom"],
        ["tools", "--mcp-clicks"],
        ["failures", "--runs"],
        ["alerts", "--active"],
    ]
    for ask in lists:
        plain = ok(["-q", *ask, "-f", "json"], demo_home)
        assert EMAIL.search(plain), ask  # the list does name people
        for fmt in ("json", "csv", "md", "table"):
            text = ok(["-q", "--anonymize", *ask, "-f", fmt], demo_home)
            shows_nobody(text)
            assert PSEUDONYM.search(text), (ask, fmt)


def test_the_key_is_private_and_never_shown(demo_home: Path) -> None:
    seen = [ok(["--anonymize", "segments", "-f", "json", "--no-save"], demo_home)]
    path = key_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    for args in (
        ["--anonymize", "-v", "alerts", "-f", "json"],
        ["--anonymize", "user", "nobody@nowhere.test"],
        ["--anonymize", "doctor"],
    ):
        result = run(args, home=demo_home)
        seen += [result.stdout, result.stderr]
    assert "nobody@nowhere.test" not in seen[-4] + seen[-3]
    assert all(key not in text and key[:16] not in text for text in seen)
    # The same key again: the same pseudonyms.
    assert seen[0] == ok(["--anonymize", "segments", "-f", "json", "--no-save"], demo_home)
    assert path.read_text().strip() == key
    path.write_text("not a key\n")
    bad = run(["--anonymize", "segments", "-f", "json", "--no-save"], home=demo_home)
    assert bad.exit_code == 4 and bad.stdout == ""
    assert (
        bad.stderr.splitlines()[0]
        == f"usertrack: error: {path}: not a pseudonym key (64 hex digits)"
    )


def test_the_setting_in_the_environment_and_the_config_file(demo_home: Path) -> None:
    text = run(
        ["-q", "segments", "-f", "csv", "--no-save"], home=demo_home, USERTRACK_ANONYMIZE="1"
    )
    assert text.exit_code == 0, text.stderr
    shows_nobody(text.stdout)
    config = Path(os.environ["USERTRACK_CONFIG"])
    config.write_text("[privacy]\nanonymize = true\n")
    shows_nobody(ok(["-q", "segments", "-f", "csv", "--no-save"], demo_home))
    config.write_text('[privacy]\nanonymize = "yes please"\n')
    bad = run(["-q", "segments", "-f", "csv", "--no-save"], home=demo_home)
    assert bad.exit_code == 4  # a configuration error
    assert (
        bad.stderr.strip()
        .splitlines()[0]
        .endswith("config.toml:2: [privacy] anonymize must be true or false")
    )
    assert bad.stdout == ""


def test_email_shaped_free_text_and_escaped_names() -> None:
    from usertrack.core import pseudonyms

    pseudonyms.set_active(True)
    try:
        pseudonyms.learn(["email", "name"], [("ann_lee@acme.io", "Zoë O'Brien")])
        said = pseudonyms.anonymize_text(
            'permission denied for role "Jane.Doe+x@Example.co.uk" while ann_lee@acme.io ran;'
            " Zo\\u00eb O'Brien, Zoë O&#x27;Brien, \\_ann\\_lee@acme.io"
        )
    finally:
        pseudonyms.set_active(False)
        pseudonyms.forget()
    shows_nobody(said)
    assert "Zo" not in said and "Brien" not in said
    ann = pseudonym_of("ann_lee@acme.io")
    assert said.count(ann) == 3
    assert pseudonym_of("jane.doe+x@example.co.uk") in said
    assert pseudonyms.anonymize_text("ann_lee@acme.io") == "ann_lee@acme.io"  # off: as is


def test_a_slack_message_names_nobody() -> None:
    from datetime import datetime

    from usertrack.act.slack import message
    from usertrack.core import pseudonyms

    alert = {
        "email": "jane.doe@acme.io",
        "name": "Jane Doe",
        "plan": "active",
        "kind": "activity",
        "trigger": "stuck_on_page",
        "trigger_name": "Stuck",
        "current_page": "/x/jane.doe@acme.io",
    }
    pseudonyms.set_active(True)
    try:
        sent = json.dumps(message(alert, datetime(2026, 11, 20), app_url="https://app.test"))
    finally:
        pseudonyms.set_active(False)
    shows_nobody(sent)
    assert "Jane" not in sent and pseudonym_of("jane.doe@acme.io") in sent
    assert "app.test/users" not in sent
    plain = json.dumps(message(alert, datetime(2026, 11, 20), app_url="https://app.test"))
    assert "jane.doe@acme.io" in plain and "app.test/users" in plain


def test_an_mcp_server_started_with_anonymize(demo_home: Path) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    plain = json.loads(ok(["-q", "segments", "-f", "json", "--no-save"], demo_home))
    email = plain["users"][0]["email"]

    async def main() -> list[str]:
        server = StdioServerParameters(
            command=sys.executable,
            args=["-m", "usertrack", "mcp", "--anonymize"],
            env={
                "USERTRACK_HOME": str(demo_home),
                "USERTRACK_CONFIG": os.environ["USERTRACK_CONFIG"],
            },
            cwd=str(REPO),
        )
        calls = [
            ("segments", {"max_items": 5}),
            ("alerts", {}),
            ("user", {"email": email}),
            ("user", {"email": "nobody@nowhere.test"}),
        ]
        answers = []
        # The server's stderr to file descriptor 2: stdio_client's default is the sys.stderr of
        # when mcp was first imported, perhaps a CliRunner's stream with no file descriptor.
        with open(2, "w", closefd=False) as errlog:
            async with Client(stdio_client(server, errlog=errlog)) as client:
                for name, arguments in calls:
                    result = await client.call_tool(name, arguments)
                    answers.append("\n".join(c.text for c in result.content))
        return answers

    answers = anyio.run(main)
    for answer in answers:
        shows_nobody(answer)
    assert pseudonym_of(email) in answers[0] and pseudonym_of(email) in answers[2]
    assert "(exit code 3)" in answers[3]


def test_a_dashboard_of_anonymize_true(demo_home: Path, tmp_path: Path) -> None:
    board = tmp_path / "people.yaml"
    panels = "panels:\n  - analysis: segments\n  - analysis: alerts\n"
    board.write_text("title: People\n" + panels)
    plain = ok(["-q", "report", str(board), "-f", "json", "-o", "-"], demo_home)
    assert EMAIL.search(plain)
    board.write_text("title: People\nanonymize: true\n" + panels)
    for fmt in ("json", "html"):
        out = tmp_path / f"people.{fmt}"
        ok(["-q", "report", str(board), "--out", str(out)], demo_home)
        shows_nobody(out.read_text())
    assert PSEUDONYM.search((tmp_path / "people.json").read_text())
    assert EMAIL.search(ok(["-q", "segments", "-f", "csv", "--no-save"], demo_home))  # off again
    board.write_text("title: People\nanonymize: maybe\n" + panels)
    bad = run(["-q", "report", str(board), "-f", "json", "-o", "-"], home=demo_home)
    assert bad.exit_code == 2 and bad.stdout == ""
    assert "people.yaml:2: anonymize must be true or false" in bad.stderr
