"""What the run summary says about the landing folder beyond the counts: files in the wrong place, files no source
knows, and the date format each file read this run showed (``fitlake.bronze.formats``).

The landing check is a plain directory walk (no Spark), so even a run that finds nothing to ingest (every file
misplaced) says why; the formats come from the bronze writes of this run
(``writer.stat_columns``).
"""

from __future__ import annotations

import os
from pathlib import Path

from fitlake.bronze.formats import CONFLICTING, UNDECIDED
from fitlake.bronze.landing_scan import name_matches
from fitlake.bronze.sources import SOURCES

MAX_LISTED = 20
_DATA_SUFFIXES = (".csv", ".json", ".csv.gz", ".json.gz", ".zip")
HOW_TO_LAND = "put a Fitbit export in landing/fitbit/<name>/ (`fitlake import PATH` does it, from a folder or a .zip)"


def known_file(rel: str) -> bool:
    """Would some source read this landing-relative path (by its top folder and file name)?"""
    top, _, rest = rel.partition("/")
    name = rel.rsplit("/", 1)[-1]
    return any(rest and top == s.root and name_matches(name, s) for s in SOURCES.values())


def landing_files(landing: Path) -> list[str]:
    """Landing-relative paths of the visible files (hidden ``.``/``_`` folders and files are skipped, as bronze
    does)."""
    found: list[str] = []
    if not landing.is_dir():
        return found
    for folder, dirs, names in os.walk(landing):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        rel_folder = Path(folder).relative_to(landing)
        found += [str(rel_folder / n) if str(rel_folder) != "." else n
                  for n in sorted(names) if not n.startswith((".", "_"))]
    return found


def landing_notes(landing: Path) -> list[str]:
    """Warnings, each with what to do: data files directly under ``landing/`` (never read), and files that match
    no source (listed, at most ``MAX_LISTED``)."""
    files = landing_files(landing)
    top = [f for f in files if "/" not in f and f.lower().endswith(_DATA_SUFFIXES)]
    unknown = [f for f in files if "/" in f and not known_file(f)]
    notes: list[str] = []
    if top:
        notes.append(f"WARNING: {len(top)} file(s) directly under landing/ are not read: {HOW_TO_LAND}")
        notes += [f"  {f}" for f in top[:MAX_LISTED]]
        notes += [f"  ... and {len(top) - MAX_LISTED} more"] if len(top) > MAX_LISTED else []
    if unknown:
        notes.append(f"WARNING: {len(unknown)} landing file(s) match no source and are not read "
                     f"(a Fitbit export belongs in landing/fitbit/<name>/; other files are ignored):")
        notes += [f"  {f}" for f in unknown[:MAX_LISTED]]
        notes += [f"  ... and {len(unknown) - MAX_LISTED} more"] if len(unknown) > MAX_LISTED else []
    return notes


def format_notes(formats: list[tuple[str, str, str | None]], date_order: str | None) -> list[str]:
    """The run summary's date-format section: files per format, and every file whose order its values do not
    decide (with the setting that decides it) or that contradicts itself."""
    if not formats:
        return []
    by_format: dict[str, int] = {}
    for _t, _f, fmt in formats:
        by_format[fmt or "no dates"] = by_format.get(fmt or "no dates", 0) + 1
    lines = ["date formats of the files read this run (decided per file from its own values):"]
    lines += [f"  {fmt:<40}{n:>6} file(s)" for fmt, n in sorted(by_format.items())]
    undecided = [(t, f) for t, f, fmt in formats if fmt and fmt.startswith(UNDECIDED)]
    conflicting = [(t, f) for t, f, fmt in formats if fmt and fmt.startswith(CONFLICTING)]
    if undecided:
        how = (f"read as {date_order} (the date_order setting)" if date_order else
               "their date rows are quarantined: set --date-order month_first|day_first (or $FITLAKE_DATE_ORDER) "
               "for the next files; to read these, land them again under a new folder name")
        lines.append(f"WARNING: {len(undecided)} file(s) whose days are all 12 or less do not show their date order: "
                     + how)
        lines += [f"  bronze.{t}: {f}" for t, f in undecided[:MAX_LISTED]]
    if conflicting:
        lines.append(f"WARNING: {len(conflicting)} file(s) hold both month-first and day-first dates: their date "
                     "rows are quarantined (fix the file and land it again)")
        lines += [f"  bronze.{t}: {f}" for t, f in conflicting[:MAX_LISTED]]
    return lines
