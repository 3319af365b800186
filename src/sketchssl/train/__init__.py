"""Training: the only layer that imports Lightning.

``train(config, run_dir)`` runs any registered method; :mod:`~sketchssl.train.config` resolves
presets and overrides; :mod:`~sketchssl.train.checkpoint` reads and writes checkpoints safely.
"""

from sketchssl.methods.checkpoint import load_method, read_checkpoint
from sketchssl.train.config import RunConfig, load_run_config
from sketchssl.train.run import TrainResult, resolve_config, train

__all__ = [
    "RunConfig",
    "TrainResult",
    "load_method",
    "load_run_config",
    "read_checkpoint",
    "resolve_config",
    "train",
]
