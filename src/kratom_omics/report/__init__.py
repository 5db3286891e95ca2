"""kratom_omics.report"""

__all__: list[str] = []
