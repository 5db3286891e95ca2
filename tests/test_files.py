"""Atomic writes: unusable output paths are one-line errors, and the temporary files of a killed
writer are removed by the next write of the same path (never those of a live writer)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kratom_omics._files import _HOST, STALE_AFTER, atomic_dir, atomic_path, check_output
from kratom_omics.errors import KratomOmicsError

KILLED_WRITER = """
import os, signal, sys
from kratom_omics._files import atomic_dir, atomic_path
out = sys.argv[1]
with atomic_path(os.path.join(out, "report.html")) as tmp:
    tmp.write_text("half")
    with atomic_dir(os.path.join(out, "report_tables")) as d:
        (d / "t.tsv").write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)])
    assert proc.wait(timeout=60) == -9
    left = _leftovers(tmp_path)
    assert len(left) == 2
    assert any(
        n.startswith(f".report.{_HOST}.{proc.pid}-") and n.endswith(".tmp.html") for n in left
    )
    assert any(n.startswith(f".report_tables.{_HOST}.{proc.pid}-") for n in left)
    assert not (tmp_path / "report.html").exists()

    # a live writer's temporaries and unrelated dot files stay
    live = tmp_path / f".report.{_HOST}.{os.getppid()}-abcd.tmp.html"
    live.write_text("in progress")
    other = tmp_path / ".report.html.keep"
    other.write_text("mine")
    # another host's: removed only when old
    fresh = tmp_path / ".report.otherhost.12-ab.tmp.html"
    fresh.write_text("")
    old = tmp_path / ".report.otherhost.13-cd.tmp.html"
    old.write_text("")
    os.utime(old, (time.time() - STALE_AFTER - 60,) * 2)

    with atomic_path(tmp_path / "report.html") as tmp:
        tmp.write_text("whole")
    with atomic_dir(tmp_path / "report_tables") as d:
        (d / "t.tsv").write_text("y")
    assert (tmp_path / "report.html").read_text() == "whole"
    assert (tmp_path / "report_tables" / "t.tsv").read_text() == "y"
    assert _leftovers(tmp_path) == sorted([live.name, other.name, fresh.name])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: "", "output path is empty"),
        (lambda d: str(d), "is a directory; give a file name inside it"),
        (lambda d: str(d / "file.txt" / "out.h5ad"), "is a file, not a directory"),
        (lambda d: str(d / "a\x00b.h5ad"), "contains a NUL character"),
        (lambda d: str(d / "\ud800.h5ad"), "cannot be encoded as a UTF-8 file name"),
        (lambda d: str(d / ("x" * 300 + ".h5ad")), "longer than 255 bytes"),
    ],
)
def test_unusable_output_paths_are_one_line_errors(tmp_path, make, message):
    (tmp_path / "file.txt").write_text("a regular file")
    path = make(tmp_path)
    with pytest.raises(KratomOmicsError, match=message):
        check_output(path)
    with pytest.raises(KratomOmicsError, match=message), atomic_path(path) as tmp:
        tmp.write_text("never")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_directory_output_over_a_file_is_refused(tmp_path):
    (tmp_path / "tables").write_text("a file")
    with (
        pytest.raises(KratomOmicsError, match="is a file; give a directory name"),
        atomic_dir(tmp_path / "tables"),
    ):
        pass
    assert (tmp_path / "tables").read_text() == "a file"
