"""Identifier allocation: from 100 per container, stable on re-ingest (layout.md §4)."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import Any

from importers import layout
from importers.storage import Bucket

Identity = Callable[[dict[str, Any]], Hashable]


class IdAllocator:
    """Ids of one container: existing entities keep theirs, new ones get ``max + 1``."""

    def __init__(self, bucket: Bucket, container: str, template: str, identity: Identity) -> None:
        self._identity = identity
        self._known: dict[Hashable, int] = {}
        self._next = layout.MIN_ENTITY_ID
        for key in bucket.listing(container):
            match = layout.parse(key)
            if match is None or match.template != template:
                continue
            identifier = int(match.fields[template.split("_")[0] + "_id"])
            self._next = max(self._next, identifier + 1)
            try:
                document = json.loads(bucket.read(key))
            except ValueError:
                continue  # a broken document still reserves its id; a read that fails raises (StorageError)
            if isinstance(document, dict):
                self._known.setdefault(identity(document), identifier)

    def allocate(self, document: dict[str, Any]) -> int:
        """The id of the entity ``document`` describes (same identity key → same id)."""
        key = self._identity(document)
        if key not in self._known:
            self._known[key] = self._next
            self._next += 1
        return self._known[key]
