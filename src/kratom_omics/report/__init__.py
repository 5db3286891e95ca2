"""Self-contained HTML report of a study (figures, tables, methods) with its tables as TSV."""

from ._figures import figures
from ._html import html

__all__ = ["figures", "html"]
