"""Training speed of our Sketch-BERT and sketch-rnn against reference PyTorch code, in one run.

The reference code is NOT in this repository and is never copied into it: point the script at
your own checkouts (``git clone`` them into a scratch folder outside the repo):

* ``--sketchbert``: the official Sketch-BERT code, github.com/avalonstrel/SketchBERT (its model
  classes ``SketchTransformerModel`` and ``MaskSketchRecModel`` are imported from
  ``models/SketchTransformer/models/networks.py``; that module imports torchvision for a class we
  do not use, so a placeholder ``torchvision.models`` is put in ``sys.modules`` when torchvision
  is not installed);
* ``--sketchrnn``: a widely used PyTorch sketch-rnn, github.com/rfeinman/Sketch-RNN (its
  ``sketch_rnn.model.SketchRNN`` and ``model_step``). (alexis-jacq/Pytorch-Sketch-RNN, the most
  starred one, does not run on current PyTorch: a syntax error in its CUDA branch, ``Variable``
  without an import, ``loss.data[0]``.)

Both sides get the same model size (our ``tiny`` presets: Sketch-BERT 4 layers x 128, 4 heads,
FFN 512, embedding 64 -> 128; sketch-rnn bi-LSTM 128, LSTM decoder 256, z 64, 10 mixtures, no
recurrent dropout), the same batch size, the same SPG20 train batches, Adam, and one thread
setting; every step is forward + backward + optimiser step, timed after a warm-up. Two
comparisons each:

* **each as shipped**: ours on its own bucketed batches, trimmed to the longest sketch; the
  reference on the same sketches padded as its data loader pads them (Sketch-BERT: 250 rows;
  sketch-rnn: the longest sketch of the data set);
* **model code alone**: the reference fed exactly our trimmed batches (Sketch-BERT: same rows;
  sketch-rnn: ``max_seq_len`` set per batch to its longest sketch, rebuilding nothing else).

Usage::

    python benchmarks/reference_speed.py --data SPG_STORE --sketchbert /scratch/SketchBERT \\
        --sketchrnn /scratch/Sketch-RNN [--steps 30] [--out benchmarks/results/reference_speed.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

import torch

import sketchssl.methods  # noqa: F401  (registers the methods)
from sketchssl.bench.speed import collate
from sketchssl.data.store import SketchStore
from sketchssl.methods.registry import build_method
from sketchssl.train.config import load_run_config
from sketchssl.train.data import make_dataset
from sketchssl.train.sampler import StepSeededBatchSampler


def batches_for(method: str, store: SketchStore, count: int) -> tuple[list[dict], object]:
    """``count`` training batches of ``method``'s tiny preset, as ``sketchssl train`` makes them."""
    config = load_run_config(method, "tiny", [f"data.store={store.path}"])
    dataset = make_dataset(config.data, store, "train")
    sampler = StepSeededBatchSampler(
        len(dataset),
        config.data.batch_size,
        seed=0,
        lengths=store.lengths[dataset.indices] if config.data.bucket_by_length else None,
    )
    return [collate(dataset, sampler.batch_at(step)) for step in range(count)], config


def timed(step, batches: list, warmup: int) -> float:
    """Seconds per step of ``step(batch)`` over ``batches[warmup:]``."""
    for batch in batches[:warmup]:
        step(batch)
    start = time.perf_counter()
    for batch in batches[warmup:]:
        step(batch)
    return (time.perf_counter() - start) / (len(batches) - warmup)


def optimised(parameters, lr: float):
    optimizer = torch.optim.Adam(parameters, lr=lr)

    def update(loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return update


# ------------------------------------------------------------------------------ Sketch-BERT


def import_reference_bert(repo: Path):
    """The reference model classes (with a placeholder torchvision when there is none)."""
    try:
        import torchvision.models  # noqa: F401
    except Exception:  # noqa: BLE001 - missing or broken torchvision
        placeholder = types.ModuleType("torchvision")
        placeholder.models = types.ModuleType("torchvision.models")
        sys.modules["torchvision"] = placeholder
        sys.modules["torchvision.models"] = placeholder.models
    sys.path.insert(0, str(repo))
    from models.SketchTransformer.models.networks import (  # type: ignore[import-not-found]
        MaskSketchRecModel,
        SketchTransformerModel,
    )

    return SketchTransformerModel, MaskSketchRecModel


def bert_speed(store: SketchStore, repo: Path, steps: int, warmup: int) -> dict:
    torch.manual_seed(0)
    batches, config = batches_for("sketch_bert", store, steps + warmup)
    model = config.model
    ours = build_method("sketch_bert", vars(model)).train()
    update = optimised(ours.parameters(), config.optim.lr)

    def our_step(batch: dict) -> None:
        update(ours.loss(batch)["loss"])

    transformer_class, head_class = import_reference_bert(repo)
    layers = [[model.num_heads, model.hidden_dim, model.ffn_dim]] * model.num_layers
    reference = transformer_class(
        "bert",
        layers,
        [model.embed_dim, *model.refine_dims],
        5,
        model.max_length,
        [128, 128],
        3,
        "learn",
        "none",
        "linear",
        "sum",
        "LN",
        "gelu",
        model.attention_dropout,
        model.hidden_dropout,
        model.output_dropout,
    ).train()
    head = head_class(list(model.head_dims), model.hidden_dim, 5, 0, 0).train()
    reference_update = optimised([*reference.parameters(), *head.parameters()], config.optim.lr)
    generator = torch.Generator().manual_seed(0)

    def reference_step(rows: torch.Tensor, mask: torch.Tensor) -> None:
        # the reference trainer's masks and losses: 15 % of entries hidden; L1 on hidden offsets,
        # cross-entropy on hidden state triples
        visible = (torch.rand(rows.shape[:2], generator=generator) > 0.15)[..., None].float()
        inputs = rows * visible
        output = head(reference(inputs, mask.float()))
        hidden = (visible[..., 0] == 0) & mask
        axis = torch.nn.functional.l1_loss(output[..., :2][hidden], rows[..., :2][hidden])
        kinds = torch.nn.functional.cross_entropy(
            output[..., 2:][hidden], rows[..., 2:].argmax(-1)[hidden]
        )
        reference_update(axis + kinds)

    def padded(batch: dict, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.zeros(len(batch["strokes5"]), length, 5)
        rows[..., 4] = 1
        used = min(length, batch["strokes5"].shape[1])
        rows[:, :used] = batch["strokes5"][:, :used]
        mask = torch.zeros(len(rows), length, dtype=torch.bool)
        mask[:, :used] = batch["mask"][:, :used]
        return rows, mask

    def trimmed(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        used = int(batch["mask"].sum(dim=1).max())
        return batch["strokes5"][:, :used], batch["mask"][:, :used]

    ours_seconds = timed(our_step, batches, warmup)
    shipped = timed(lambda b: reference_step(*padded(b, model.max_length)), batches, warmup)
    same_rows = timed(lambda b: reference_step(*trimmed(b)), batches, warmup)
    size = config.data.batch_size
    return {
        "batch_size": size,
        "ours_sketches_per_s": size / ours_seconds,
        "reference_padded_250_sketches_per_s": size / shipped,
        "reference_same_rows_sketches_per_s": size / same_rows,
        "ratio_as_shipped": shipped / ours_seconds,
        "ratio_model_code": same_rows / ours_seconds,
        "parameters_ours": sum(p.numel() for p in ours.parameters()),
        "parameters_reference": sum(
            p.numel() for p in (*reference.parameters(), *head.parameters())
        ),
    }


# ------------------------------------------------------------------------------ sketch-rnn


def rnn_speed(store: SketchStore, repo: Path, steps: int, warmup: int) -> dict:
    torch.manual_seed(0)
    batches, config = batches_for("sketch_rnn", store, steps + warmup)
    model = config.model
    ours = build_method("sketch_rnn", vars(model)).train()
    update = optimised(ours.parameters(), config.optim.lr)

    def our_step(batch: dict) -> None:
        update(ours.loss(batch)["loss"])

    sys.path.insert(0, str(repo))
    from sketch_rnn.hparams import hparams  # type: ignore[import-not-found]
    from sketch_rnn.model import SketchRNN, model_step  # type: ignore[import-not-found]

    longest_in_data = int(store.lengths[store.split_indices("train")].max())
    settings = dict(
        enc_rnn_size=model.encoder_size,
        dec_rnn_size=model.decoder.size,
        z_size=model.latent_size,
        num_mixture=model.decoder.num_mixtures,
        dec_model="lstm",
        r_dropout=model.decoder.recurrent_dropout,
        max_seq_len=longest_in_data,
    )
    reference = SketchRNN(hparams(**settings)).train()
    reference_update = optimised(reference.parameters(), config.optim.lr)

    def reference_step(batch: dict, length: int) -> None:
        rows = batch["strokes5"]  # (B, 1 + max_len, 5) with the start token, ours
        lengths = batch["mask"].sum(dim=1) - 1
        data = torch.zeros(len(rows), length + 1, 5)
        data[..., 4] = 1
        used = min(length + 1, rows.shape[1])
        data[:, :used] = rows[:, :used]
        reference.max_len = length
        reference_update(model_step(reference, data, lengths))

    ours_seconds = timed(our_step, batches, warmup)
    shipped = timed(lambda b: reference_step(b, longest_in_data), batches, warmup)
    same_rows = timed(
        lambda b: reference_step(b, int(b["mask"].sum(dim=1).max()) - 1), batches, warmup
    )
    size = config.data.batch_size
    return {
        "batch_size": size,
        "longest_in_data": longest_in_data,
        "ours_sketches_per_s": size / ours_seconds,
        "reference_padded_to_data_max_sketches_per_s": size / shipped,
        "reference_same_rows_sketches_per_s": size / same_rows,
        "ratio_as_shipped": shipped / ours_seconds,
        "ratio_model_code": same_rows / ours_seconds,
        "parameters_ours": sum(p.numel() for p in ours.parameters()),
        "parameters_reference": sum(p.numel() for p in reference.parameters()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--sketchbert", type=Path, default=None)
    parser.add_argument("--sketchrnn", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/reference_speed.json"))
    args = parser.parse_args(argv)
    store = SketchStore.open(args.data)
    document = {
        "data": str(args.data),
        "torch_threads": torch.get_num_threads(),
        "steps": args.steps,
    }
    if args.sketchbert:
        document["sketch_bert"] = bert_speed(store, args.sketchbert, args.steps, args.warmup)
        print("sketch_bert", json.dumps(document["sketch_bert"], indent=1), flush=True)
    if args.sketchrnn:
        document["sketch_rnn"] = rnn_speed(store, args.sketchrnn, args.steps, args.warmup)
        print("sketch_rnn", json.dumps(document["sketch_rnn"], indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
