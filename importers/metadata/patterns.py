"""The id and text patterns of metadata documents and configs, by name: plain regexes, so that checks can use
them without building the pydantic models (``models.py``)."""

# name -> (regex, what a user should write); config validation turns pattern errors into these descriptions.
_DOI = r"(doi:)?10\.\d{4,9}/[-._;()/:a-zA-Z0-9]+"
_DB_ENTRY = r"EMPIAR-\d{5}|EMD-\d{4,5}|PDB-[0-9a-zA-Z]{4,8}"


def _comma_list(item: str) -> str:
    return rf"^\s*(?:{item})(?:\s*,\s*(?:{item}))*\s*$"


PATTERNS: dict[str, tuple[str, str]] = {
    "template": (r"^(?:float *|int *| *)\{[A-Za-z0-9_-]+\} *$", "a run-data-map template like 'float {col}'"),
    "version": (r"^\d+\.\d+\.\d+$", "a version like 1.3.0"),
    "date": (r"^\d{4}-\d{2}-\d{2}$", "a date YYYY-MM-DD"),
    "orcid": (r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$", "an ORCID like 0000-0002-1825-0097"),
    "ingest_id": (r"^[a-z0-9]+(-[a-z0-9]+)*-[0-9]+$", "lower-case words joined by '-' and ending in -<n>"),
    "publications": (_comma_list(_DOI), "a comma-separated list of DOIs (10.xxxx/...)"),
    "database_entries": (_comma_list(_DB_ENTRY), "a comma-separated list of EMPIAR-/EMD-/PDB- ids"),
    "annotation_publications": (
        _comma_list(f"{_DOI}|{_DB_ENTRY}"),
        "a comma-separated list of DOIs and EMPIAR-/EMD-/PDB- ids",
    ),
    "empiar": (r"^EMPIAR-\d+$", "an EMPIAR id like EMPIAR-10988"),
    "tissue_id": (
        r"^(BTO:\d{7}|CL:\d{7}|UBERON:\d{7}|WBbt:\d{7}|ZFA:\d{7}|FBbt:\d{8}|not_reported)$",
        "a BTO/CL/UBERON/WBbt/ZFA (7 digits) or FBbt (8 digits) id",
    ),
    "cell_type_id": (
        r"^(CL:\d{7}|WBbt:\d{7}|ZFA:\d{7}|UBERON:\d{7}|FBbt:\d{8}|not_reported)$",
        "a CL/WBbt/ZFA/UBERON (7 digits) or FBbt (8 digits) id",
    ),
    "cell_strain_id": (
        r"^(NCBITaxon:\d+|CVCL_[A-Z0-9]{4,}|WBStrain\d{8}|CC-\d{4}|not_reported)$",
        "an NCBITaxon:, CVCL_, WBStrain or CC- id",
    ),
    "cell_component_id": (r"^(GO:\d{7}|not_reported)$", "a GO id like GO:0005737"),
    "assay_id": (r"^(EFO:\d{7}|not_reported)$", "an EFO id like EFO:0002909"),
    "development_stage_id": (
        r"^(unknown|UBERON:\d{7}|HsapDv:\d{7}|MmusDv:\d{7}|WBls:\d{7}|ZFS:\d{7}|FBdv:\d{8}|not_reported)$",
        "'unknown' or an UBERON/HsapDv/MmusDv/WBls/ZFS (7 digits) or FBdv (8 digits) id",
    ),
    "disease_id": (r"^(MONDO:\d{7}|PATO:\d{7}|not_reported)$", "a MONDO or PATO id like PATO:0000461"),
    "annotation_object_id": (
        r"^(GO:\d{7}|UniProtKB:[A-Za-z0-9_-]+|UBERON:\d{7}|CHEBI:\d+|CDPO:\d{7}|CL:\d{7}|PDB-[0-9a-zA-Z]{4,8})$",
        "a GO/UBERON/CDPO/CL (7 digits), CHEBI:, UniProtKB: or PDB- id",
    ),
    "version_string": (r"^\d+(\.\d+)?$", "a number"),
}
