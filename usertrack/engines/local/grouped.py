"""An aggregated query answered for every --by-segment group in one run (the local engine's).

A --by-segment run of an analysis runs its aggregated queries (trends' counts: a row per point
and breakdown value, never per person) once per group, the group's persons in the query's
`{filters}` slot (usertrack.analytics.by_segment). On the local engine each of those runs reads
every event of the range again, whatever the group's size: the scan, the JSON of each event's
properties, not the group's rows. Here the same query runs once over everyone with each event's
group as one more grouping column, and each group keeps its rows of that answer.

Only a translation of one shape is grouped, checked on the text (anything else runs per group,
as before): the query without a filter of the group (`{filters}` holding `true`, or the
--where expressions) is

    SELECT <columns> FROM ( SELECT <columns> FROM events WHERE <conditions> AND <slot> )
    GROUP BY <columns>

two SELECTs, one `FROM events`, no JOIN, UNION, window (OVER), SELECT DISTINCT, LIMIT or ORDER
BY, the slot the last condition of the inner WHERE, which has no OR and balanced parentheses:
then the
group's filter, ANDed into the slot, is a condition on the event's person alone, ANDed with the
others, and keeping an event's rows where its group is the group's gives the group's answer
row for row. A GROUP BY over no rows gives no rows, as a group with no events has none.

Each event's group: its person's number in `usertrack_person_groups` (person id as text, group
number: the groups in order), any other person's `rest` ("no account": no app account), none
for an event without a person (in no group, as the filter's IN of NULL is NULL).
"""

from __future__ import annotations

import re

TABLE = "usertrack_person_groups"
COLUMN = "usertrack_group"

_EVENTS = (
    "(SELECT usertrack_e.*, CASE WHEN usertrack_e.person_id IS NULL THEN NULL"
    f" ELSE coalesce(usertrack_g.{COLUMN}, {{rest}}) END AS {COLUMN}"
    " FROM events AS usertrack_e"
    f" LEFT JOIN {TABLE} AS usertrack_g"
    " ON usertrack_g.person_id = CAST(usertrack_e.person_id AS VARCHAR)) AS events"
)
_REFUSED = re.compile(
    r"\b(JOIN|UNION|OVER|LIMIT|ORDER|HAVING|WITH|SELECT\s+DISTINCT)\b", re.IGNORECASE
)


def _pattern(words: str) -> str:
    """A regular expression matching `words` (whitespace folded) in a text of any spacing."""
    return r"\s+".join(re.escape(w) for w in words.split())


def grouped_sql(whole: str, bare: str, rest: int) -> str | None:
    """`whole` (a translation without the group's filter) run for every group at once, a first
    column `usertrack_group` more, or None when it is not of the shape above. `bare` is the same
    file's translation with `true` in the slot, which shows where the slot is."""
    words = " ".join(bare.split())
    parts = re.split(r" AND true ?(?=\) GROUP BY )", words)
    if len(parts) != 2:
        return None
    prefix, suffix = parts
    column = r"(\w+|\"[^\"]+\")"
    if not re.fullmatch(rf"\) GROUP BY {column}(, {column})*", suffix) or _REFUSED.search(suffix):
        return None
    if _REFUSED.search(prefix) or not prefix.startswith("SELECT "):
        return None
    selects = [m.start() for m in re.finditer(r"\bSELECT\b", prefix, re.IGNORECASE)]
    froms = [m.start() for m in re.finditer(r"\bFROM events WHERE\b", prefix)]
    if len(selects) != 2 or len(froms) != 1 or not selects[1] < froms[0]:
        return None
    if not re.search(r"\bFROM \($", prefix[: selects[1]].rstrip()):
        return None
    inner_where = prefix[froms[0] + len("FROM events WHERE") :]
    if re.search(r"\bOR\b", inner_where, re.IGNORECASE) or (
        inner_where.count("(") != inner_where.count(")")
    ):
        return None
    if prefix.count("(") - prefix.count(")") != 1:  # only the subquery's own is open
        return None
    # `whole` in three: the same text up to the slot, the slot's own (a --where's texts keep
    # their spacing), the same text after it; the first and last changed in place.
    found = re.fullmatch(
        rf"({_pattern(prefix)})\s+AND\s+(.*?)\s*({_pattern(suffix)})", whole.strip(), re.DOTALL
    )
    if found is None:
        return None
    head, slot, tail = found.groups()
    head = re.sub(r"^SELECT\b", f"SELECT {COLUMN},", head, count=1)
    head = re.sub(r"(\bFROM\s*\(\s*)SELECT\b", rf"\1SELECT {COLUMN},", head, count=1)
    events = _EVENTS.replace("{rest}", str(int(rest)))
    head = re.sub(r"\bFROM\s+events\s+WHERE\b", lambda _: f"FROM {events} WHERE", head, count=1)
    tail = re.sub(r"^\)\s*GROUP\s+BY\s+", f") GROUP BY {COLUMN}, ", tail, count=1)
    return f"{head} AND {slot} {tail}"
