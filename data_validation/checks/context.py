"""What a check receives besides its entity: the reader, and helpers to locate entity files."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from data_validation.entities import Entity
from data_validation.reader import ObjectReader, Unreadable
from data_validation.registry import fail, skip
from data_validation.sampling import Coverage, EntityCache, SampleSettings, VolumeReader
from data_validation.snapshot import is_metadata_json
from importers import layout
from importers.storage import IOStats

if TYPE_CHECKING:  # a database is opened, with SQLAlchemy, only when one is given
    from data_validation.database import DatabaseTarget

#: Layout template of each metadata document -> its kind (the schema models' names).
METADATA_TEMPLATES = {
    "deposition_metadata": "deposition",
    "dataset_metadata": "dataset",
    "run_metadata": "run",
    "tiltseries_metadata": "tiltseries",
    "alignment_metadata": "alignment",
    "tomogram_metadata": "tomogram",
    "annotation_metadata": "annotation",
    "frames_metadata": "frames",
    "identified_objects_metadata": "identified_objects",
}


@dataclass
class CheckContext:
    reader: ObjectReader
    #: The database the DB-* checks compare with; None skips them.
    database: DatabaseTarget | None = None
    #: What the SAMPLE tier reads (``--sample-chunks``).
    sampling: SampleSettings = dataclasses.field(default_factory=SampleSettings)
    #: What the checks of the entity being checked have read and derived (see :meth:`for_entity`).
    shared: EntityCache = dataclasses.field(default_factory=EntityCache)
    #: The running check evaluation's I/O account (see :meth:`counting_into`), with its budget if it has one.
    account: IOStats | None = None
    #: What part of the volumes one check evaluation verified (see :meth:`counting_into`).
    coverage: Coverage = dataclasses.field(default_factory=Coverage)

    def for_entity(self) -> CheckContext:
        """The context of one entity's checks: a fresh cache, shared by them, dropped after."""
        return CheckContext(self.reader, self.database, self.sampling, EntityCache())

    def counting_into(self, account: IOStats) -> CheckContext:
        """The same context whose reads also count into ``account`` (one check evaluation's I/O), with a
        coverage of its own."""
        return CheckContext(self.reader.counting_into(account), self.database, self.sampling, self.shared, account)

    def unspent_budget(self) -> int | None:
        """Bytes the running check evaluation may still read before its tier's budget; None: no limit."""
        budget = getattr(self.account, "budget", None)
        return None if budget is None or self.account is None else budget - self.account.bytes_read

    def volume_reader(self) -> VolumeReader:
        return VolumeReader(self.reader, self.shared)

    def metadata(self, key: str) -> dict[str, Any]:
        """A metadata JSON (missing or broken -> Unreadable, reported as the check's failure)."""
        return self.reader.json(key)

    def metadata_documents(self, prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
        """``(key, kind, document)`` of every readable metadata document under ``prefix``; unreadable
        ones are GEN-JSON-PARSE's to report."""
        documents = []
        for key in sorted(self.reader.keys_under(prefix)):
            match = layout.parse(key) if is_metadata_json(key) else None
            kind = METADATA_TEMPLATES.get(match.template) if match else None
            if kind is None:
                continue
            try:
                documents.append((key, kind, self.reader.json(key)))
            except Unreadable:
                continue
        return documents

    def check_volume_file_names(self, entity: Entity, document: dict[str, Any]) -> None:
        """``mrc_file`` / ``omezarr_dir`` name the single ``{run}.mrc`` / ``{run}.zarr`` of the entity's
        folder (tomograms and tilt series alike); fails on the first difference."""
        run = entity["run_name"]
        for field, suffix in (("mrc_file", ".mrc"), ("omezarr_dir", ".zarr")):
            present = self.files_with_suffix(entity, suffix)
            expected = entity.key(f"{run}{suffix}")
            if present != [expected]:
                fail(
                    f"folder holds {[PurePosixPath(p).name for p in present]}, expected exactly {run}{suffix}",
                    observed=present,
                    expected=[expected],
                )
            value = document.get(field)
            if not isinstance(value, str) or layout.strip_bucket_name(value) != expected:
                fail(f"{field} is {value!r}, expected {expected!r}", observed=value, expected=expected)

    def files_with_suffix(self, entity: Entity, suffix: str) -> list[str]:
        """Keys directly in the entity directory ending with ``suffix`` (``.zarr`` stores included)."""
        return [entity.key(name) for name in self.reader.children(entity.path) if name.endswith(suffix)]

    def single_file(self, entity: Entity, suffix: str, preferred: str) -> str:
        """The entity's ``{run}{suffix}`` (or its only ``*{suffix}``); skips when there is none,
        since the existence checks of the entity report that."""
        if self.reader.exists(entity.key(preferred)):
            return entity.key(preferred)
        candidates = self.files_with_suffix(entity, suffix)
        if len(candidates) == 1:
            return candidates[0]
        skip(f"no single *{suffix} in {entity.path} (reported by the file checks)")
