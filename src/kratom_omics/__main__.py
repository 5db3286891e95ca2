"""``python -m kratom_omics`` runs the command line."""

from .cli import run

run()
