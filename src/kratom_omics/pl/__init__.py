"""kratom_omics.pl"""

__all__: list[str] = []
