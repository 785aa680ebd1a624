"""Feast's JSON, read and written without a server: the instants' text against datetime's own."""

from __future__ import annotations

import datetime as dt

from hypothesis import example, given
from hypothesis import strategies as st

from featurelayer._serve.feast_json import _stamp, _stamps

EPOCH = dt.datetime(1970, 1, 1)


@given(st.integers(-(2**55), 2**57))
@example(-(2**55))  # a year below 1000: four digits all the same
@example(86_400_000_000 - 1)
def test_an_instant_is_written_as_datetime_writes_it(event: int) -> None:
    expected = (EPOCH + dt.timedelta(microseconds=event)).isoformat() + "Z"
    assert _stamp(event) == expected
    assert _stamp(event) == expected  # (and again, from the cache)


def test_no_row_is_the_epoch_as_in_feast() -> None:
    assert _stamps([None, 0, 1_500_000]) == [
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:01.500Z",
    ]
