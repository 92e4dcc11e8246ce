"""Where usertrack finds its data and its files: environment, config file, paths, the demo switch.

Precedence, in one place: a command-line flag beats an environment variable, which beats the user
config file, which beats a default. Secrets (DATABASE_URL's password, the PostHog key) come only
from the environment or the user-level config file (USERTRACK_CONFIG, default
`~/.config/usertrack/config.toml` on Linux), never from a file in the project tree.

    [posthog]
    host = "https://eu.posthog.com"
    project_id = "12345"
    personal_api_key = "phx_..."
    insecure = false  # true allows a plain http:// host other than localhost (USERTRACK_INSECURE=1)

    [database]
    url = "postgresql://role:password@ep-xxx-pooler.eu-central-1.aws.neon.tech/db?sslmode=require"
    connections = 3  # USERTRACK_DB_CONNECTIONS: queries run side by side (default: one per query)

    [events]
    path = "/data/posthog-export"

    [cache]
    ttl_seconds = 600

    [accounts]  # where the app ties a user to an account (usertrack accounts)
    table = "organization_member"
    column = "organization_id"
    user_column = "user_id"
    group_type = "organization"  # the accounts' PostHog group type (group analytics)

    [limits]
    duckdb_memory = "2GB"          # USERTRACK_DUCKDB_MEMORY: each DuckDB connection's memory limit
    duckdb_timeout_seconds = 300   # USERTRACK_DUCKDB_TIMEOUT: one DuckDB query of a file's text

    [privacy]
    anonymize = true  # USERTRACK_ANONYMIZE=1: every command as with --anonymize
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from usertrack.core.errors import (
    ConfigError,
    not_utf8,
    redact,
    register_secret,
    register_url_secrets,
)
from usertrack.core.rulefiles import did_you_mean
from usertrack.core.shipped import shipped_path


@dataclass(frozen=True)
class Settings:
    home: Path
    # Kept out of repr: a Settings shown in a traceback or a log must not carry the secrets.
    database_url: str | None = field(repr=False)
    events_path: Path | None
    posthog_host: str | None = field(repr=False)
    posthog_project_id: str | None
    posthog_api_key: str | None = field(repr=False)
    debug: bool = False
    connect_attempts: int = 6
    # PostgreSQL connections one command's queries use side by side (None: one per query).
    db_connections: int | None = None
    cache_ttl: int = 600
    config_file: Path | None = None  # the user config file that was read, if any
    insecure: bool = False  # a plain http:// PostHog host other than localhost is allowed
    # Where each value came from, for messages: "POSTHOG_HOST" or "config.toml:3 [posthog] host".
    origins: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    def origin(self, name: str) -> str:
        """The environment variable `name`, or the config-file line that set it."""
        return self.origins.get(name, name)

    @property
    def missing_posthog(self) -> list[str]:
        """The variables the PostHog query API still needs (none when it is fully configured)."""
        return [
            name
            for name, value in (
                ("POSTHOG_PROJECT_ID", self.posthog_project_id),
                ("POSTHOG_PERSONAL_API_KEY", self.posthog_api_key),
            )
            if not value
        ]

    @property
    def demo(self) -> bool:
        """No source configured at all: run on the built-in demo workspace."""
        return not any(
            (
                self.database_url,
                self.events_path,
                self.posthog_host,
                self.posthog_project_id,
                self.posthog_api_key,
            )
        )


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("usertrack", appauthor=False))


# config.toml section.key -> the environment variable it stands for.
CONFIG_KEYS = {
    "posthog": {
        "host": "POSTHOG_HOST",
        "project_id": "POSTHOG_PROJECT_ID",
        "personal_api_key": "POSTHOG_PERSONAL_API_KEY",
        "insecure": "USERTRACK_INSECURE",
    },
    "database": {"url": "DATABASE_URL", "connections": "USERTRACK_DB_CONNECTIONS"},
    "events": {"path": "USERTRACK_EVENTS"},
    "cache": {"ttl_seconds": "USERTRACK_CACHE_TTL"},
    "slack": {"webhook_url": "SLACK_WEBHOOK_URL"},
    "capture": {"project_api_key": "POSTHOG_PROJECT_API_KEY", "host": "POSTHOG_CAPTURE_HOST"},
    "accounts": {
        "table": "USERTRACK_ACCOUNT_TABLE",
        "column": "USERTRACK_ACCOUNT_COLUMN",
        "user_column": "USERTRACK_ACCOUNT_USER_COLUMN",
        "group_type": "USERTRACK_ACCOUNT_GROUP_TYPE",
    },
    "limits": {
        "duckdb_memory": "USERTRACK_DUCKDB_MEMORY",
        "duckdb_timeout_seconds": "USERTRACK_DUCKDB_TIMEOUT",
    },
    "privacy": {"anonymize": "USERTRACK_ANONYMIZE"},
}

# The keys of the config file that are true or false.
_SWITCHES = frozenset({"USERTRACK_INSECURE", "USERTRACK_ANONYMIZE"})


def default_config_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("usertrack", appauthor=False)) / "config.toml"


def read_config_entries(path: Path) -> dict[str, tuple[str, str]]:
    """The user config file as {ENV_NAME: (value, where)}, `where` naming the file, line and key
    ("~/.config/usertrack/config.toml:3 [posthog] host") for messages about a bad value."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as e:
        line, why = not_utf8(e)
        raise ConfigError(f"{path}:{line}: {why}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror}") from None
    import tomllib  # only for a file there is (6 ms)

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib's message ends "(at line N, column M)" but may quote the line: keep it clean.
        raise ConfigError(f"{path}: not valid TOML: {redact(str(e))}") from None
    values: dict[str, tuple[str, str]] = {}
    for section, content in doc.items():
        if section not in CONFIG_KEYS or not isinstance(content, dict):
            raise ConfigError(
                f"{_where(path, text, section, None)}: unknown section [{section}]"
                f"{did_you_mean(section, CONFIG_KEYS)}"
                f" (known: {', '.join(f'[{s}]' for s in CONFIG_KEYS)})"
            )
        keys = CONFIG_KEYS[section]
        for key, value in content.items():
            where = _where(path, text, section, key)
            if key not in keys:
                raise ConfigError(
                    f"{where}: unknown key {key!r} in [{section}]{did_you_mean(key, keys)}"
                    f" (known: {', '.join(keys)})"
                )
            if keys[key] in _SWITCHES:
                if not isinstance(value, bool):
                    raise ConfigError(f"{where}: [{section}] {key} must be true or false")
                values[keys[key]] = ("1" if value else "0", f"{where} [{section}] {key}")
                continue
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise ConfigError(f"{where}: [{section}] {key} must be a string or a number")
            values[keys[key]] = (str(value), f"{where} [{section}] {key}")
    return values


def _where(path: Path, text: str, section: str, key: str | None) -> str:
    """`path:line` of `key` in `[section]` (of the section header when key is None)."""
    import re

    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"\[\s*([^\]\s]+)\s*\]", stripped)
        if header:
            current = header.group(1).strip("\"'")
            if key is None and current == section:
                return f"{path}:{number}"
            continue
        if key is not None and current == section:
            name = re.match(r"([\"']?)([^=\s\"']+)\1\s*=", stripped)
            if name and name.group(2) == key:
                return f"{path}:{number}"
    return str(path)


def load_settings(
    env: Mapping[str, str] | None = None, *, config_file: Path | None = None
) -> Settings:
    env = dict(os.environ if env is None else env)
    config_text = _get(env, "USERTRACK_CONFIG")
    if config_file is None:
        config_file = Path(config_text).expanduser() if config_text else default_config_file()
    entries = read_config_entries(config_file)
    if config_text and not config_file.is_file():
        raise ConfigError(f"USERTRACK_CONFIG names {config_file}, which does not exist")
    # The environment wins over the file, key by key; `origins` says where each value came from.
    set_in_env = {k: v for k, v in env.items() if v.strip()}
    env = {**{k: v for k, (v, _) in entries.items()}, **set_in_env}
    origins = {k: where for k, (_, where) in entries.items() if k not in set_in_env}
    home_text = _get(env, "USERTRACK_HOME")
    home = Path(home_text).expanduser() if home_text else default_home()
    database_url = _get(env, "DATABASE_URL")
    api_key = _get(env, "POSTHOG_PERSONAL_API_KEY")
    host = _get(env, "POSTHOG_HOST")
    # Secrets first: whatever fails below must not be able to show them.
    register_secret(api_key)
    register_url_secrets(database_url)
    register_url_secrets(host)
    _register_host_userinfo(host)
    insecure = _flag(env, "USERTRACK_INSECURE", origins)
    if host:
        check_posthog_host(host, insecure=insecure, name=origins.get("POSTHOG_HOST", HOST))
    if database_url:
        _check_database_url(database_url, origins.get("DATABASE_URL", "DATABASE_URL"))
    project_id = _get(env, "POSTHOG_PROJECT_ID")
    if project_id is not None and not project_id.isdigit():
        raise ConfigError(
            f"{origins.get('POSTHOG_PROJECT_ID', 'POSTHOG_PROJECT_ID')} must be a number (the id"
            f" in your PostHog project's URL), not {redact(project_id)!r}"
        )
    events = _get(env, "USERTRACK_EVENTS")
    return Settings(
        home=home,
        database_url=database_url,
        events_path=Path(events).expanduser() if events else None,
        posthog_host=host,
        posthog_project_id=project_id,
        posthog_api_key=api_key,
        debug=_get(env, "USERTRACK_DEBUG") in ("1", "true", "yes"),
        connect_attempts=_positive_int(env, "USERTRACK_CONNECT_ATTEMPTS", 6, origins=origins),
        cache_ttl=_positive_int(env, "USERTRACK_CACHE_TTL", 600, minimum=0, origins=origins),
        db_connections=(
            _positive_int(env, "USERTRACK_DB_CONNECTIONS", 1, origins=origins)
            if _get(env, "USERTRACK_DB_CONNECTIONS")
            else None
        ),
        config_file=config_file if entries else None,
        insecure=insecure,
        origins=origins,
    )


def _flag(env: Mapping[str, str], name: str, origins: Mapping[str, str]) -> bool:
    text = (_get(env, name) or "0").lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{origins.get(name, name)} must be 1 or 0 (true or false), not {text!r}")


def _positive_int(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int = 1,
    origins: Mapping[str, str] | None = None,
) -> int:
    text = _get(env, name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < minimum:
        where = (origins or {}).get(name)
        shown = f"{where} = {text!r}" if where else f"{name}={text!r}"
        raise ConfigError(f"{shown} is not a whole number of at least {minimum}")
    return int(text)


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
HOST = "POSTHOG_HOST"


def check_posthog_host(host: str, *, insecure: bool = False, name: str = "POSTHOG_HOST") -> None:
    """Refuse a PostHog host that would leak the key: userinfo in the URL, or plain http:// to
    anything but this machine (unless `insecure`). Messages never show the userinfo."""
    from urllib.parse import urlsplit

    text = host.strip()
    if "@" in text:
        # Whatever precedes the last `@` may be a password, encoded or not: never echo it.
        after = text[text.rfind("@") + 1 :].split("/", 1)[0]
        scheme = text.split("://", 1)[0] if "://" in text else "https"
        raise ConfigError(
            f"{name} must not carry a user or password (user:pass@host): PostHog authenticates"
            " with POSTHOG_PERSONAL_API_KEY",
            hint=f"set it to {redact(f'{scheme}://{after}')}",
        )
    try:
        parts = urlsplit(text)
        hostname = parts.hostname or ""
    except ValueError:
        raise ConfigError(
            f"{name} is not a URL like https://us.posthog.com", hint="check POSTHOG_HOST"
        ) from None
    if parts.query or parts.fragment:
        raise ConfigError(
            f"{name} must be the PostHog app's address alone, without a query string or #fragment",
            hint=f"set it to {parts.scheme}://{parts.netloc}",
        )
    if parts.scheme == "http" and hostname not in LOCAL_HOSTS and not insecure:
        raise ConfigError(
            f"{name} is plain http://{hostname}: the personal API key would cross the network"
            " unencrypted",
            hint=f"use https://{hostname}, or pass --insecure (USERTRACK_INSECURE=1, or"
            " insecure = true in [posthog] of the config file) if you really mean it",
        )


def _register_host_userinfo(host: str | None) -> None:
    """A token-only userinfo (`https://TOKEN@host`) is a secret too."""
    if not host or "@" not in host:
        return
    rest = host.split("://", 1)[-1]
    userinfo = rest[: rest.rfind("@")]
    register_secret(userinfo)
    for piece in userinfo.split(":"):
        if len(piece) >= 6:
            register_secret(piece)


def _check_database_url(dsn: str, name: str) -> None:
    from usertrack.core.dsn import malformed_dsn

    problem = malformed_dsn(dsn)
    if problem:
        raise ConfigError(
            f"{name} is malformed: {problem}",
            hint="percent-encode special characters of the password: @ as %40, / as %2F,"
            " : as %3A, ? as %3F, # as %23, space as %20",
        )


def resolve_queries_dir(flag: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """--queries beats USERTRACK_QUERIES beats ./queries beats the shipped library."""
    env = os.environ if env is None else env
    if flag is not None:
        return flag
    if value := _get(env, "USERTRACK_QUERIES"):
        return Path(value).expanduser()
    local = Path.cwd() / "queries"
    if (local / "posthog").is_dir() or (local / "neon").is_dir():
        return local
    return shipped_path("queries")


# Rule sets shipped in segments/ that `--segments NAME` finds by name.
SHIPPED_SEGMENT_SETS = ("engagement",)


def _resolve(flag: Path | None, env: Mapping[str, str] | None, variable: str, name: str) -> Path:
    """The flag beats the variable beats ./NAME beats the shipped NAME."""
    env = os.environ if env is None else env
    if flag is not None:
        return flag
    if value := _get(env, variable):
        return Path(value).expanduser()
    local = Path.cwd() / name
    return local if local.is_file() else shipped_path(name)


def resolve_segments_file(flag: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """--segments beats USERTRACK_SEGMENTS beats ./segments.yaml beats the shipped rules.

    A bare name of a shipped rule set (`engagement`) that is not a file here means the shipped
    `segments/<name>.yaml`, so it works from an installed wheel as from a clone."""
    if flag is not None and str(flag) in SHIPPED_SEGMENT_SETS and not flag.exists():
        return shipped_path(f"segments/{flag}.yaml")
    return _resolve(flag, env, "USERTRACK_SEGMENTS", "segments.yaml")


def resolve_failures_file(flag: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """--failures beats USERTRACK_FAILURES beats ./failures.yaml beats the shipped rules."""
    return _resolve(flag, env, "USERTRACK_FAILURES", "failures.yaml")


def resolve_tracking_plan_file(flag: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """--plan beats USERTRACK_TRACKING_PLAN beats ./tracking-plan.yaml beats the shipped plan."""
    return _resolve(flag, env, "USERTRACK_TRACKING_PLAN", "tracking-plan.yaml")


def resolve_alerts_file(flag: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """--alerts beats USERTRACK_ALERTS beats ./alerts.yaml beats the shipped triggers."""
    return _resolve(flag, env, "USERTRACK_ALERTS", "alerts.yaml")


def register_known_secrets(env: Mapping[str, str] | None = None) -> None:
    """Have `redact` remove every secret usertrack may be given, from the environment or the
    config file, before anything is shown: the database password, the PostHog keys, the Slack
    webhook (its whole URL and its path, which is the secret part: an endpoint may echo it)."""
    for name in ("DATABASE_URL", "POSTHOG_HOST", "POSTHOG_CAPTURE_HOST"):
        value, _ = setting(name, env)
        register_url_secrets(value)
    for name in ("POSTHOG_PERSONAL_API_KEY", "POSTHOG_PROJECT_API_KEY"):
        value, _ = setting(name, env)
        register_secret(value)
    webhook, _ = setting("SLACK_WEBHOOK_URL", env)
    register_webhook_secret(webhook)


def register_webhook_secret(url: str | None) -> None:
    """A webhook URL's secret parts: the URL, its path (with and without its first slash, as an
    endpoint or a log may echo it) and each long piece of the path."""
    if not url:
        return
    from urllib.parse import urlsplit

    register_secret(url.strip())
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return
    if len(path.strip("/")) >= 8:
        register_secret(path)
        register_secret(path.lstrip("/"))
        # `services` of hooks.slack.com/services/T…/B…/… is a word, not a secret: a piece
        # counts when it is long and not only letters.
        for piece in path.split("/"):
            if len(piece) >= 8 and not piece.isalpha():
                register_secret(piece)


def setting(name: str, env: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """A value read beside load_settings (SLACK_WEBHOOK_URL, POSTHOG_PROJECT_API_KEY, ...): the
    environment, else the user config file; with where it came from, for messages."""
    env = os.environ if env is None else env
    if value := _get(env, name):
        return value, name
    config_text = _get(env, "USERTRACK_CONFIG")
    path = Path(config_text).expanduser() if config_text else default_config_file()
    found = read_config_entries(path).get(name)
    if found and found[0].strip():
        return found[0].strip(), found[1]
    return None, name


def anonymize_setting(env: Mapping[str, str] | None = None) -> bool:
    """USERTRACK_ANONYMIZE, else `anonymize` in [privacy] of the config file: whether every
    command shows people as pseudonyms (usertrack.core.pseudonyms) without --anonymize."""
    name = "USERTRACK_ANONYMIZE"
    value, where = setting(name, env)
    return _flag({name: value or "0"}, name, {name: where})


def check_outgoing_url(url: str, name: str, *, insecure: bool = False) -> None:
    """A URL we send data or a key to: https, or plain http only to this machine (or insecure)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname or ""
    except ValueError:
        raise ConfigError(f"{name} is not a URL") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ConfigError(f"{name} is not an http(s) URL")
    if parts.scheme == "http" and hostname not in LOCAL_HOSTS and not insecure:
        raise ConfigError(
            f"{name} is plain http://{hostname}: what is sent would cross the network unencrypted",
            hint=f"use https://{hostname}, or pass --insecure (USERTRACK_INSECURE=1)",
        )
