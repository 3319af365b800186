"""Fixtures of the bench tests: a small doodle store and the test-only methods registered."""

from __future__ import annotations

import pytest
from bench_methods import FAILING, LINEAR, FailingSketchMethod, LinearSketchMethod

from sketchssl.data.build import build_store
from sketchssl.methods import registry


@pytest.fixture
def test_methods():
    """Register the two test methods for one test, then remove them from the registry."""
    registry.register_method(LINEAR, "test: mean-pooled linear code")(LinearSketchMethod)
    registry.register_method(FAILING, "test: raises in its loss")(FailingSketchMethod)
    try:
        yield (LINEAR, FAILING)
    finally:
        registry._REGISTRY.pop(LINEAR, None)
        registry._REGISTRY.pop(FAILING, None)


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    """84 synthetic doodles of 14 classes, with train / valid / test splits."""
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:6:1"], path, workers=1, progress=False)
    return path
