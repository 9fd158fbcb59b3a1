"""How checks read the bucket: from the session snapshot first, the bucket only when needed.

A problem reading or parsing an object raises :class:`Unreadable`, which the suite reports as a
failed check naming the object and the reason, never as an error of the session.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from data_validation import limits
from data_validation.snapshot import GLB_HEADER_BYTES, Snapshot
from importers.formats.images import HEADER_BYTES as IMAGE_HEADER_BYTES
from importers.formats.mrc import HEADER_SIZE, MrcFormatError, MrcHeader, parse_header
from importers.storage import Bucket, IOStats, ObjectInfo, StorageError

T = TypeVar("T")


class _SortedKeys:
    """The listed keys, sorted, for range look-ups; rebuilt when the listing has grown."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.sorted: list[str] = []
        self.children: dict[str, list[str]] = {}

    def keys(self) -> list[str]:
        if len(self.sorted) != len(self.snapshot.listing):
            self.sorted = sorted(self.snapshot.listing)
            self.children = {}
        return self.sorted


#: Parsed JSON documents kept at once. A document is read by its entity's checks and by the dataset-wide ones:
#: parsed once or twice, not kept for the session (the raw bytes are in the snapshot; the parsed form is larger).
PARSED_DOCUMENTS = 1024


class _Recent:
    """The most recently used values, up to a count (thread-safe: entities are checked on several threads)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)


class Unreadable(Exception):
    """An object a check needs is missing or cannot be parsed."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"cannot read {key}: {reason}")


#: Why a key that climbs out of the bucket (a metadata path ``../../etc/passwd``) is never read.
OUTSIDE = "the path leads outside the bucket root ('..')"


def confined(key: str) -> str:
    """``key`` if it stays inside the bucket root; :class:`Unreadable` if a ``..`` segment climbs out."""
    if ".." in key.split("/"):
        raise Unreadable(key, OUTSIDE)
    return key


#: Objects :meth:`ObjectReader.read_many` reads at once: enough to keep requests in flight, few enough that
#: what it holds stays small whatever the number of objects.
READ_MANY_BATCH = 64


class ObjectReader:
    """Read-only, cached access to the bucket objects of one session.

    :meth:`counting_into` gives a view that shares every cache (parsed documents, the sorted listing,
    :meth:`memo`) but counts its requests into an account: each check evaluation reads through its own
    view, so that its I/O is its own while what it parses serves every check."""

    def __init__(self, snapshot: Snapshot, bucket: Bucket) -> None:
        self.snapshot = snapshot
        self.bucket = bucket
        self._parsed: dict[tuple[str, str], Any] = {}
        self._documents = _Recent(PARSED_DOCUMENTS)
        self._derived = _Recent(PARSED_DOCUMENTS)
        self._index = _SortedKeys(snapshot)

    def counting_into(self, account: IOStats) -> ObjectReader:
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__, bucket=self.bucket.counting_into(account))
        return view

    def memo(self, namespace: str, key: str, compute: Callable[[], T], *, recent: bool = False) -> T:
        """``compute()`` once per session for ``(namespace, key)``: derived data several checks share
        (parsed sidecars, TIFF page tables). With ``recent``, only the most recently used values are kept (for
        what is cheap to derive again without a request: memory then does not grow with the dataset). An
        exception is not remembered."""
        if recent:
            recent_key = f"{namespace}\0{key}"
            value = self._derived.get(recent_key)
            if value is None:
                value = compute()
                self._derived.put(recent_key, value)
            return value
        cache_key = (namespace, key)
        if cache_key not in self._parsed:
            self._parsed[cache_key] = compute()
        return self._parsed[cache_key]

    def _keys(self) -> list[str]:
        return self._index.keys()

    def exists(self, key: str) -> bool:
        """An object, or a 'directory' with objects below it. Keys outside the listed prefixes
        (a path into another dataset) cost one HEAD, once."""
        key = key.strip("/")
        if ".." in key.split("/"):
            return False  # never looked up: it would lie outside the bucket
        if key in self.snapshot.listing or self.keys_under(key, limit=1):
            return True
        if any(key.startswith(prefix + "/") for prefix in self.snapshot.listed_prefixes):
            return False
        cache_key = ("exists", key)
        if cache_key not in self._parsed:
            try:
                self._parsed[cache_key] = self.bucket.exists(key)
            except StorageError:
                self._parsed[cache_key] = False
        return self._parsed[cache_key]

    def info(self, key: str) -> ObjectInfo:
        try:
            return self.snapshot.listing[key]
        except KeyError:
            raise Unreadable(key, "object not found") from None

    def children(self, prefix: str) -> list[str]:
        """Names directly below a directory key (sorted; computed once per prefix)."""
        self._keys()  # rebuilds the index when the listing has grown
        start = prefix.strip("/") + "/"
        children = self._index.children
        if start not in children:
            children[start] = sorted({key[len(start) :].split("/", 1)[0] for key in self.keys_under(prefix)})
        return children[start]

    def keys_under(self, prefix: str, limit: int | None = None) -> list[str]:
        """Keys below a directory key, in order: a range of the sorted listing, not a scan."""
        keys = self._keys()
        start = prefix.strip("/") + "/"
        low = bisect.bisect_left(keys, start)
        # "0" is the character after "/": every key below the prefix sorts before start[:-1] + "0".
        high = bisect.bisect_left(keys, start[:-1] + "0", low)
        return keys[low : high if limit is None else min(high, low + limit)]

    def _held(self, key: str) -> bytes | None:
        """The object if the snapshot holds it, None if it must be read; :class:`Unreadable` if it cannot be."""
        confined(key)
        if key in self.snapshot.objects:
            return self.snapshot.objects[key]
        if key in self.snapshot.fetch_errors:
            raise Unreadable(key, self.snapshot.fetch_errors[key])
        if key not in self.snapshot.listing:
            raise Unreadable(key, "object not found")
        if (reason := limits.too_large(key, self.snapshot.listing[key].size)) is not None:
            raise Unreadable(key, reason)
        return None

    def read(self, key: str) -> bytes:
        held = self._held(key)
        if held is not None:
            return held
        try:
            return self.bucket.read(key)
        except StorageError as error:
            raise Unreadable(key, error.problem) from None

    def read_many(self, keys: list[str]) -> Iterator[tuple[str, bytes | Unreadable]]:
        """Each object (or why it cannot be read), in order; those the snapshot lacks are read concurrently,
        :data:`READ_MANY_BATCH` at a time (a dataset's key photos one after another cost 20 s at 20 ms)."""
        for first in range(0, len(keys), READ_MANY_BATCH):
            batch = keys[first : first + READ_MANY_BATCH]
            outcomes: dict[str, bytes | Unreadable | None] = {}
            for key in batch:
                try:
                    outcomes[key] = self._held(key)
                except Unreadable as unreadable:
                    outcomes[key] = unreadable
            missing = [key for key, outcome in outcomes.items() if outcome is None]
            fetched = self.bucket.read_many([(key, None, None) for key in missing])
            for key, result in zip(missing, fetched, strict=True):
                outcomes[key] = Unreadable(key, result.problem) if isinstance(result, StorageError) else result
            for key in batch:
                outcome = outcomes[key]
                assert outcome is not None
                yield key, outcome

    def json_value(self, key: str) -> Any:
        """A parsed JSON value, within its kind's size and depth limits; anything else is :class:`Unreadable`."""
        document = self._documents.get(key)
        if document is None:
            try:
                document = limits.parse_json(key, self.read(key))
            except ValueError as error:
                raise Unreadable(key, str(error)) from None
            self._documents.put(key, document)
        return document

    def json(self, key: str) -> Any:
        """A parsed JSON object (a mapping); anything else is :class:`Unreadable`."""
        document = self.json_value(key)
        if not isinstance(document, dict):
            raise Unreadable(key, f"JSON is a {type(document).__name__}, not an object")
        return document

    def image_header(self, key: str) -> bytes:
        """The first bytes of an image (prefetched; enough for its size)."""
        confined(key)
        if key in self.snapshot.image_headers:
            return self.snapshot.image_headers[key]
        if key in self.snapshot.fetch_errors:
            raise Unreadable(key, self.snapshot.fetch_errors[key])
        if not self.exists(key):
            raise Unreadable(key, "object not found")
        try:
            return self.bucket.read_range(key, 0, IMAGE_HEADER_BYTES.get(key.rsplit(".", 1)[-1].lower(), 64))
        except StorageError as error:
            raise Unreadable(key, error.problem) from None

    def glb_header(self, key: str) -> bytes:
        """The first bytes of a binary glTF mesh (prefetched; magic, version and length)."""
        confined(key)
        if key in self.snapshot.glb_headers:
            return self.snapshot.glb_headers[key]
        if key in self.snapshot.fetch_errors:
            raise Unreadable(key, self.snapshot.fetch_errors[key])
        if key not in self.snapshot.listing:
            raise Unreadable(key, "object not found")
        try:
            return self.bucket.read_range(key, 0, min(GLB_HEADER_BYTES, self.snapshot.listing[key].size))
        except StorageError as error:
            raise Unreadable(key, error.problem) from None

    def mrc_header(self, key: str) -> MrcHeader:
        """The parsed main header of an MRC (from the prefetched first 1024 bytes)."""
        confined(key)
        cache_key = ("mrc", key)
        if cache_key not in self._parsed:
            raw = self.snapshot.mrc_headers.get(key)
            if raw is None:
                if key in self.snapshot.fetch_errors:
                    raise Unreadable(key, self.snapshot.fetch_errors[key])
                if key not in self.snapshot.listing:
                    raise Unreadable(key, "object not found")
                try:
                    raw = self.bucket.read_range(key, 0, HEADER_SIZE)
                except StorageError as error:
                    raise Unreadable(key, error.problem) from None
            try:
                self._parsed[cache_key] = parse_header(raw)
            except MrcFormatError as error:
                raise Unreadable(key, f"not an MRC header ({error})") from None
        return self._parsed[cache_key]
