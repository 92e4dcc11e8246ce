"""PostHog's insight options that usertrack does not offer, each refused with one line naming
PostHog's option and usertrack's nearest equivalent (docs/analytics.md, "PostHog options not
offered").

A PostHog user types PostHog's names: `--timezone Europe/Paris`, `--aggregation-group-type-index
0`, an MCP argument `paths_hogql_expression`. Click would answer "No such option"; the command
line (`usertrack/cli/program.py`, where Click's usage errors become one line) and the MCP server
(`usertrack/mcp/server.py`, an unknown argument) ask `refusal` first, so the answer says why
and what to use instead. One table for both; a name is matched however it is spelled: dashes or
underscores, camelCase or not (`--aggregation_group_type_index`, `--aggregationGroupTypeIndex`).
"""

from __future__ import annotations

_DOCS = "(docs: analytics.md)"
_GROUP = (
    "PostHog's aggregation by group (aggregation_group_type_index) is not offered; the nearest"
    f" is --by-account, which counts the app database's accounts {_DOCS}"
)
_HOGQL = (
    "PostHog's aggregation by a HogQL expression (funnelAggregateByHogQL) is not offered;"
    f" analyses count persons (person_id), or accounts with --by-account {_DOCS}"
)
_TIMEZONE = f"PostHog's project timezone is not offered; every analysis works in UTC {_DOCS}"
_PATH_HOGQL = (
    "PostHog's HogQL expression as a path node (pathsHogQLExpression) is not offered; the"
    f" nearest is paths --type page|screen|custom narrowed with --where {_DOCS}"
)

# Each not-offered option by the names a PostHog user would try (PostHog's field, its words as
# an option), compared as `_key` spells them.
_REFUSALS: dict[str, str] = {
    **dict.fromkeys(
        ("aggregation_group_type_index", "aggregate_by_group", "aggregation_group",
         "group_type_index", "aggregate_by_group_type"),
        _GROUP,
    ),
    **dict.fromkeys(
        ("funnelAggregateByHogQL", "aggregate_by_hogql", "funnel_aggregate_by_hogql",
         "aggregation_hogql", "aggregate_hogql"),
        _HOGQL,
    ),
    **dict.fromkeys(("timezone", "time_zone", "tz", "project_timezone"), _TIMEZONE),
    **dict.fromkeys(
        ("pathsHogQLExpression", "paths_hogql_expression", "path_hogql", "paths_hogql",
         "path_hogql_expression", "hogql_expression"),
        _PATH_HOGQL,
    ),
}  # fmt: skip


def _key(name: str) -> str:
    """A name as the table compares it: no leading dashes, no dashes or underscores, lower
    case (`--Aggregation-Group_type_index` is `aggregationgrouptypeindex`)."""
    return name.lstrip("-").replace("-", "").replace("_", "").lower()


_TABLE = {_key(name): line for name, line in _REFUSALS.items()}


def refusal(name: str) -> str | None:
    """The one line refusing PostHog's option `name` (an option as typed, `--timezone`, or an
    MCP argument's name), or None when it is none of them."""
    return _TABLE.get(_key(name))
