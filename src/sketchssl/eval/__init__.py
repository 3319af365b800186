"""Evaluation of learned sketch representations.

Weighted kNN, linear probe, retrieval, the raw-pixel and random-init baselines, Markdown / JSON
reports and 2-D embedding maps.

A command-line ``sketchssl eval`` is a thin wrapper over this package::

    train_x, train_y = embed_dataset(model, train_loader, device)   # gallery / probe data
    test_x, test_y = embed_dataset(model, test_loader, device)      # queries
    rows = {"pretrained": evaluate_embeddings(train_x, train_y, test_x, test_y, seed=0)}
    rows["pixels"] = evaluate_embeddings(pixel_embeddings(train_sketches), train_y,
                                         pixel_embeddings(test_sketches), test_y)
    write_report(out_dir, rows, {"protocol": protocol_description(), "data": str(store_path)})
    plot_embedding_map(test_x, test_y, class_names, out_dir / "map.png", test_sketches)

This layer imports torch, numpy, ``sketchssl.data`` and ``sketchssl.render``; never Lightning.
matplotlib / scikit-learn (the ``[viz]`` extra) are imported only when a map is drawn.
"""

from sketchssl.eval.baselines import embed_dataset, pixel_embeddings
from sketchssl.eval.embedding_map import MissingDependencyError, plot_embedding_map, project_2d
from sketchssl.eval.knn import KNNConfig, knn_evaluate
from sketchssl.eval.metrics import (
    MAIN_METRICS,
    EvalConfig,
    evaluate_embeddings,
    protocol_description,
)
from sketchssl.eval.neighbors import top_k_neighbors
from sketchssl.eval.probe import LinearProbe, ProbeConfig, fit_linear_probe, linear_probe_evaluate
from sketchssl.eval.report import format_gains, format_table, write_report
from sketchssl.eval.retrieval import RetrievalConfig, retrieval_evaluate

__all__ = [
    "MAIN_METRICS",
    "EvalConfig",
    "KNNConfig",
    "LinearProbe",
    "MissingDependencyError",
    "ProbeConfig",
    "RetrievalConfig",
    "embed_dataset",
    "evaluate_embeddings",
    "fit_linear_probe",
    "format_gains",
    "format_table",
    "knn_evaluate",
    "linear_probe_evaluate",
    "pixel_embeddings",
    "plot_embedding_map",
    "project_2d",
    "protocol_description",
    "retrieval_evaluate",
    "top_k_neighbors",
    "write_report",
]
