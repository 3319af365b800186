"""Methods: one module per method, each a :class:`SketchMethod` built from a config dataclass.

Importing this package registers every method; then::

    from sketchssl.methods import build_method, list_methods
    model = build_method("sketch_bert", {"num_layers": 4})

Models and losses here import only torch (never Lightning), so a plain PyTorch loop can use them.
"""

# importing a method module registers its methods
from sketchssl.methods import (  # noqa: F401
    contrastive,
    cross_modal,
    lmser_pix2seq,
    sketch_a_net,
    sketch_bert,
    sketch_rnn,
    sketchgloc,
    sp_gra2seq,
    supervised,
    transform_prediction,
)
from sketchssl.methods.base import SketchMethod
from sketchssl.methods.registry import (
    build_config,
    build_method,
    get_method,
    list_methods,
    register_method,
    upgrade_model_config,
)

__all__ = [
    "SketchMethod",
    "build_config",
    "build_method",
    "get_method",
    "list_methods",
    "register_method",
    "upgrade_model_config",
]
