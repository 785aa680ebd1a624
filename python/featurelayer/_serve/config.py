"""What a feature server is started with, handed to each worker process.

uvicorn starts its workers as new processes that import the app by name, so
the settings travel in one environment variable as JSON. The bearer token
never does: each worker reads it from the token file, or from the
``FEATURELAYER_SERVE_TOKEN`` variable it inherits.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .._errors import ValidationError

__all__ = ["ENV", "TOKEN_ENV", "ServeConfig"]

ENV = "FEATURELAYER_SERVE_CONFIG"
TOKEN_ENV = "FEATURELAYER_SERVE_TOKEN"


@dataclass(frozen=True)
class ServeConfig:
    """Settings of ``featurelayer serve``.

    Attributes:
        project_dir, profiles_dir, target, online_url: as for ``FeatureStore``.
        max_entities: entity rows one request may ask for (a larger request is refused, 413).
        max_body_bytes: request body size limit (413 beyond it).
        token_file: a file holding the bearer token requests must carry; None with no
            ``FEATURELAYER_SERVE_TOKEN`` either: no authentication.
        watch_seconds: how often the manifest is checked for a new build (0: never).
        store_timeout: seconds an online-store round trip may take before the request gets a 503.
        as_of: serve the rows valid at this instant (ISO 8601, naive = UTC) instead of now: for
            replays, shadow tests and benchmarks of data synced at that instant.
    """

    project_dir: str | None = None
    profiles_dir: str | None = None
    target: str | None = None
    online_url: str | None = None
    max_entities: int = 1_000
    max_body_bytes: int = 1_048_576
    token_file: str | None = None
    watch_seconds: float = 2.0
    store_timeout: float = 2.0
    as_of: str | None = None

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls) -> ServeConfig:
        raw = os.environ.get(ENV)
        return cls(**json.loads(raw)) if raw else cls()

    def token(self) -> bytes | None:
        """The bearer token requests must carry, or None.

        Raises:
            ValidationError: the token file cannot be read or is empty.
        """
        if self.token_file:
            try:
                token = Path(self.token_file).read_text().strip()
            except OSError as exc:
                raise ValidationError(f"Cannot read the token file {self.token_file}: {exc.strerror}.") from None
            if not token:
                raise ValidationError(f"The token file {self.token_file} is empty: write the token in it.")
            return token.encode()
        token = os.environ.get(TOKEN_ENV, "").strip()
        return token.encode() if token else None
