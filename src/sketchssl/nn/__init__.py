"""Building blocks in plain torch (no Lightning): embeddings, encoders, heads.

Every module here imports only torch, so a user with a hand-written training loop can reuse it.
"""

from sketchssl.nn.embedding import SketchEmbedding, stroke_segments
from sketchssl.nn.transformer import TransformerEncoder, TransformerLayer, padding_bias

__all__ = [
    "SketchEmbedding",
    "stroke_segments",
    "TransformerEncoder",
    "TransformerLayer",
    "padding_bias",
]
