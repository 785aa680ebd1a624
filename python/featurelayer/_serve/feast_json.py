"""The JSON of Feast's feature server, read and written.

A request, as ``feast serve`` takes it::

    {"features": ["user_activity:daily_transactions"], "entities": {"user_id": [1, 2]},
     "full_feature_names": false}

or ``"feature_service": "name"`` instead of ``features``. Request data for
transforms may come inside ``entities``, as Feast takes it, or in a
``request_data`` object. The response has Feast's shape: one result per
column (the request's join keys, then each feature), each with a value, a
status and an event timestamp per entity row::

    {"metadata": {"feature_names": ["user_id", "daily_transactions"]},
     "results": [{"values": [1, 2], "statuses": ["PRESENT", "PRESENT"],
                  "event_timestamps": ["1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]}, ...]}

Statuses use Feast's names (``NULL_VALUE`` for null, ``OUTSIDE_MAX_AGE`` for
expired). Where there is no row, and for join keys and transform outputs, the
event timestamp is the epoch, as Feast writes it.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from .._errors import ValidationError, shown
from .._online.codec import EXPIRED, FOUND, NOT_FOUND

if TYPE_CHECKING:
    from .._online.response import OnlineResponse

__all__ = [
    "FeaturesRequest",
    "PushRequest",
    "RequestTooLarge",
    "parse_features_request",
    "parse_push_request",
    "render_response",
]


class RequestTooLarge(ValidationError):
    """More than the server takes in one request (HTTP 413)."""


@dataclass(frozen=True)
class FeaturesRequest:
    """A parsed ``/get-online-features`` body: a service name or feature references."""

    features: str | tuple[str, ...]
    entities: dict[str, list[Any]]
    request_data: dict[str, list[Any]]
    full_feature_names: bool
    rows: int


def parse_features_request(body: bytes, max_entities: int) -> FeaturesRequest:
    """The request in ``body``; every way it can be wrong is a ``ValidationError`` that says how.

    >>> parse_features_request(b'{"features": ["v:f"], "entities": {"id": [1, 2]}}', 10).rows
    2
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"The request body is not JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ValidationError('The request body must be a JSON object: {"features": [...], "entities": {...}}.')
    features = data.get("features")
    service = data.get("feature_service")
    if (features is None) == (service is None):
        raise ValidationError(
            'Give either "features" (a list of "view:feature" references) or "feature_service" (a name), not '
            + ("both." if features is not None else "neither.")
        )
    if service is not None and not isinstance(service, str):
        raise ValidationError(f'"feature_service" must be a name (a string); got {shown(service)}.')
    if features is not None and (
        not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features)
    ):
        raise ValidationError('"features" must be a non-empty list of "view:feature" strings.')
    entities = _columns(data.get("entities"), "entities", required=True)
    request_data = _columns(data.get("request_data"), "request_data", required=False)
    lengths = {len(v) for v in (*entities.values(), *request_data.values())}
    if len(lengths) > 1:
        sizes = {k: len(v) for k, v in (*entities.items(), *request_data.items())}
        raise ValidationError(f"Every entity and request_data column needs the same number of values; got {sizes}.")
    rows = lengths.pop() if lengths else 0
    if rows > max_entities:
        raise RequestTooLarge(
            f"The request asks for {rows} entity rows; this server takes at most {max_entities} per request "
            "(featurelayer serve --max-entities). Split it."
        )
    full = data.get("full_feature_names", False)
    if not isinstance(full, bool):
        raise ValidationError(f'"full_feature_names" must be true or false; got {shown(full)}.')
    chosen: str | tuple[str, ...] = service if service is not None else tuple(features or ())
    return FeaturesRequest(chosen, entities, request_data, full, rows)


def _columns(value: Any, name: str, *, required: bool) -> dict[str, list[Any]]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or (required and not value):
        raise ValidationError(f'"{name}" must be an object of columns, such as {{"user_id": [1, 2]}}.')
    for key, column in value.items():
        if not isinstance(column, list):
            raise ValidationError(f'"{name}"[{shown(key)}] must be a list of values, one per entity row.')
        if set(map(type, column)) & {dict, list}:
            raise ValidationError(f'"{name}"[{shown(key)}] holds an object or a list; give plain values.')
    return value


@dataclass(frozen=True)
class PushRequest:
    """A parsed ``/push`` body, as Feast's server takes it: ``{"push_source_name", "df", "to"}``."""

    source: str
    rows: dict[str, list[Any]]
    to: str


def parse_push_request(body: bytes, max_rows: int) -> PushRequest:
    """The push in ``body``; every way it can be wrong is a ``ValidationError`` that says how.

    >>> parse_push_request(b'{"push_source_name": "s", "df": {"id": [1], "t": ["2026-01-01"]}}', 10).to
    'online'
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"The request body is not JSON: {exc}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("push_source_name"), str):
        raise ValidationError('A push is {"push_source_name": "<name>", "df": {"<column>": [values], ...}}.')
    rows = _columns(data.get("df"), "df", required=True)
    lengths = {len(v) for v in rows.values()}
    if len(lengths) > 1:
        raise ValidationError(
            f'Every "df" column needs the same number of values; got { {k: len(v) for k, v in rows.items()} }.'
        )
    if lengths and lengths.pop() > max_rows:
        raise RequestTooLarge(f"The push has more than {max_rows} rows, the most this server takes (--max-entities).")
    to = data.get("to", "online")
    if not isinstance(to, str):
        raise ValidationError(f'"to" must be "online", "offline" or "online_and_offline"; got {shown(to)}.')
    return PushRequest(data["push_source_name"], rows, to)


_EPOCH = "1970-01-01T00:00:00Z"
_EPOCH_TIME = dt.datetime(1970, 1, 1)
#: decode_rows' states of a row not in force, as Feast names them (a row in force: by its value)
_NOT_IN_FORCE = {NOT_FOUND: "NOT_FOUND", EXPIRED: "OUTSIDE_MAX_AGE"}
_STAMPS: dict[int, str] = {}  # event µs -> its RFC 3339 text: a view's rows share few instants


def render_response(response: OnlineResponse, join_keys: Sequence[str], view_of: Mapping[str, str]) -> bytes:
    """The response as Feast's JSON: the join keys, then every feature and transform output.

    ``view_of`` maps a feature column to its view, whose columns share one row
    per entity: their states and event timestamps are worked out once per view.
    """
    values = response.python_columns()
    features = response.feature_columns
    results: list[dict[str, Any]] = []
    n = len(values[join_keys[0]]) if join_keys else 0
    for key in join_keys:
        results.append({"values": values[key], "statuses": _all_present(n), "event_timestamps": _epochs(n)})
    # a view's columns share their rows: states and event timestamps are written once per view, and the
    # lists every column of a request repeats (all PRESENT, all the epoch) once per size (orjson fragments)
    per_view: dict[str, tuple[list[str | None] | None, orjson.Fragment]] = {}
    for name in features:
        column = values[name]
        view = view_of.get(name)
        shared = per_view.get(view) if view is not None else None
        if shared is None:
            events = response.event_micros(name)
            stamps = _epochs(len(column)) if events is None else orjson.Fragment(orjson.dumps(_stamps(events)))
            shared = _row_statuses(response.row_states(name)), stamps
            if view is not None:
                per_view[view] = shared
        in_force, stamps = shared
        statuses: Any
        if in_force is None:  # every row in force: the value decides
            statuses = _all_present(len(column)) if None not in column else [_by_value(v) for v in column]
        else:
            statuses = [s or _by_value(v) for s, v in zip(in_force, column, strict=True)]
        results.append({"values": column, "statuses": statuses, "event_timestamps": stamps})
    names = [*join_keys, *features]
    return orjson.dumps(
        {"metadata": {"feature_names": names}, "results": results},
        default=_json_default,
        option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY,
    )


@functools.lru_cache(maxsize=1024)
def _all_present(n: int) -> orjson.Fragment:
    return orjson.Fragment(orjson.dumps(["PRESENT"] * n))


@functools.lru_cache(maxsize=1024)
def _epochs(n: int) -> orjson.Fragment:
    return orjson.Fragment(orjson.dumps([_EPOCH] * n))


def _by_value(value: Any) -> str:
    return "NULL_VALUE" if value is None else "PRESENT"


def _row_statuses(states: list[int] | None) -> list[str | None] | None:
    """Per row, the status of a row not in force, None for one in force; None when all are in force."""
    if states is None or states.count(FOUND) == len(states):
        return None
    return [_NOT_IN_FORCE.get(state) for state in states]


def _stamps(events: list[int | None]) -> list[str]:
    out: list[str | None] = list(map(_STAMPS.get, events))  # type: ignore[arg-type]  # (one C-level pass)
    if None in out:
        for i, event in enumerate(events):
            if out[i] is None:
                out[i] = _EPOCH if event is None else _stamp(event)
    return out  # type: ignore[return-value]


def _stamp(event: int) -> str:
    """RFC 3339 text of an instant in µs, as protobuf's JSON writes it (0, 3 or 6 fractional digits).

    Instants that many rows share (a daily batch's midnight) are kept, up to a
    bound; past it the text is worked out each time, never the whole cache
    dropped at once: a view with an instant per entity would otherwise empty it
    again and again, and every request after would pay for the misses together.
    """
    day, rest = divmod(event, _DAY_US)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = (_EPOCH_TIME + dt.timedelta(days=day)).date().isoformat() + "T"  # (strftime drops year zeros)
        if len(_DAYS) < 100_000:
            _DAYS[day] = prefix
    seconds, micros = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    # protobuf's JSON of a Timestamp, as Feast writes it: 0, 3 or 6 fractional digits
    fraction = "" if not micros else f".{micros // 1000:03d}" if micros % 1000 == 0 else f".{micros:06d}"
    text = f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}{fraction}Z"
    if len(_STAMPS) < 100_000:
        _STAMPS[event] = text
    return text


_DAY_US = 86_400_000_000
_DAYS: dict[int, str] = {}  # day number -> "YYYY-MM-DDT" (a day's worth of instants shares it)


def _json_default(value: Any) -> Any:
    """What orjson does not write itself: decimals as exact strings, bytes as base64 (as protobuf's JSON)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
