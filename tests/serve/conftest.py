"""Tiny checkpoints for the demo server's tests, trained for a few steps on a doodle store.

``sketch_bert`` (completion; kNN classification over the gallery), ``sketch_bert_cls`` (its own
classifier head) and ``sketch_rnn`` (healing), shared by the API and browser tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from sketchssl.data.build import build_store
from sketchssl.train.config import load_run_config
from sketchssl.train.run import train

COMMON = [
    "data.num_workers=0",
    "data.batch_size=16",
    "trainer.progress_bar=false",
    "trainer.max_steps=4",
    "trainer.val_every_n_steps=100",
    "trainer.checkpoint_every_n_steps=100",
    "trainer.log_every_n_steps=1",
    "optim.warmup_steps=0",
]
BERT = [
    "model.num_layers=2",
    "model.hidden_dim=32",
    "model.num_heads=2",
    "model.ffn_dim=64",
    "model.embed_dim=16",
    "model.refine_dims=[32]",
    "data.max_len=99",
    "model.max_length=100",
]
RNN = [
    "model.encoder_size=16",
    "model.decoder.size=32",
    "model.latent_size=8",
    "model.decoder.num_mixtures=3",
    "model.max_length=100",
    "data.max_len=99",
]


@dataclass(frozen=True)
class Trained:
    """The doodle store and the three checkpoints."""

    store: Path
    bert: Path
    classifier: Path
    rnn: Path


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    folder = tmp_path_factory.mktemp("serve")
    store = folder / "doodles.store"
    build_store(["doodles:6:1"], store, workers=1, progress=False)
    data = [f"data.store={store}"]

    def run(method: str, extra: list[str]) -> Path:
        config = load_run_config(method, "tiny", COMMON + extra + data)
        return train(config, folder / method).checkpoint

    return Trained(
        store=store,
        bert=run("sketch_bert", [*BERT, "model.head_dims=[16]"]),
        classifier=run("sketch_bert_cls", BERT),
        rnn=run("sketch_rnn", RNN),
    )
