"""kratom_omics.pp"""

__all__: list[str] = []
