"""Where usertrack finds its data and its files: environment, config file, paths, the demo switch.

Precedence, in one place: a command-line flag beats an environment variable, which beats the user
config file, which beats a default. Secrets (DATABASE_URL's password, the PostHog key) come only
from the environment or the user-level config file (USERTRACK_CONFIG, default
`~/.config/usertrack/config.toml` on Linux), never from a file in the project tree.

    [posthog]
    host = "https://eu.posthog.com"
    project_id = "12345"
    personal_api_key = "phx_..."

    [database]
    url = "postgresql://role:password@ep-xxx-pooler.eu-central-1.aws.neon.tech/db?sslmode=require"

    [events]
    path = "/data/posthog-export"

    [cache]
    ttl_seconds = 600
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from usertrack.errors import ConfigError, register_secret
from usertrack.rulefiles import did_you_mean

PACKAGE_DIR = Path(__file__).resolve().parent
# In a checkout (or an editable install) queries/ and segments.yaml sit beside the package;
# a built wheel carries copies under usertrack/_data (see pyproject's force-include).
_SHIPPED_DIRS = (PACKAGE_DIR.parent, PACKAGE_DIR / "_data")

LIVE_VARIABLES = (
    "DATABASE_URL",
    "POSTHOG_HOST",
    "POSTHOG_PROJECT_ID",
    "POSTHOG_PERSONAL_API_KEY",
    "USERTRACK_EVENTS",
)


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None
    events_path: Path | None
    posthog_host: str | None
    posthog_project_id: str | None
    posthog_api_key: str | None
    debug: bool = False
    connect_attempts: int = 6
    cache_ttl: int = 600
    config_file: Path | None = None  # the user config file that was read, if any

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
    },
    "database": {"url": "DATABASE_URL"},
    "events": {"path": "USERTRACK_EVENTS"},
    "cache": {"ttl_seconds": "USERTRACK_CACHE_TTL"},
}


def default_config_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("usertrack", appauthor=False)) / "config.toml"


def read_config_file(path: Path) -> dict[str, str]:
    """The user config file as {ENV_NAME: value}; unknown sections or keys are errors."""
    import tomllib

    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror}") from None
    values: dict[str, str] = {}
    for section, content in doc.items():
        if section not in CONFIG_KEYS or not isinstance(content, dict):
            raise ConfigError(
                f"{path}: unknown section [{section}]{did_you_mean(section, CONFIG_KEYS)}"
                f" (known: {', '.join(f'[{s}]' for s in CONFIG_KEYS)})"
            )
        keys = CONFIG_KEYS[section]
        for key, value in content.items():
            if key not in keys:
                raise ConfigError(
                    f"{path}: unknown key {key!r} in [{section}]{did_you_mean(key, keys)}"
                    f" (known: {', '.join(keys)})"
                )
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise ConfigError(f"{path}: [{section}] {key} must be a string or a number")
            values[keys[key]] = str(value)
    return values


def load_settings(
    env: Mapping[str, str] | None = None, *, config_file: Path | None = None
) -> Settings:
    env = dict(os.environ if env is None else env)
    config_text = _get(env, "USERTRACK_CONFIG")
    if config_file is None:
        config_file = Path(config_text).expanduser() if config_text else default_config_file()
    from_file = read_config_file(config_file)
    if config_text and not config_file.is_file():
        raise ConfigError(f"USERTRACK_CONFIG names {config_file}, which does not exist")
    # The environment wins over the file, key by key.
    env = {**from_file, **{k: v for k, v in env.items() if v.strip()}}
    home_text = _get(env, "USERTRACK_HOME")
    home = Path(home_text).expanduser() if home_text else default_home()
    database_url = _get(env, "DATABASE_URL")
    api_key = _get(env, "POSTHOG_PERSONAL_API_KEY")
    register_secret(api_key)
    if database_url:
        _register_dsn_password(database_url)
    events = _get(env, "USERTRACK_EVENTS")
    return Settings(
        home=home,
        database_url=database_url,
        events_path=Path(events).expanduser() if events else None,
        posthog_host=_get(env, "POSTHOG_HOST"),
        posthog_project_id=_get(env, "POSTHOG_PROJECT_ID"),
        posthog_api_key=api_key,
        debug=_get(env, "USERTRACK_DEBUG") in ("1", "true", "yes"),
        connect_attempts=_positive_int(env, "USERTRACK_CONNECT_ATTEMPTS", 6),
        cache_ttl=_positive_int(env, "USERTRACK_CACHE_TTL", 600, minimum=0),
        config_file=config_file if from_file else None,
    )


def _positive_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    text = _get(env, name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < minimum:
        raise ConfigError(f"{name}={text!r} is not a whole number of at least {minimum}")
    return int(text)


def _register_dsn_password(dsn: str) -> None:
    """Teach `redact` the database password so no message can leak it, in any form."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
    except Exception:
        password = None
    if isinstance(password, str):
        register_secret(password)


def shipped_path(name: str) -> Path:
    """The copy of `queries` or `segments.yaml` that ships with usertrack."""
    for base in _SHIPPED_DIRS:
        candidate = base / name
        if candidate.exists():
            return candidate
    return _SHIPPED_DIRS[0] / name


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


def resolve_segments_file(flag: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """--segments beats USERTRACK_SEGMENTS beats ./segments.yaml beats the shipped rules."""
    env = os.environ if env is None else env
    if flag is not None:
        return flag
    if value := _get(env, "USERTRACK_SEGMENTS"):
        return Path(value).expanduser()
    local = Path.cwd() / "segments.yaml"
    if local.is_file():
        return local
    return shipped_path("segments.yaml")


def resolve_failures_file(flag: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """--failures beats USERTRACK_FAILURES beats ./failures.yaml beats the shipped rules."""
    env = os.environ if env is None else env
    if flag is not None:
        return flag
    if value := _get(env, "USERTRACK_FAILURES"):
        return Path(value).expanduser()
    local = Path.cwd() / "failures.yaml"
    if local.is_file():
        return local
    return shipped_path("failures.yaml")


def resolve_tracking_plan_file(flag: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """--plan beats USERTRACK_TRACKING_PLAN beats ./tracking-plan.yaml beats the shipped plan."""
    env = os.environ if env is None else env
    if flag is not None:
        return flag
    if value := _get(env, "USERTRACK_TRACKING_PLAN"):
        return Path(value).expanduser()
    local = Path.cwd() / "tracking-plan.yaml"
    if local.is_file():
        return local
    return shipped_path("tracking-plan.yaml")
