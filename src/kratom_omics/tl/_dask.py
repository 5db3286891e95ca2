"""Out-of-core least squares for ``kom.tl.differential``: limma's fit over feature chunks of dask data.

The samples x features matrix is never materialised. Each task reads one block of features (all
samples), fits it with :func:`~kratom_omics.tl._limma.lm_fit`, takes the contrasts
(``contrasts_fit``) and returns per-feature summaries: contrast estimates and unscaled standard
errors, sigma, residual df, AveExpr, number of observations and the detected counts on both sides
of every contrast. These are a few numbers per feature whatever the number of samples; the
empirical-Bayes prior, moderated statistics, FDR and tables are then computed from them block by
block by the one limma orchestration (:mod:`kratom_omics.tl._limma._engine`), which fits in-memory
data as one block: the numbers are those of the in-memory path. The blocks' summaries are kept in a
:class:`~kratom_omics.tl._limma.ChunkStore`, in memory or spilled to ``.npy`` files.

Tasks run on dask's threaded scheduler, on the active ``dask.distributed`` client, or on the cluster
named by ``scheduler``: ``"local:N"`` starts a ``LocalCluster`` of N single-threaded worker
processes for the call, ``"threads"``/``"synchronous"``/``"processes"`` pick a local dask scheduler
and any other value is the address of a running scheduler (``"tcp://head:8786"``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._core import check_layer
from ..errors import DesignError, KratomOmicsError, MissingDependencyError
from ._limma import ChunkStore, block_summary, contrasts_fit, lm_fit

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "chunked_fit",
    "is_dask_array",
    "is_dask_backed",
    "require_dask",
    "scheduler_client",
]

logger = logging.getLogger("kratom_omics")

DASK_EXTRA = "kratom-omics[dask]"
DEFAULT_CHUNK_SIZE = 100_000
_LOCAL_SCHEDULERS = ("threads", "synchronous", "processes")
_LOCAL_RE = re.compile(r"^local(?::(\d+))?$")


def require_dask(what: str = "dask-backed data") -> Any:
    """Import and return ``dask.array``; raise :class:`MissingDependencyError` naming the extra."""
    try:
        import dask
        import dask.array as da
    except ImportError as err:  # pragma: no cover - exercised by monkeypatching the import
        raise MissingDependencyError(
            f"{what} needs dask, which is not installed ({err}); "
            f"install the extra: pip install '{DASK_EXTRA}'."
        ) from err
    del dask
    return da


def _require_distributed(what: str) -> Any:
    try:
        import distributed
    except ImportError as err:
        raise MissingDependencyError(
            f"{what} needs dask.distributed, which is not installed ({err}); "
            f"install the extra: pip install '{DASK_EXTRA}'."
        ) from err
    return distributed


def is_dask_array(m: Any) -> bool:
    """True for a dask array, checked without importing dask."""
    return type(m).__module__.split(".")[0] == "dask" and hasattr(m, "chunks")


def is_dask_backed(adata: AnnData, layer: str | None = None) -> bool:
    """True when ``adata.X`` (or ``adata.layers[layer]``) is a dask array."""
    if layer is None:
        return is_dask_array(adata.X)
    return layer in adata.layers and is_dask_array(adata.layers[layer])


def _check_chunk_size(chunk_size: Any) -> int | None:
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise DesignError(
            f"chunk_size must be a positive integer (features per task) or None; got {chunk_size!r}."
        )
    if chunk_size < 1:
        raise DesignError(f"chunk_size must be >= 1 feature per task; got {chunk_size}.")
    return int(chunk_size)


def _check_scheduler(scheduler: Any) -> str | None:
    if scheduler is None or scheduler == "":
        return None
    if not isinstance(scheduler, str):
        raise DesignError(
            f"scheduler must be a string ('local:N', 'threads', 'synchronous', 'processes' or a "
            f"scheduler address such as 'tcp://head:8786'); got {scheduler!r}."
        )
    s = scheduler.strip()
    if s.startswith("local"):
        m = _LOCAL_RE.match(s)
        if m is None or (m.group(1) is not None and int(m.group(1)) < 1):
            raise DesignError(
                f"scheduler={scheduler!r} is not understood; write 'local:N' with N >= 1 workers, "
                "e.g. 'local:2'."
            )
    return s


@contextlib.contextmanager
def scheduler_client(scheduler: str | None) -> Iterator[tuple[Any, str]]:
    """Yield ``(client_or_None, local_scheduler_name)`` for ``scheduler`` (see module docs).

    A ``LocalCluster`` started here (``"local:N"``) and a client opened here for an address are
    closed on exit; an active client found with ``scheduler=None`` is used and left open.
    """
    s = _check_scheduler(scheduler)
    if s is None:
        try:
            from distributed import default_client
        except ImportError:
            yield None, "threads"
            return
        try:
            client = default_client()
        except ValueError:  # no active client
            yield None, "threads"
            return
        yield client, ""
        return
    if s in _LOCAL_SCHEDULERS:
        yield None, s
        return
    distributed = _require_distributed(f"scheduler={s!r}")
    m = _LOCAL_RE.match(s)
    if m is not None:
        n = int(m.group(1) or 1)
        with (
            distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            ) as cluster,
            distributed.Client(cluster, set_as_default=False) as client,
        ):
            logger.info("differential: LocalCluster with %d worker(s) started", n)
            yield client, ""
        return
    from distributed.comm.registry import backends

    scheme = s.split("://", 1)[0] if "://" in s else "tcp"
    if scheme not in backends or not s.split("://", 1)[-1].strip(":/"):
        raise DesignError(
            f"scheduler={scheduler!r} is not a dask scheduler address: write "
            f"'<protocol>://<host>:<port>' with a protocol of {sorted(backends)} (e.g. "
            "'tcp://head:8786'), 'local:N', 'threads', 'synchronous' or 'processes'."
        )
    try:
        client = distributed.Client(s, set_as_default=False, timeout="20s")
    except (OSError, TimeoutError, ValueError) as err:
        raise KratomOmicsError(
            f"could not connect to the dask scheduler at scheduler={s!r} ({err}); start it "
            "(dask scheduler) or pass 'local:N' for a local cluster."
        ) from err
    try:
        yield client, ""
    finally:
        client.close()


def _fit_block(
    block: Any,
    design: np.ndarray,
    cmat: np.ndarray,
    exact: bool,
    masks: Sequence[tuple[np.ndarray, np.ndarray] | None],
) -> dict[str, np.ndarray]:
    """lm_fit and contrasts_fit of one samples x features block, reduced to its summaries
    (:func:`~kratom_omics.tl._limma.block_summary`)."""
    import scipy.sparse as sp

    if sp.issparse(block):
        block = block.toarray()
    y = np.asarray(block, dtype=np.float64).T
    fit = lm_fit(y, design, per_feature_cov=exact)
    cfit = contrasts_fit(fit, cmat, exact=exact)
    return block_summary(fit, cfit, y, masks)


def _blocks(x: Any, chunk_size: int | None) -> tuple[list[Any], list[int]]:
    """Delayed samples x features blocks (all samples in each) and their feature offsets."""
    x = x.rechunk({0: -1} if chunk_size is None else {0: -1, 1: chunk_size})
    if chunk_size is None and max(x.chunks[1]) > DEFAULT_CHUNK_SIZE:
        x = x.rechunk({0: -1, 1: DEFAULT_CHUNK_SIZE})
    offsets = np.concatenate([[0], np.cumsum(x.chunks[1])]).astype(int).tolist()
    return list(x.to_delayed().ravel()), offsets


def _log_progress(done: int, total: int) -> None:
    """Default progress of a chunked fit: a log line at every tenth of the chunks."""
    if done == total or done % max(1, total // 10) == 0:
        logger.info("differential: %d of %d chunks fitted (%d%%)", done, total, 100 * done // total)


def chunked_fit(
    adata: AnnData,
    design: np.ndarray,
    cmat: np.ndarray,
    *,
    masks: Sequence[tuple[np.ndarray, np.ndarray] | None],
    layer: str | None = None,
    weights: str | np.ndarray | None = None,
    exact: bool = False,
    keep_amean: bool = False,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    spill: str | os.PathLike | None = None,
) -> tuple[ChunkStore, dict[str, np.ndarray]]:
    """limma's ``lmFit`` + ``contrasts.fit`` of ``adata.X`` (or a layer), one task per feature block.

    ``adata.X`` may be a dask array (read lazily from zarr or h5ad) or an in-memory array (split
    into ``chunk_size`` features per task). ``masks`` are the sample masks of the two sides of
    every contrast (:func:`~kratom_omics.tl._detection.side_masks`) for the detection counts.

    Returns the :class:`ChunkStore` of per-block summaries (spilled to files in ``spill`` when
    given) and the arrays over all features that the variance prior needs: ``sigma``,
    ``df_residual`` and, with ``keep_amean``, ``amean``.
    """
    da = require_dask("differential on dask-backed data or with scheduler/chunk_size")
    import dask

    if progress is None:
        progress = _log_progress

    chunk_size = _check_chunk_size(chunk_size)
    if weights is not None:
        raise DesignError(
            "weights are not supported by the chunked (dask) fit; fit weighted data in memory "
            "(scheduler=None, chunk_size=None and an in-memory adata.X)."
        )
    check_layer(adata, layer)
    m = adata.X if layer is None else adata.layers[layer]
    x = m if is_dask_array(m) else da.from_array(m, chunks=(-1, chunk_size or "auto"))
    n, g = (int(v) for v in x.shape)
    design = np.asarray(design, dtype=float)
    if design.shape[0] != n:
        raise DesignError(
            f"design has {design.shape[0]} rows but the data have {n} samples; "
            "build the design from the same samples."
        )
    lm_fit(np.empty((0, n)), design)  # the rank check, before any task runs
    blocks, offsets = _blocks(x, chunk_size)
    tasks = [dask.delayed(_fit_block)(b, design, cmat, exact, list(masks)) for b in blocks]
    store = ChunkStore(offsets, spill)
    sigma = np.empty(g)
    dfres = np.empty(g)
    amean = np.empty(g) if keep_amean else None

    def keep(i: int, r: dict[str, np.ndarray]) -> None:
        sl = store.slice(i)
        sigma[sl] = r["sigma"]
        dfres[sl] = r["dfres"]
        if amean is not None:
            amean[sl] = r["amean"]
        store.put(i, r)

    with scheduler_client(scheduler) as (client, local):
        where = f"{len(client.scheduler_info()['workers'])} worker(s)" if client else local
        logger.info(
            "differential: %d features x %d samples in %d chunk(s) on %s", g, n, len(tasks), where
        )
        done = 0
        if client is not None:
            futures = client.compute(tasks)
            for i, fut in enumerate(futures):  # gathered in order while the workers run ahead
                keep(i, fut.result())
                fut.release()
                done += 1
                if progress is not None:
                    progress(done, len(tasks))
        else:
            # a few chunks per round: results are small, inputs are read block by block
            step = 8
            for start in range(0, len(tasks), step):
                results = dask.compute(*tasks[start : start + step], scheduler=local)
                for j, r in enumerate(results):
                    keep(start + j, r)
                done += len(results)
                if progress is not None:
                    progress(done, len(tasks))
    out = {"sigma": sigma, "df_residual": dfres}
    if amean is not None:
        out["amean"] = amean
    return store, out
