"""One bucket abstraction over fsspec for ``s3://bucket[/prefix]``, ``file://...`` and plain paths.

Everything the importers and the validator read or write goes through :class:`Bucket`, so that
listings are made once per prefix, reads are byte ranges (never s3fs's 50 MiB default block),
transient S3 errors are retried with backoff (``importers.transient`` says which are), a short read
is retried rather than returned, every write lands whole and verified or raises, no key leads outside
the bucket root, and every request is counted.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import random
import re
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypeVar
from urllib.parse import urlparse

import fsspec

from importers.transient import ShortRead, is_transient

T = TypeVar("T")
#: First wait before a retry (doubled at each attempt, jittered); fault-injection tests shorten it.
DEFAULT_BACKOFF_SECONDS = 0.2
#: Bytes per part of a multipart upload (``sync`` predicts multipart ETags from it).
PART_SIZE = 16 << 20
#: Name of a temporary file of a local write: ``.{name}.{host}-{pid}-{random}.partial`` beside its target.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<host>[^./]*)-(?P<pid>\d+)-[0-9a-f]+\.partial$")


class _RangedObject(io.RawIOBase):
    """The raw, seekable stream under :meth:`Bucket.open_read`: each read is one ranged read of the bucket."""

    def __init__(self, bucket: Bucket, key: str, size: int) -> None:
        self._bucket, self._key, self._size, self._position = bucket, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        end = min(self._position + len(buffer), self._size)
        if end <= self._position:
            return 0
        data = self._bucket.read_range(self._key, self._position, end)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


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


#: Set to 1 (true, yes): read S3 with unsigned requests, as ``--anon`` asks.
ANONYMOUS_VARIABLE = "CRYOET_S3_ANON"
#: What a reader's ``anonymous`` may be: unsigned requests (True), signed ones (False), or "auto": signed when
#: AWS credentials are found, else unsigned (public data), saying so once.
AUTO: Literal["auto"] = "auto"
Access = bool | Literal["auto"]


def reading_access(anon_option: bool) -> Access:
    """How a command that only reads a bucket signs its requests: unsigned with ``--anon`` or
    ``$CRYOET_S3_ANON``, else :data:`AUTO`."""
    flag = os.environ.get(ANONYMOUS_VARIABLE, "").strip().lower() in ("1", "true", "yes")
    return True if anon_option or flag else AUTO


def credentials_found() -> bool:
    """Whether the AWS credential chain finds credentials (environment, ~/.aws files, SSO, an instance or
    container role), as s3fs's signed requests would."""
    import botocore.session  # s3fs's own dependency; imported only when an S3 bucket is opened

    return botocore.session.Session().get_credentials() is not None


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
        anonymous: Access = False,
        max_attempts: int = 5,
        backoff_seconds: float | None = None,
        concurrency: int = 64,
    ) -> None:
        self.url = url
        self.read_only = read_only
        self.max_attempts = max_attempts
        self.backoff_seconds = DEFAULT_BACKOFF_SECONDS if backoff_seconds is None else backoff_seconds
        self.concurrency = concurrency
        self.stats: IOStats = IOStats()
        self._listings: dict[str, dict[str, ObjectInfo]] = {}
        self._listing_lock = threading.Lock()
        #: Whether S3 requests go unsigned (public data, no credentials); ``notice`` says why when it was not asked.
        self.anonymous = False
        self.notice: str | None = None
        parsed = urlparse(url)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ValueError(f"{url}: an S3 URL needs a bucket name (s3://bucket[/prefix])")
            self.protocol = "s3"
            self.root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
            self.endpoint_url = endpoint_url or endpoint_from_environment()
            self.anonymous = self._unsigned(url, anonymous)
            client_kwargs = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
            # Botocore's and s3fs's own retries are turned off: ours back off, and count every attempt.
            self.fs = fsspec.filesystem(
                "s3",
                anon=self.anonymous,
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

    def _unsigned(self, url: str, anonymous: Access) -> bool:
        """Whether requests go unsigned; a bucket written to, or read with signed requests only, needs
        credentials, and their absence is a one-line error here rather than at the first request."""
        if anonymous is True and not self.read_only:
            raise ValueError(f"{url}: unsigned requests (--anon) only read; writing needs AWS credentials")
        if anonymous is True:
            return True
        if credentials_found():
            return False
        if anonymous == AUTO and self.read_only:
            self.notice = f"no AWS credentials found: reading {url} with unsigned requests (public data only)"
            return True
        purpose = "writing to it" if not self.read_only else "this command, which reads it with signed requests,"
        raise ValueError(
            f"{url}: no AWS credentials found (environment, ~/.aws, an instance role), and {purpose} needs them"
        )

    # -- naming -----------------------------------------------------------------------------

    def _joined(self, key: str) -> str:
        key = key.strip("/")
        return f"{self.root}/{key}" if key else self.root

    def path(self, key: str) -> str:
        """The filesystem path of a key (what fsspec understands).

        A key with a ``..`` segment is refused on every protocol: on a local bucket it would lead out
        of the root (``../../etc/passwd``), and S3 would take it literally, so refusing it everywhere
        keeps a local folder and a bucket alike."""
        if ".." in key.split("/"):
            raise StorageError(key, "the path leads outside the bucket root ('..')")
        return self._joined(key)

    def url_of(self, key: str) -> str:
        """A URL for messages and for tools outside this process."""
        return f"s3://{self._joined(key)}" if self.protocol == "s3" else f"file://{self._joined(key)}"

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
            except StorageError:
                raise
            except Exception as error:
                if attempt < self.max_attempts and is_transient(error):
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
        known = self._listed(key)
        return known if known is not None else self.info_uncached(key)

    def info_uncached(self, key: str) -> ObjectInfo:
        """Size and etag of one object as the storage has it now (one HEAD)."""
        key = key.strip("/")
        raw = self._call(key, "head", lambda: self.fs.info(self.path(key)))
        self.stats.record("head")
        etag = str(raw.get("ETag") or f"{raw.get('mtime', '')}-{raw['size']}").strip('"')
        return ObjectInfo(key=key, size=int(raw["size"]), etag=etag)

    # -- reading ----------------------------------------------------------------------------

    def _listed(self, key: str) -> ObjectInfo | None:
        """What a cached listing says of ``key``, if any listing holds it. Read without the listing lock, on
        every read of every check (16 threads queued on it): copying the dict's items and one look-up are each
        atomic under the GIL, and a listing is only ever changed one key at a time."""
        for listed_prefix, objects in tuple(self._listings.items()):
            if listed_prefix == "" or key.startswith(listed_prefix + "/"):
                found = objects.get(key)
                if found is not None:
                    return found
        return None

    def _known_size(self, key: str) -> int | None:
        """The size a cached listing gives for ``key``, if any listing covers it."""
        known = self._listed(key)
        return None if known is None else known.size

    def _expected_length(self, key: str, start: int | None, end: int | None) -> int | None:
        """How many bytes a read of ``[start, end)`` must return, when that is known."""
        size = self._known_size(key.strip("/"))
        start = start or 0
        if end is None:
            return None if size is None else max(0, size - start)
        return end - start if size is None else max(0, min(end, size) - start)

    def _verified(self, key: str, data: bytes, start: int | None, end: int | None) -> bytes:
        """``data`` if it has the expected length; raises :class:`ShortRead` (retried) if not.

        A ranged read that returns less than asked without a listing to say where the object ends is
        taken as the end of the object: the transport has already checked the answer's Content-Length."""
        expected = self._expected_length(key, start, end)
        if expected is not None and len(data) != expected:
            raise ShortRead(f"read {len(data)} bytes, expected {expected}")
        return data

    def read(self, key: str) -> bytes:
        """A whole (small) object."""
        path = self.path(key)
        # start=0 makes s3fs send one GET, instead of a HEAD and then ranged GETs.
        data = self._call(key, "get", lambda: self._verified(key, self.fs.cat_file(path, start=0), None, None))
        self.stats.record("get", read=len(data))
        return data

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of an object, as one ranged GET."""
        path = self.path(key)
        data = self._call(
            key, "get", lambda: self._verified(key, self.fs.cat_file(path, start=start, end=end), start, end)
        )
        self.stats.record("get", read=len(data))
        return data

    def open_read(self, key: str, size: int, buffer_size: int = 1 << 16) -> io.BufferedReader:
        """A seekable file over an object of ``size`` bytes, read by ranged GETs of ``buffer_size`` bytes or more as
        it is read: for a format whose reader walks a large file and reads little of it (a DM4 tag directory)."""
        return io.BufferedReader(_RangedObject(self, key, size), buffer_size)

    def read_many(self, ranges: list[tuple[str, int | None, int | None]]) -> list[bytes | StorageError]:
        """Many reads at once, ``concurrency`` requests in flight; failures are returned, not raised.

        Each item is ``(key, start, end)``; ``None`` bounds read the whole object. An item that failed
        or came back short is read again on its own, with the retry loop.
        """
        if not ranges:
            return []
        results: list[bytes | StorageError] = [b""] * len(ranges)
        if self.protocol == "s3":
            paths, confined = [], []
            for index, (key, _, _) in enumerate(ranges):
                try:
                    paths.append(self.path(key))
                    confined.append(index)
                except StorageError as error:
                    results[index] = error
            # start=0 (not None) keeps a whole read to one GET, without a HEAD for the size first.
            starts = [ranges[index][1] or 0 for index in confined]
            ends = [ranges[index][2] for index in confined]
            raw = self.fs.cat_ranges(paths, starts, ends, on_error="return", batch_size=self.concurrency)
            self.stats.record("get", count=len(confined))
            for index, item in zip(confined, raw, strict=True):
                key, start, end = ranges[index]
                if isinstance(item, bytes) and self._expected_length(key, start, end) in (None, len(item)):
                    self.stats.record("get", read=len(item), count=0)
                    results[index] = item
                    continue
                if isinstance(item, BaseException) and not is_transient(item):
                    results[index] = StorageError(key, f"get failed: {_describe(item)}")
                    continue
                self.stats.record_retry()
                try:
                    results[index] = self._read_one(key, start, end)
                except StorageError as error:
                    results[index] = error
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
        path = self.path(key)

        def get() -> None:
            self.fs.get_file(path, str(destination))
            expected = self._expected_length(key, None, None)
            if expected is not None and destination.stat().st_size != expected:
                raise ShortRead(f"downloaded {destination.stat().st_size} bytes, expected {expected}")

        self._call(key, "get", get)
        self.stats.record("get", read=destination.stat().st_size)
        return destination

    # -- writing (atomic) -------------------------------------------------------------------

    def _check_writable(self, key: str) -> None:
        if self.read_only:
            raise ReadOnlyBucketError(key, "bucket is opened read-only")

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write a whole object atomically: readers see the old object or the new one, never half.

        On S3 one PUT whose Content-MD5 the server checks (a body that arrived damaged is refused and
        sent again); locally a temporary file renamed into place."""
        self._check_writable(key)
        if self.protocol == "s3":
            upload = _S3Upload(self, key, content_type)
            upload.write(data)
            upload.complete()
        else:
            with self._local_atomic(key) as handle:
                handle.write(data)
            self.stats.record("put", written=len(data))
        self._remember(key, len(data))

    @contextlib.contextmanager
    def open_write(self, key: str, content_type: str | None = None) -> Iterator[IO[bytes]]:
        """Stream a large object; it appears under ``key`` only if the block finishes without error
        and every byte landed, else it raises.

        On S3 a multipart upload (one PUT when it stays under one part) in which every request is
        retried on its own and the completed object's size is checked; it is aborted on error. Locally
        a temporary file in the same directory that is renamed into place.
        """
        self._check_writable(key)
        if self.protocol == "s3":
            upload = _S3Upload(self, key, content_type)
            try:
                yield upload  # type: ignore[misc]
                upload.complete()
            except BaseException:
                upload.abort()
                raise
            written = upload.written
        else:
            with self._local_atomic(key) as handle:
                counted = _CountingWriter(handle)
                yield counted  # type: ignore[misc]
            written = counted.written
            self.stats.record("put", written=written)
        self._remember(key, written)

    @contextlib.contextmanager
    def _local_atomic(self, key: str) -> Iterator[IO[bytes]]:
        """A temporary file beside the target, renamed into place when the block succeeds.

        It is created like any file (mode 0666 less the umask), and its name says which process on which
        host writes it, so that :meth:`remove_stale_temporaries` can tell a killed writer's leftovers."""
        target = Path(self.path(key))
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.parent / f".{target.name[:100]}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.partial"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                yield handle
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def remove_stale_temporaries(self, prefix: str = "") -> list[str]:
        """Delete the temporary files of local writes whose process is gone (a killed run); returns
        their keys. Temporaries of live processes, and of other hosts (which cannot be asked), stay."""
        if self.protocol != "file":
            return []  # an S3 upload that never completed leaves no object
        self._check_writable(prefix)
        removed = []
        for directory, _, names in os.walk(self.path(prefix)):
            for name in names:
                if name.startswith(".") and name.endswith(".partial") and _is_stale(name):
                    path = os.path.join(directory, name)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                        removed.append(self._key_of(path))
        return sorted(removed)

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under a prefix (importers clean up interrupted writes with it)."""
        self._check_writable(prefix)
        path = self.path(prefix)
        if self._call(prefix, "head", lambda: self.fs.exists(path)):

            def remove() -> None:
                # Deleting is idempotent: when an attempt's response was lost after the objects went, the
                # retry finds nothing, which is what was asked for.
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm(path, recursive=True)

            self._call(prefix, "delete", remove)
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


#: This host, as temporary file names carry it.
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())


def _is_stale(name: str) -> bool:
    """Whether a ``.partial`` temporary was left by a process that no longer runs (on this host)."""
    match = _TEMPORARY.match(name)
    if match is None:
        return True  # not written by this version: no process of ours is writing it
    if match["host"] != _HOST:
        return False
    try:
        os.kill(int(match["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False


class _S3Upload:
    """One object written to S3: a single PUT while it fits in one part, else a multipart upload of
    :data:`PART_SIZE` parts. Every request is retried on its own and carries the Content-MD5 of its
    body, which S3 checks; a completed multipart object is looked up and must have every byte."""

    def __init__(self, bucket: Bucket, key: str, content_type: str | None) -> None:
        self._bucket = bucket
        self._key = key
        name, _, path = bucket.path(key).partition("/")
        self._names = {"Bucket": name, "Key": path}
        self._extra = {"ContentType": content_type} if content_type else {}
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.written = 0

    def write(self, data: bytes | memoryview) -> int:
        self._buffer += data
        self.written += len(data)
        while len(self._buffer) >= PART_SIZE:
            self._send_part(bytes(self._buffer[:PART_SIZE]))
            del self._buffer[:PART_SIZE]
        return len(data)

    def _request(self, method: str, body: bytes | None = None, **arguments: Any) -> Any:
        if body is not None:
            arguments |= {"Body": body, "ContentMD5": base64.b64encode(hashlib.md5(body).digest()).decode()}
        response = self._bucket._call(
            self._key, "put", lambda: self._bucket.fs.call_s3(method, **self._names, **arguments)
        )
        self._bucket.stats.record("put", written=len(body or b""))
        return response

    def _send_part(self, data: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._request("create_multipart_upload", **self._extra)["UploadId"]
        number = len(self._parts) + 1
        response = self._request("upload_part", data, UploadId=self._upload_id, PartNumber=number)
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    def complete(self) -> None:
        """Send what is left and finish the object; raises :class:`StorageError` if it did not land."""
        if self._upload_id is None:
            self._request("put_object", bytes(self._buffer), **self._extra)
            return
        if self._buffer:
            self._send_part(bytes(self._buffer))
            self._buffer.clear()
        parts = {"Parts": self._parts}
        try:
            self._request("complete_multipart_upload", UploadId=self._upload_id, MultipartUpload=parts)
            failure = None
        except StorageError as error:
            # A completion whose answer was lost is retried and then finds its upload gone: the object
            # decides whether it landed.
            failure = error
        try:
            stored = self._bucket.info_uncached(self._key).size
        except StorageError:
            stored = None
        if stored != self.written:
            raise failure or StorageError(self._key, f"upload incomplete: {stored} bytes stored, {self.written} sent")
        self._upload_id = None

    def abort(self) -> None:
        """Drop an unfinished multipart upload (best effort: S3 expires what this misses)."""
        if self._upload_id is not None:
            with contextlib.suppress(StorageError):
                self._request("abort_multipart_upload", UploadId=self._upload_id)
            self._upload_id = None


class _CountingWriter:
    """Counts bytes passed to a writable file object."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.written = 0

    def write(self, data: bytes | memoryview) -> int:
        self.written += len(data)
        return self._handle.write(data)
