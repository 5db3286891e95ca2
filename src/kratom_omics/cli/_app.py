"""The ``kratom-omics`` command line: one verb per public function, thin wrappers only.

Data go to files (or stdout), logs to stderr. Exit codes: 0 success, 1 for a
:class:`~kratom_omics.errors.KratomOmicsError` (printed as one line ``error: ...``; the traceback only with
``--debug``), 2 for usage errors.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .._version import __version__
from ..errors import KratomOmicsError

app = typer.Typer(
    name="kratom-omics",
    help="Find molecular markers of drug withdrawal in proteomics and histone-mark data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

logger = logging.getLogger("kratom_omics")
_state = {"debug": False}


def command(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a command whose :class:`KratomOmicsError` becomes one line ``error: ...`` and exit 1."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except KratomOmicsError as exc:
                if _state["debug"]:
                    traceback.print_exc()
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None

        return app.command(name)(wrapper)

    return decorate


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kratom-omics {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log lines (-vv: debug).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    """Find molecular markers of drug withdrawal in proteomics and histone-mark data."""
    _state["debug"] = debug
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("kratom_omics")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def write_h5ad(adata, path: Path) -> None:
    """Write an h5ad file atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        adata.write_h5ad(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


@command("simulate")
def simulate_cmd(
    out: Annotated[Path, typer.Argument(help="Output .h5ad file.")],
    modality: Annotated[str, typer.Option(help="protein or histone.")] = "protein",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 0,
    n_features: Annotated[int, typer.Option(help="Number of proteins (histone: fixed by families).")] = 500,
    n_per_phase: Annotated[int, typer.Option(help="Samples per phase (per time point).")] = 6,
    phases: Annotated[str, typer.Option(help="Phases in order, comma-separated.")] = "control,use,withdrawal",
    timepoints: Annotated[
        str, typer.Option(help="Withdrawal time points, comma-separated (e.g. 1,3,7); empty for none.")
    ] = "",
    repeated: Annotated[bool, typer.Option(help="Sample the same animals in every phase.")] = False,
    n_batches: Annotated[int, typer.Option(help="Number of batches.")] = 2,
) -> None:
    """Simulate a withdrawal study with planted truth and write it as .h5ad."""
    from ..datasets import simulate

    tps = [float(t) for t in timepoints.split(",") if t.strip()] if timepoints else None
    adata = simulate(
        modality,  # type: ignore[arg-type]
        seed=seed,
        n_features=n_features,
        n_per_phase=n_per_phase,
        phases=[p.strip() for p in phases.split(",") if p.strip()],
        timepoints=tps,
        repeated=repeated,
        n_batches=n_batches,
    )
    write_h5ad(adata, out)
    logger.info("wrote %s (%d samples x %d features)", out, adata.n_obs, adata.n_vars)


@command("example-data")
def example_data_cmd(
    out: Annotated[Path, typer.Argument(help="Directory to write the example files into.")] = Path(
        "example_data"
    ),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write the example data set (MaxQuant, EpiProfile, western blot, sample sheet) from the simulator."""
    from ..datasets import write_example_data

    for path in write_example_data(out, seed=seed):
        logger.info("wrote %s", path)


def main(argv: list[str] | None = None) -> int:
    """Run ``kratom-omics`` with ``argv`` (default: the process arguments); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="kratom-omics")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
