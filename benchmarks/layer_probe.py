"""Which layer of a transform-prediction CNN carries the representation: kNN on the VALID split.

For a ``rotation_cnn`` / ``deformation_cnn`` checkpoint (small CNN encoder) and the same
architecture untrained (torch seed 0, as ``sketchssl eval --baseline random-init`` builds it),
embed the store's train split (gallery) and valid split (queries) at three depths: the last
convolution map averaged over space (``conv``), the first fully connected block (``fc1``) and
the second, which is what ``embed`` returns (``fc2``). Prints weighted kNN top-1 (k = 20,
cosine, T = 0.07) for each. The valid split is used so that a choice made from these numbers
does not look at the test split.

Usage::

    python benchmarks/layer_probe.py RUN/checkpoints/last.ckpt --data STORE
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from sketchssl.data.store import SketchStore
from sketchssl.eval.knn import knn_evaluate
from sketchssl.methods.checkpoint import load_method
from sketchssl.methods.registry import build_method
from sketchssl.render.views import SketchDataset


@torch.no_grad()
def layer_features(
    model: torch.nn.Module, dataset: SketchDataset, batch_size: int = 256
) -> dict[str, torch.Tensor]:
    """``{"conv": (N, C), "fc1": (N, D), "fc2": (N, D)}`` of the dataset's raster images."""
    encoder = model.encoder
    parts: dict[str, list[torch.Tensor]] = {"conv": [], "fc1": [], "fc2": []}
    for batch in DataLoader(dataset, batch_size=batch_size):
        maps = encoder.features(batch["image"])  # (B, C, s, s)
        first = encoder.head[1](encoder.head[0](maps))  # flatten, fc block 1: (B, D)
        parts["conv"].append(maps.mean(dim=(2, 3)))
        parts["fc1"].append(first)
        parts["fc2"].append(encoder.head[2](first))
    return {name: torch.cat(chunks) for name, chunks in parts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args(argv)

    trained, run_config = load_method(args.checkpoint)
    if not hasattr(trained.encoder, "head"):
        parser.error(f"{args.checkpoint}: not a small-CNN transform-prediction checkpoint")
    torch.manual_seed(0)
    untrained = build_method(run_config["method"], run_config["model"]).eval()
    data = run_config.get("data", {})
    store = SketchStore.open(args.data)

    def dataset(split: str) -> SketchDataset:
        return SketchDataset(
            store,
            split=split,
            views=("raster",),
            normalization="none",
            max_len=int(data.get("max_len", 250)),
            raster_size=int(data.get("raster_size", 64)),
            raster_line_width=float(data.get("raster_line_width", 1.5)),
        )

    gallery, queries = dataset("train"), dataset("valid")
    gallery_labels = torch.as_tensor(store.labels[gallery.indices].astype("int64"))
    query_labels = torch.as_tensor(store.labels[queries.indices].astype("int64"))
    print(f"{'model':<12}" + "".join(f"{name:>10}" for name in ("conv", "fc1", "fc2")))
    for name, model in (("pretrained", trained.eval()), ("random_init", untrained)):
        train_x, valid_x = layer_features(model, gallery), layer_features(model, queries)
        cells = []
        for layer in ("conv", "fc1", "fc2"):
            scores = knn_evaluate(
                train_x[layer],
                gallery_labels,
                valid_x[layer],
                query_labels,
                num_classes=len(store.class_names),
            )
            cells.append(f"{100 * scores['knn_top1']:>9.2f}%")
        print(f"{name:<12}" + "".join(f"{cell:>10}" for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
