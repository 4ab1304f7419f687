"""The schema location: the column list of one source, inferred once from its first files, persisted and evolved.

Open-source Spark's file stream source needs an explicit schema and has no ``cloudFiles.schemaLocation``. We keep
``<schema_location>/schema_v<N>.json`` files: v0 is the expected columns (schema hints) plus whatever the first
files' CSV headers / JSON keys add; every evolution writes the next version with the new names appended (Auto
Loader's ``addNewColumns``). Versions are never rewritten, so the history of the schema stays readable.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fitlake.bronze.parse import META_COLUMNS
from fitlake.bronze.sources import BronzeSource

SAMPLE_FILES = 50  # CSV: headers of the first files; JSON: keys of the first lines of the first files
SAMPLE_JSON_LINES = 1000
_HEAD_BYTES = 1 << 16
# Delta (without column mapping) rejects these in column names; a dot or backtick would need quoting everywhere.
_INVALID_NAME = re.compile(r"[ ,;{}()\n\t=.`]")
_SCHEMA_FILE = re.compile(r"^schema_v(\d+)\.json$")


@dataclass(frozen=True)
class PersistedSchema:
    source: str
    format: str
    version: int
    columns: tuple[str, ...]
    added: tuple[str, ...] = ()  # what this version added to the previous one
    inferred_from: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "PersistedSchema":
        raw = json.loads(text)
        return cls(
            source=raw["source"],
            format=raw["format"],
            version=int(raw["version"]),
            columns=tuple(raw["columns"]),
            added=tuple(raw.get("added", ())),
            inferred_from=tuple(raw.get("inferred_from", ())),
        )


def promotable(names: Iterable[str], existing: Sequence[str]) -> list[str]:
    """Names that can become bronze columns: valid Delta names, no case-insensitive clash with any column.

    Others stay in ``_rescued_data`` for good (still queryable there, never lost).
    """
    taken = {c.lower() for c in (*existing, *META_COLUMNS)}
    out = []
    for name in names:
        if not name or len(name) > 128 or _INVALID_NAME.search(name) or name.lower() in taken:
            continue
        taken.add(name.lower())
        out.append(name)
    return out


def infer_columns(
    fmt: str, samples: Iterable[str], expected: Sequence[str], delimiter: str = ","
) -> tuple[str, ...]:
    """Expected columns first, then new names in the order the samples show them.

    ``samples`` are CSV header lines or JSON lines. A CSV header that shares no expected column (wrong delimiter,
    no header) and a JSON line that is not an object say nothing about the schema.
    """
    discovered: list[str] = []
    for sample in samples:
        names = _sample_names(fmt, sample.lstrip("\ufeff").rstrip("\r\n"), expected, delimiter)
        discovered.extend(n for n in names if n not in discovered)
    return (*expected, *promotable(discovered, expected))


def _sample_names(fmt: str, line: str, expected: Sequence[str], delimiter: str) -> list[str]:
    if fmt == "csv":
        import csv

        from fitlake.bronze.headers import canonical_names

        header = canonical_names(next(csv.reader([line], delimiter=delimiter), []), expected)
        usable = set(header) & set(expected) and len(set(header)) == len(header)
        return header if usable else []
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses: names nothing
        return []
    return list(record) if isinstance(record, dict) else []


def evolve(schema: PersistedSchema, names: Iterable[str]) -> PersistedSchema | None:
    """The next schema version with the promotable new names appended, or None when nothing is new."""
    new = promotable(sorted(set(names) - set(schema.columns)), schema.columns)
    if not new:
        return None
    return PersistedSchema(
        source=schema.source,
        format=schema.format,
        version=schema.version + 1,
        columns=(*schema.columns, *new),
        added=tuple(new),
    )


# ---- I/O at the edge: the schema location and the landing sample ---------------------------------------------


def load_schema(location: str | os.PathLike) -> PersistedSchema | None:
    """The latest persisted version, or None before the first inference."""
    folder = Path(location)
    if not folder.is_dir():
        return None
    versions = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _SCHEMA_FILE.match(p.name))]
    if not versions:
        return None
    return PersistedSchema.from_json(max(versions)[1].read_text(encoding="utf-8"))


def save_schema(location: str | os.PathLike, schema: PersistedSchema) -> Path:
    """Write ``schema_v<N>.json`` atomically (temp file + rename); an existing version is left as it is."""
    folder = Path(location)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"schema_v{schema.version}.json"
    if not target.exists():
        _atomic_write(target, schema.to_json())
    return target


def landing_files(landing_dir: Path, source: BronzeSource) -> list[Path]:
    """The files the stream would pick up, sorted by path: like Spark, hidden ``.``/``_`` names are skipped and
    symlinked folders are followed."""
    root = landing_dir / source.root
    found = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        found.extend(
            Path(folder, n) for n in names if not n.startswith((".", "_")) and fnmatch.fnmatchcase(n, source.glob)
        )
    return sorted(found)


def sample_landing(
    landing_dir: Path, source: BronzeSource, files: Sequence[str | os.PathLike] | None = None
) -> tuple[list[str], list[str]]:
    """(sample lines, files they came from): CSV first non-blank lines, JSON first lines of the first files.

    ``files``: the files to sample (the batch about to be read); by default the landing's. A file that cannot be
    opened as a regular file, or a broken ``.gz``, is passed over (the reader reports it)."""
    samples: list[str] = []
    used: list[str] = []
    paths = landing_files(landing_dir, source) if files is None else [Path(f) for f in files]
    for path in paths[:SAMPLE_FILES]:
        try:
            got = _sample_file(path, source, len(samples))
        except (OSError, EOFError, ValueError):
            continue
        if got:
            samples.extend(got)
            used.append(str(path))
        if source.format == "json" and len(samples) >= SAMPLE_JSON_LINES:
            break
    return samples, used


def _sample_file(path: Path, source: BronzeSource, have: int) -> list[str]:
    import gzip

    from fitlake.bronze.landing_scan import open_regular

    with os.fdopen(open_regular(str(path), follow=True), "rb") as raw:
        fh = gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
        if source.format == "csv":
            head = fh.read(_HEAD_BYTES)
            lines = [ln for ln in head.decode("utf-8", "replace").lstrip("\ufeff").splitlines() if ln.strip()]
            return lines[:1]
        got: list[str] = []
        for line in fh:
            if have + len(got) >= SAMPLE_JSON_LINES:
                break
            text = line.decode("utf-8", "replace").strip()
            if text:
                got.append(text)
        return got


def ensure_schema(
    location: str | os.PathLike,
    landing_dir: Path,
    source: BronzeSource,
    files: Sequence[str | os.PathLike] | None = None,
) -> PersistedSchema:
    """The persisted schema; on the first run with files, infer it from them and persist it as v0.

    With no files yet the hints are used and nothing is persisted, so the first real files still get inferred.
    """
    current = load_schema(location)
    if current is not None:
        return current
    samples, used = sample_landing(landing_dir, source, files)
    schema = PersistedSchema(
        source=source.name,
        format=source.format,
        version=0,
        columns=infer_columns(source.format, samples, source.columns, source.delimiter),
        inferred_from=tuple(used),
    )
    if used:
        save_schema(location, schema)
    return schema


def _atomic_write(target: Path, text: str) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
