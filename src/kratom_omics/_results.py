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

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ._design import normalize_contrast
from .errors import DesignError, KeyNotFoundError, ResultNotFoundError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from anndata import AnnData

__all__ = [
    "DETECTION_COLUMNS",
    "F_COLUMNS",
    "TABLE_COLUMNS",
    "Result",
    "biomarker_keys",
    "copy_on_write",
    "get_result",
    "is_result",
    "result_keys",
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
                return value.copy(deep=not copy_on_write()) if copy else value
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
