"""The workflow tests' shared helpers: a copy of the project to run in, and Snakemake run with the
venv's tools first on the PATH (the environment is read at each call, so a fixture's
``KRATOM_OMICS_*`` settings reach the jobs)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Where snakemake and the jobs' kratom-omics come from: the workflow's own environment when
#: KRATOM_OMICS_WORKFLOW_BIN names it (`make test` gives .venv/bin, kratom-omics[workflow] as the
#: workflow's conda environment holds it: a job that needs a test-only package fails here),
#: otherwise the environment running the tests.
BIN = Path(os.environ.get("KRATOM_OMICS_WORKFLOW_BIN") or Path(sys.executable).parent).absolute()


class Workflow:
    """``project(tmp)`` copies workflows/, config/ and example_data/ into ``tmp``;
    ``run(cwd, *args)`` runs ``snakemake -s workflows/Snakefile *args`` there (an AssertionError
    with its output when it fails and ``check``)."""

    root = ROOT
    bin = BIN
    #: the environment running the tests (with the test extras: dask, scikit-misc)
    dev = Path(sys.executable).parent.absolute()

    def has(self, module: str) -> bool:
        """Whether the workflow's environment (:attr:`bin`) can import ``module``."""
        code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
        return subprocess.run([str(BIN / "python"), "-c", code], check=False).returncode == 0

    @staticmethod
    def env() -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        return env

    @staticmethod
    def project(tmp: Path) -> Path:
        for name in ("workflows", "config", "example_data"):
            shutil.copytree(ROOT / name, tmp / name)
        return tmp

    def run(
        self, cwd: Path, *args: str, check: bool = True, bin: Path = BIN
    ) -> subprocess.CompletedProcess:
        """``bin``: another environment's tools (e.g. :attr:`dev`, which has the extras)."""
        env = self.env()
        env["PATH"] = f"{bin}{os.pathsep}{env['PATH']}"
        proc = subprocess.run(
            [str(bin / "snakemake"), "-s", "workflows/Snakefile", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"snakemake {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        return proc

    @staticmethod
    def steps(out: str) -> list[list[str]]:
        """The commands of every `kratom-omics steps` job in a dry run's output (``-n -p``), each
        as the argument list it runs with."""
        found = []
        for line in out.splitlines():
            line = line.strip().removeprefix("Shell command:").strip()
            if line.startswith("kratom-omics steps "):
                words = shlex.split(line)
                steps = words[2 : words.index("2>")] if "2>" in words else words[2:]
                found += [shlex.split(step) for step in steps]
        return found


@pytest.fixture(scope="session")
def workflow() -> Workflow:
    if not (BIN / "snakemake").exists():
        pytest.skip("snakemake not installed")
    return Workflow()
