"""ASGI middleware of the demo server: body size limit, rate limit, security headers.

Plain ASGI callables (no per-request task as Starlette's ``BaseHTTPMiddleware`` makes), so they
run in front of FastAPI's routing and body parsing: an oversized or over-rate request is
answered before any JSON is read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sketchssl.serve.limits import RateLimiter

__all__ = ["BodySizeLimit", "RateLimit", "SecurityHeaders", "CONTENT_SECURITY_POLICY"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Everything the page loads comes from the server itself; nothing is fetched elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)


async def send_json(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with ``{"detail": detail}`` and ``status``."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """Refuse request bodies larger than ``max_bytes`` with 413, declared or streamed.

    A declared ``Content-Length`` over the limit is refused at once. Otherwise the body is read
    (at most ``max_bytes`` of it) and handed on whole, so a chunked body that grows past the limit
    is refused too, before the application parses any of it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return (
            f"request body larger than {self.max_bytes} bytes; send a smaller drawing "
            "(simplify it, or split long strokes less finely)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await send_json(send, 400, "Content-Length header is not an integer")
                return
            if size > self.max_bytes:
                await send_json(send, 413, self._too_large())
                return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await send_json(send, 413, self._too_large())
                return
            more = bool(message.get("more_body", False))
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # later calls wait for the disconnect, as usual

        await self.app(scope, replay, send)


class RateLimit:
    """429 with ``Retry-After`` for a client over its token bucket, on paths under ``prefix``."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, prefix: str = "/api/") -> None:
        self.app = app
        self.limiter = limiter
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(self.prefix):
            client = scope.get("client")
            wait = self.limiter.acquire(client[0] if client else "unknown")
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                await send_json(
                    send,
                    429,
                    f"too many requests: at most {self.limiter.limits.rate:g} per second "
                    f"(bursts of {self.limiter.limits.burst}); retry in {seconds} s",
                    [(b"retry-after", str(seconds).encode())],
                )
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Add a strict Content-Security-Policy and related headers to every HTTP response."""

    HEADERS = (
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in self.HEADERS if name not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
