"""Which storage errors mean "try again": decided by exception type, HTTP status and S3 error code.

Never by the message text: a permanent error whose message happens to hold ``500`` or ``timed out``
(a key such as ``10500/…``) must fail at once, and a transient one must be retried whatever its
wording. s3fs turns botocore's ``ClientError`` into an ``OSError`` and keeps the original as the
cause, so the whole cause chain is looked at, and a ``ClientError`` anywhere in it decides alone.
"""

from __future__ import annotations

import asyncio
import errno
import http.client
from functools import cache


class ShortRead(Exception):
    """A body or a range that arrived shorter (or longer) than its known length: a cut answer."""


#: HTTP statuses that say "not now": timeout, throttling, server errors.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: S3 error codes with the same meaning (some come with a 400 or 403 status).
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
    }
)


@cache
def transient_types() -> tuple[type[BaseException], ...]:
    """Connections refused, dropped, cut or timed out, and answers that arrived incomplete (imported on
    first use: a command that never touches S3 does not load botocore and aiohttp)."""
    import aiohttp
    from botocore.exceptions import (
        ChecksumError,
        FlexibleChecksumError,
        HTTPClientError,
        IncompleteReadError,
    )
    from botocore.exceptions import ConnectionError as BotocoreConnectionError
    from botocore.parsers import ResponseParserError

    return (
        ShortRead,
        ConnectionError,
        TimeoutError,
        asyncio.TimeoutError,
        http.client.IncompleteRead,
        aiohttp.ClientPayloadError,
        aiohttp.ClientConnectionError,
        HTTPClientError,  # botocore: ConnectionClosedError, ReadTimeoutError, ResponseStreamingError
        BotocoreConnectionError,  # botocore: EndpointConnectionError, ConnectTimeoutError
        IncompleteReadError,
        ResponseParserError,  # a cut XML answer (a listing page)
        ChecksumError,
        FlexibleChecksumError,
    )


#: Errors that no retry can mend.
PERMANENT_TYPES: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
#: How an ``OSError`` without a cause says "busy", "remote I/O error" (s3fs: 503, 5xx), "reset", "timed out".
TRANSIENT_ERRNOS = frozenset({errno.EBUSY, errno.EREMOTEIO, errno.ECONNRESET, errno.ETIMEDOUT, errno.EPIPE})


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 16:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _client_error_response(error: BaseException) -> dict | None:
    """The parsed answer of a botocore ``ClientError`` (the only errors that carry one)."""
    response = getattr(error, "response", None)
    return response if isinstance(response, dict) and "Error" in response else None


def is_transient(error: BaseException) -> bool:
    """Whether retrying the operation that raised ``error`` may succeed."""
    chain = _chain(error)
    for link in chain:
        if (response := _client_error_response(link)) is not None:
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            return status in TRANSIENT_STATUSES or (response.get("Error") or {}).get("Code") in TRANSIENT_CODES
    for link in chain:
        if isinstance(link, PERMANENT_TYPES):
            return False
        if isinstance(link, transient_types()):
            return True
    return isinstance(error, OSError) and error.errno in TRANSIENT_ERRNOS
