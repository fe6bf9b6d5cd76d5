"""The landing folder is a boundary: what partners drop is read, nothing else on the machine.

Partners (and anyone who can write to their drop folder) control every name and every entry in
``<landing>/<partner>/<YYYY-MM-DD>/``. So only *regular files* are read, found by ``lstat`` (never
following a link): partner and date folders must be real folders, a symlink, device, FIFO or
socket is refused, as is a file with other hard links (it may be another file of this machine),
and a path whose real location lies outside the landing folder. A file is opened with
``O_NOFOLLOW`` and checked again on the open descriptor, so a name swapped for a link between
the scan and the load is refused too. Names carry no control or invisible formatting characters
(a newline in a name once forged a line of the run summary); every name shown in a log, reason,
summary or report goes through :func:`safe_name`.

What is refused is not silently ignored: :func:`scan` returns each refused entry with why, and the
extract stage logs them in the run log and the summary. A refused entry is never opened.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

#: Unicode categories a name may not contain: controls, invisible formatting (bidi overrides),
#: surrogates (undecodable bytes), private use, unassigned, line and paragraph separators.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
MAX_NAME_CHARS = 255
_SHOWN_CHARS = 160


def unsafe_chars(name: str) -> list[str]:
    """The characters of ``name`` that make it unsafe to show or use (as ``U+XXXX``)."""
    return [f"U+{ord(ch):04X}" for ch in name if unicodedata.category(ch) in _UNSAFE_CATEGORIES]


def safe_name(name: object, limit: int = _SHOWN_CHARS) -> str:
    """A name as it may be shown in a log line, a reason, the summary or the report: every
    control or invisible character escaped (``\\x0a``), at most ``limit`` characters. Applying it
    twice changes nothing more."""
    out = []
    for ch in str(name):
        if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            code = ord(ch)
            out.append(
                f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
            )
        else:
            out.append(ch)
    shown = "".join(out)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def name_problem(name: str) -> str | None:
    """Why a file or folder name is refused, or None when it is acceptable."""
    bad = unsafe_chars(name)
    if bad:
        return f"name contains control or invisible characters ({', '.join(sorted(set(bad))[:5])})"
    if len(name) > MAX_NAME_CHARS:
        return f"name longer than {MAX_NAME_CHARS} characters"
    return None


@dataclass(frozen=True)
class Rejected:
    """An entry of the landing folder that was not read, and why (names in their safe form)."""

    path: str  # relative to the landing folder, safe form
    reason: str
    partner_id: str | None = None

    def as_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason, "partner_id": self.partner_id}


@dataclass(frozen=True)
class Found:
    """A regular file in a delivery folder: partner, date and path (inside the landing folder)."""

    partner_id: str
    day: date
    path: Path


def _kind(mode: int) -> str:
    for test, what in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return what
    return "not a regular file"


def _inside(path: Path, root: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


def _entries(folder: Path) -> list[tuple[str, os.stat_result | None]]:
    """The names in a folder with their lstat (None when it vanished or cannot be stat'ed)."""
    out = []
    with os.scandir(folder) as it:
        for entry in it:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                st = None
            out.append((entry.name, st))
    return sorted(out, key=lambda e: e[0])


def scan(
    landing_dir: Path, partners: set[str], up_to: date, patterns: dict[str, list[str]] | None = None
) -> tuple[list[Found], list[Rejected]]:
    """The regular files in ``<landing>/<partner>/<YYYY-MM-DD>/`` dated on or before ``up_to``,
    and every entry refused on the way (unknown partner folders, links, devices, unsafe names,
    folders that are not delivery dates, files no source of the partner expects when
    ``patterns`` maps each partner to its file patterns). Hidden names (a leading dot, as upload
    tools write while a file is in transit) are neither read nor reported."""
    root = Path(os.path.realpath(landing_dir))
    found: list[Found] = []
    rejected: list[Rejected] = []
    if not root.is_dir():
        return found, rejected

    def refuse(rel: str, reason: str, partner: str | None = None) -> None:
        rejected.append(Rejected(safe_name(rel, 400), reason, partner))

    for name, st in _entries(root):
        if name.startswith("."):
            continue
        if st is None:
            refuse(name, "cannot be read (vanished or no permission)")
        elif name not in partners:
            what = "a folder" if stat.S_ISDIR(st.st_mode) else _kind(st.st_mode)
            if stat.S_ISREG(st.st_mode):
                what = "a file"
            refuse(name, f"unknown partner folder ({what} whose name is no partner of the registry)")
        elif not stat.S_ISDIR(st.st_mode):
            refuse(name, f"partner folder is {_kind(st.st_mode)}, not a folder", name)
    for partner in sorted(partners):
        partner_dir = root / partner
        try:
            pst = os.lstat(partner_dir)
        except OSError:
            continue
        if not stat.S_ISDIR(pst.st_mode):
            continue  # refused above
        try:
            days = _entries(partner_dir)
        except OSError as exc:
            refuse(partner, f"partner folder cannot be listed ({exc.strerror})", partner)
            continue
        for day_name, dst in days:
            rel_day = f"{partner}/{day_name}"
            if day_name.startswith("."):
                continue
            if dst is None:
                refuse(rel_day, "cannot be read (vanished or no permission)", partner)
                continue
            try:
                day = date.fromisoformat(day_name) if len(day_name) == 10 else None
            except ValueError:
                day = None
            if not stat.S_ISDIR(dst.st_mode):
                refuse(
                    rel_day, f"{_kind(dst.st_mode)} where a delivery folder <YYYY-MM-DD> is expected", partner
                )
                continue
            if day is None:
                refuse(rel_day, "folder is not a delivery date <YYYY-MM-DD>", partner)
                continue
            if day > up_to:
                continue  # a later night's delivery: read on that night
            try:
                files = _entries(partner_dir / day_name)
            except OSError as exc:
                refuse(rel_day, f"delivery folder cannot be listed ({exc.strerror})", partner)
                continue
            for file_name, fst in files:
                rel = f"{rel_day}/{file_name}"
                if file_name.startswith("."):
                    continue
                problem = name_problem(file_name)
                path = partner_dir / day_name / file_name
                if problem:
                    refuse(rel, problem, partner)
                elif fst is None:
                    refuse(rel, "cannot be read (vanished or no permission)", partner)
                elif not stat.S_ISREG(fst.st_mode):
                    refuse(rel, f"{_kind(fst.st_mode)}, not a regular file: never read", partner)
                elif fst.st_nlink > 1:
                    refuse(
                        rel, "a file with other hard links (it may be another file of this machine)", partner
                    )
                elif not _inside(path, root):
                    refuse(rel, "lies outside the landing folder", partner)
                elif patterns is not None and not any(
                    fnmatch.fnmatch(file_name, p) for p in patterns.get(partner, [])
                ):
                    refuse(rel, "matches no file pattern of this partner's sources", partner)
                else:
                    found.append(Found(partner, day, path))
    return found, rejected


class UnsafeFile(OSError):
    """A delivery path that is not (or no longer) a regular file reached without links."""


def _opened_path(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def open_fd(path: str | Path) -> int:
    """Open a delivery for reading without following links: the last component is opened with
    ``O_NOFOLLOW`` (``O_NONBLOCK``: a FIFO cannot hang the loader), the descriptor must be a regular
    file, and the path it really opened must be the path given (no folder on the way was a link)."""
    given = os.path.abspath(path)
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_CLOEXEC", 0)
    )
    try:
        fd = os.open(given, flags)
    except OSError as exc:
        if exc.errno == getattr(__import__("errno"), "ELOOP", -1):
            raise UnsafeFile(exc.errno, "a symbolic link: never read") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(0, f"{_kind(st.st_mode)}, not a regular file: never read")
        real = _opened_path(fd) or os.path.realpath(given)
        if real != given:
            raise UnsafeFile(0, "reached through a symbolic link: never read")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def open_regular(path: str | Path, mode: str = "rb", **kwargs) -> Iterator[IO]:
    """:func:`open_fd` as a file object (``mode`` ``rb`` or ``r`` with ``encoding`` etc.)."""
    fh = os.fdopen(open_fd(path), mode, **kwargs)
    try:
        yield fh
    finally:
        fh.close()


def copy_regular(src: str | Path, target: Path) -> None:
    """Copy a delivery (opened as :func:`open_regular`) to ``target``, created owner-only."""
    with open_regular(src) as fin:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
