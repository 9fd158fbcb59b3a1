"""A fault-injecting HTTP reverse proxy for S3 tests and benchmarks (standard library only).

Put it in front of a (moto) S3 endpoint and point the client at ``proxy.url``::

    with S3Proxy(upstream, latency=0.02, fail_first=3, status=503) as proxy:
        bucket = Bucket("s3://name", endpoint_url=proxy.url)
        ...
        proxy.requests  # [(method, path), ...] in arrival order, injected failures included
        proxy.log       # the same requests as Exchange records: Range header, status, body bytes sent

Requests are forwarded verbatim (method, path with query, every end-to-end header including
``Host``, ``Range`` and the signature, so SigV4 still matches) and bodies are streamed in both
directions (a chunked request body is re-framed with a Content-Length). The first ``fail_first``
requests that ``match`` (every request by default) are answered by the proxy itself with
``status`` and an S3 XML error (503 → ``SlowDown``, 500 → ``InternalError``) instead of being
forwarded; ``fail_first=ALWAYS`` fails every matching request. ``latency`` seconds are added
before every request is answered. :meth:`configure` re-arms the faults at run time (e.g. after a
fault-free set-up phase); :meth:`clear` forgets what was recorded. An unreachable upstream is
answered with 502.

``faults=FaultPlan(rate, seed)`` adds seeded random faults of four kinds: a 503 or a 500 answered by
the proxy, a *reset* (the request is forwarded, so a write takes effect, and the connection is then
dropped without an answer) and a *truncate* (the answer's headers announce the whole body, half of it
is sent, and the connection is closed). Whether a request is failed depends only on the seed, the
request (method, path, Range) and how often the same request was seen before, so a run is
reproducible whatever order concurrent requests arrive in; the same request is failed at most
``max_repeats`` times in a row, as a transient fault would be.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

#: ``fail_first`` value that fails every matching request.
ALWAYS = -1

_CHUNK = 64 * 1024
_HOP_BY_HOP = {
    "connection",
    "expect",  # http.server already answered "100 Continue" to the client
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
_ERROR_CODES = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "Bad gateway."),
    503: ("SlowDown", "Please reduce your request rate."),
    504: ("GatewayTimeout", "Gateway timeout."),
}

#: Decides which requests are eligible for an injected failure: ``match(method, path)``.
Matcher = Callable[[str, str], bool]

#: The kinds of random fault a :class:`FaultPlan` injects.
FAULT_KINDS = ("503", "500", "reset", "truncate")


@dataclass(frozen=True)
class FaultPlan:
    """Seeded random faults: each request fails with probability ``rate``, with one of ``kinds``."""

    rate: float
    seed: int
    kinds: tuple[str, ...] = FAULT_KINDS
    #: A request seen this many times in a row with a fault gets through the next time.
    max_repeats: int = 3

    def draw(self, method: str, path: str, byte_range: str | None, occurrence: int) -> str | None:
        """The fault for the ``occurrence``-th sighting of this request, or None to forward it. The bucket's
        name is left out of the draw: tests name their buckets at random, and a seed must mean one placement."""
        in_bucket = re.sub(r"^/[^/?]*", "", path)
        digest = hashlib.sha256(f"{self.seed}|{method}|{in_bucket}|{byte_range}|{occurrence}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.rate:
            return None
        return self.kinds[int.from_bytes(digest[8:12], "big") % len(self.kinds)]


def _UNCHANGED(method: str, path: str) -> bool:  # the "argument omitted" default of configure(match=, faults=)
    raise AssertionError("sentinel")


@dataclass
class Exchange:
    """One request as the proxy saw it, completed when its answer has been sent."""

    method: str
    path: str
    range: str | None
    status: int | None = None
    #: Response body bytes sent to the client (0 for HEAD and injected failures' headers only).
    body_bytes: int = 0
    injected: bool = False
    #: The random fault injected (a :data:`FAULT_KINDS` value), if any.
    fault: str | None = None


class S3Proxy:
    """A threaded reverse proxy on 127.0.0.1 that can delay requests and fail the first N of them."""

    ALWAYS = ALWAYS

    def __init__(
        self,
        upstream: str,
        *,
        latency: float = 0.0,
        fail_first: int = 0,
        status: int = 503,
        match: Matcher | None = None,
        faults: FaultPlan | None = None,
        timeout: float = 30.0,
    ) -> None:
        parsed = urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"{upstream}: the upstream must be an http://host:port URL")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.timeout = timeout
        #: Every request received, in arrival order: (method, path including the query string).
        self.requests: list[tuple[str, str]] = []
        #: The same requests with their Range header, answer status and body bytes sent.
        self.log: list[Exchange] = []
        #: How many requests were answered with an injected failure.
        self.failures = 0
        self._lock = threading.Lock()
        self.match: Matcher | None = None
        self.faults: FaultPlan | None = None
        #: Per request identity: how often it was seen, and how many faults in a row it has had.
        self._seen: Counter[tuple[str, str, str | None]] = Counter()
        self._repeats: Counter[tuple[str, str, str | None]] = Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.configure(latency=latency, fail_first=fail_first, status=status, match=match, faults=faults)

    # -- control ----------------------------------------------------------------------------

    def configure(
        self,
        *,
        latency: float | None = None,
        fail_first: int | None = None,
        status: int | None = None,
        match: Matcher | None = _UNCHANGED,
        faults: FaultPlan | object | None = _UNCHANGED,
    ) -> None:
        """Change the latency and/or re-arm the faults (``fail_first`` counts from now on).

        ``match=None`` makes every request eligible again, ``faults=None`` stops the random faults;
        omitted arguments keep their values.
        """
        with self._lock:
            if latency is not None:
                self.latency = latency
            if status is not None:
                if status not in _ERROR_CODES:
                    raise ValueError(f"status {status} is not one of {sorted(_ERROR_CODES)}")
                self.status = status
            if fail_first is not None:
                self.fail_first = fail_first
                self._remaining = fail_first
            if match is not _UNCHANGED:
                self.match = match
            if faults is not _UNCHANGED:
                self.faults = faults  # type: ignore[assignment]
                self._seen.clear()
                self._repeats.clear()

    def clear(self) -> None:
        """Forget the recorded requests and the failure count."""
        with self._lock:
            self.requests.clear()
            self.log.clear()
            self.failures = 0

    @property
    def bytes_out(self) -> int:
        """Response body bytes sent to clients since the last :meth:`clear`."""
        with self._lock:
            return sum(exchange.body_bytes for exchange in self.log)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        if self._server is not None:
            return self
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        server = _Server(("127.0.0.1", 0), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- used by the handler --------------------------------------------------------------

    def _admit(self, method: str, path: str, byte_range: str | None) -> tuple[Exchange, float, int | None]:
        """Record a request; return (its record, latency, status to inject or None to forward).

        A random fault other than a status is left on ``exchange.fault`` for the handler."""
        with self._lock:
            exchange = Exchange(method, path, byte_range)
            self.requests.append((method, path))
            self.log.append(exchange)
            inject = None
            eligible = self.match is None or self.match(method, path)
            if eligible and (self._remaining == ALWAYS or self._remaining > 0):
                if self._remaining > 0:
                    self._remaining -= 1
                self.failures += 1
                exchange.injected = True
                inject = self.status
            elif eligible and self.faults is not None:
                identity = (method, path, byte_range)
                fault = self.faults.draw(method, path, byte_range, self._seen[identity])
                self._seen[identity] += 1
                if fault is not None and self._repeats[identity] < self.faults.max_repeats:
                    self._repeats[identity] += 1
                    self.failures += 1
                    exchange.injected = True
                    exchange.fault = fault
                    inject = int(fault) if fault.isdigit() else None
                else:
                    self._repeats[identity] = 0
            return exchange, self.latency, inject


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up mid-answer (a cancelled read) are normal, not worth a traceback."""


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: S3Proxy
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.owner.timeout
        super().setup()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _handle(self) -> None:
        exchange, latency, inject = self.owner._admit(self.command, self.path, self.headers.get("Range"))
        if latency > 0:
            time.sleep(latency)
        if inject is not None:
            self._drain_body()
            self._send_error(inject, exchange)
            return
        self._forward(exchange)

    def _hang_up(self) -> None:
        """Drop the connection at once (a reset: no answer, or no more of it)."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    # -- request body -----------------------------------------------------------------------

    def _body_chunks(self) -> list[bytes] | None:
        """None when the body has a Content-Length (streamed later); chunked bodies are read here."""
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return None
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return chunks
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _drain_body(self) -> None:
        if self._body_chunks() is None:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                data = self.rfile.read(min(_CHUNK, remaining))
                if not data:
                    break
                remaining -= len(data)

    # -- answering --------------------------------------------------------------------------

    def _send_error(self, status: int, exchange: Exchange) -> None:
        code, message = _ERROR_CODES[status]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{self.path.split('?', 1)[0]}</Resource><RequestId>s3proxy</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        exchange.status = status
        if self.command != "HEAD":
            exchange.body_bytes = len(body)  # counted before sending: complete once the client has it
            self.wfile.write(body)

    def _send_upstream(self, upstream: http.client.HTTPConnection) -> http.client.HTTPResponse:
        """Send this request (headers, then the body streamed) upstream and wait for the answer."""
        chunks = self._body_chunks()
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                upstream.putheader(name, value)
        if chunks is not None:
            upstream.putheader("Content-Length", str(sum(len(chunk) for chunk in chunks)))
        upstream.endheaders()
        if chunks is not None:
            for chunk in chunks:
                upstream.send(chunk)
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                data = self.rfile.read(min(_CHUNK, remaining))
                if not data:
                    break
                upstream.send(data)
                remaining -= len(data)
        return upstream.getresponse()

    def _forward(self, exchange: Exchange) -> None:
        owner = self.owner
        upstream = http.client.HTTPConnection(owner.upstream_host, owner.upstream_port, timeout=owner.timeout)
        try:
            try:
                response = self._send_upstream(upstream)
            except OSError:
                # The upstream is gone or hung up: answer like a load balancer would.
                self.close_connection = True
                self._send_error(502, exchange)
                return
            has_body = self.command != "HEAD" and response.status not in (204, 304) and response.status >= 200
            length = response.getheader("Content-Length")
            if exchange.fault == "reset" or (exchange.fault == "truncate" and not (has_body and length)):
                response.read()
                self._hang_up()  # the upstream has acted on the request; its answer is lost
                return
            exchange.status = response.status
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() in _HOP_BY_HOP:
                    continue
                self.send_header(name, value)
            if has_body and length is None:
                # Unknown length: delimit the body by closing the connection.
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if has_body:
                # A truncated answer stops halfway through the announced body.
                limit = int(length) // 2 if exchange.fault == "truncate" and length else None
                while limit is None or exchange.body_bytes < limit:
                    data = response.read(_CHUNK if limit is None else min(_CHUNK, limit - exchange.body_bytes))
                    if not data:
                        break
                    exchange.body_bytes += len(data)  # counted before sending (see _send_error)
                    self.wfile.write(data)
            self.wfile.flush()
            if exchange.fault == "truncate":
                self._hang_up()
        finally:
            upstream.close()
