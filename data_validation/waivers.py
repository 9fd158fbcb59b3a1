"""Waivers: known, accepted failures (``--waivers FILE``).

The file is a YAML list of ``{code, entity, reason, expires?}``: ``code`` and ``entity`` are shell
globs over the check code and the entity path, ``reason`` says why the failure is accepted, and a
waiver past its ``expires`` date no longer waives (the failure is reported, naming the waiver).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from pathlib import Path

import yaml

FIELDS = {"code", "entity", "reason", "expires"}


class WaiverError(ValueError):
    """A waivers file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Waiver:
    code: str
    entity: str
    reason: str
    expires: dt.date | None = None

    def matches(self, code: str, entity: str) -> bool:
        return fnmatch.fnmatchcase(code, self.code) and fnmatch.fnmatchcase(entity, self.entity)

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires


def load_waivers(path: Path) -> list[Waiver]:
    """Read and check a waivers file; every problem raises :class:`WaiverError`."""
    try:
        loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
        try:
            node = loader.get_single_node()
            entries = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except OSError as error:
        raise WaiverError(f"{path}: cannot read: {error.strerror or error}") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise WaiverError(f"{where}: invalid YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise WaiverError(f"{path}: invalid YAML: {error}".splitlines()[0]) from None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise WaiverError(f"{path}: expected a list of waivers, found {type(entries).__name__}")
    # Each waiver is named by its line too, so that an editor jumps to it.
    lines = [item.start_mark.line + 1 for item in node.value]
    waivers = []
    for index, entry in enumerate(entries):
        where = f"{path}:{lines[index]}: waiver {index + 1}"
        if not isinstance(entry, dict):
            raise WaiverError(f"{where}: expected a mapping with code, entity, reason")
        unknown = set(entry) - FIELDS
        missing = {"code", "entity", "reason"} - set(entry)
        if unknown or missing:
            raise WaiverError(f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        if not all(isinstance(entry[key], str) and entry[key].strip() for key in ("code", "entity", "reason")):
            raise WaiverError(f"{where}: code, entity and reason must be non-empty strings")
        expires = entry.get("expires")
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                raise WaiverError(f"{where}: expires {expires!r} is not YYYY-MM-DD") from None
        elif expires is not None and not isinstance(expires, dt.date):
            raise WaiverError(f"{where}: expires {expires!r} is not YYYY-MM-DD")
        waivers.append(Waiver(entry["code"], entry["entity"], entry["reason"].strip(), expires))
    return waivers


def find_waiver(waivers: list[Waiver], code: str, entity: str) -> Waiver | None:
    """The first waiver matching a failure (an expired one too: the caller reports it)."""
    return next((waiver for waiver in waivers if waiver.matches(code, entity)), None)
