"""Design matrices and contrasts: the one design builder of preprocessing and statistics.

A design comes either from ``groupby`` + ``covariates`` (one indicator column per level of
``groupby``, i.e. R's ``~ 0 + group``, then treatment-coded categorical covariates and linear
numeric covariates) or from a formula parsed by formulaic. Contrasts are written as linear
combinations of the levels of ``groupby`` (``"withdrawal - control"``,
``"(use + withdrawal)/2 - control"``) or of design column names, and parsed by a small
recursive-descent parser (no ``eval``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DesignError, KeyNotFoundError, did_you_mean

__all__ = [
    "Design",
    "build_design",
    "contrast_matrix",
    "intercept_design",
    "normalize_contrast",
    "parse_contrast",
    "quote_name",
    "treatment_columns",
]

_QR_TOL = 1e-7


@dataclass
class Design:
    """A design matrix with the linear map from group levels to its coefficients."""

    matrix: np.ndarray  # samples x columns
    columns: list[str]
    levels: list[str] = field(default_factory=list)  # levels of groupby, in order
    level_vectors: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # level -> coefficient vector
    formula: str = ""


# --------------------------------------------------------------------------------------------------
# contrast expressions
# --------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_.][A-Za-z0-9_.]*(?:\[[^\]`]*\])?)"
    r"|`(?P<quoted>[^`]+)`|(?P<op>[-+*/()]))"
)


def _tokenize(expr: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = expr.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            raise DesignError(
                f"contrast {expr!r}: unexpected character {bad!r} at position {pos}; use level "
                "names, numbers, + - * / and parentheses, and back-quote names that are not "
                "identifiers (e.g. `24h` - control)."
            )
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "quoted":
            kind = "name"
        tokens.append((kind, value))
        pos = m.end()
    return tokens


class _Parser:
    """expr := term (+|- term)*; term := factor (*|/ factor)*; factor := [+|-] atom."""

    def __init__(self, expr: str, symbols: Mapping[str, np.ndarray], size: int) -> None:
        self.expr = expr
        self.tokens = _tokenize(expr)
        self.i = 0
        self.symbols = symbols
        self.size = size

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _error(self, what: str) -> DesignError:
        return DesignError(f"contrast {self.expr!r}: {what}")

    def parse(self) -> np.ndarray:
        if not self.tokens:
            raise self._error("is empty; write e.g. 'withdrawal - control'.")
        vec, const = self._expr()
        if self._peek() is not None:
            raise self._error(f"unexpected {self._peek()[1]!r} (token {self.i + 1}).")  # type: ignore[index]
        if const is not None:
            raise self._error("contains no level or coefficient name.")
        return vec

    # values are (vector, None) for linear terms or (zeros, constant) for numbers
    def _expr(self) -> tuple[np.ndarray, float | None]:
        left = self._term()
        while (tok := self._peek()) is not None and tok[1] in "+-" and tok[0] == "op":
            self.i += 1
            right = self._term()
            sign = 1.0 if tok[1] == "+" else -1.0
            if (left[1] is None) != (right[1] is None):
                raise self._error(
                    "adds a number to a level; a contrast is a linear combination of levels, "
                    "e.g. 'withdrawal - control' or '(use + withdrawal)/2 - control'."
                )
            if left[1] is not None and right[1] is not None:
                left = (left[0], left[1] + sign * right[1])
            else:
                left = (left[0] + sign * right[0], None)
        return left

    def _term(self) -> tuple[np.ndarray, float | None]:
        left = self._factor()
        while (tok := self._peek()) is not None and tok[0] == "op" and tok[1] in "*/":
            self.i += 1
            right = self._factor()
            if tok[1] == "*":
                if left[1] is None and right[1] is None:
                    raise self._error("multiplies two levels; contrasts must be linear.")
                if left[1] is not None and right[1] is not None:
                    left = (left[0], left[1] * right[1])
                elif left[1] is not None:
                    left = (right[0] * left[1], None)
                else:
                    left = (left[0] * float(right[1]), None)  # type: ignore[arg-type]
            else:
                if right[1] is None:
                    raise self._error("divides by a level; contrasts must be linear.")
                if right[1] == 0:
                    raise self._error("divides by zero.")
                if left[1] is not None:
                    left = (left[0], left[1] / right[1])
                else:
                    left = (left[0] / right[1], None)
        return left

    def _factor(self) -> tuple[np.ndarray, float | None]:
        tok = self._peek()
        if tok is None:
            raise self._error("ends unexpectedly.")
        if tok[0] == "op" and tok[1] in "+-":
            self.i += 1
            vec, const = self._factor()
            if tok[1] == "-":
                return (-vec, None) if const is None else (vec, -const)
            return vec, const
        return self._atom()

    def _atom(self) -> tuple[np.ndarray, float | None]:
        tok = self._peek()
        if tok is None:
            raise self._error("ends unexpectedly.")
        self.i += 1
        kind, value = tok
        if kind == "num":
            return np.zeros(self.size), float(value)
        if kind == "name":
            if value not in self.symbols:
                raise KeyNotFoundError(
                    f"contrast {self.expr!r}: "
                    + did_you_mean(value, self.symbols.keys(), what="name").replace(
                        "is not available", "is not a level of the groups or a design column"
                    )
                )
            return np.asarray(self.symbols[value], dtype=float).copy(), None
        if value == "(":
            inner = self._expr()
            close = self._peek()
            if close is None or close[1] != ")":
                raise self._error("has an unclosed '('.")
            self.i += 1
            return inner
        raise self._error(f"unexpected {value!r}.")


def parse_contrast(expr: str, symbols: Mapping[str, np.ndarray]) -> np.ndarray:
    """Parse a linear contrast expression into a coefficient vector.

    ``symbols`` maps every usable name (group levels, design columns) to its coefficient vector.
    """
    size = len(next(iter(symbols.values()))) if symbols else 0
    return _Parser(str(expr), symbols, size).parse()


_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*(?:\[[^\]`]*\])?")


def quote_name(name: str) -> str:
    """``name`` as written in a contrast: back-quoted unless it is an identifier."""
    return name if _NAME.fullmatch(name) else f"`{name}`"


def normalize_contrast(expr: str) -> str:
    """Canonical spacing: ``'withdrawal-control'`` -> ``'withdrawal - control'``."""
    tokens = _tokenize(str(expr))
    out: list[str] = []
    prev: tuple[str, str] | None = None
    for kind, value in tokens:
        if kind == "name":
            value = quote_name(value)
        binary = prev is not None and (prev[0] in ("num", "name") or prev[1] == ")")
        if kind == "op" and value in "+-" and binary:
            out.append(f" {value} ")
        else:
            out.append(value)
        prev = (kind, value)
    return "".join(out)


def contrast_matrix(design: Design, contrasts: Sequence[str]) -> np.ndarray:
    """Columns x contrasts matrix for ``contrasts`` written in level or column names."""
    symbols: dict[str, np.ndarray] = {}
    eye = np.eye(len(design.columns))
    for j, name in enumerate(design.columns):
        symbols[name] = eye[j]
    symbols.update(design.level_vectors)
    cols = [parse_contrast(c, symbols) for c in contrasts]
    if not cols:
        raise DesignError("no contrasts given; pass e.g. contrasts=('withdrawal - control',).")
    mat = np.column_stack(cols)
    for j, c in enumerate(contrasts):
        if np.all(mat[:, j] == 0):
            raise DesignError(f"contrast {c!r} is identically zero; compare two different levels.")
    return mat


# --------------------------------------------------------------------------------------------------
# design matrices
# --------------------------------------------------------------------------------------------------


def _aliased(matrix: np.ndarray, columns: Sequence[str]) -> list[str]:
    """Columns that are linear combinations of earlier columns (R's ``nonEstimable``)."""
    kept: list[int] = []
    out: list[str] = []
    for j in range(matrix.shape[1]):
        col = matrix[:, j]
        norm = np.linalg.norm(col)
        if norm == 0:
            out.append(columns[j])
            continue
        if kept:
            basis = matrix[:, kept]
            coef, *_ = np.linalg.lstsq(basis, col, rcond=None)
            resid = np.linalg.norm(col - basis @ coef)
        else:
            resid = norm
        if resid <= _QR_TOL * norm:
            out.append(columns[j])
        else:
            kept.append(j)
    return out


def _check_design(design: Design) -> None:
    aliased = _aliased(design.matrix, design.columns)
    if aliased:
        raise DesignError(
            f"the design is singular: column(s) {aliased} are linear combinations of the other "
            f"columns {[c for c in design.columns if c not in aliased]} "
            "(a covariate confounded with "
            "the groups, or a level with no samples); drop or merge that covariate."
        )
    n, p = design.matrix.shape
    if n <= p:
        raise DesignError(
            f"the design has {p} columns for {n} samples, leaving no residual degrees of freedom "
            "to estimate a variance; add replicate samples or drop covariates."
        )


def _categorical_levels(col: pd.Series) -> list[str]:
    """Levels in categorical order, else sorted (numerically for numbers), as R's factor()."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.astype(str))
        return [str(c) for c in col.cat.categories if str(c) in present]
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        uniq = np.asarray(col.dropna().unique())
        return [str(uniq[i]) for i in np.argsort(uniq.astype(float), kind="stable")]
    return sorted(pd.unique(col.dropna().astype(str)))


def treatment_columns(column: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    """One covariate's design columns and their names, as R's ``model.matrix`` codes it.

    A numeric column enters linearly (one column ``name``); any other column is treatment coded
    without its first level (``name[T.level]``, levels in categorical order, else sorted). A
    constant categorical column gives no column.
    """
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=float)[:, None], [name]
    levels = _categorical_levels(column)
    values = column.astype(str).to_numpy()
    if len(levels) < 2:
        return np.zeros((len(values), 0)), []
    cols = np.column_stack([(values == x).astype(float) for x in levels[1:]])
    return cols, [f"{name}[T.{x}]" for x in levels[1:]]


def intercept_design(obs: pd.DataFrame, covariates: Sequence[str] = ()) -> Design:
    """``~ 1 + covariates``: an intercept and the covariates' columns (no groups to compare)."""
    blocks = [np.ones((len(obs), 1))]
    columns = ["Intercept"]
    for cov in covariates:
        if cov not in obs.columns:
            raise KeyNotFoundError(
                did_you_mean(str(cov), obs.columns, what="covariate").replace(
                    "is not available", "is not a column of adata.obs"
                )
            )
        _check_complete(obs, cov)
        values, names = treatment_columns(obs[cov], str(cov))
        blocks.append(values)
        columns += names
    return Design(
        matrix=np.hstack(blocks), columns=columns, formula="~ 1 + " + " + ".join(covariates)
    )


def _check_complete(obs: pd.DataFrame, key: str) -> None:
    missing = obs.index[obs[key].isna().to_numpy()]
    if len(missing):
        raise DesignError(
            f"adata.obs[{key!r}] is missing for {len(missing)} sample(s) "
            f"{list(map(str, missing[:5]))}; "
            "fill it in the sample sheet or subset adata to the annotated samples."
        )


def build_design(
    obs: pd.DataFrame,
    groupby: str | None,
    *,
    covariates: Sequence[str] = (),
    formula: str | None = None,
) -> Design:
    """Build the design matrix of ``obs`` (samples in rows) and check that it can be estimated."""
    if formula is not None and covariates:
        raise DesignError(
            f"give covariates {list(covariates)} inside the formula {formula!r} (e.g. "
            f"'{formula} + {covariates[0]}') instead of as covariates=."
        )
    keys = list(covariates) if formula is not None or groupby is None else [groupby, *covariates]
    for key in keys:
        if key not in obs.columns:
            raise KeyNotFoundError(
                did_you_mean(
                    str(key), obs.columns, what="covariate" if key != groupby else "groupby"
                ).replace("is not available", "is not a column of adata.obs")
            )
    if formula is not None:
        design = _formula_design(obs, groupby, formula)
    else:
        if groupby is None:
            raise DesignError("give groupby (a column of adata.obs) or a formula.")
        design = _group_design(obs, groupby, covariates)
    _check_design(design)
    return design


def _group_design(obs: pd.DataFrame, groupby: str, covariates: Sequence[str]) -> Design:
    _check_complete(obs, groupby)
    col = obs[groupby]
    levels = _categorical_levels(col)
    if len(levels) < 2:
        raise DesignError(
            f"adata.obs[{groupby!r}] has {len(levels)} level(s) {levels}; differential abundance "
            "needs at least two groups."
        )
    values = col.astype(str).to_numpy()
    blocks = [np.column_stack([(values == lv).astype(float) for lv in levels])]
    columns = [f"{groupby}[{lv}]" for lv in levels]
    for cov in covariates:
        if cov == groupby:
            raise DesignError(
                f"covariate {cov!r} is the groupby column; remove it from covariates."
            )
        _check_complete(obs, cov)
        values, names = treatment_columns(obs[cov], str(cov))
        blocks.append(values)
        columns += names
    matrix = np.hstack(blocks)
    eye = np.eye(matrix.shape[1])
    return Design(
        matrix=matrix,
        columns=columns,
        levels=levels,
        level_vectors={lv: eye[i] for i, lv in enumerate(levels)},
        formula="~ 0 + " + " + ".join([groupby, *covariates]),
    )


def _formula_design(obs: pd.DataFrame, groupby: str | None, formula: str) -> Design:
    try:
        from formulaic import model_matrix
    except ImportError as err:  # pragma: no cover - formulaic is a core dependency
        from .errors import MissingDependencyError

        raise MissingDependencyError("formula= needs formulaic: pip install formulaic") from err
    data = obs.copy()
    for c in data.columns:
        if isinstance(data[c].dtype, pd.CategoricalDtype):
            data[c] = data[c].cat.remove_unused_categories().cat.as_unordered()
        elif data[c].dtype == object:
            data[c] = data[c].astype("category")
    try:
        mm = model_matrix(formula, data, na_action="raise")
    except Exception as err:  # formulaic raises many types; report them as a design problem
        raise DesignError(
            f"formula {formula!r} could not be built from adata.obs: {err}. "
            f"Columns of adata.obs: {list(map(str, obs.columns))}."
        ) from err
    matrix = np.asarray(mm, dtype=float)
    columns = [str(c) for c in mm.columns]
    levels: list[str] = []
    vectors: dict[str, np.ndarray] = {}
    if groupby is not None and groupby in obs.columns:
        _check_complete(obs, groupby)
        levels = _categorical_levels(obs[groupby])
        base = data.iloc[[0] * len(levels)].copy()
        if isinstance(data[groupby].dtype, pd.CategoricalDtype):
            base[groupby] = pd.Categorical(levels, categories=data[groupby].cat.categories)
        else:
            base[groupby] = levels
        for c in data.columns:  # other categorical variables at their reference level
            if c != groupby and isinstance(data[c].dtype, pd.CategoricalDtype):
                base[c] = pd.Categorical(
                    [data[c].cat.categories[0]] * len(levels), categories=data[c].cat.categories
                )
        try:
            rows = np.asarray(mm.model_spec.get_model_matrix(base), dtype=float)
        except Exception:  # groupby not in the formula: contrasts must use column names
            rows = None
        if rows is not None and rows.shape[1] == len(columns):
            vectors = {lv: rows[i] for i, lv in enumerate(levels)}
            if all(np.allclose(vectors[lv], vectors[levels[0]]) for lv in levels):
                vectors = {}  # groupby does not enter the formula
    return Design(
        matrix=matrix, columns=columns, levels=levels, level_vectors=vectors, formula=formula
    )
