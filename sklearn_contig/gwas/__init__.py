"""GWAS on image embeddings (transferGWAS, ContIG paper Sec. 4.2.5)."""

from ._transformer import GWASTransformer, inverse_normal_transform

__all__ = ["GWASTransformer", "inverse_normal_transform"]
