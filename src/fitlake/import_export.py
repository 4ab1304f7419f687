"""``fitlake import PATH``: put a Fitbit export (a folder, or the export's ``.zip``) where bronze reads it,
``<landing>/fitbit/<name>/``.

The export's CSV files keep their paths below the export (a download holding two export periods keeps both
folders); anything else in it is left out. The copy is made in a hidden folder (``.import-<name>``, never read by
bronze) and renamed into place at the end, so an interrupted import leaves nothing half-read; an export already
imported under that name is refused (pass ``--name``). Zip members are never written outside the target folder.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from fitlake.config import ConfigError
from fitlake.options import add_common_arguments, settings_from_args

_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()-]+")


class ExportImportError(ConfigError):
    """The export cannot be imported; said in one sentence."""


def export_name(path: Path) -> str:
    stem = path.name[: -len(".zip")] if path.name.lower().endswith(".zip") else path.name
    name = _UNSAFE.sub("_", stem).strip(" ._") or "export"
    return name


def _safe_parts(rel: str) -> tuple[str, ...] | None:
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    if not parts or parts[0] == "/" or any(p in ("..", "") for p in parts):
        return None
    if any(p.startswith((".", "_")) or p == "__MACOSX" for p in parts):  # hidden / macOS resource forks
        return None
    return tuple(_UNSAFE.sub("_", p) for p in parts)


def import_export(source: str | Path, landing: Path, name: str | None = None) -> tuple[Path, list[str]]:
    """Copy the export's CSV files to ``landing/fitbit/<name>/``; returns (that folder, the files' relative paths)."""
    source = Path(source).expanduser()
    if not source.exists():
        raise ExportImportError(f"{source} does not exist: give the export's folder or its .zip")
    name = export_name(Path(name)) if name else export_name(source)
    target = landing / "fitbit" / name
    if target.exists():
        raise ExportImportError(f"{target} already exists: this export is imported (pass --name NEW to import "
                                "it again under another name)")
    staging = landing / "fitbit" / f".import-{name}"
    if staging.exists():
        shutil.rmtree(staging)  # what an interrupted import left; never read by bronze (hidden)
    copied: list[str] = []
    try:
        if source.is_dir():
            for f in sorted(source.rglob("*")):
                parts = _safe_parts(f.relative_to(source).as_posix())
                if parts and f.is_file() and f.name.lower().endswith(".csv"):
                    dest = staging.joinpath(*parts)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, dest)
                    copied.append("/".join(parts))
        elif zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as z:
                for info in z.infolist():
                    parts = _safe_parts(info.filename)
                    if parts and not info.is_dir() and info.filename.lower().endswith(".csv"):
                        dest = staging.joinpath(*parts)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        with z.open(info) as src, open(dest, "wb") as out:
                            shutil.copyfileobj(src, out)
                        copied.append("/".join(parts))
        else:
            raise ExportImportError(f"{source} is neither a folder nor a .zip file")
        if not copied:
            raise ExportImportError(f"{source} holds no .csv file: is it a Fitbit export?")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target, copied


def add_arguments(parser) -> None:
    add_common_arguments(parser)
    parser.add_argument("path", help="the export: a folder or the .zip Fitbit (or Kaggle) gave you")
    parser.add_argument("--name", default=None, help="folder name under landing/fitbit/ (default: the export's)")


def main(args) -> int:
    from fitlake.bronze.landing_report import known_file

    settings = settings_from_args(args)
    target, files = import_export(args.path, settings.landing_dir, args.name)
    rel = target.relative_to(settings.landing_dir).as_posix()
    unknown = [f for f in files if not known_file(f"{rel}/{f}")]
    print(f"imported {len(files)} CSV file(s) to {target}")
    if unknown:
        print(f"{len(unknown)} of them match no fitlake source and will not be read: {', '.join(unknown[:10])}")
    print("next: fitlake run" + (f" --root {args.root}" if args.root else ""))
    return 0
