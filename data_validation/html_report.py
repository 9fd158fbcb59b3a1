"""The audit's own HTML report: one self-contained page (inline CSS and a few lines of script, nothing
fetched), for when the Allure report cannot be generated, and as a quick overview beside it.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Mapping
from html import escape

from data_validation.io_accounting import format_bytes
from data_validation.registry import NOT_APPLICABLE
from data_validation.results import Record, RecordStatus
from data_validation.summary import Change, Counts, Summary

#: Rows per table; the rest are counted, and are in results.jsonl.
MAX_ROWS = 2000

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em; color: #1d1d1f; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta { color: #666; }
.cards { display: flex; gap: 1em; flex-wrap: wrap; margin: 1em 0; }
.card { border-radius: 8px; padding: .7em 1.2em; min-width: 7em; background: #f2f2f7; }
.card b { display: block; font-size: 1.8em; }
.passed { background: #e3f6e8; } .failed { background: #fde4e1; } .waived { background: #fff4d6; }
.skipped, .not-audited { background: #eceff3; } .new { background: #fde4e1; } .fixed { background: #e3f6e8; }
.verdict { font-size: 1.2em; font-weight: 600; padding: .5em 1em; border-radius: 6px; display: inline-block; }
table { border-collapse: collapse; margin: .5em 0; max-width: 100%; }
td.code { white-space: nowrap; font-family: ui-monospace, monospace; font-size: .9em; }
td.text { overflow-wrap: anywhere; } td.entity { min-width: 18em; }
th, td { text-align: left; padding: .25em .7em; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #fafafa; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: .92em; } .sev-error { color: #c62828; font-weight: 600; } .sev-warning { color: #b26a00; }
.sev-info { color: #555; } input { padding: .3em .6em; width: 24em; margin: .3em 0; }
.note { color: #666; font-style: italic; }
.pictures { display: flex; gap: 1em; flex-wrap: wrap; } .pictures figure { margin: 0; max-width: 400px; }
.pictures img { max-width: 100%; image-rendering: pixelated; border: 1px solid #ddd; }
.pictures figcaption { font-size: .85em; overflow-wrap: anywhere; }
"""

SCRIPT = """
function filterRows(input, table) {
  const needle = input.value.toLowerCase();
  for (const row of document.getElementById(table).tBodies[0].rows) {
    row.style.display = row.textContent.toLowerCase().includes(needle) ? "" : "none";
  }
}
"""


def _cell(value: object, css: str = "") -> str:
    attribute = f' class="{css}"' if css else ""
    return f"<td{attribute}>{escape(str(value))}</td>"


def _counts_table(title: str, rows: Mapping[str, Counts], show_changes: bool) -> str:
    columns = ["passed", "failed", "waived", "skipped"] + (["new", "fixed"] if show_changes else [])
    head = "".join(f"<th>{escape(c)}</th>" for c in [title, *columns])
    body = []
    for name, counts in list(rows.items())[:MAX_ROWS]:
        cells = "".join(_cell(getattr(counts, c), "n") for c in columns)
        body.append(f"<tr><td><code>{escape(name)}</code></td>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>" + _more(len(rows))


def _more(count: int) -> str:
    return f'<p class="note">{count - MAX_ROWS} more rows in results.jsonl</p>' if count > MAX_ROWS else ""


def _changes_table(changes: list[Change]) -> str:
    if not changes:
        return '<p class="note">none</p>'
    rows = [
        "<tr>"
        + _cell(c.code, "code")
        + _cell(c.severity, f"sev-{c.severity}")
        + _cell(c.entity, "text entity")
        + _cell(f"{c.before} → {c.now}", "code")
        + _cell(c.message, "text")
        + "</tr>"
        for c in changes[:MAX_ROWS]
    ]
    head = "<tr><th>check</th><th>severity</th><th>entity</th><th>status</th><th>message</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>" + _more(len(changes))


def _records_table(table_id: str, records: list[Record]) -> str:
    if not records:
        return '<p class="note">none</p>'
    rows = []
    for r in records[:MAX_ROWS]:
        detail = r.message
        if r.waiver:
            detail += (
                f" — waiver{' expired ' + r.waiver_expires if r.status == RecordStatus.FAILED else ''}: {r.waiver}"
            )
        rows.append(
            "<tr>"
            + _cell(r.code, "code")
            + _cell(r.severity, f"sev-{r.severity}")
            + _cell(r.entity, "text entity")
            + _cell(detail, "text")
            + _cell("carried over" if r.carried_over else "checked")
            + "</tr>"
        )
    head = "<tr><th>check</th><th>severity</th><th>entity</th><th>finding</th><th>this run</th></tr>"
    search = (
        f'<input type="search" placeholder="filter…" aria-label="filter {table_id}" '
        f"oninput=\"filterRows(this, '{table_id}')\">"
    )
    table = f'<table id="{table_id}"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    return search + table + _more(len(records))


def shown_in_report(record: Record) -> bool:
    """The records the page lists one by one: failures, waived failures, and skips that hide a check (an
    input it needs is broken, its tier is off), not the checks whose subject the entity lacks."""
    if record.status == RecordStatus.SKIPPED:
        return not record.message.startswith(NOT_APPLICABLE)
    return record.status in (RecordStatus.FAILED, RecordStatus.WAIVED)


def _pictures(pictures: Mapping[str, bytes], failures: list[Record]) -> str:
    """Inline PNGs of failing entities, each captioned with the entity and its failing checks."""
    if not pictures:
        return ""
    figures = []
    for entity, png in pictures.items():
        codes = ", ".join(sorted({r.code for r in failures if r.entity == entity}))
        source = "data:image/png;base64," + base64.b64encode(png).decode()
        figures.append(
            f'<figure><img src="{source}" alt="picture of {escape(entity)}">'
            f"<figcaption><code>{escape(entity)}</code>: {escape(codes)}</figcaption></figure>"
        )
    return f'<h2>Pictures of failing entities ({len(pictures)})</h2><div class="pictures">{"".join(figures)}</div>'


def render_html(
    summary: Summary, records: Iterable[Record], meta: Mapping[str, str], pictures: Mapping[str, bytes] | None = None
) -> str:
    """The page: verdict and totals, new, fixed and unverified results, counts per dataset and per check, the
    failures and pictures of the failing entities (``pictures``: entity path -> PNG), the waived failures and
    the skipped checks with their reasons (``shown_in_report``). ``meta`` is shown as given (bucket, shard,
    previous run, …)."""
    records = list(records)
    severity_rank = {"error": 0, "warning": 1, "info": 2}

    def order(record: Record) -> tuple:
        return severity_rank.get(record.severity, 3), record.code, record.entity

    failures = sorted((r for r in records if r.status == RecordStatus.FAILED), key=order)
    waived = sorted((r for r in records if r.status == RecordStatus.WAIVED), key=order)
    skipped = sorted((r for r in records if r.status == RecordStatus.SKIPPED), key=order)
    t = summary.totals
    verdict = (
        f'<span class="verdict not-audited">not audited: {escape(summary.not_audited)}: exit {summary.exit_code}</span>'
        if summary.not_audited
        else f'<span class="verdict failed">{t.failing} failing check(s) at {summary.fail_level.name.lower()} '
        f"severity or above: exit 1</span>"
        if summary.exit_code
        else f'<span class="verdict passed">no failing check at {summary.fail_level.name.lower()} severity: '
        f"exit 0</span>"
    )
    cards = [("passed", t.passed), ("failed", t.failed), ("waived", t.waived), ("skipped", t.skipped)]
    if summary.has_previous:
        cards += [("new", t.new), ("fixed", t.fixed)]
    card_html = "".join(f'<div class="card {name}"><b>{count}</b>{name}</div>' for name, count in cards)
    meta_html = "".join(f"<div><b>{escape(k)}</b>: {escape(str(v))}</div>" for k, v in meta.items())
    changes = ""
    if summary.has_previous:
        changes = (
            f"<h2>New since the previous run ({len(summary.new)})</h2>{_changes_table(summary.new)}"
            f"<h2>Fixed since the previous run ({len(summary.fixed)})</h2>{_changes_table(summary.fixed)}"
            f"<h2>Unverified: failed in the previous run, skipped now ({len(summary.unverified)})</h2>"
            f"{_changes_table(summary.unverified)}"
        )
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CryoET bucket audit</title>
<style>{STYLE}</style>
<script>{SCRIPT}</script>
</head>
<body>
<h1>CryoET bucket audit</h1>
<div class="meta">{meta_html}<div><b>generated</b>: {generated}</div></div>
<p>{verdict}</p>
<div class="cards">{card_html}</div>
<p class="meta">{summary.evaluated} checks evaluated, {summary.carried_over} carried over from the previous run
(their objects unchanged); checks made {summary.requests} requests and read {format_bytes(summary.bytes_read)}.</p>
{changes}
<h2>Failures ({len(failures)})</h2>
{_records_table("failures", failures)}
{_pictures(pictures or {}, failures)}
<h2>Per dataset</h2>
{_counts_table("dataset", summary.datasets, summary.has_previous)}
<h2>Per check</h2>
{_counts_table("check", summary.checks, summary.has_previous)}
<h2>Waived ({len(waived)})</h2>
{_records_table("waived", waived)}
<h2>Skipped ({len(skipped)})</h2>
{_records_table("skipped", skipped)}
</body>
</html>
"""
