"""``cryoet-ingest sync``: copy datasets between buckets or environments, verified, never losing data.

1. **Plan.** Both sides are listed once per synced prefix (a dataset, the depositions its metadata
   references, or the whole root). An object present on both sides with the same size and the same
   content is skipped; content is compared by checksum without reading when the listings allow it
   (two equal S3 ETags; two single-part ETags, which are the MD5s), otherwise by streaming one side
   through MD5 (a local file, or an object whose ETag is a multipart digest) and comparing with the
   other side's ETag (the part size of a multipart ETag is inferred from its part count). What cannot
   be proven equal is copied.
2. **Copy.** Data objects first, metadata documents last (deepest first), so that an interrupted sync
   leaves no entity that looks complete, as ``standardize`` does. Small objects are one GET and one PUT;
   large ones are streamed in 8 MiB reads into ``Bucket.open_write`` (bounded memory; an aborted upload
   leaves nothing).
3. **Verify.** Every copied object is looked up again at the destination: its size must equal the
   source's and its checksum the MD5 streamed while copying (an S3 ETag is compared directly when it is
   a digest of that content; otherwise, and for local files, the object is read back and hashed).
4. **Delete** (``--delete`` only): destination objects under the synced prefixes that the source lacks,
   after every copy succeeded; a folder the source has nothing in is removed as one prefix.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TextIO

from importers import layout
from importers.progress import Progress, format_bytes
from importers.storage import Bucket, ObjectInfo, StorageError, reading_access

#: Read size of a streamed copy or hash; divides the writer's part size, so that a copy's multipart
#: ETag is predictable (``Bucket.open_write`` uploads 16 MiB blocks).
CHUNK = 8 << 20
WRITER_PART_SIZE = 16 << 20
MIB = 1 << 20
#: Part sizes tried when inferring how a multipart ETag was made (common tool defaults, in MiB).
COMMON_PART_SIZES_MIB = (5, 8, 15, 16, 25, 32, 50, 64, 100, 128, 256, 512)
JSON_CONTENT_TYPE = "application/json"

_MD5_ETAG = re.compile(r"[0-9a-f]{32}")
_MULTIPART_ETAG = re.compile(r"([0-9a-f]{32})-(\d+)")
#: A temporary file of an interrupted local write (``Bucket._local_atomic``): never synced.
_PARTIAL = re.compile(r"(^|/)\.[^/]*\.partial$")


class SyncError(Exception):
    """The sync cannot start (bad URL, unreadable listing, same source and destination)."""


# -- checksums ---------------------------------------------------------------------------------


class Digest:
    """MD5 of a stream, and its S3 multipart ETags for the given part sizes, in one pass."""

    def __init__(self, part_sizes: Iterable[int] = ()) -> None:
        self.md5 = hashlib.md5()
        self.size = 0
        self._parts: dict[int, tuple[list[bytes], hashlib._Hash, int]] = {
            size: ([], hashlib.md5(), 0) for size in set(part_sizes) if size > 0
        }

    def update(self, data: bytes) -> None:
        self.md5.update(data)
        self.size += len(data)
        for part_size, (done, current, filled) in list(self._parts.items()):
            view = memoryview(data)
            while view:
                take = min(part_size - filled, len(view))
                current.update(view[:take])
                filled += take
                view = view[take:]
                if filled == part_size:
                    done.append(current.digest())
                    current, filled = hashlib.md5(), 0
            self._parts[part_size] = (done, current, filled)

    def hexdigest(self) -> str:
        return self.md5.hexdigest()

    def multipart_etag(self, part_size: int) -> str:
        done, current, filled = self._parts[part_size]
        digests = done + ([current.digest()] if filled else [])
        return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"

    def matches(self, etag: str) -> bool:
        """Whether an S3 ETag is a digest of this content (plain MD5, or multipart for a known part size)."""
        if _MD5_ETAG.fullmatch(etag):
            return self.hexdigest() == etag
        return any(self.multipart_etag(size) == etag for size in self._parts if _parts_of(self.size, size) > 0)


def _parts_of(size: int, part_size: int) -> int:
    return max(1, math.ceil(size / part_size)) if size else 0


def part_sizes_for(etag: str | None, size: int) -> list[int]:
    """The part sizes that could have produced a multipart ETag for an object of ``size`` bytes."""
    found = _MULTIPART_ETAG.fullmatch(etag or "")
    if not found:
        return []
    count = int(found.group(2))
    guesses = {math.ceil(size / count / MIB) * MIB, *(mib * MIB for mib in COMMON_PART_SIZES_MIB)}
    return sorted(guess for guess in guesses if guess > 0 and _parts_of(size, guess) == count)


def s3_etag(bucket: Bucket, info: ObjectInfo) -> str | None:
    """The object's ETag when it is a content digest (S3 only: a local listing's tag is mtime + size)."""
    if bucket.protocol != "s3":
        return None
    etag = info.etag.strip('"').lower()
    return etag if _MD5_ETAG.fullmatch(etag) or _MULTIPART_ETAG.fullmatch(etag) else None


def stream(bucket: Bucket, key: str, size: int) -> Iterator[bytes]:
    """An object in reads of at most :data:`CHUNK` bytes (one GET when it is small)."""
    if size <= CHUNK:
        yield bucket.read(key)
        return
    for start in range(0, size, CHUNK):
        yield bucket.read_range(key, start, min(size, start + CHUNK))


def digest_of(bucket: Bucket, key: str, size: int, part_sizes: Iterable[int] = ()) -> Digest:
    digest = Digest(part_sizes)
    for chunk in stream(bucket, key, size):
        digest.update(chunk)
    return digest


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    key: str
    size: int
    reason: str  # copy: new | size | checksum; skip: etag | checksum; delete: absent


@dataclass
class Plan:
    prefixes: list[str]
    copies: list[Item] = field(default_factory=list)
    skips: list[Item] = field(default_factory=list)
    deletes: list[Item] = field(default_factory=list)
    #: Bytes read to compare checksums (objects whose listings did not settle it).
    hashed_bytes: int = 0
    #: Every source key of the synced prefixes (for grouping deletions into whole folders).
    source_keys: set[str] = field(default_factory=set)

    def lines(self, *, delete: bool) -> list[str]:
        def count(items: list[Item]) -> str:
            return f"{len(items)} object{'s' if len(items) != 1 else ''} ({format_bytes(sum(i.size for i in items))})"

        if not self.deletes:
            deletes = "delete 0"
        elif delete:
            deletes = f"delete {count(self.deletes)}"
        else:
            deletes = f"delete 0 ({count(self.deletes)} absent from the source kept: --delete removes them)"
        hashed = f"; {format_bytes(self.hashed_bytes)} read to compare checksums" if self.hashed_bytes else ""
        return [f"plan: copy {count(self.copies)}, skip {count(self.skips)}, {deletes}{hashed}"]


def same_content(source: Bucket, source_info: ObjectInfo, destination: Bucket, target: ObjectInfo) -> tuple[bool, int]:
    """Whether two objects of equal size hold the same bytes, and how many bytes were read to tell.

    Unprovable (an ETag of unknown provenance on both sides) counts as different: the object is copied.
    """
    source_tag, target_tag = s3_etag(source, source_info), s3_etag(destination, target)
    if source_tag and target_tag:
        if source_tag == target_tag:
            return True, 0
        if _MD5_ETAG.fullmatch(source_tag) and _MD5_ETAG.fullmatch(target_tag):
            return False, 0
    size = source_info.size
    if not source_tag and not target_tag:  # both local: hash both
        one = digest_of(source, source_info.key, size)
        other = digest_of(destination, target.key, size)
        return one.hexdigest() == other.hexdigest(), 2 * size
    # Stream one side and match it against the other side's tag: a plain MD5 tag if there is one (no
    # part size to guess), else the destination's multipart tag (which a previous sync made).
    references = [(source_tag, destination, target.key), (target_tag, source, source_info.key)]
    plain = [ref for ref in references if ref[0] and _MD5_ETAG.fullmatch(ref[0])]
    reference, bucket, key = plain[0] if plain else references[1] if target_tag else references[0]
    assert reference is not None
    digest = digest_of(bucket, key, size, part_sizes_for(reference, size))
    return digest.matches(reference), size


def _is_metadata(key: str) -> bool:
    match = layout.parse(key)
    return match is not None and match.template.endswith("_metadata")


def copy_order(items: list[Item]) -> list[list[Item]]:
    """Copy phases: data objects, then metadata documents deepest first (children before parents)."""
    data = [item for item in items if not _is_metadata(item.key)]
    documents = [item for item in items if _is_metadata(item.key)]
    by_depth: dict[int, list[Item]] = {}
    for item in documents:
        by_depth.setdefault(item.key.count("/"), []).append(item)
    return [phase for phase in [data] + [by_depth[depth] for depth in sorted(by_depth, reverse=True)] if phase]


def make_plan(
    source: Bucket, destination: Bucket, prefixes: list[str], *, jobs: int = 8, stream: TextIO | None = None
) -> Plan:
    """Compare the listings of every prefix (and, where needed, checksums) into copy / skip / delete; the
    comparison's progress on ``stream``."""
    plan = Plan(prefixes)
    pairs: list[tuple[ObjectInfo, ObjectInfo]] = []
    for prefix in prefixes:
        try:
            source_objects = _syncable(source.listing(prefix))
            target_objects = _syncable(destination.listing(prefix))
        except StorageError as error:
            raise SyncError(f"cannot list {error}") from None
        plan.source_keys.update(source_objects)
        for key, info in sorted(source_objects.items()):
            target = target_objects.get(key)
            if target is None:
                plan.copies.append(Item(key, info.size, "new"))
            elif target.size != info.size:
                plan.copies.append(Item(key, info.size, "size"))
            else:
                pairs.append((info, target))
        plan.deletes += [
            Item(key, info.size, "absent") for key, info in sorted(target_objects.items()) if key not in source_objects
        ]

    def compare(pair: tuple[ObjectInfo, ObjectInfo]) -> tuple[ObjectInfo, bool, int]:
        info, target = pair
        equal, read = same_content(source, info, destination, target)
        return info, equal, read

    meter = Progress("sync: comparing", "objects", stream, total=len(pairs))
    with meter, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for info, equal, read in pool.map(compare, pairs):
            meter.advance()
            plan.hashed_bytes += read
            if equal:
                plan.skips.append(Item(info.key, info.size, "checksum" if read else "etag"))
            else:
                plan.copies.append(Item(info.key, info.size, "checksum"))
    plan.copies.sort(key=lambda item: item.key)
    return plan


def _syncable(objects: dict[str, ObjectInfo]) -> dict[str, ObjectInfo]:
    return {key: info for key, info in objects.items() if not _PARTIAL.search(key)}


# -- copying, verifying, deleting --------------------------------------------------------------


@dataclass
class Outcome:
    copied: list[Item] = field(default_factory=list)
    deleted: list[Item] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def copy_object(source: Bucket, destination: Bucket, item: Item) -> Digest:
    """Copy one object (atomically at the destination); the digest of the bytes written."""
    content_type = JSON_CONTENT_TYPE if item.key.endswith(".json") else None
    digest = Digest([WRITER_PART_SIZE])
    if item.size <= CHUNK:
        data = source.read(item.key)
        digest.update(data)
        _check_source_size(item, digest.size)
        destination.write(item.key, data, content_type=content_type)
    else:
        with destination.open_write(item.key, content_type=content_type) as handle:
            for chunk in stream(source, item.key, item.size):
                digest.update(chunk)
                handle.write(chunk)
            _check_source_size(item, digest.size)
    return digest


def _check_source_size(item: Item, size: int) -> None:
    if size != item.size:
        raise StorageError(item.key, f"the source changed during the copy: read {size} bytes, listed {item.size}")


def verify(verifier: Bucket, item: Item, digest: Digest, found: ObjectInfo | None = None) -> None:
    """The destination object has the copied size and checksum: its S3 ETag when that is a digest of the
    content, else the object read back and hashed. ``found`` is what a fresh listing says (else a HEAD)."""
    found = found or verifier.info(item.key)
    if found.size != digest.size:
        raise StorageError(
            item.key, f"verification failed: {found.size} bytes at the destination, copied {digest.size}"
        )
    etag = s3_etag(verifier, found)
    if etag and digest.matches(etag):
        return
    read_back = digest_of(verifier, item.key, found.size)
    if read_back.hexdigest() != digest.hexdigest():
        raise StorageError(
            item.key,
            f"verification failed: MD5 {read_back.hexdigest()} at the destination, copied {digest.hexdigest()}",
        )


#: A phase of at least this many copies is verified from a fresh listing rather than one HEAD per object.
VERIFY_BY_LISTING = 20


def verify_phase(
    destination: Bucket, prefixes: list[str], copied: list[tuple[Item, Digest]], pool: ThreadPoolExecutor
) -> list[tuple[Item, str | None]]:
    """Verify a phase's copies against a fresh view of the destination (never its own cached listing)."""
    verifier = Bucket(destination.url, endpoint_url=destination.endpoint_url, read_only=True)
    listed: dict[str, ObjectInfo] | None = None
    if destination.protocol == "s3" and len(copied) >= VERIFY_BY_LISTING:
        listed = {}
        for prefix in prefixes:
            if any(prefix == "" or item.key.startswith(prefix + "/") for item, _ in copied):
                listed.update(verifier.listing(prefix))

    def check(entry: tuple[Item, Digest]) -> tuple[Item, str | None]:
        item, digest = entry
        try:
            if listed is not None and item.key not in listed:
                raise StorageError(item.key, "verification failed: not listed at the destination after the copy")
            verify(verifier, item, digest, listed.get(item.key) if listed is not None else None)
        except StorageError as error:
            return item, str(error)
        return item, None

    return list(pool.map(check, copied))


def delete_roots(plan: Plan) -> list[tuple[str, list[Item]]]:
    """Group deletions: the highest folder (below a synced prefix) the source has nothing in is removed
    whole; an object in a folder the source still uses is removed alone. Metadata documents first."""
    source_dirs = {key.rsplit("/", depth)[0] for key in plan.source_keys for depth in range(1, key.count("/") + 1)}
    groups: dict[str, list[Item]] = {}
    for item in plan.deletes:
        prefix = next((p for p in plan.prefixes if p == "" or item.key.startswith(p + "/")), "")
        parts = item.key.split("/")
        base = len(prefix.split("/")) if prefix else 0
        root = item.key
        for depth in range(base + 1, len(parts)):
            candidate = "/".join(parts[:depth])
            if candidate not in source_dirs:
                root = candidate
                break
        if root in source_dirs:
            # An object named like a folder of the source: removing the prefix would remove those objects too.
            raise StorageError(root, "not deleted: the source has objects under this name")
        groups.setdefault(root, []).append(item)
    return sorted(groups.items(), key=lambda group: (not any(_is_metadata(i.key) for i in group[1]), group[0]))


def execute(
    source: Bucket,
    destination: Bucket,
    plan: Plan,
    *,
    delete: bool,
    jobs: int = 8,
    progress: Callable[[str], None] | None = None,
    meter: Progress | None = None,
) -> Outcome:
    """Copy and verify every planned object, then (with ``delete``) remove what the source lacks; ``progress``
    takes a line per object, ``meter`` counts the copies."""
    outcome = Outcome()

    def one(item: Item) -> tuple[Item, Digest | str]:
        try:
            return item, copy_object(source, destination, item)
        except StorageError as error:
            return item, str(error)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for phase in copy_order(plan.copies):
            copied: list[tuple[Item, Digest]] = []
            for item, result in pool.map(one, phase):
                if meter is not None:
                    meter.advance()
                if isinstance(result, str):
                    outcome.failures.append(f"copy {result}")
                else:
                    copied.append((item, result))
            for item, problem in verify_phase(destination, plan.prefixes, copied, pool):
                if problem is not None:
                    outcome.failures.append(f"copy {problem}")
                    continue
                outcome.copied.append(item)
                if progress:
                    progress(f"copied   {item.key} ({format_bytes(item.size)}, {item.reason})")
    if not delete or not plan.deletes:
        return outcome
    if outcome.failures:
        outcome.failures.append(f"delete: skipped ({len(plan.deletes)} objects) because copies failed")
        return outcome
    try:
        groups = delete_roots(plan)
    except StorageError as error:
        outcome.failures.append(f"delete {error}")
        return outcome
    for root, items in groups:
        try:
            destination.delete_prefix(root)
        except StorageError as error:
            outcome.failures.append(f"delete {error}")
            continue
        outcome.deleted += items
        if progress:
            progress(f"deleted  {root}" + (f"/ ({len(items)} objects)" if root != items[0].key else ""))
    return outcome


# -- what to sync ------------------------------------------------------------------------------


def referenced_depositions(source: Bucket, dataset_prefix: str) -> list[str]:
    """The deposition ids that the dataset's metadata documents name (``deposition_id``)."""
    keys = [key for key in sorted(source.listing(dataset_prefix)) if _is_metadata(key)]
    found: set[str] = set()
    for data in source.read_many([(key, None, None) for key in keys]):
        if isinstance(data, StorageError):
            continue
        try:
            document = json.loads(data)
        except ValueError:
            continue
        value = document.get("deposition_id") if isinstance(document, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            found.add(str(value))
    return sorted(found, key=int)


def sync_prefixes(
    source: Bucket, datasets: list[str], depositions: list[str], *, with_depositions: bool, notes: list[str]
) -> list[str]:
    """The prefixes to sync: each dataset (which must exist at the source), the depositions given or
    referenced, or the whole root when nothing is named."""
    if not datasets and not depositions:
        return [""]
    for dataset in datasets:
        if not source.listing(dataset):
            raise SyncError(f"{source.url_of(dataset)}: the source has no object under this dataset")
    wanted = list(depositions)
    if with_depositions:
        for dataset in datasets:
            wanted += referenced_depositions(source, dataset)
    prefixes = list(dict.fromkeys(datasets))
    for deposition in dict.fromkeys(wanted):
        prefix = layout.build("deposition", deposition_id=deposition)
        if source.listing(prefix):
            prefixes.append(prefix)
        elif deposition in depositions:
            raise SyncError(f"{source.url_of(prefix)}: the source has no object under this deposition")
        else:
            notes.append(f"deposition {deposition} is referenced but the source has no {prefix}/")
    return prefixes


def _same_place(source: Bucket, destination: Bucket) -> bool:
    if source.protocol != destination.protocol or source.endpoint_url != destination.endpoint_url:
        return False
    one, other = source.root.rstrip("/") + "/", destination.root.rstrip("/") + "/"
    return one.startswith(other) or other.startswith(one)


def _ids(values: list[str] | None) -> list[str]:
    ids = [part.strip() for value in values or [] for part in value.split(",") if part.strip()]
    for value in ids:
        if not value.isdigit():
            raise SyncError(f"{value!r} is not a numeric id")
    return list(dict.fromkeys(ids))


def sync(
    source_url: str,
    destination_url: str,
    *,
    datasets: list[str] | None = None,
    depositions: list[str] | None = None,
    with_depositions: bool = True,
    dry_run: bool = False,
    delete: bool = False,
    source_endpoint_url: str | None = None,
    destination_endpoint_url: str | None = None,
    anon: bool = False,
    jobs: int = 8,
    verbose: bool = False,
    out: TextIO | None = None,
) -> int:
    """The command: 0 when everything was copied and verified, 1 if an object failed, 2 if it could not start.
    ``anon``: read the source with unsigned requests (the destination always signs)."""
    out = out or sys.stdout
    started = time.monotonic()
    try:
        source = Bucket(source_url, endpoint_url=source_endpoint_url, read_only=True, anonymous=reading_access(anon))
        destination = Bucket(destination_url, endpoint_url=destination_endpoint_url, read_only=dry_run)
        if _same_place(source, destination):
            raise SyncError(f"{source_url} and {destination_url} overlap: sync needs two different places")
        notes: list[str] = [source.notice] if source.notice else []
        dataset_ids, deposition_ids = _ids(datasets), _ids(depositions)
        prefixes = sync_prefixes(source, dataset_ids, deposition_ids, with_depositions=with_depositions, notes=notes)
        plan = make_plan(source, destination, prefixes, jobs=jobs, stream=sys.stderr)
    except (SyncError, ValueError, StorageError) as error:
        print(f"sync: {error}", file=sys.stderr)
        return 2
    scope = ", ".join(f"{p}/" for p in prefixes) if prefixes != [""] else "the whole bucket"
    print(f"sync: {source.url_of('')} -> {destination.url_of('')}: {scope}", file=out)
    for note in notes:
        print(f"sync: note: {note}", file=out)
    for line in plan.lines(delete=delete):
        print(line, file=out)
    if verbose or dry_run:
        _print_items(plan, delete=delete, out=out, limit=None if verbose else 20)
    if dry_run:
        print("sync: dry run: nothing written", file=out)
        return 0
    progress = (lambda line: print(line, file=out)) if verbose else None
    copying = Progress(
        "sync", "objects", sys.stderr, total=len(plan.copies), bytes_done=lambda: destination.stats.bytes_written
    )
    with copying:
        outcome = execute(source, destination, plan, delete=delete, jobs=jobs, progress=progress, meter=copying)
    for failure in outcome.failures:
        print(f"sync: FAILED {failure}", file=out)
    written = destination.stats.bytes_written
    print(
        f"sync: {len(outcome.copied)} copied and verified ({format_bytes(written)} written), "
        f"{len(plan.skips)} already there, {len(outcome.deleted)} deleted, {len(outcome.failures)} failed "
        f"in {time.monotonic() - started:.1f} s",
        file=out,
    )
    return 1 if outcome.failures else 0


def _print_items(plan: Plan, *, delete: bool, out: TextIO, limit: int | None) -> None:
    groups = [("copy", plan.copies), ("delete" if delete else "absent", plan.deletes)]
    for verb, items in groups:
        shown = items if limit is None else items[:limit]
        for item in shown:
            print(f"  {verb:<7}{item.key}  ({format_bytes(item.size)}, {item.reason})", file=out)
        if len(items) > len(shown):
            print(f"  … and {len(items) - len(shown)} more to {verb} (--verbose lists all)", file=out)


# -- the command -------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="copy datasets between buckets or environments, verified",
        description=(
            "Copy datasets from SRC to DST: objects whose size and checksum already match are skipped, every "
            "copied object is verified (size and checksum read back), and nothing is deleted at the destination "
            "without --delete. With --dataset, the depositions its metadata references are synced too."
        ),
    )
    parser.add_argument("source", metavar="SRC", help="source bucket root: s3://bucket[/prefix], file://… or a path")
    parser.add_argument("destination", metavar="DST", help="destination bucket root")
    parser.add_argument(
        "--dataset",
        "--datasets",
        dest="datasets",
        action="append",
        metavar="IDS",
        help="dataset id(s), comma-separated; may be repeated (default: the whole bucket)",
    )
    parser.add_argument(
        "--deposition",
        "--depositions",
        dest="depositions",
        action="append",
        metavar="IDS",
        help="also sync these depositions (depositions_metadata/ID/)",
    )
    parser.add_argument(
        "--no-depositions",
        dest="with_depositions",
        action="store_false",
        help="do not add the depositions that the datasets' metadata references",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan (copy / skip / delete); write nothing")
    parser.add_argument(
        "--delete", action="store_true", help="remove destination objects under the synced prefixes that SRC lacks"
    )
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="S3 endpoint of both sides (default: $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)",
    )
    parser.add_argument("--source-endpoint-url", metavar="URL", help="S3 endpoint of SRC (default: --endpoint-url)")
    parser.add_argument(
        "--destination-endpoint-url", metavar="URL", help="S3 endpoint of DST (default: --endpoint-url)"
    )
    parser.add_argument(
        "--anon",
        action="store_true",
        help="read SRC with unsigned requests, as public data is read (also $CRYOET_S3_ANON=1; without credentials "
        "SRC is read so anyway); DST always needs credentials",
    )
    parser.add_argument("--jobs", type=int, default=8, metavar="N", help="objects copied at once (default: 8)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every object copied or deleted")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return sync(
        args.source,
        args.destination,
        datasets=args.datasets,
        depositions=args.depositions,
        with_depositions=args.with_depositions,
        dry_run=args.dry_run,
        delete=args.delete,
        source_endpoint_url=args.source_endpoint_url or args.endpoint_url,
        destination_endpoint_url=args.destination_endpoint_url or args.endpoint_url,
        anon=args.anon,
        jobs=args.jobs,
        verbose=args.verbose,
    )
