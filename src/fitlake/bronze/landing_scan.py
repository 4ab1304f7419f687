"""Our own listing of a source's landing folder: what bronze may read, and what it skipped and why.

Spark's file listing follows symbolic links anywhere, blocks on a named pipe, fails a whole source on one
unreadable entry, matches names case-sensitively and trusts modification times. This walk does none of that:

* ``os.scandir`` under the source's top folder, never following a link out of the landing: a symlink whose real
  path is outside the landing, or that points nowhere, is reported and never opened. A symlink to a *file* inside
  the landing is read under the link's own path (a re-delivery alias); a symlink to a *folder* is reported and not
  walked (no loops, no file read twice).
* Regular files only: FIFOs, sockets and devices are reported and never opened (files are opened with
  ``O_NONBLOCK | O_NOFOLLOW`` and checked with ``fstat``, so an entry swapped for a pipe after the listing cannot
  block either).
* A folder or file that cannot be listed or opened is reported with its path and the OS error; the other files of
  the source are still read.
* Names are matched case-insensitively (``DAILYSTEPS_MERGED.CSV`` is a daily-steps file); ``.gz`` copies are read
  (Spark decompresses them); other compressed or archive files matching a source (``.zip``, ``.bz2``, ...) are
  reported with what to do.
* Hidden folders (``.x``/``_x``) are not read, but reported when they hold files that match the source.
* Clocks are not trusted: a file's identity is (landing-relative path, size, SHA-256 of its bytes). The hash is
  recomputed whenever size, mtime or ctime (which no user can set back) changed since it was last computed, so a
  file rewritten in place is always seen, whatever its modification time says.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fitlake.bronze.sources import BronzeSource

READ_COMPRESSED = (".gz",)  # Hadoop's codecs, decompressed by Spark's text reader
REPORTED_COMPRESSED = (".zip", ".bz2", ".xz", ".zst", ".7z", ".lz4", ".snappy", ".tar", ".tgz")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LandedFile:
    """A regular file bronze may read. ``rel`` is landing-relative (POSIX), ``path`` absolute."""

    rel: str
    path: str
    size: int
    sha256: str
    mtime_ns: int
    ctime_ns: int

    @property
    def identity(self) -> tuple[str, int, str]:
        return (self.rel, self.size, self.sha256)

    def record(self) -> dict:
        return {"size": self.size, "sha256": self.sha256, "mtime_ns": self.mtime_ns, "ctime_ns": self.ctime_ns}

    def retimed(self, prev: Mapping | None) -> dict | None:
        """``prev`` (this file's record) with this file's times, when the bytes are the same (size and SHA-256) but
        the times moved (copied or restored with its times, hard-linked, chmod or chown: each changes ctime), so
        the next scan trusts the file again instead of hashing it; None otherwise."""
        if (prev is None or prev.get("sha256") != self.sha256 or prev.get("size") != self.size
                or (prev.get("mtime_ns"), prev.get("ctime_ns")) == (self.mtime_ns, self.ctime_ns)):
            return None
        return {**prev, "mtime_ns": self.mtime_ns, "ctime_ns": self.ctime_ns}


@dataclass(frozen=True)
class Skipped:
    """An entry that was not read: landing-relative path, a short reason code, and what a person can do."""

    rel: str
    reason: str
    detail: str

    def describe(self) -> str:
        return f"{self.rel}: {self.detail}"


@dataclass
class Scan:
    files: list[LandedFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


ACTIONS = {
    "symlink_outside": "a symbolic link to {target}, outside the landing folder: never read. Copy the file into "
    "the landing if it should be ingested",
    "dangling_symlink": "a symbolic link to {target}, which does not exist: nothing to read. Remove the link or "
    "restore its target",
    "symlink_folder": "a symbolic link to the folder {target}: not walked (files are read under their own path). "
    "Copy or move the files into the landing if they are not there already",
    "special_file": "a {kind}, not a regular file: never opened (it could block the run). Replace it with a "
    "regular file",
    "unreadable": "cannot be read ({error}): skipped, the other files were read. Fix its permissions; the next "
    "run picks it up",
    "unreadable_content": "cannot be decoded ({error}): skipped, the other files were read. Replace it with a "
    "complete copy (a cut-off or mislabelled .gz, say); it is read again when its content changes",
    "unreadable_folder": "folder cannot be listed ({error}): its files were not read. Fix its permissions; the "
    "next run picks them up",
    "hidden_folder": "hidden folder holding {count} file(s) of this source: not read. Rename the folder without "
    "the leading '{prefix}' if they should be ingested",
    "compressed": "{suffix} file: this compression is not read. Decompress it (or gzip it) in the landing",
    "vanished": "disappeared before it could be read; the next run reads it if it comes back",
}


def skipped(rel: str, reason: str, action: str | None = None, **fmt) -> Skipped:
    """``reason``: the code reported; ``action``: the ACTIONS text, when it differs from the code."""
    return Skipped(rel, reason, ACTIONS[action or reason].format(**fmt))


def name_matches(name: str, source: BronzeSource) -> str | None:
    """Which way ``name`` belongs to ``source``: "plain", "gz", "unsupported", or None (not this source's)."""
    return _matcher(source.glob)(name)


def open_regular(path: str, follow: bool = False) -> int:
    """An fd of ``path`` only if it is a regular file; never blocks on a FIFO, never follows a link unless asked."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise IsADirectoryError(f"not a regular file ({_kind(mode)})")
    except BaseException:
        os.close(fd)
        raise
    return fd


def file_sha256(path: str, follow: bool = False) -> str:
    fd = open_regular(path, follow)
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb", closefd=True) as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def scan_source(
    landing_dir: Path | str, source: BronzeSource, known: Mapping[str, Mapping] | None = None
) -> Scan:
    """Walk the source's top folder under ``landing_dir``; ``known`` maps rel path -> the record of a file's last
    hash (size, sha256, mtime_ns, ctime_ns) so unchanged files are not hashed again."""
    landing = str(landing_dir)
    real_landing = os.path.realpath(landing)
    known = known or {}
    out = Scan()
    rel_top = Path(source.root).as_posix()
    top = os.path.join(landing, rel_top)
    try:
        top_stat = os.lstat(top)
    except FileNotFoundError:
        return out  # no files yet
    except OSError as e:
        out.skipped.append(skipped(rel_top, "unreadable_folder", error=_err(e)))
        return out
    if stat.S_ISLNK(top_stat.st_mode):
        target = os.path.realpath(top)
        if not _inside(target, real_landing):
            out.skipped.append(skipped(rel_top, "symlink_outside", target=target))
            return out
    _walk(top, rel_top, real_landing, _matcher(source.glob), known, out, hidden=None)
    out.files.sort(key=lambda f: f.rel)
    return out


class _Matcher:
    """``name_matches`` for one source's glob, compiled once (a walk asks it for every file name): the glob,
    case-insensitively, alone or followed by a compressed file's suffix."""

    def __init__(self, glob: str):
        glob = glob.lower()
        self._plain = re.compile(fnmatch.translate(glob)).match
        self._compressed = [(suffix, re.compile(fnmatch.translate(glob + suffix)).match, kind)
                            for suffixes, kind in ((READ_COMPRESSED, "gz"), (REPORTED_COMPRESSED, "unsupported"))
                            for suffix in suffixes]
        self._suffixes = tuple(suffix for suffix, _, _ in self._compressed)

    def __call__(self, name: str) -> str | None:
        lower = name.lower()
        if self._plain(lower):
            return "plain"
        if not lower.endswith(self._suffixes):
            return None
        for suffix, match, kind in self._compressed:
            if lower.endswith(suffix) and match(lower):
                return kind
        return None


@functools.lru_cache(maxsize=64)
def _matcher(glob: str) -> _Matcher:
    return _Matcher(glob)


def _walk(folder: str, rel_folder: str, real_landing: str, matches: _Matcher, known, out: Scan,
          hidden: list | None) -> None:
    """One folder of the walk. Paths are plain strings: ``folder`` as the OS sees it, ``rel_folder`` its
    landing-relative POSIX path (every entry's ``rel`` is ``rel_folder/name``: the walk never leaves the landing
    through a link, so no path needs resolving to be named)."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        out.skipped.append(skipped(rel_folder, "unreadable_folder", error=_err(e)))
        return
    for entry in entries:
        rel = f"{rel_folder}/{entry.name}" if rel_folder else entry.name
        try:
            is_link = entry.is_symlink()
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError as e:
            out.skipped.append(skipped(rel, "unreadable", error=_err(e)))
            continue
        if is_dir:
            if hidden is None and entry.name.startswith((".", "_")):
                found: list = []
                _walk(entry.path, rel, real_landing, matches, known, Scan(), hidden=found)
                if found:
                    out.skipped.append(skipped(rel, "hidden_folder", count=len(found), prefix=entry.name[0]))
                continue
            _walk(entry.path, rel, real_landing, matches, known, out, hidden)
            continue
        match = matches(entry.name)
        if match is None:
            if is_link and hidden is None and _link_is_folder(entry.path):
                target = os.path.realpath(entry.path)
                reason = "symlink_folder" if _inside(target, real_landing) else "symlink_outside"
                out.skipped.append(skipped(rel, reason, target=target))
            continue
        if hidden is not None:
            hidden.append(rel)
            continue
        if entry.name.startswith((".", "_")):
            continue  # hidden / temporary files (Spark's convention), e.g. a `.x.csv` being written
        if match == "unsupported":
            out.skipped.append(skipped(rel, "compressed", suffix=Path(entry.name).suffix))
            continue
        follow = False
        if is_link:
            target = os.path.realpath(entry.path)
            if not os.path.exists(target):
                out.skipped.append(skipped(rel, "dangling_symlink", target=os.readlink(entry.path)))
                continue
            if not _inside(target, real_landing):
                out.skipped.append(skipped(rel, "symlink_outside", target=target))
                continue
            if os.path.isdir(target):
                out.skipped.append(skipped(rel, "symlink_folder", target=target))
                continue
            follow = True
        prev = known.get(rel)
        try:
            st = os.stat(entry.path) if follow else entry.stat(follow_symlinks=False)
            regular = stat.S_ISREG(st.st_mode)  # anything else is never opened (a FIFO would block the read)
            unchanged = (
                prev is not None
                and prev.get("size") == st.st_size
                and prev.get("mtime_ns") == st.st_mtime_ns
                and prev.get("ctime_ns") == st.st_ctime_ns
            )
            digest = (prev["sha256"] if unchanged else file_sha256(entry.path, follow=follow)) if regular else None
        except FileNotFoundError:
            out.skipped.append(skipped(rel, "vanished"))
            continue
        except OSError as e:
            out.skipped.append(skipped(rel, "unreadable", error=_err(e)))
            continue
        if not regular:
            out.skipped.append(skipped(rel, "special_file", kind=_kind(st.st_mode)))
            continue
        path = os.path.abspath(entry.path)
        out.files.append(LandedFile(rel, path, st.st_size, digest, st.st_mtime_ns, st.st_ctime_ns))


def _link_is_folder(path: str) -> bool:
    try:
        return os.path.isdir(path)
    except OSError:
        return False


def _inside(target: str, real_landing: str) -> bool:
    return target == real_landing or target.startswith(real_landing.rstrip(os.sep) + os.sep)


def _err(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISDIR(mode):
        return "folder"
    return "special file"


def summarize(skips: list[Skipped]) -> str:
    """One line: counts per reason, for the run summary."""
    counts: dict[str, int] = {}
    for s in skips:
        counts[s.reason] = counts.get(s.reason, 0) + 1
    return ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(counts.items()))


_GLOB_CHARS = set("{}[]*?\\")


def literal_path(path: str) -> str:
    """Hadoop expands ``{}[]*?\\`` in a path as a glob: escape them so the file itself is read."""
    if not _GLOB_CHARS.intersection(path):
        return path
    return "".join("\\" + c if c in _GLOB_CHARS else c for c in path)
