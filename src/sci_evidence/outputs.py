"""Writing output files so that nothing already written is lost and nothing is half-written.

Every file a command writes goes through :func:`atomic_write` (a temporary file beside the
target, renamed into place only when complete) or, for a folder of files,
:func:`atomic_directory` (the folder is built beside the target and swapped in). Output paths
are checked first by :func:`check_output_path`, which turns every unusable place into one
:class:`~sci_evidence.errors.InputError` line. CSV text cells pass through :func:`csv_safe_cell`
(OWASP's rule against formula injection).

This module is a leaf: it imports only the standard library and :mod:`sci_evidence.errors`,
so the core, the domain and the edges may all use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from sci_evidence.errors import InputError, SciEvidenceError

__all__ = [
    "OutputError",
    "atomic_directory",
    "atomic_write",
    "check_output_path",
    "csv_safe_cell",
    "is_sqlite_file",
    "same_file",
]

_SQLITE_MAGIC = b"SQLite format 3\x00"
#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class OutputError(SciEvidenceError, OSError):
    """A fault of the machine while writing (disk full, permission lost): one line, exit 2."""


def is_sqlite_file(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is an existing file that starts with the SQLite header."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == _SQLITE_MAGIC
    except OSError:
        return False


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True if both paths name the same existing file (resolving links and relative parts)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_output_path(
    path: str | os.PathLike[str],
    *,
    suffixes: Iterable[str] | None = None,
    protect: Iterable[str | os.PathLike[str]] = (),
    directory: bool = False,
    what: str = "output",
) -> Path:
    """Check that ``path`` can be written, before any work is done; return it as a Path.

    Refused, each with one :class:`InputError` line: a suffix outside ``suffixes``; a path
    whose parent folder is missing or is a regular file; a folder where a file is expected
    (or a file where a folder is expected, with ``directory=True``); a place that cannot be
    written; an existing SQLite database; any path in ``protect`` (the database in use).
    """
    p = Path(path)
    name = str(path)
    if suffixes is not None:
        allowed = tuple(s.lower() for s in suffixes)
        if p.suffix.lower() not in allowed:
            raise InputError(
                f"unsupported {what} file type '{p.suffix or '(none)'}'; use one of "
                + ", ".join(allowed),
                file=name,
            )
    for guarded in protect:
        if p.exists() and guarded and same_file(p, guarded):
            raise InputError(f"refusing to write the {what} over the database in use", file=name)
    if p.exists():
        if directory and not p.is_dir():
            raise InputError(f"the {what} must be a folder, but a file is there", file=name)
        if not directory and p.is_dir():
            raise InputError(f"the {what} must be a file, but a folder is there", file=name)
        if not directory and is_sqlite_file(p):
            raise InputError(f"refusing to write the {what} over a SQLite database", file=name)
    parent = p.parent if str(p.parent) else Path(".")
    # Walk up to the first existing ancestor: a regular file there means "below a file".
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise InputError(f"cannot write the {what} below a regular file ('{probe}')", file=name)
    if not parent.exists():
        raise InputError(f"the folder '{parent}' does not exist", file=name)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"the folder '{parent}' is not writable", file=name)
    if p.exists() and not os.access(p, os.W_OK) and not directory:
        # A read-only file in a writable folder could still be replaced by rename, but the
        # user marked it read-only on purpose: refuse rather than overwrite it.
        raise InputError(f"the {what} file is read-only", file=name)
    return p


def _machine_error(exc: OSError, target: Path) -> OutputError:
    reason = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "the file system is read-only",
    }.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return OutputError(f"{target}: cannot write ({reason}); nothing was changed")


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    If the block raises (including ``KeyboardInterrupt``) or the disk fills, the temporary
    file is removed and an existing ``path`` is left exactly as it was. A machine fault
    becomes :class:`OutputError` (one line). ``mode`` is ``"w"`` or ``"wb"``.
    """
    if mode not in ("w", "wb"):
        raise ValueError("atomic_write mode must be 'w' or 'wb'")
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _machine_error(exc, target) from None
    tmp = Path(tmp_name)
    try:
        if "b" in mode:
            fh: IO[Any] = os.fdopen(fd, mode)
        else:
            fh = os.fdopen(fd, mode, encoding=encoding, newline=newline)
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            with contextlib.suppress(OSError):
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, SciEvidenceError):
            raise
        raise _machine_error(exc, target) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a folder beside ``path`` and swap it in only when the block completes.

    Yields the temporary folder to write into. On success an existing ``path`` is moved
    aside, the new folder renamed into place and the old one removed; on any failure
    (including ``KeyboardInterrupt``) the temporary folder is removed and ``path`` is left
    as it was — never a partial folder.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise _machine_error(exc, target) from None
    try:
        yield work
        old: Path | None = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            old.rmdir()
            os.replace(target, old)
        try:
            os.replace(work, target)
        except OSError:
            if old is not None:
                os.replace(old, target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, SciEvidenceError):
            raise
        raise _machine_error(exc, target) from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_safe_cell(value: Any) -> Any:
    """Neutralise a text cell a spreadsheet would run as a formula (OWASP's rule).

    A string starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
    single quote, unless the whole string is a number (``-1.5`` stays a number). Non-strings
    are returned unchanged, so numbers stay numbers.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        if value[0] in "+-" and _looks_numeric(value):
            return value
        return "'" + value
    return value
