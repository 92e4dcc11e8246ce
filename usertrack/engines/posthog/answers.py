"""A query answer's JSON read with its rows handed over one at a time, as they are read.

`json.loads` of a large answer makes every value of it a Python object at once, beside the
body it reads: at 200,000 users the weekly dashboard's bundles answer up to 140 MB of JSON,
which became 550 MB of Python values before a row of it was converted to Arrow (and as much
again in copies while it was). `loads` here gives the same values as `json.loads` for
everything but the rows: the body's bytes are decoded a window at a time (never a second copy
of the whole text), objects are walked key by key, and the array under each `results` key (the
rows, whether the answer is the query's own or an async `query_status` holding it) is read one
element at a time into what `rows()` makes, which keeps what it needs of each (usertrack.engines.
posthog.bundle `Gathered`: each part's rows as Arrow pieces) and is put in the array's place.
Each element is read by the json module's own decoder (`raw_decode`), so every value is what
`json.loads` gives; a body that is not UTF-8 JSON is left to `json.loads`."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from typing import Any, Protocol

# Bytes decoded at a time: an element longer than a window is read from a window twice as long.
WINDOW = 1 << 20
_SPACE = " \t\n\r"  # JSON's whitespace
_OBJECT = re.compile(rb"[ \t\n\r]*\{")


class Rows(Protocol):
    """What reads a `results` array: each element in order, then the array's place in the
    body (bytes `start` to `end`, its brackets included)."""

    def add(self, row: Any) -> None: ...

    def __len__(self) -> int: ...

    def close(self, body: bytes, start: int, end: int) -> None: ...


def readable(body: bytes) -> bool:
    """Whether `loads` reads `body`: UTF-8 (as json.loads detects it) and an object."""
    return json.detect_encoding(body[:4]) == "utf-8" and _OBJECT.match(body) is not None


def loads(body: bytes, rows: Callable[[], Rows], *, window: int = WINDOW) -> Any:
    """`json.loads(body)`, but each array under a `results` key read into a new `rows()`,
    which is put in its place. Raises ValueError (json.JSONDecodeError) where json.loads
    would."""
    cursor = _Cursor(body, window)
    found = _walk(cursor, rows, None)
    if cursor.peek():
        raise json.JSONDecodeError("Extra data", cursor.text, cursor.at)
    return found


def _walk(cursor: _Cursor, rows: Callable[[], Rows], key: str | None) -> Any:
    first = cursor.peek()
    if first == "{":
        cursor.at += 1
        out: dict[str, Any] = {}
        if cursor.peek() == "}":
            cursor.at += 1
            return out
        while True:
            name = cursor.value()
            if not isinstance(name, str):
                raise json.JSONDecodeError("Expecting property name", cursor.text, cursor.at)
            cursor.take(":")
            out[name] = _walk(cursor, rows, name)
            if cursor.take(",}") == "}":
                return out
    if first == "[" and key == "results":
        reader = rows()
        start = cursor.offset()
        cursor.at += 1
        if cursor.peek() == "]":
            cursor.at += 1
        else:
            while True:
                reader.add(cursor.value())
                if cursor.take(",]") == "]":
                    break
        reader.close(cursor.body, start, cursor.offset())
        return reader
    return cursor.value()


class _Cursor:
    """A place in the body, over a window of it decoded."""

    def __init__(self, body: bytes, window: int) -> None:
        self.body = body
        self.window = max(16, window)
        self._decoder = json.JSONDecoder()
        self._load(0, self.window)

    def _load(self, start: int, size: int) -> None:
        end = min(len(self.body), start + size)
        self.final = end >= len(self.body)
        # as json.loads decodes: UTF-8, surrogates let through; a character cut at the
        # window's end is left for the next window
        decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
        self.text = decoder.decode(self.body[start:end], final=self.final)
        self.ascii = self.text.isascii()
        self.start, self.size, self.at = start, end - start, 0

    def offset(self) -> int:
        """The byte of the body the cursor is at."""
        if self.ascii:
            return self.start + self.at
        return self.start + len(self.text[: self.at].encode("utf-8", "surrogatepass"))

    def _more(self) -> None:
        """The window moved to start at the cursor; twice as long when it started there."""
        grow = self.at == 0
        self._load(self.offset(), self.size * 2 if grow else max(self.window, self.size))

    def peek(self) -> str:
        """The next character that is not whitespace; '' at the end of the body."""
        while True:
            text, at = self.text, self.at
            while at < len(text) and text[at] in _SPACE:
                at += 1
            self.at = at
            if at < len(text):
                return text[at]
            if self.final:
                return ""
            self._more()

    def take(self, chars: str) -> str:
        """The next character, one of `chars`, stepped over."""
        found = self.peek()
        if not found or found not in chars:
            raise json.JSONDecodeError(f"Expecting one of {chars!r}", self.text, self.at)
        self.at += 1
        return found

    def value(self) -> Any:
        """The JSON value at the cursor, read by json's own decoder, and the cursor after it."""
        self.peek()
        while True:
            try:
                found, end = self._decoder.raw_decode(self.text, self.at)
            except json.JSONDecodeError:
                if self.final:
                    raise
                self._more()  # cut at the window's end, or wrong: a longer window tells
                continue
            if end < len(self.text) or self.final:
                self.at = end
                return found
            self._more()  # a number or word that ends the window may go on past it
