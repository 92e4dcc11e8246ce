"""`--anonymize`: every person shown as a stable keyed pseudonym instead of an email or a name.

A person's pseudonym is `person-` and the first 8 hex digits of HMAC-SHA256 of their normalised
email (usertrack.core.emails) under a key of this user's: the same person gets the same
pseudonym in every command and every run, and nobody without the key can tell who it is (the
email cannot be hashed again to check a guess). The key is 32 random bytes, written as hex in
`pseudonym.key` beside the user config file (`~/.config/usertrack/` on Linux, the folder of
USERTRACK_CONFIG when it is set), created 0600 on first use; it is registered as a secret
(usertrack.core.errors.redact), so no message or answer can show it.

The replacing is done on text, where an answer becomes output (`anonymize_text`): the terminal's
console, stdout and stderr, --out files, Slack messages, MCP answers, a dashboard's page. Every
email-shaped piece of text is replaced, wherever it stands (a cell, a chart's label, an error
message of the app's database quoted by `failures`). A person's name is replaced where
usertrack has read it beside their email (`learn`: a query's rows with an email and a name
column), as written raw and as JSON, HTML and Markdown escape it.

On when the global `--anonymize` is given, or USERTRACK_ANONYMIZE=1, or `anonymize = true` in
`[privacy]` of the config file (the setting is read by `usertrack.core.config`)."""

from __future__ import annotations

import contextlib
import hmac
import io
import os
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from usertrack.core.emails import normalize_email
from usertrack.core.errors import ConfigError, register_secret

KEY_FILE = "pseudonym.key"
PREFIX = "person-"

# An email-shaped run of text. The local part may hold a backslash before "_" (Markdown escapes
# an underscore at a word's edge); the domain needs a dot. Bounded repeats: linear on any text.
EMAIL_SHAPE = re.compile(
    r"(?:\\?[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]){1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?){1,8}"
)
PSEUDONYM_SHAPE = re.compile(rf"{PREFIX}[0-9a-f]{{8}}")
# Columns of a query's rows that hold a person's name (compared lower-cased).
NAME_COLUMNS = frozenset(
    {"name", "person_name", "full_name", "display_name", "first_name", "last_name", "username"}
)

MAX_NAME = 200  # a longer value of a name column is not a person's name

_lock = threading.Lock()
_on = False
# By USERTRACK_CONFIG's value ("": the platform's folder): a process may run many commands.
_keys: dict[str, bytes] = {}
_made: dict[tuple[bytes, str], str] = {}  # (key, normalised email) -> its pseudonym
_names: dict[str, str] = {}  # a name as it may be written -> its person's pseudonym
_names_pattern: re.Pattern[str] | None = None


def set_active(on: bool) -> None:
    """Turn the replacing on or off for this process (the global options, once per command)."""
    global _on
    _on = on


def active() -> bool:
    return _on


def key_path(env: dict[str, str] | None = None) -> Path:
    """`pseudonym.key` in the user's config folder: the folder of USERTRACK_CONFIG, else the
    platform's (`~/.config/usertrack`)."""
    from usertrack.core.config import default_config_file

    source = os.environ if env is None else env
    named = source.get("USERTRACK_CONFIG", "").strip()
    config = Path(named).expanduser() if named else default_config_file()
    return config.parent / KEY_FILE


def _load_key() -> bytes:
    """The key, read from its file or made there (0600, never wider, whole or not at all)."""
    named = os.environ.get("USERTRACK_CONFIG", "").strip()
    if named in _keys:
        return _keys[named]
    path = key_path()
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = _create_key(path)
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the pseudonym key: {e}") from None
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ConfigError(
            f"{path}: not a pseudonym key (64 hex digits)",
            hint="remove the file to have a new key made (pseudonyms then change)",
        )
    register_secret(text)
    _keys[named] = bytes.fromhex(text)
    return _keys[named]


def _create_key(path: Path) -> str:
    import secrets

    text = secrets.token_hex(32)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another command made it meanwhile: use theirs
        return path.read_text(encoding="ascii").strip()
    except OSError as e:
        raise ConfigError(f"{path}: cannot create the pseudonym key: {e.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text + "\n")
    return text


def pseudonym(email: str) -> str:
    """The pseudonym of the person with this email (normalised first)."""
    norm = normalize_email(email) or ""
    key = _load_key()
    made = _made.get((key, norm))
    if made is None:
        made = PREFIX + hmac.digest(key, norm.encode("utf-8"), "sha256").hex()[:8]
        if len(_made) > 1_000_000:  # a bound on memory over a long-running server
            _made.clear()
        _made[(key, norm)] = made
    return made


def looks_like_pseudonym(text: str) -> bool:
    return PSEUDONYM_SHAPE.fullmatch(text.strip().lower()) is not None


def email_of(name: str, emails: Iterable[str]) -> str | None:
    """The email among `emails` whose pseudonym is `name` (None: nobody's)."""
    wanted = name.strip().lower()
    return next((e for e in emails if e and pseudonym(e) == wanted), None)


def learn(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Remember the names of a query's rows that hold an email and a name column: each name is
    then replaced by its person's pseudonym wherever it is shown."""
    lowered = [c.lower() for c in columns]
    if "email" not in lowered:
        return
    at_email = lowered.index("email")
    at_names = [i for i, c in enumerate(lowered) if c in NAME_COLUMNS]
    if not at_names:
        return
    found: dict[str, str] = {}
    for row in rows:
        email = row[at_email]
        if not isinstance(email, str) or not email.strip():
            continue
        for i in at_names:
            name = row[i]
            if isinstance(name, str) and 2 <= len(name.strip()) <= MAX_NAME:
                found.setdefault(name.strip(), email)
    if found:
        _remember({name: pseudonym(email) for name, email in found.items()})


def _remember(names: dict[str, str]) -> None:
    import html
    import json

    from usertrack.core.style import md_text

    global _names_pattern
    with _lock:
        known = len(_names)
        for name, shown in names.items():
            for written in (
                name,
                html.escape(name),
                json.dumps(name)[1:-1],
                json.dumps(name, ensure_ascii=False)[1:-1],
                md_text(name),
            ):
                _names.setdefault(written, shown)
        if len(_names) != known:
            _names_pattern = re.compile(r"(?<!\w)" + _trie(_names) + r"(?!\w)")


def _trie(words: Iterable[str]) -> str:
    """One regex matching any of `words`, longest first, as a trie (a branch per character):
    matched at each position in the time of one name's length, not of every name's."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + pattern(child) for ch, child in node.items() if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(root)


def forget() -> None:
    """Forget the names learnt and the key read: a new command in the same process (the MCP
    server's, the tests') learns its own and reads the key file again."""
    global _names_pattern
    with _lock:
        _names.clear()
        _names_pattern = None
        _keys.clear()
        _made.clear()


def anonymize_text(text: str) -> str:
    """`text` with every email-shaped piece and every name learnt replaced by its person's
    pseudonym; as is when the replacing is off."""
    if not _on or not text:
        return text
    if "@" in text:
        text = _emails_replaced(text)
    pattern = _names_pattern
    if pattern is not None:
        text = pattern.sub(lambda m: _names.get(m.group(0), PREFIX + "unknown"), text)
    return text


def _emails_replaced(text: str) -> str:
    """Every email-shaped piece of `text` as its pseudonym. Looked for around each "@" only:
    scanning the whole text from every position costs seconds on a large answer."""
    parts: list[str] = []
    done = 0
    at = text.find("@")
    while at != -1:
        found = EMAIL_SHAPE.search(text, max(done, at - 66), at + 600)
        if found is not None and found.start() <= at < found.end():
            parts += [text[done : found.start()], pseudonym(found.group(0).replace("\\", ""))]
            done = found.end()
            at = text.find("@", done)
        else:
            at = text.find("@", at + 1)
    parts.append(text[done:])
    return "".join(parts)


def anonymize_value(value: Any) -> Any:
    """A JSON-like value with every string in it replaced as `anonymize_text` does."""
    if not _on:
        return value
    if isinstance(value, str):
        return anonymize_text(value)
    if isinstance(value, list):
        return [anonymize_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(anonymize_value(v) for v in value)
    if isinstance(value, dict):
        return {anonymize_value(k): anonymize_value(v) for k, v in value.items()}
    return value


class Anonymized(io.TextIOBase):
    """A text stream (stdout, stderr) that writes its text with people as pseudonyms
    (usertrack.core.pseudonyms), a whole line at a time: an email written in two pieces is
    still seen whole. No `buffer`: Click's echo writes to it as to any text stream."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self._held = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.inner, "encoding", None) or "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(self.inner.isatty())

    def fileno(self) -> int:
        return int(self.inner.fileno())

    def write(self, s: str) -> int:
        text = self._held + s
        end = text.rfind("\n") + 1
        self._held = text[end:]
        if end:
            self.inner.write(anonymize_text(text[:end]))
        return len(s)

    def flush(self) -> None:
        if self._held:
            held, self._held = self._held, ""
            self.inner.write(anonymize_text(held))
        self.inner.flush()

    def close(self) -> None:
        # Not the inner stream's to close; what is held is written (garbage collection too).
        with contextlib.suppress(Exception):
            self.flush()
