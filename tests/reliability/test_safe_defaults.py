"""Reading is safe by default everywhere: a scan of the package's source for unsafe calls.

Checked on the syntax tree of every module under src/sketchssl (comments and docstrings do not
count): torch.load only in methods/checkpoint.py and only with weights_only=True; no
allow_pickle=True; no pickle loading outside the restricted array unpickler; no eval / exec /
compile of text; no shell strings (os.system, os.popen, shell=True); YAML only through the safe
loaders; OmegaConf.load only in configuration.py, behind its size and depth checks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "sketchssl"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _dotted(node: ast.AST) -> str:
    """``torch.load`` for the expression ``torch.load`` (best effort)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(source: str, module: str) -> list[str]:
    """Descriptions of the unsafe calls in one module's source."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        where = f"{module}:{node.lineno} {name}"
        if name.endswith("torch.load"):
            if not _is_true(_keyword(node, "weights_only")):
                problems.append(f"{where} without weights_only=True")
            if module != "methods/checkpoint.py":
                problems.append(f"{where} outside methods/checkpoint.py (use read_checkpoint)")
        if _is_true(_keyword(node, "allow_pickle")):
            problems.append(f"{where} with allow_pickle=True")
        if _is_true(_keyword(node, "shell")):
            problems.append(f"{where} with shell=True")
        if name in ("eval", "exec", "compile", "os.system", "os.popen", "__import__"):
            problems.append(where)
        if name in ("pickle.load", "pickle.loads", "marshal.loads", "shelve.open"):
            problems.append(where)
        if name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all"):
            loader = _dotted(_keyword(node, "Loader") or ast.Constant(None))
            if "Safe" not in loader:
                problems.append(f"{where} without a safe Loader")
        if name == "OmegaConf.load" and module != "configuration.py":
            problems.append(f"{where} outside configuration.load_yaml")
    return problems


def test_the_scan_finds_what_it_looks_for():
    bad = """
import torch, numpy as np, os, subprocess, pickle, yaml
torch.load(path)
torch.load(path, weights_only=False)
np.load(path, allow_pickle=True)
eval(text)
os.system(command)
subprocess.run(command, shell=True)
pickle.loads(data)
yaml.load(text, Loader=yaml.Loader)
"""
    found = unsafe_calls(bad, "x.py")
    for expected in (
        "x.py:3 torch.load without weights_only=True",
        "x.py:4 torch.load without weights_only=True",
        "x.py:5 np.load with allow_pickle=True",
        "x.py:6 eval",
        "x.py:7 os.system",
        "x.py:8 subprocess.run with shell=True",
        "x.py:9 pickle.loads",
        "x.py:10 yaml.load without a safe Loader",
    ):
        assert expected in found
    good = "import torch\nmodel.eval()\ntorch.load(p, weights_only=True)\n"
    assert unsafe_calls(good, "methods/checkpoint.py") == []


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_unsafe_reading_in_the_package(path):
    module = str(path.relative_to(PACKAGE))
    assert unsafe_calls(path.read_text(encoding="utf-8"), module) == []


def test_the_one_unpickler_is_the_restricted_one():
    users = [
        str(path.relative_to(PACKAGE))
        for path in MODULES
        if "pickle.Unpickler" in path.read_text(encoding="utf-8")
    ]
    assert users == ["data/io/safe_pickle.py"]
