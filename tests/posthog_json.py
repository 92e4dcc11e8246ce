"""The bytes of PostHog's JSON answers, as its API writes them (for the tests' stand-in).

PostHog's REST endpoints answer through Django REST framework with `SafeJSONRenderer`
(posthog/renderers.py, REST_FRAMEWORK's DEFAULT_RENDERER_CLASSES in posthog/settings/web.py):
`orjson.dumps(data, default=JSONEncoder().default, option=orjson.OPT_UTC_Z)`, DRF's encoder
(rest_framework/utils/encoders.py) only for what orjson cannot write itself. So an answer is
compact (no spaces after `,` and `:`), its text is UTF-8 as it is (no \\u escapes), NaN and the
infinities are `null`, a float is written as its shortest round-trip form (`1e+16`, `1e-7`), a
datetime as RFC 3339 with microseconds only when it has some and UTC as `Z`, a date as
`YYYY-MM-DD`, a Decimal as a float. The query endpoint answers this way (posthog/api/query.py
`create`: a DRF Response of the runner's model, dumped in Python mode, so its datetimes are
datetime objects until here).

A query's status (`GET query/{id}/`, posthog/api/query.py `retrieve`) is Django's own
JsonResponse instead: `json.dumps` with DjangoJSONEncoder, its default separators and \\u escapes;
its results were stored as JSON when the query ended, so they hold no datetime object.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any


def _drf_default(value: Any) -> Any:
    """DRF's JSONEncoder.default for the values an answer can hold that orjson does not write."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, set | frozenset):
        return tuple(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def render(payload: Any) -> bytes:
    """An answer of PostHog's REST API: posthog/renderers.py SafeJSONRenderer."""
    import orjson

    return orjson.dumps(payload, default=_drf_default, option=orjson.OPT_UTC_Z)


def render_status(payload: Any) -> bytes:
    """A query status answer: Django's JsonResponse (json.dumps, its default separators)."""
    return json.dumps(payload).encode()
