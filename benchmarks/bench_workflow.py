"""Where the time of ``make run`` goes: the workflow on the example data, timed job by job.

    python benchmarks/bench_workflow.py                 # --cores 2, one run
    python benchmarks/bench_workflow.py --repeats 3 --cores 2

Copies ``workflows/``, ``config/`` and ``example_data/`` to a temporary directory and runs
``snakemake -s workflows/Snakefile --cores N`` there with a ``kratom-omics`` stand-in first on the
PATH: a small script that runs the real command and appends its wall-clock and CPU seconds (the
command's own, children included) to a log. Every rule calls the CLI once, so the log holds one
line per job (what ``benchmark:`` files of every rule would hold, without editing the rules).
Then the import cost of a job is measured apart: the median of 5 fresh interpreters importing
what a job imports (the CLI, ``anndata``, the namespaces). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

SHIM = """#!{python} -I
import resource, subprocess, sys, time
start = time.time()
t0 = time.perf_counter()
c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
rc = subprocess.run([{real!r}, *sys.argv[1:]]).returncode
c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
args = [a for a in sys.argv[1:] if not a.startswith("-")]
job = " ".join(args[:2] if args[:1] == ["plot"] else args[:1])
what = " ".join(" ".join(a.split()[:2]) for a in args[:3])[:90]
with open({log!r}, "a") as fh:
    fh.write(f"{{job}}\\t{{time.perf_counter() - t0:.3f}}\\t{{cpu:.3f}}\\t{{start:.3f}}\\t{{what}}\\n")
sys.exit(rc)
"""

IMPORTS = {
    "python (no imports)": "pass",
    "kratom_omics.cli": "import kratom_omics.cli",
    "numpy + pandas": "import numpy, pandas",
    "anndata (pandas, h5py, zarr, dask when installed)": "import anndata",
    "anndata + kratom_omics.io": "import anndata, kratom_omics.io",
    "anndata + kratom_omics.pp": "import anndata, kratom_omics.pp",
    "anndata + kom.tl.differential + kom.get": (
        "import anndata, kratom_omics as kom; kom.tl.differential; kom.get.differential"
    ),
    "anndata + kom.tl.flag_biomarkers": (
        "import anndata, kratom_omics as kom; kom.tl.flag_biomarkers"
    ),
    "anndata + kratom_omics.pl + matplotlib.pyplot": (
        "import anndata, kratom_omics.pl, matplotlib; matplotlib.use('Agg'); "
        "import matplotlib.pyplot"
    ),
    "anndata + kratom_omics.report": "import anndata, kratom_omics.report",
}


Job = tuple[str, float, float, float, str]


def run_workflow(cores: int) -> tuple[float, list[Job]]:
    """One run in a fresh copy of the project: wall seconds and (job, wall, cpu, start, what) per
    job, the start in seconds from the launch of Snakemake, ``what`` its first arguments."""
    with tempfile.TemporaryDirectory() as tmp:
        work, shim_dir = Path(tmp) / "project", Path(tmp) / "bin"
        shim_dir.mkdir()
        for name in ("workflows", "config", "example_data"):
            shutil.copytree(ROOT / name, work / name)
        log = Path(tmp) / "jobs.tsv"
        shim = shim_dir / "kratom-omics"
        shim.write_text(
            SHIM.format(python=sys.executable, real=str(BIN / "kratom-omics"), log=str(log))
        )
        shim.chmod(0o755)
        env = dict(os.environ)
        env["PATH"] = f"{shim_dir}{os.pathsep}{BIN}{os.pathsep}{env.get('PATH', '')}"
        t0, launched = time.perf_counter(), time.time()
        subprocess.run(
            [str(BIN / "snakemake"), "-s", "workflows/Snakefile", "--cores", str(cores)],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - t0
        jobs = []
        for line in log.read_text().splitlines():
            job, seconds, cpu, start, what = line.split("\t")
            jobs.append((job, float(seconds), float(cpu), float(start) - launched, what))
    return wall, jobs


def import_seconds(statement: str, repeats: int = 5) -> float:
    """Median wall seconds of a fresh interpreter running ``statement``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--timeline", action="store_true", help="print when each job of the median run ran"
    )
    args = parser.parse_args()
    walls, runs = [], []
    for _ in range(args.repeats):
        wall, jobs = run_workflow(args.cores)
        walls.append(wall)
        runs.append(jobs)
        print(f"workflow: {wall:.1f} s, {len(jobs)} jobs", file=sys.stderr, flush=True)
    print(
        f"Workflow on the example data, --cores {args.cores}: {len(runs[0])} jobs, wall "
        f"{np.median(walls):.1f} s (median of {args.repeats}; "
        f"{', '.join(f'{w:.1f}' for w in walls)}); the jobs' own time adds up to "
        f"{np.median([sum(j[1] for j in r) for r in runs]):.1f} s "
        f"(CPU {np.median([sum(j[2] for j in r) for r in runs]):.1f} s)\n"
    )
    print("| job (CLI command) | jobs | seconds per job (median) | CPU seconds per job |")
    print("|---|---|---|---|")
    names = sorted({j[0] for r in runs for j in r})
    for name in names:
        sel = [j for r in runs for j in r if j[0] == name]
        print(
            f"| {name} | {len(sel) // len(runs)} | {np.median([j[1] for j in sel]):.2f} "
            f"| {np.median([j[2] for j in sel]):.2f} |"
        )
    if args.timeline:
        i = int(np.argsort(walls)[len(walls) // 2])
        print(
            f"\nTimeline of the median run ({walls[i]:.1f} s; seconds from Snakemake's launch):\n"
        )
        print("| start | end | job |")
        print("|---|---|---|")
        for _, seconds, _, start, what in sorted(runs[i], key=lambda j: j[3]):
            print(f"| {start:.1f} | {start + seconds:.1f} | {what} |")
    print("\nImports of one job (a fresh interpreter, median of 5):\n")
    print("| imports | seconds |")
    print("|---|---|")
    for label, statement in IMPORTS.items():
        print(f"| {label} | {import_seconds(statement):.2f} |")


if __name__ == "__main__":
    main()
