"""Run the ``Examples:`` blocks of the eval modules, so the documented outputs stay true."""

import doctest
import importlib

import pytest

MODULES = ["knn", "probe", "metrics", "report", "baselines"]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    module = importlib.import_module(f"sketchssl.eval.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
