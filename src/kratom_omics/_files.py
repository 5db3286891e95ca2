"""Atomic file output: every file the package writes appears whole or not at all.

A result is written to a temporary name in the same directory (the same file system, so the final
rename is atomic) and renamed onto its path only when writing succeeded; on any error the temporary
file is removed and an existing file at the path is left as it was. Temporary names start with a dot
and keep the suffix (``.report.html.tmp``, ``.volcano.tmp.png``) so that writers choosing a format by
the suffix (matplotlib, pandas) still see it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import KratomOmicsError

__all__ = ["atomic_dir", "atomic_path", "atomic_write_text"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The parent directory is created. The temporary file gets the permissions a new file would get
    (``0666`` less the umask). An ``OSError`` while renaming is raised as
    :class:`~kratom_omics.errors.KratomOmicsError` naming the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError as err:
            raise KratomOmicsError(f"could not write {str(path)!r}: {err}") from err
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
    place; on an error the old directory is restored and the temporary one removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    old: Path | None = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
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
