"""Computed (**C**) content of metadata documents (metadata.md) that the importer writes and the checks recompute."""

from __future__ import annotations

from typing import Any

from importers.formats.mdoc import Mdoc

#: Ontology objects a dataset always carries; absent ones are filled as ``not_reported``
#: (``unknown`` for the development stage), as the portal's importer does (metadata.md §3).
ONTOLOGY_DEFAULTS = {
    "cell_component": "not_reported",
    "cell_type": "not_reported",
    "tissue": "not_reported",
    "development_stage": "unknown",
}
ONTOLOGY_KEYS = ("cell_strain", *ONTOLOGY_DEFAULTS)

#: Caption shape → the list its object count is the length of (formats.md §3.2).
CAPTION_LISTS = {"GlobalCaption": "captions", "AnnotationCaption": "objects"}


def frame_records(mdoc: Mdoc, dose_rate: float, is_gain_corrected: Any, movies: dict[str, str]) -> list[dict]:
    """``frames[]`` of frames_metadata.json: one per mdoc section in mdoc order (metadata.md §9).

    ``movies`` maps a movie basename to its output key; a section whose SubFramePath names none gets
    ``path: null``. Exposure dose = ExposureTime × dose rate; the accumulated dose is the sum of the
    earlier sections' doses.
    """
    records = []
    accumulated: float = 0
    for section in mdoc.sections:
        if section.exposure_time is None:
            raise ValueError(f"mdoc line {section.line}: section [ZValue = {section.z_value}] has no ExposureTime")
        exposure = section.exposure_time * dose_rate
        records.append(
            {
                "acquisition_order": section.z_value,
                "accumulated_dose": accumulated,
                "exposure_dose": exposure,
                "is_gain_corrected": is_gain_corrected,
                "path": movies.get(section.sub_frame_path or ""),
            }
        )
        accumulated += exposure
    return records
