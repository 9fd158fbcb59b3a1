"""SerialEM ``.mdoc`` files: global ``Key = Value`` lines, ``[T = …]`` title lines and one
``[ZValue = n]`` section per tilt image (formats.md §4)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from importers.formats.text_table import TextFormatError

_BRACKETED = re.compile(r"^\[\s*(?P<name>[^=\]]+?)\s*=\s*(?P<value>.*?)\s*\]$")
_TILT_AXIS = re.compile(r"Tilt\s*axis\s*angle\s*=\s*(?P<angle>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
#: SerialEM records movie paths as written on the acquisition PC (often ``X:\frames\…``).
_PATH_SEPARATORS = re.compile(r"[\\/]")
#: Digits the portal compares tilt angles at when it pairs rawtlt lines with mdoc sections.
TILT_ANGLE_DECIMALS = 2


@dataclass(frozen=True)
class MdocSection:
    """One ``[ZValue = n]`` section: a tilt image."""

    z_value: int
    line: int
    tilt_angle: float
    exposure_time: float | None
    exposure_dose: float | None
    pixel_spacing: float | None
    #: Basename of ``SubFramePath`` (the movie file), None when the section has none.
    sub_frame_path: str | None
    num_sub_frames: int | None
    date_time: str | None
    values: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class Mdoc:
    """A parsed mdoc: what precedes the sections, the title lines and the sections in file order."""

    values: dict[str, str]
    titles: list[str]
    tilt_axis: float | None
    sections: list[MdocSection]

    def section_at_angle(self, angle: float) -> MdocSection | None:
        """The first section whose ``TiltAngle`` equals ``angle`` once both are rounded to 2 dp, as the
        portal pairs rawtlt lines with mdoc sections."""
        wanted = round(angle, TILT_ANGLE_DECIMALS)
        for section in self.sections:
            if round(section.tilt_angle, TILT_ANGLE_DECIMALS) == wanted:
                return section
        return None


def _number(values: dict[str, tuple[str, int]], key: str, source: str, *, integer: bool = False) -> float | None:
    if key not in values:
        return None
    text, line = values[key]
    try:
        return int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise TextFormatError(f"{source}: line {line}: {key} = {text!r} is not {kind}") from None


def _section(z_value: int, line: int, values: dict[str, tuple[str, int]], source: str) -> MdocSection:
    if "TiltAngle" not in values:
        raise TextFormatError(f"{source}: line {line}: section [ZValue = {z_value}] has no TiltAngle")
    frame_path = values.get("SubFramePath", ("", 0))[0]
    num_sub_frames = _number(values, "NumSubFrames", source, integer=True)
    return MdocSection(
        z_value=z_value,
        line=line,
        tilt_angle=float(_number(values, "TiltAngle", source)),
        exposure_time=_number(values, "ExposureTime", source),
        exposure_dose=_number(values, "ExposureDose", source),
        pixel_spacing=_number(values, "PixelSpacing", source),
        sub_frame_path=_PATH_SEPARATORS.split(frame_path)[-1] or None,
        num_sub_frames=None if num_sub_frames is None else int(num_sub_frames),
        date_time=values["DateTime"][0] if "DateTime" in values else None,
        values={key: text for key, (text, _) in values.items()},
    )


def parse_mdoc(text: str, source: str) -> Mdoc:
    """Parse an mdoc; raises :class:`TextFormatError` naming the line of the first problem.

    Sections other than ``[ZValue = n]`` (montage pieces, frame sets) are skipped with their keys.
    """
    global_lines: dict[str, tuple[str, int]] = {}
    titles: list[str] = []
    # (ZValue, header line, key -> (value, line)) per section, in file order.
    sections: list[tuple[int, int, dict[str, tuple[str, int]]]] = []
    # Keys go to the global block, then to the current ZValue section (None: a skipped section).
    current: dict[str, tuple[str, int]] | None = global_lines
    seen_z: dict[int, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("["):
            bracketed = _BRACKETED.match(stripped)
            if bracketed is None:
                raise TextFormatError(f"{source}: line {number}: malformed section header {stripped!r}")
            name, value = bracketed.group("name"), bracketed.group("value")
            if name == "T":
                titles.append(value)
            elif name == "ZValue":
                try:
                    z_value = int(value)
                except ValueError:
                    raise TextFormatError(f"{source}: line {number}: ZValue {value!r} is not an integer") from None
                if z_value in seen_z:
                    raise TextFormatError(
                        f"{source}: line {number}: [ZValue = {z_value}] repeats the section of line {seen_z[z_value]}"
                    )
                seen_z[z_value] = number
                current = {}
                sections.append((z_value, number, current))
            else:
                current = None
            continue
        key, equals, value = stripped.partition("=")
        if not equals or not key.strip():
            raise TextFormatError(f"{source}: line {number}: expected 'Key = Value', found {stripped!r}")
        if current is not None:
            current[key.strip()] = (value.strip(), number)
    if not sections:
        raise TextFormatError(f"{source}: no [ZValue = n] sections")
    axis = next((match for title in titles if (match := _TILT_AXIS.search(title))), None)
    return Mdoc(
        values={key: text for key, (text, _) in global_lines.items()},
        titles=titles,
        tilt_axis=float(axis.group("angle")) if axis else None,
        sections=[_section(z, line, values, source) for z, line, values in sections],
    )
