"""One bucket abstraction over fsspec for ``s3://bucket[/prefix]``, ``file://...`` and plain paths.

Everything the importers and the validator read or write goes through :class:`Bucket`, so that
listings are made once per prefix, reads are byte ranges (never s3fs's 50 MiB default block),
transient S3 errors are retried with backoff, and every request is counted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import urlparse

import fsspec

T = TypeVar("T")

#: Botocore/s3fs error texts that mean "try again later" rather than "this object is broken".
_TRANSIENT_MARKERS = (
    "SlowDown",
    "Throttl",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
    "502",
    "504",
    "timed out",
    "Connection reset",
    "Connection refused",
)


class StorageError(Exception):
    """A bucket operation failed; the message names the object and the problem in one line."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class ReadOnlyBucketError(StorageError):
    """A write was attempted on a bucket opened read-only (the validator never writes)."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a listing tells about one object (a bucket-wide listing holds hundreds of thousands: slots)."""

    key: str
    size: int
    etag: str


@dataclass
class IOStats:
    """Request and byte counters of one bucket, safe to update from many threads."""

    requests: Counter = field(default_factory=Counter)
    bytes_read: int = 0
    bytes_written: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, kind: str, *, read: int = 0, written: int = 0, count: int = 1) -> None:
        with self._lock:
            self.requests[kind] += count
            self.bytes_read += read
            self.bytes_written += written

    def record_retry(self) -> None:
        with self._lock:
            self.retries += 1

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "total_requests": sum(self.requests.values()),
                "bytes_read": self.bytes_read,
                "bytes_written": self.bytes_written,
                "retries": self.retries,
            }


class _TeeStats:
    """A view's counters: every request is counted in the bucket's own ``stats`` and in an account;
    everything else (the figures) is the bucket's."""

    def __init__(self, shared: IOStats, account: IOStats) -> None:
        self.shared = shared
        self.account = account

    def record(self, kind: str, *, read: int = 0, written: int = 0, count: int = 1) -> None:
        self.shared.record(kind, read=read, written=written, count=count)
        self.account.record(kind, read=read, written=written, count=count)

    def record_retry(self) -> None:
        self.shared.record_retry()
        self.account.record_retry()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shared, name)


#: How s3fs reports throttling (503 SlowDown -> EBUSY), server errors (5xx -> EREMOTEIO) and timeouts.
_TRANSIENT_ERRNOS = {errno.EBUSY, errno.EREMOTEIO, errno.ETIMEDOUT, errno.ECONNRESET}


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError):
        return False
    if isinstance(error, TimeoutError | ConnectionError):
        return True
    if isinstance(error, OSError) and error.errno in _TRANSIENT_ERRNOS:
        return True
    text = f"{type(error).__name__}: {error}"
    return any(marker in text for marker in _TRANSIENT_MARKERS)


def _describe(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError):
        return "not found"
    if isinstance(error, PermissionError):
        return "access denied"
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text


def endpoint_from_environment() -> str | None:
    """The S3 endpoint the AWS tools would use: ``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL``."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


class Bucket:
    """A bucket root: ``s3://bucket[/prefix]``, ``file:///path`` or a plain local path.

    Keys are always bucket-relative (``10001/TS_001/run_metadata.json``); the root prefix is
    never part of a key, so the same keys work whatever the root.
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        read_only: bool = False,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        concurrency: int = 64,
    ) -> None:
        self.url = url
        self.read_only = read_only
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.concurrency = concurrency
        self.stats: IOStats = IOStats()
        self._listings: dict[str, dict[str, ObjectInfo]] = {}
        self._listing_lock = threading.Lock()
        parsed = urlparse(url)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ValueError(f"{url}: an S3 URL needs a bucket name (s3://bucket[/prefix])")
            self.protocol = "s3"
            self.root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
            self.endpoint_url = endpoint_url or endpoint_from_environment()
            client_kwargs = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
            # Botocore's and s3fs's own retries are turned off: ours back off, and count every attempt.
            self.fs = fsspec.filesystem(
                "s3",
                client_kwargs=client_kwargs,
                config_kwargs={"retries": {"total_max_attempts": 1}},
                default_block_size=1 << 20,
                default_fill_cache=False,
                use_listings_cache=False,
                skip_instance_cache=True,
            )
            self.fs.retries = 1
        elif parsed.scheme in ("", "file"):
            self.protocol = "file"
            local = parsed.path if parsed.scheme == "file" else url
            self.root = str(Path(local).expanduser().resolve())
            self.endpoint_url = None
            self.fs = fsspec.filesystem("file")
        else:
            raise ValueError(f"{url}: unsupported bucket URL (use s3://, file:// or a local path)")

    # -- naming -----------------------------------------------------------------------------

    def path(self, key: str) -> str:
        """The filesystem path of a key (what fsspec understands)."""
        key = key.strip("/")
        return f"{self.root}/{key}" if key else self.root

    def url_of(self, key: str) -> str:
        """A URL for messages and for tools outside this process."""
        return f"s3://{self.path(key)}" if self.protocol == "s3" else f"file://{self.path(key)}"

    def _key_of(self, path: str) -> str:
        path = path.rstrip("/")
        if self.protocol == "file":
            path = os.path.normpath(path)
        root = self.root.rstrip("/")
        return path[len(root) :].lstrip("/") if path.startswith(root) else path

    def local_path(self, key: str) -> Path | None:
        """The local file of a key, for tools that need one (memory-mapped MRC); None on S3."""
        return Path(self.path(key)) if self.protocol == "file" else None

    def counting_into(self, account: IOStats) -> Bucket:
        """The same bucket (filesystem, cached listings, settings) whose requests also count in ``account``:
        how a caller attributes requests and bytes to its own work while other work shares the bucket."""
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__, stats=_TeeStats(self.stats, account))
        return view

    # -- the retry loop -------------------------------------------------------------------

    def _call(self, key: str, kind: str, operation: Callable[[], T]) -> T:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return operation()
            except Exception as error:
                if attempt < self.max_attempts and _is_transient(error):
                    self.stats.record_retry()
                    self.stats.record(kind)
                    delay = self.backoff_seconds * (2 ** (attempt - 1))
                    time.sleep(delay * (0.5 + random.random()))
                    continue
                raise StorageError(key, f"{kind} failed: {_describe(error)}") from error
        raise AssertionError("unreachable")  # pragma: no cover

    # -- listing ----------------------------------------------------------------------------

    def listing(self, prefix: str = "") -> dict[str, ObjectInfo]:
        """Every object under ``prefix`` (recursive), keyed by bucket key.

        A prefix is listed at most once: later calls for it, or for anything below an already
        listed prefix, are answered from memory.
        """
        prefix = prefix.strip("/")
        with self._listing_lock:
            covering = self._covering_listing(prefix)
            if covering is not None:
                return covering
        listed = self._list_uncached(prefix)
        with self._listing_lock:
            self._listings[prefix] = listed
        return listed

    def _covering_listing(self, prefix: str) -> dict[str, ObjectInfo] | None:
        if prefix in self._listings:
            return self._listings[prefix]
        for listed_prefix, objects in self._listings.items():
            if listed_prefix == "" or prefix.startswith(listed_prefix + "/"):
                start = prefix + "/" if prefix else ""
                return {key: info for key, info in objects.items() if key.startswith(start)}
        return None

    def _list_uncached(self, prefix: str) -> dict[str, ObjectInfo]:
        if self.protocol == "file":
            objects = self._call(prefix or "/", "list", lambda: self._walk_local(prefix))
            self.stats.record("list")  # a local walk is one "request" per call
            return objects
        path = self.path(prefix)

        def find() -> dict[str, Any]:
            try:
                return self.fs.find(path, detail=True)
            except FileNotFoundError:
                return {}

        found = self._call(prefix or "/", "list", find)
        self.stats.record("list", count=max(1, -(-len(found) // 1000)))  # S3 pages 1000 keys per request
        objects: dict[str, ObjectInfo] = {}
        for found_path, info in found.items():
            if info.get("type") == "directory":
                continue
            key = self._key_of(found_path)
            etag = str(info.get("ETag") or info.get("etag") or f"{info.get('mtime', '')}-{info['size']}")
            objects[key] = ObjectInfo(key=key, size=int(info["size"]), etag=etag.strip('"'))
        return objects

    def _walk_local(self, prefix: str) -> dict[str, ObjectInfo]:
        """Every file under a local prefix, by ``os.scandir`` (fsspec's walk stats each entry several
        times); the ETag stands in as modification time and size."""
        objects: dict[str, ObjectInfo] = {}
        pending = [(self.path(prefix), prefix.strip("/"))]
        while pending:
            directory, key_prefix = pending.pop()
            try:
                entries = list(os.scandir(directory))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                key = f"{key_prefix}/{entry.name}" if key_prefix else entry.name
                if entry.is_dir(follow_symlinks=True):
                    pending.append((entry.path, key))
                else:
                    info = entry.stat()
                    objects[key] = ObjectInfo(key=key, size=info.st_size, etag=f"{info.st_mtime}-{info.st_size}")
        return objects

    def seed_listing(self, prefix: str, objects: dict[str, ObjectInfo]) -> None:
        """Adopt a listing made elsewhere (another process of the same session)."""
        with self._listing_lock:
            self._listings[prefix.strip("/")] = objects

    def forget_listings(self) -> None:
        """Drop every cached listing (a bucket-wide audit holds one dataset's listing at a time)."""
        with self._listing_lock:
            self._listings.clear()

    def shallow_children(self, prefix: str = "") -> list[str]:
        """Names directly below ``prefix`` by one delimited listing, without listing what lies deeper
        (the dataset folders of a whole bucket); a missing prefix has none."""
        path = self.path(prefix)

        def ls() -> list[str]:
            try:
                return self.fs.ls(path, detail=False)
            except FileNotFoundError:
                return []

        found = self._call(prefix.strip("/") or "/", "list", ls)
        self.stats.record("list", count=max(1, -(-len(found) // 1000)) if self.protocol == "s3" else 1)
        return sorted({self._key_of(item).rsplit("/", 1)[-1] for item in found} - {""})

    def children(self, prefix: str) -> list[str]:
        """Names directly below ``prefix`` (files and 'directories'), from the cached listing."""
        prefix = prefix.strip("/")
        start = prefix + "/" if prefix else ""
        names = {key[len(start) :].split("/", 1)[0] for key in self.listing(prefix)}
        return sorted(names)

    def exists(self, key: str) -> bool:
        """Whether an object exists (answered from a covering listing when there is one)."""
        key = key.strip("/")
        with self._listing_lock:
            for listed_prefix, objects in self._listings.items():
                if listed_prefix == "" or key == listed_prefix or key.startswith(listed_prefix + "/"):
                    return key in objects or any(k.startswith(key + "/") for k in objects)
        result = self._call(key, "head", lambda: self.fs.exists(self.path(key)))
        self.stats.record("head")
        return bool(result)

    def info(self, key: str) -> ObjectInfo:
        """Size and etag of one object (one HEAD unless a listing already knows it)."""
        key = key.strip("/")
        with self._listing_lock:
            for listed_prefix, objects in self._listings.items():
                if (listed_prefix == "" or key.startswith(listed_prefix + "/")) and key in objects:
                    return objects[key]
        raw = self._call(key, "head", lambda: self.fs.info(self.path(key)))
        self.stats.record("head")
        etag = str(raw.get("ETag") or f"{raw.get('mtime', '')}-{raw['size']}").strip('"')
        return ObjectInfo(key=key, size=int(raw["size"]), etag=etag)

    # -- reading ----------------------------------------------------------------------------

    def read(self, key: str) -> bytes:
        """A whole (small) object."""
        # start=0 makes s3fs send one GET, instead of a HEAD and then ranged GETs.
        data = self._call(key, "get", lambda: self.fs.cat_file(self.path(key), start=0))
        self.stats.record("get", read=len(data))
        return data

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of an object, as one ranged GET."""
        data = self._call(key, "get", lambda: self.fs.cat_file(self.path(key), start=start, end=end))
        self.stats.record("get", read=len(data))
        return data

    def read_many(self, ranges: list[tuple[str, int | None, int | None]]) -> list[bytes | StorageError]:
        """Many reads at once, ``concurrency`` requests in flight; failures are returned, not raised.

        Each item is ``(key, start, end)``; ``None`` bounds read the whole object.
        """
        if not ranges:
            return []
        results: list[bytes | StorageError] = [b""] * len(ranges)
        if self.protocol == "s3":
            paths = [self.path(key) for key, _, _ in ranges]
            # start=0 (not None) keeps a whole read to one GET, without a HEAD for the size first.
            starts = [start or 0 for _, start, _ in ranges]
            ends = [end for _, _, end in ranges]
            raw = self.fs.cat_ranges(paths, starts, ends, on_error="return", batch_size=self.concurrency)
            self.stats.record("get", count=len(ranges))
            for index, item in enumerate(raw):
                key, start, end = ranges[index]
                if isinstance(item, BaseException):
                    try:
                        item = self._read_one(key, start, end)
                    except StorageError as error:
                        results[index] = error
                        continue
                else:
                    self.stats.record("get", read=len(item), count=0)
                results[index] = item
            return results
        for index, (key, start, end) in enumerate(ranges):
            try:
                results[index] = self._read_one(key, start, end)
            except StorageError as error:
                results[index] = error
        return results

    def _read_one(self, key: str, start: int | None, end: int | None) -> bytes:
        return self.read(key) if start is None and end is None else self.read_range(key, start or 0, end)

    def download(self, key: str, destination: Path) -> Path:
        """Stream an object to a local file (used to memory-map remote source volumes)."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        self._call(key, "get", lambda: self.fs.get_file(self.path(key), str(destination)))
        self.stats.record("get", read=destination.stat().st_size)
        return destination

    # -- writing (atomic) -------------------------------------------------------------------

    def _check_writable(self, key: str) -> None:
        if self.read_only:
            raise ReadOnlyBucketError(key, "bucket is opened read-only")

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write a whole object atomically: readers see the old object or the new one, never half."""
        self._check_writable(key)
        if self.protocol == "s3":
            extra = {"ContentType": content_type} if content_type else {}
            self._call(key, "put", lambda: self.fs.pipe_file(self.path(key), data, **extra))
        else:
            with self._local_atomic(key) as handle:
                handle.write(data)
        self.stats.record("put", written=len(data))
        self._remember(key, len(data))

    @contextlib.contextmanager
    def open_write(self, key: str, content_type: str | None = None) -> Iterator[IO[bytes]]:
        """Stream a large object; it appears under ``key`` only if the block finishes without error.

        On S3 this is a multipart upload that is aborted on error; locally a temporary file in the
        same directory that is renamed into place.
        """
        self._check_writable(key)
        if self.protocol == "s3":
            extra = {"ContentType": content_type} if content_type else {}
            handle = self.fs.open(self.path(key), "wb", block_size=16 << 20, **extra)
            counted = _CountingWriter(handle)
            try:
                yield counted
            except BaseException:
                handle.discard()
                handle.closed = True  # discarded: nothing left for close() (or __del__) to flush
                raise
            self._call(key, "put", handle.close)
        else:
            with self._local_atomic(key) as handle:
                counted = _CountingWriter(handle)
                yield counted
        self.stats.record("put", written=counted.written)
        self._remember(key, counted.written)

    @contextlib.contextmanager
    def _local_atomic(self, key: str) -> Iterator[IO[bytes]]:
        target = Path(self.path(key))
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                yield handle
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under a prefix (importers clean up interrupted writes with it)."""
        self._check_writable(prefix)
        path = self.path(prefix)
        if self._call(prefix, "head", lambda: self.fs.exists(path)):
            self._call(prefix, "delete", lambda: self.fs.rm(path, recursive=True))
            self.stats.record("delete")
        with self._listing_lock:
            for objects in self._listings.values():
                for key in [k for k in objects if k == prefix or k.startswith(prefix + "/")]:
                    del objects[key]

    def _remember(self, key: str, size: int) -> None:
        """Keep cached listings true after our own write, so writing never forces a re-listing."""
        with self._listing_lock:
            for listed_prefix, objects in self._listings.items():
                if listed_prefix == "" or key.startswith(listed_prefix + "/"):
                    objects[key] = ObjectInfo(key=key, size=size, etag="")


class _CountingWriter:
    """Counts bytes passed to a writable file object."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.written = 0

    def write(self, data: bytes | memoryview) -> int:
        self.written += len(data)
        return self._handle.write(data)
