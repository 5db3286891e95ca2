"""Atomic file output: every file the package writes appears whole or not at all.

A result is written to a temporary name in the same directory (the same file system, so the final
rename is atomic) and renamed onto its path only when writing succeeded; on any error the temporary
file is removed and an existing file at the path is left as it was. Temporary names start with a dot,
name the host and process that write them, and keep the suffix
(``.report.<host>.<pid>-x1y2.tmp.html``, ``.report_tables.<host>.<pid>-x1y2``) so that writers
choosing a format by the suffix (matplotlib, pandas) still see it.

A process killed while writing (SIGKILL, power loss) cannot remove its temporary files. The next
write of the same path removes the ones left behind: those whose process is gone (same host) or
that are older than :data:`STALE_AFTER` seconds; a temporary file of a writer still running is
never touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import KratomOmicsError

__all__ = ["STALE_AFTER", "atomic_dir", "atomic_path", "atomic_write_text", "check_output"]

logger = logging.getLogger("kratom_omics")

#: Age (seconds) after which a temporary file of another host's writer counts as left behind.
STALE_AFTER = 24 * 3600

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0])[:32] or "host"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output(
    path: str | os.PathLike[str], *, what: str = "output", directory: bool = False
) -> Path:
    """``path`` as a :class:`~pathlib.Path` if a file (``directory=True``: a directory) can be
    written there, else a one-line :class:`~kratom_omics.errors.KratomOmicsError` saying why
    (empty, a directory where a file is expected or the reverse, under a regular file, a name the
    file system cannot encode)."""
    text = os.fspath(path)
    if not str(text).strip():
        raise KratomOmicsError(f"{what} path is empty; give a file name, e.g. 'out.h5ad'.")
    if "\x00" in str(text):
        raise KratomOmicsError(f"{what} path {text!r} contains a NUL character.")
    try:  # strict UTF-8: HDF5 and parquet writers encode the name so
        str(text).encode("utf-8")
    except UnicodeError:
        raise KratomOmicsError(
            f"{what} path {text!r} cannot be encoded as a UTF-8 file name; rename it."
        ) from None
    p = Path(text)
    if len(p.name.encode("utf-8", "surrogateescape")) > 255:
        raise KratomOmicsError(f"{what} path {text!r}: the file name is longer than 255 bytes.")
    if directory and p.exists() and not p.is_dir():
        raise KratomOmicsError(f"{what} path {text!r} is a file; give a directory name.")
    if not directory and p.is_dir():
        raise KratomOmicsError(
            f"{what} path {text!r} is a directory; give a file name inside it, e.g. "
            f"{str(p / ('out' + (p.suffix or '.h5ad')))!r}."
        )
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise KratomOmicsError(
                    f"{what} path {text!r}: {str(parent)!r} is a file, not a directory."
                )
            break
    return p


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover - unusual platforms: keep the file
        return True
    return True


def _stale(entry: Path, host: str, pid: int) -> bool:
    if host == _HOST and pid != os.getpid():
        return not _alive(pid)
    try:
        return time.time() - entry.lstat().st_mtime > STALE_AFTER
    except OSError:
        return False


def _remove_stale(directory: Path, name: str, tail: str) -> None:
    """Remove temporaries of ``name`` in ``directory`` left behind by dead writers."""
    pattern = re.compile(
        re.escape(f".{name}.") + r"([A-Za-z0-9-]+)\.(\d+)-[^/]*" + re.escape(tail) + r"$"
    )
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or not _stale(entry, m.group(1), int(m.group(2))):
            continue
        logger.info("removing %s, left behind by an interrupted write", entry)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


def _prepare(path: str | os.PathLike[str], *, directory: bool = False) -> Path:
    path = check_output(path, directory=directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise KratomOmicsError(
            f"could not write {str(path)!r}: cannot create {str(path.parent)!r} "
            f"({err.strerror or err})."
        ) from None
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The parent directory is created. The temporary file gets the permissions a new file would get
    (``0666`` less the umask). Temporary files of earlier writes of ``path`` whose writer died are
    removed first. An unusable path, or an ``OSError`` while creating or renaming, is raised as
    :class:`~kratom_omics.errors.KratomOmicsError` naming the path.
    """
    path = _prepare(path)
    tail = f".tmp{path.suffix}"
    _remove_stale(path.parent, path.stem, tail)
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{path.stem}.{_HOST}.{os.getpid()}-", suffix=tail, dir=path.parent
        )
    except OSError as err:
        raise KratomOmicsError(f"could not write {str(path)!r}: {err.strerror or err}.") from None
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError as err:
            raise KratomOmicsError(
                f"could not write {str(path)!r}: {err.strerror or err}."
            ) from err
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(
    text: str, path: str | os.PathLike[str], *, newline: str | None = None
) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline=newline) as fh:
        fh.write(text)
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new temporary directory beside ``path``; it replaces ``path`` as a whole on success.

    An existing directory at ``path`` is moved aside first and removed only once the new one is in
    place; on an error the old directory is restored and the temporary one removed. Temporary
    directories of earlier writes whose writer died are removed first.
    """
    path = _prepare(path, directory=True)
    _remove_stale(path.parent, path.name, "")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{_HOST}.{os.getpid()}-", dir=path.parent))
    except OSError as err:
        raise KratomOmicsError(f"could not write {str(path)!r}: {err.strerror or err}.") from None
    old: Path | None = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.{_HOST}.{os.getpid()}-old")
            path.rename(old)
        tmp.rename(path)
    except BaseException:
        if old is not None and not path.exists():
            old.rename(path)
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
