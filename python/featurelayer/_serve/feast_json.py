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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from .._errors import ValidationError, shown
from .._online.response import FieldStatus

if TYPE_CHECKING:
    from .._online.response import OnlineResponse

__all__ = ["FeaturesRequest", "RequestTooLarge", "parse_features_request", "render_response"]


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
        if any(isinstance(v, dict | list) for v in column):
            raise ValidationError(f'"{name}"[{shown(key)}] holds an object or a list; give plain values.')
    return value


_FEAST_STATUS = {
    FieldStatus.PRESENT: "PRESENT",
    FieldStatus.NULL: "NULL_VALUE",
    FieldStatus.NOT_FOUND: "NOT_FOUND",
    FieldStatus.EXPIRED: "OUTSIDE_MAX_AGE",
}
_EPOCH = "1970-01-01T00:00:00Z"
_EPOCH_TIME = dt.datetime(1970, 1, 1)


def render_response(response: OnlineResponse, join_keys: Sequence[str]) -> bytes:
    """The response as Feast's JSON: the join keys, then every feature and transform output."""
    values = response.to_dict()
    names = [*join_keys, *response.statuses]
    statuses = response.statuses
    results: list[dict[str, Any]] = []
    for key in join_keys:
        column = values[key]
        results.append(
            {"values": column, "statuses": ["PRESENT"] * len(column), "event_timestamps": [_EPOCH] * len(column)}
        )
    for name, column_statuses in statuses.items():
        events = response.event_micros(name)
        stamps: list[Any] = (
            [_EPOCH] * len(column_statuses)
            if events is None
            else [_EPOCH_TIME if e is None else _EPOCH_TIME + dt.timedelta(microseconds=e) for e in events]
        )
        results.append(
            {
                "values": values[name],
                "statuses": [_FEAST_STATUS[s] for s in column_statuses],
                "event_timestamps": stamps,
            }
        )
    return orjson.dumps(
        {"metadata": {"feature_names": names}, "results": results},
        default=_json_default,
        option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY,
    )


def _json_default(value: Any) -> Any:
    """What orjson does not write itself: decimals as exact strings, bytes as base64 (as protobuf's JSON)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
