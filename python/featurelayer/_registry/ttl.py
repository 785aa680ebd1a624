"""Parses ttl strings such as ``"30d"`` or ``"1d12h"`` into whole seconds, and writes them back.

The grammar matches the dbt macro ``_parse_ttl`` (macros/internal), so the
registry and the warehouse agree on every ttl; ``tests/test_ttl.py`` runs both.
"""

from __future__ import annotations

import re

from .._errors import ValidationError

__all__ = ["format_ttl", "parse_ttl"]

_TTL = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNIT_SECONDS = (604_800, 86_400, 3_600, 60, 1)


def parse_ttl(ttl: str | int | float | None) -> int | None:
    """Returns the ttl in seconds, or None when there is none.

    Args:
        ttl: units w/d/h/m/s, largest first (``"30d"``, ``"1d12h"``); ``0``
            (or ``"0"``) or nothing for no ttl, as in Feast. A bare number
            other than 0 is refused: ``30`` read as seconds once silently
            emptied training sets that meant 30 days.

    Raises:
        ValidationError: the ttl does not parse, has no unit, or is negative.

    >>> parse_ttl("30d"), parse_ttl("1d12h"), parse_ttl("3600s"), parse_ttl(0), parse_ttl(None)
    (2592000, 129600, 3600, None, None)
    """
    if ttl is None or ttl == "":
        return None
    if isinstance(ttl, bool):
        raise ValidationError(f"ttl must be a duration such as '30d', not a boolean; got {ttl!r}")
    text = str(ttl).strip().lower()
    if isinstance(ttl, int | float) or re.fullmatch(r"[+-]?\d+(\.\d*)?", text):
        if float(text) == 0:
            return None  # no limit, as Feast reads ttl=0
        raise ValidationError(
            f"ttl {ttl!r} has no unit: write it with one, e.g. '{text}s', '{text}m', '{text}h' or '{text}d' "
            "(units w/d/h/m/s, largest first), or 0 for no ttl."
        )
    match = _TTL.match(text)
    if not text or match is None:
        raise ValidationError(
            f"ttl {ttl!r} does not parse. Write it with units w/d/h/m/s, largest first, e.g. '30d', '12h', "
            "'1d12h', '3600s', or 0 for no ttl."
        )
    seconds = sum(int(part or 0) * unit for part, unit in zip(match.groups(), _UNIT_SECONDS, strict=True))
    if seconds <= 0:
        return None  # "0s", "0d": no limit, like 0
    return seconds


def format_ttl(seconds: int | None) -> str:
    """A ttl in seconds as the largest whole unit, as people read it (``none`` for no ttl).

    >>> format_ttl(2592000), format_ttl(5400), format_ttl(61), format_ttl(None)
    ('30d', '90m', '61s', 'none')
    """
    if seconds is None:
        return "none"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
