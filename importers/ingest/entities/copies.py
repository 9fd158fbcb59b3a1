"""Files copied from the input as they are (sidecars, movies, gains) or converted (DM4 gains), under the write-once
policy.

Like metadata documents (``metadata.py``), an existing output that already holds the same file is left
alone, and one that differs is only replaced with ``--force-overwrite``.
"""

from __future__ import annotations

from collections.abc import Iterable

from importers.ingest.entities.context import Ingestion
from importers.ingest.entities.metadata import OverwriteRefused

#: Bytes moved per request when a large object is streamed from the input to the output.
COPY_CHUNK_BYTES = 16 << 20


def _refuse_unless_forced(ingestion: Ingestion, key: str) -> None:
    if not ingestion.options.force_overwrite:
        raise OverwriteRefused(f"{ingestion.output.url_of(key)} exists with other content (use --force-overwrite)")


def put_object(ingestion: Ingestion, key: str, data: bytes, what: str) -> None:
    """Write a small file (already read to be parsed) unless the same bytes are there."""
    if ingestion.options.dry_run:
        ingestion.report.planned(what, key)
        return
    if ingestion.output.exists(key):
        if ingestion.output.info(key).size == len(data) and ingestion.output.read(key) == data:
            ingestion.report.skipped(what, "unchanged")
            return
        _refuse_unless_forced(ingestion, key)
    ingestion.output.write(key, data)
    ingestion.report.written(what, key)


def copy_object(ingestion: Ingestion, source_key: str, key: str, what: str) -> None:
    """Stream an input object byte for byte to ``key``.

    Movies and gains can be gigabytes, so an existing output of the same size counts as the same
    file rather than being read back and compared.
    """
    if ingestion.options.dry_run:  # planned without asking the source for the size
        ingestion.report.planned(what, key)
        return
    size = ingestion.source.info(source_key).size
    parts = (
        ingestion.source.read_range(source_key, start, min(start + COPY_CHUNK_BYTES, size))
        for start in range(0, size, COPY_CHUNK_BYTES)
    )
    put_large(ingestion, key, parts, size, what)


def put_large(ingestion: Ingestion, key: str, parts: Iterable[bytes], size: int, what: str) -> None:
    """Write a large file the importer made (``size`` bytes, in ``parts``) unless one of that size is there.

    As for copied gains, an existing output of the same size counts as the same file: a converted gain carries
    the date of its conversion, so a rerun's bytes differ from the first run's only there.
    """
    if ingestion.options.dry_run:
        ingestion.report.planned(what, key)
        return
    if ingestion.output.exists(key):
        if ingestion.output.info(key).size == size:
            ingestion.report.skipped(what, "same size")
            return
        _refuse_unless_forced(ingestion, key)
    with ingestion.output.open_write(key) as handle:
        for part in parts:
            handle.write(part)
    ingestion.report.written(what, key)
