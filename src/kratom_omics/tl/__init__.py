"""kratom_omics.tl"""

__all__: list[str] = []
