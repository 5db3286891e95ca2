"""A faster parse of plain tables with pyarrow's CSV reader, for the wide quantity matrices.

:func:`kratom_omics.io._columns.read_columns` parses with pandas' C parser. For a table that the
scan of :mod:`kratom_omics.io._text` found plain (every row as wide as the header, no blank line,
no line before the header, ``.`` as decimal mark) pyarrow's reader parses the same columns several
times faster (a 50,000 x 100 DIA-NN pg_matrix: see ``benchmarks/README.md``). Text columns are
read as text exactly as written (empty cells as ``""``, masked afterwards like the pandas path);
value columns as float64 with the same missing-value spellings. Anything pyarrow does not parse (a
cell that is not a number, a row of another width, bytes that are not text in the encoding) makes
it give up and the pandas path runs, which names the cell and its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._values import NA_VALUES

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ._text import TextFile

__all__ = ["read_plain"]


def _is_plain(tf: TextFile) -> bool:
    return (
        not tf.short_lines
        and not tf.blank_lines
        and tf.skip == 0
        and tf.sep in ("\t", ",", ";")
        and len(set(tf.names)) == len(tf.names)
    )


def read_plain(tf: TextFile, *, text: Sequence[str], numeric: Sequence[str]) -> pd.DataFrame | None:
    """Columns ``text`` (as text, ``""`` for empty) and ``numeric`` (float64) of a plain table, by
    their parser names (:attr:`TextFile.names`); ``None`` when the table is not plain or pyarrow
    cannot parse it (the caller then uses pandas)."""
    if not _is_plain(tf):
        return None
    try:
        import pyarrow as pa
        import pyarrow.csv as pc
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    source: Any = tf._csv_source()
    encoding = "utf8" if tf._buffer is not None or tf.encoding == "utf-8" else tf.encoding
    try:
        table = pc.read_csv(
            source,
            read_options=pc.ReadOptions(
                column_names=tf.names, skip_rows=1, encoding=encoding, use_threads=True
            ),
            parse_options=pc.ParseOptions(
                delimiter=tf.sep,
                quote_char='"' if tf.quoting else False,
                double_quote=True,
                newlines_in_values=False,
                ignore_empty_lines=True,
            ),
            convert_options=pc.ConvertOptions(
                include_columns=[*text, *numeric],
                column_types={
                    **dict.fromkeys(text, pa.string()),
                    **dict.fromkeys(numeric, pa.float64()),
                },
                null_values=NA_VALUES,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError, UnicodeError, LookupError):
        return None
    finally:
        if hasattr(source, "close"):
            source.close()
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    return frame
