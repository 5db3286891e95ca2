"""Zarr-backed AnnData for data larger than memory: a streaming featureCounts writer and a lazy reader.

:func:`featurecounts_to_zarr` reads a featureCounts table (genes, peaks or genome-wide bins) in
blocks of rows and appends each block of counts to the ``X`` array of an AnnData zarr store, so the
count matrix is never held in memory (the feature annotation, a few numbers per feature, is).
:func:`read_zarr_lazy` opens such a store (or any AnnData zarr store with a dense ``X``) with
``X`` as a dask array; :func:`kratom_omics.tl.differential` then fits it chunk by chunk.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES, record_provenance
from .._files import atomic_dir
from ..errors import InputFormatError, MissingDependencyError
from ._anndata import _make_unique
from ._choices import choices_so_far
from ._counts import (
    _attach_summary,
    featurecounts_block,
    featurecounts_table,
    note_zero_starts,
    sample_names,
)
from ._loader import loader

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["featurecounts_to_zarr", "read_zarr_lazy", "store_atomically"]

logger = logging.getLogger("kratom_omics")

DASK_EXTRA = "kratom-omics[dask]"


def _require_zarr(what: str) -> Any:
    try:
        import zarr
    except ImportError as err:
        raise MissingDependencyError(
            f"{what} needs zarr, which is not installed ({err}); "
            f"install the extra: pip install '{DASK_EXTRA}'."
        ) from err
    return zarr


@contextlib.contextmanager
def store_atomically(out: str | os.PathLike, *, overwrite: bool) -> Iterator[Path]:
    """Yield a new temporary directory beside ``out`` to write a store into; it becomes ``out``
    only when the block succeeds.

    A failed or interrupted write leaves no partial store and an existing store at ``out``
    untouched (see :func:`kratom_omics._files.atomic_dir`). Without ``overwrite`` an existing
    ``out`` is an error, raised before anything is read.
    """
    out_p = Path(out)
    if out_p.exists() and not overwrite:
        raise InputFormatError(
            f"{str(out_p)!r} already exists; choose another out path or pass overwrite=True."
        )
    with atomic_dir(out_p) as tmp:
        yield tmp


def new_store(out: Path, n_obs: int, chunk: int) -> tuple[Any, Any]:
    """Open a new AnnData zarr store at ``out`` with an empty ``X`` (``n_obs`` x 0) to append to.

    ``X`` is float64, chunked as all samples x ``chunk`` features; blocks are appended along
    features with ``x.append(block, axis=1)``. :func:`finish_store` completes the store.
    """
    zarr = _require_zarr("writing a zarr store")
    import anndata as ad

    root = zarr.open_group(str(out), mode="w", zarr_format=int(ad.settings.zarr_write_format))
    x = root.create_array(
        "X", shape=(n_obs, 0), chunks=(n_obs, int(chunk)), dtype="float64", fill_value=0.0
    )
    return root, x


def finish_store(root: Any, x: Any, skeleton: AnnData) -> None:
    """Write ``.obs``, ``.var`` and ``.uns`` of ``skeleton`` beside ``X`` and mark the store as an
    AnnData (readable by ``anndata.read_zarr`` and :func:`read_zarr_lazy`)."""
    from anndata.io import write_elem

    x.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
    for key in ("obs", "var"):
        write_elem(root, key, getattr(skeleton, key))
    write_elem(root, "uns", dict(skeleton.uns))
    for key in ("layers", "obsm", "varm", "obsp", "varp"):
        write_elem(root, key, {})
    root.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})


@loader(sheet=False)
def featurecounts_to_zarr(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    chunk_rows: int = 100_000,
    rename: Mapping[str, str] | None = None,
    summary: str | os.PathLike | bool = True,
    overwrite: bool = False,
    encoding: str | None = None,
) -> Path:
    """Stream a featureCounts table into an AnnData zarr store without loading the counts.

    The table is read ``chunk_rows`` rows at a time (pandas ``chunksize``); each block of counts is
    checked as :func:`kratom_omics.io.read_featurecounts` checks it and appended to ``X`` on disk.

    Parameters
    ----------
    path
        featureCounts output (``counts.txt``): genes, peaks or genome-wide bins (SAF).
    out
        Directory of the zarr store to write (``.zarr`` by convention).
    chunk_rows
        Features per block read, and the zarr chunk size along features.
    rename
        Explicit ``{bam column or reduced name: sample}`` mapping, as in ``read_featurecounts``.
    summary
        featureCounts' ``.summary``, as in ``read_featurecounts`` (its statuses become ``.obs``
        columns).
    overwrite
        Replace an existing store at ``out``.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    The path of the store. It holds an AnnData (samples x features) whose ``X`` = counts (float64,
    chunks of all samples x ``chunk_rows`` features), ``.var`` indexed by ``Geneid`` with
    ``chrom``, ``start`` (0-based), ``end``, ``strand``, ``length``, ``.obs["bam"]`` (and the
    summary's statuses) and the provenance step in ``.uns``. Open it with :func:`read_zarr_lazy`
    (or ``anndata.read_zarr``). The store is written under a temporary name beside ``out`` and
    renamed when complete, so a bad input or an interrupted run leaves no partial store (and an
    existing store at ``out`` as it was).

    Raises
    ------
    InputFormatError
        As ``read_featurecounts`` (header, counts, sample names), or ``out`` exists and
        ``overwrite`` is False.
    """
    _require_zarr("featurecounts_to_zarr")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)):
        raise InputFormatError(f"chunk_rows must be a positive integer; got {chunk_rows!r}.")
    if chunk_rows < 1:
        raise InputFormatError(f"chunk_rows must be >= 1; got {chunk_rows}.")
    out_p = Path(out)
    with store_atomically(out_p, overwrite=overwrite) as tmp:
        source, n, g = _stream_counts(path, tmp, int(chunk_rows), rename, summary, encoding, out_p)
    logger.info("%s: %d samples x %d features streamed to %s", source, n, g, out_p)
    return out_p


def _stream_counts(
    path: str | os.PathLike,
    tmp: Path,
    chunk_rows: int,
    rename: Mapping[str, str] | None,
    summary: str | os.PathLike | bool,
    encoding: str | None,
    out: Path,
) -> tuple[str, int, int]:
    """Write the store of :func:`featurecounts_to_zarr` into ``tmp``: source, samples, features."""
    import anndata as ad

    tf, bams = featurecounts_table(path, encoding=encoding)
    source = tf.source
    names = sample_names(bams, rename, source)
    n = len(bams)
    root, x = new_store(tmp, n, chunk_rows)
    var_parts: list[pd.DataFrame] = []
    g = zero = 0
    for df in tf.read_chunks(chunk_rows, dtype=str):
        if df.empty:
            continue
        df.index = pd.Index(tf.line_of(np.arange(g, g + len(df))), name="line")
        counts, var, z = featurecounts_block(df, bams, source)
        x.append(counts.T, axis=1)
        var_parts.append(var.reset_index(names="id"))
        g += len(df)
        zero += z
        logger.debug("%s: %d features written", source, g)
    if g == 0:
        raise InputFormatError(f"{source}: no data found ({n} samples x 0 features).")
    note_zero_starts(zero, source)
    var = pd.concat(var_parts, ignore_index=True)
    del var_parts
    var.index = pd.Index(_make_unique(var.pop("id").tolist(), source))
    for c in ("chrom", "strand"):
        var[c] = var[c].astype("category")
    obs = pd.DataFrame({"bam": bams}, index=pd.Index(names))
    skeleton = ad.AnnData(obs=obs, var=var)
    _attach_summary(skeleton, bams, summary, path, source, encoding)
    record_provenance(
        skeleton,
        "kratom_omics.io.featurecounts_to_zarr",
        {
            "source": source,
            "out": str(out),
            "rename": dict(rename or {}),
            "summary": summary if isinstance(summary, bool) else str(summary),
            "chunk_rows": chunk_rows,
            "choices": choices_so_far(),
        },
    )
    finish_store(root, x, skeleton)
    return source, n, g


_NAME_BLOCK = 1_000_000


def _arrow_strings(arr: Any) -> pd.Index:
    """A zarr string array as a pandas Index of Arrow-backed strings, read block by block."""
    import pyarrow as pa

    n = int(arr.shape[0])
    parts = [
        pa.array(np.asarray(arr[s : min(n, s + _NAME_BLOCK)]), type=pa.string())
        for s in range(0, n, _NAME_BLOCK)
    ] or [pa.array([], type=pa.string())]
    return pd.Index(pd.array(pa.chunked_array(parts), dtype=pd.StringDtype("pyarrow")))


def _duplicates(names: pd.Index) -> list[str]:
    """Up to five duplicated names, found by sorting the Arrow strings (no hash of Python objects).

    Only the sort order is held for all names; neighbours are compared block by block.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(names)
    if n < 2:
        return []
    arr = pa.chunked_array(names.array._pa_array)
    order = pc.sort_indices(arr)
    found: list[str] = []
    for start in range(0, n - 1, _NAME_BLOCK):
        block = arr.take(order.slice(start, _NAME_BLOCK + 1))
        same = pc.equal(block.slice(1), block.slice(0, len(block) - 1))
        if pc.any(same).as_py():
            values = pc.unique(pc.filter(block.slice(1), same)).to_pylist()
            found += [str(v) for v in values if str(v) not in found]
            if len(found) >= 5:
                break
    del order, arr
    pa.default_memory_pool().release_unused()  # the sort's temporaries, back to the system
    return found[:5]


def _read_var_arrow(group: Any, source: str) -> pd.DataFrame:
    """``.var`` of a store with its index and text columns as Arrow-backed strings.

    Ten million feature names as Python strings take about 0.85 GB (and more while they are read);
    as Arrow strings they take 8 bytes plus the characters each, and the streaming result writer
    of :func:`kratom_omics.tl.differential` passes them to parquet without converting them.
    """
    from anndata.io import read_elem

    attrs = dict(group.attrs)
    if attrs.get("encoding-type") != "dataframe":
        return pd.DataFrame(read_elem(group))

    def column(name: str) -> Any:
        elem = group[name]
        if dict(elem.attrs).get("encoding-type") == "string-array":
            return _arrow_strings(elem)
        return read_elem(elem)

    index_name = str(attrs.get("_index", "_index"))
    index = column(index_name)
    index = pd.Index(index) if not isinstance(index, pd.Index) else index
    dups = _duplicates(index) if isinstance(index.dtype, pd.StringDtype) else []
    if not dups and not isinstance(index.dtype, pd.StringDtype) and not index.is_unique:
        dups = [str(v) for v in index[index.duplicated()].unique()[:5]]
    if dups:
        import warnings

        warnings.warn(
            f"{source}: feature names are not unique (e.g. {dups}); results are reported per "
            "name, so make them unique (AnnData.var_names_make_unique) before testing.",
            UserWarning,
            stacklevel=3,
        )
    data = {c: column(str(c)) for c in attrs.get("column-order", [])}
    var = pd.DataFrame(
        {c: v.array if isinstance(v, pd.Index) else v for c, v in data.items()}, index=index
    )
    var.index.name = None if index_name == "_index" else index_name
    return var


def read_zarr_lazy(
    path: str | os.PathLike,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    *,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: Literal["exact", "inner"] = "exact",
) -> AnnData:
    """Open an AnnData zarr store with ``X`` as a dask array (nothing of ``X`` is read yet).

    Parameters
    ----------
    path
        A store written by :func:`featurecounts_to_zarr` or ``AnnData.write_zarr`` (dense ``X``).
    samples
        Sample sheet joined onto ``.obs`` (see :func:`kratom_omics.io.attach_samples`).
    phases, join
        Passed to ``attach_samples``.

    Returns
    -------
    AnnData with ``.X`` a dask array chunked as stored, ``layers["raw"]`` the same array (no copy),
    ``.obs``, ``.var`` and ``.uns`` read into memory. Feature names and text columns of ``.var``
    are Arrow-backed strings (``StringDtype("pyarrow")``): about 15 bytes per name instead of 85
    as Python objects, which matters for millions of genome-wide bins. Duplicated feature names
    give a warning (as AnnData's).
    """
    zarr = _require_zarr("read_zarr_lazy")
    try:
        import dask.array as da
    except ImportError as err:
        raise MissingDependencyError(
            f"read_zarr_lazy needs dask, which is not installed ({err}); "
            f"install the extra: pip install '{DASK_EXTRA}'."
        ) from err
    import anndata as ad
    from anndata.io import read_elem

    p = Path(path)
    if not p.exists():
        raise InputFormatError(f"zarr store {str(p)!r} does not exist.")
    try:
        root = zarr.open_group(str(p), mode="r")
    except Exception as exc:  # zarr raises several types for a non-store directory
        raise InputFormatError(
            f"{str(p)!r} is not a zarr store ({exc}); write one with featurecounts_to_zarr or "
            "AnnData.write_zarr."
        ) from None
    if "X" not in root or not hasattr(root["X"], "shape"):
        raise InputFormatError(
            f"{str(p)!r} has no dense array 'X' (found {sorted(root.keys())}); read sparse or "
            "X-less stores with anndata.read_zarr."
        )
    x = da.from_zarr(root["X"])
    obs = read_elem(root["obs"])
    var = _read_var_arrow(root["var"], str(p))
    uns = read_elem(root["uns"]) if "uns" in root else {}
    # uniqueness was checked by _read_var_arrow without turning the names into Python objects
    with ad.settings.override(check_uniqueness=False):
        adata = ad.AnnData(X=x, obs=obs, var=var, uns=uns)
    import pyarrow as pa

    pa.default_memory_pool().release_unused()  # AnnData's checks copy the names once
    adata.layers["raw"] = x
    if samples is not None:
        from ._anndata import attach_samples

        adata = attach_samples(adata, samples, phases=phases, join=join, source=str(p))
    logger.info("%s: %d samples x %d features (lazy)", p, adata.n_obs, adata.n_vars)
    return adata
