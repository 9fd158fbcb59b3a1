"""Progress of long work on a stream (stderr): one live line on a terminal, plain periodic lines otherwise.

A terminal gets a line rewritten in place a few times a second; a log or a CI console gets a plain line
every ``$CRYOET_PROGRESS_SECONDS`` (default 10), so that a long silent stretch never looks like a hang and
the log stays short. Work that ends before the first line is due shows nothing. The total may grow as work
is found (runs found dataset by dataset); the ETA is the remaining count at the rate so far.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from typing import TextIO

#: Seconds between plain lines when the stream is not a terminal ($CRYOET_PROGRESS_SECONDS, default 10).
PLAIN_INTERVAL = 10.0
#: Seconds between rewrites of the live line, and before the first one.
LIVE_INTERVAL = 0.2


def plain_interval() -> float:
    """Seconds between plain lines: ``$CRYOET_PROGRESS_SECONDS``, else PLAIN_INTERVAL."""
    try:
        return float(os.environ.get("CRYOET_PROGRESS_SECONDS", PLAIN_INTERVAL))
    except ValueError:
        return PLAIN_INTERVAL


def format_bytes(count: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count:.0f} B"


def format_seconds(seconds: float) -> str:
    return str(dt.timedelta(seconds=round(seconds)))


class Progress:
    """``label: done/total unit · bytes (rate) · rate unit/s · ETA``, shown by a ticker thread (a long step
    shows its bytes growing); thread-safe; silent without a stream. ``close()`` stops it."""

    def __init__(
        self,
        label: str,
        unit: str,
        stream: TextIO | None,
        *,
        total: int = 0,
        bytes_done: Callable[[], int] | None = None,
        interval: float | None = None,
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream
        self.total = total
        self.done = 0
        self.bytes_done = bytes_done
        self.live = bool(stream is not None and stream.isatty())
        self.interval = LIVE_INTERVAL if self.live else plain_interval() if interval is None else interval
        self.started = time.monotonic()
        self._shown = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if stream is not None:
            self._ticker = threading.Thread(target=self._tick, name=f"{label} progress", daemon=True)
            self._ticker.start()

    def grow(self, count: int) -> None:
        """More work found."""
        with self._lock:
            self.total += count

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self.done += count

    def text(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        parts = [f"{self.done}/{self.total} {self.unit}" if self.total else f"{self.done} {self.unit}"]
        if self.bytes_done is not None:
            count = self.bytes_done()
            parts.append(f"{format_bytes(count)} ({format_bytes(count / elapsed)}/s)")
        parts.append(f"{self.done / elapsed:.1f} {self.unit}/s")
        if self.total > self.done > 0:
            parts.append(f"ETA {format_seconds(elapsed / self.done * (self.total - self.done))}")
        return f"{self.label}: {' · '.join(parts)}"

    def note(self, text: str) -> None:
        """A line of its own (a finished step), above the live line."""
        with self._lock:
            if self.stream is not None:
                self._clear()
                self.stream.write(text + "\n")
                self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop showing, and take the live line away (the caller prints its own summary)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            if self.stream is not None:
                self._clear()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                self._shown = True
                self.stream.write(f"\r\033[K{self.text()}" if self.live else self.text() + "\n")
                self.stream.flush()

    def _clear(self) -> None:
        if self.live and self._shown:
            self.stream.write("\r\033[K")
            self._shown = False
