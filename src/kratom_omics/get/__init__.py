"""kratom_omics.get"""

__all__: list[str] = []
