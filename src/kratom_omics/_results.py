"""The one way to read a ``kom.tl`` result: schema of the result tables and an accessor.

A result of :func:`kratom_omics.tl.differential` (and of ``timecourse``, ``permutation_fdr``) lives
in ``adata.uns[key]`` as a mapping with ``params``, ``contrasts`` and its tables; a table is either
a DataFrame in the mapping (``"table"``, ``"f_table"``) or, for results written with ``out=``, a
parquet file named by ``"table_path"``/``"f_table_path"``. :func:`get_result` resolves both forms
and :class:`Result` returns tables, single contrasts (names normalised, ``"withdrawal-control"``
finds ``"withdrawal - control"``) and parameters. ``kom.tl``, ``kom.get``, ``kom.pl`` and the report
all read results through it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ._design import normalize_contrast
from .errors import DesignError, KeyNotFoundError, ResultNotFoundError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    from anndata import AnnData

__all__ = [
    "DETECTION_COLUMNS",
    "F_COLUMNS",
    "TABLE_COLUMNS",
    "Result",
    "biomarker_keys",
    "copy_on_write",
    "copy_table",
    "frame_of_blocks",
    "get_result",
    "is_result",
    "result_keys",
    "table_buffer",
]

#: Columns of the long table, one row per feature and contrast (then the detection columns and,
#: when ``.var`` has it, ``gene``).
TABLE_COLUMNS: tuple[str, ...] = (
    "feature",
    "contrast",
    "log2fc",
    "se",
    "ci_low",
    "ci_high",
    "mean_log2",
    "t",
    "df_total",
    "pvalue",
    "padj",
    "B",
    "s2_post",
    "df_residual",
    "n_obs",
)
#: On/off detection columns of the long table (see :mod:`kratom_omics.tl._detection`).
DETECTION_COLUMNS: tuple[str, ...] = (
    "n_detected_a",
    "n_a",
    "n_detected_b",
    "n_b",
    "detection_pvalue",
    "reason",
)
#: Columns of the moderated F table, one row per feature (then ``gene``).
F_COLUMNS: tuple[str, ...] = ("feature", "F", "df1", "df2", "pvalue", "padj")


#: arrays of at least this many bytes are mapped in at once by :func:`table_buffer`
MAPPED_MIN_BYTES = 32 << 20


def table_buffer(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised array for columns of a result table, its memory mapped in at once.

    A long table of millions of rows is hundreds of MB written once. numpy asks the kernel for
    transparent huge pages for every large array, and the first touch of a huge page can stall
    (compaction, or on a virtual machine that hands free memory back to its host, a refill by
    the host): on the 2-core benchmark machine writing 400 MB took 0.15 s or 1.0-1.5 s by turns.
    Here the memory is an anonymous mapping populated in one call (``MAP_POPULATE``) under the
    system's own page-size policy (no huge-page request): 0.2 s every time there. Object
    arrays, arrays below :data:`MAPPED_MIN_BYTES` and systems without ``MAP_POPULATE`` get
    ``np.empty``. The mapping is released with the last array that uses it.
    """
    import mmap

    import numpy as np

    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    populate = getattr(mmap, "MAP_POPULATE", 0)
    if dtype.hasobject or nbytes < MAPPED_MIN_BYTES or not populate:
        return np.empty(shape, dtype=dtype)
    try:
        buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    except (OSError, ValueError):  # e.g. no address space left for a mapping: numpy decides
        return np.empty(shape, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def frame_of_blocks(
    blocks: Mapping[Any, tuple[np.ndarray, list[Any]]], columns: list[Any]
) -> pd.DataFrame:
    """A DataFrame of columns held as the rows of 2-D arrays (one array per dtype: what pandas
    consolidates a frame into), made without copying them; ``columns`` gives the order.

    The arrays belong to the frame afterwards (a copy of it is one copy per array, with nothing
    to merge).
    """
    import contextlib

    import pandas as pd

    parts = [
        pd.DataFrame(arr.T, columns=names, dtype=arr.dtype, copy=False)
        for arr, names in blocks.values()
        if names
    ]
    # the blocks side by side, then the columns in order: under copy-on-write pandas reorders
    # by placing the blocks (views), not by copying them (pandas 3 always works so)
    cow = (
        pd.option_context("mode.copy_on_write", True)
        if int(pd.__version__.split(".")[0]) < 3
        else contextlib.nullcontext()
    )
    with cow:
        table = pd.concat(parts, axis=1, copy=False)[columns]
    return table


def copy_table(table: pd.DataFrame) -> pd.DataFrame:
    """A deep copy of a result table (the values of ``table.copy()``).

    Large tables are copied column by column into one :func:`table_buffer` per dtype; tables
    with extension dtypes or repeated column names, and small ones, by ``table.copy()``.
    """
    import copy

    import numpy as np

    columns = list(table.columns)
    if table.size * 8 < MAPPED_MIN_BYTES or not table.columns.is_unique:
        return table.copy()
    groups: dict[np.dtype, list[Any]] = {}
    for name, dtype in table.dtypes.items():
        if not isinstance(dtype, np.dtype):
            return table.copy()
        groups.setdefault(dtype, []).append(name)
    blocks = {}
    for dtype, names in groups.items():
        arr = table_buffer((len(names), len(table)), dtype)
        for i, name in enumerate(names):
            arr[i] = table[name].to_numpy()
        blocks[dtype] = (arr, names)
    out = frame_of_blocks(blocks, columns)
    out.index = table.index
    out.attrs = copy.deepcopy(table.attrs)
    return out


def copy_on_write() -> bool:
    """Whether pandas copies on write: a shallow copy of a DataFrame is then a safe copy (a
    change to it, or to the original, copies the columns it touches first). Always in pandas 3;
    in pandas 2 when ``pd.options.mode.copy_on_write`` is True (not ``"warn"``)."""
    import pandas as pd

    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    return pd.get_option("mode.copy_on_write") is True


def is_result(value: object, part: str = "table") -> bool:
    """Whether ``value`` is a stored result holding ``part`` (in memory or as a parquet path)."""
    return isinstance(value, Mapping) and (part in value or f"{part}_path" in value)


def result_keys(adata: AnnData, part: str = "table") -> list[str]:
    """Keys of ``adata.uns`` holding a result with ``part`` (sorted)."""
    return sorted(str(k) for k, v in adata.uns.items() if is_result(v, part))


class Result:
    """A stored ``kom.tl`` result, read the same way whether its tables are in memory or on disk.

    Parameters
    ----------
    key
        The ``adata.uns`` key of the result.
    store
        The mapping stored there.
    """

    def __init__(self, key: str, store: Mapping[str, Any]) -> None:
        self.key = key
        self.store = store

    @property
    def params(self) -> Mapping[str, Any]:
        """The parameters stored with the result (empty when there are none)."""
        p = self.store.get("params", {})
        return p if isinstance(p, Mapping) else {}

    def param(self, name: str, default: Any = None) -> Any:
        """One stored parameter, ``default`` when absent or empty."""
        value = self.params.get(name, default)
        return default if value is None or (isinstance(value, str) and value == "") else value

    def has(self, part: str) -> bool:
        """Whether the result holds the table ``part`` (``"table"``, ``"f_table"``, ...)."""
        return is_result(self.store, part)

    def table(
        self, part: str = "table", *, contrast: str | None = None, copy: bool = False
    ) -> pd.DataFrame:
        """The table ``part`` (the stored DataFrame itself, not a copy, when in memory).

        ``contrast`` reads only that contrast's rows from a parquet long table; in memory the
        whole table is returned (use :meth:`contrast_table` for one contrast). ``copy``: a copy of
        a table held in memory (a table read from disk is a new frame already). Under pandas'
        copy-on-write (always in pandas 3, ``pd.options.mode.copy_on_write = True`` in pandas
        2) the copy is a lazy one (:func:`copy_on_write`): it shares the stored columns until
        either frame is modified, and behaves as an independent copy.
        """
        import pandas as pd

        if part in self.store:
            value = self.store[part]
            if isinstance(value, pd.DataFrame):
                if not copy:
                    return value
                return value.copy(deep=False) if copy_on_write() else copy_table(value)
            return pd.DataFrame(value)
        if f"{part}_path" not in self.store:
            raise ResultNotFoundError(
                f"adata.uns[{self.key!r}] holds no {part!r} table; tables present: "
                f"{[p for p in ('table', 'f_table', 'recovery') if self.has(p)]}."
            )
        path = Path(str(self.store[f"{part}_path"]))
        if not path.exists():
            raise ResultNotFoundError(
                f"the {part} of adata.uns[{self.key!r}] was written to {str(path)!r}, which no "
                "longer exists; run kom.tl.differential again (out= a directory that is kept)."
            )
        filters = [("contrast", "==", contrast)] if contrast is not None else None
        return pd.read_parquet(path, filters=filters)

    @property
    def contrasts(self) -> list[str]:
        """The contrast names, in the order of the analysis."""
        import numpy as np
        import pandas as pd

        listed = self.store.get("contrasts")
        if listed is not None:
            return [str(c) for c in np.atleast_1d(listed)]
        return [str(c) for c in pd.unique(self.table()["contrast"].astype(str))]

    def contrast(self, contrast: str | None = None) -> str:
        """The stored name of ``contrast`` (spacing normalised); the first one when None."""
        present = self.contrasts
        if contrast is None:
            if not present:
                raise ResultNotFoundError(f"adata.uns[{self.key!r}] holds no contrasts.")
            return present[0]
        try:
            name = normalize_contrast(contrast)
        except (DesignError, KeyNotFoundError):
            name = str(contrast)
        if name in present:
            return name
        if str(contrast) in present:
            return str(contrast)
        raise KeyNotFoundError(
            did_you_mean(str(contrast), present, what="contrast").replace(
                "is not available", f"is not a contrast of adata.uns[{self.key!r}]"
            )
        )

    def contrast_table(self, contrast: str | None = None) -> pd.DataFrame:
        """Rows of one contrast of the long table (a new DataFrame, fresh integer index)."""
        import numpy as np
        import pandas as pd

        name = self.contrast(contrast)
        table = self.table("table", contrast=name)
        rows = np.flatnonzero(table["contrast"].astype(str).to_numpy() == name)
        out = table.take(rows)  # a new frame (the one copy of the rows)
        out.index = pd.RangeIndex(len(out))
        if out["feature"].dtype != object:
            out["feature"] = out["feature"].astype(str)
        return out


def get_result(adata: AnnData, key: str, *, part: str = "table") -> Result:
    """The result stored under ``adata.uns[key]``, or :class:`ResultNotFoundError` naming the keys
    that do hold one."""
    store = adata.uns.get(key)
    if not is_result(store, part):
        available = result_keys(adata, part)
        hint = (
            f"Available differential results: {available}."
            if available
            else f"Run kom.tl.differential(adata, ..., key_added={key!r}) first."
        )
        cli = (
            f"Available differential results: {available} (choose one with --key)."
            if available
            else "Run `kratom-omics differential IN.h5ad OUT.h5ad"
            + ("" if key == "differential" else f" --key-added {key}")
            + "` first and pass its output."
        )
        what = f"key={key!r}: no differential result in adata.uns[{key!r}] ({part!r} missing)."
        raise ResultNotFoundError(
            f"{what} {hint}",
            cli=f"--key {key!r}: the .h5ad holds no differential result ({part!r} missing). {cli}",
        )
    return Result(key, cast(Mapping[str, Any], store))


def biomarker_keys(adata: AnnData, key: str | None = None) -> list[str]:
    """Keys of ``adata.uns`` holding a :func:`kratom_omics.tl.flag_biomarkers` result.

    A biomarker result is a mapping with a ``candidates`` table; with ``key`` (a differential
    result's key) only those computed from that result are returned (``params["key"]``), so plots and
    the report find the candidates of the analysis they show under whatever ``key_added`` they were
    stored.
    """
    import pandas as pd

    out = []
    for name, value in adata.uns.items():
        if not (isinstance(value, Mapping) and isinstance(value.get("candidates"), pd.DataFrame)):
            continue
        params = value.get("params", {})
        source = params.get("key") if isinstance(params, Mapping) else None
        if key is None or source is None or str(source) == key:
            out.append(str(name))
    return sorted(out)
