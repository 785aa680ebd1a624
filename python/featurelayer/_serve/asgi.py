"""The little of HTTP the feature server needs, on the bare ASGI interface.

Measured on one core (benchmarks/serve.py), Starlette's request objects and
routing took as long as everything else a one-row request does; the server
needs only a route table of exact paths, the headers, a size-limited body and
a bytes answer. uvicorn does the HTTP itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["Answer", "Request", "Route", "respond"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Answer(NamedTuple):
    status: int
    body: bytes
    content_type: bytes = b"application/json"


class BodyTooLarge(Exception):
    """The body passed the server's limit (the message says by how much)."""


class Request:
    """One HTTP request: its headers (lower-case names) and, on demand, its body."""

    __slots__ = ("_receive", "headers", "method", "path")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: Mapping[bytes, bytes] = dict(scope["headers"])
        self._receive = receive

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    async def body(self, limit: int) -> bytes:
        """The whole body; ``BodyTooLarge`` past ``limit`` bytes, checked before reading where it is declared."""
        declared = self.headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"The request body has {int(declared)} bytes; this server takes at most {limit}.")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"The request body has more than {limit} bytes, the most this server takes.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


@dataclass(frozen=True)
class Route:
    """One endpoint: its path, method, handler (called with the request and the app), name in the metrics,
    and whether it needs the token."""

    path: str
    method: str
    handler: Callable[[Request, Any], Awaitable[Answer]]
    name: str
    auth: bool = True


async def respond(send: Send, answer: Answer) -> None:
    headers = [(b"content-type", answer.content_type), (b"content-length", str(len(answer.body)).encode())]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
