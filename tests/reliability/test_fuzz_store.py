"""Hostile and broken stores: tampered manifests and array files give a StoreError, no crash."""

from __future__ import annotations

import json
import shutil

import pytest
from fuzz_runner import fuzz
from hypothesis import strategies as st
from reliability_targets import (
    mutated_bytes,
    read_store,
    read_store_array,
    read_store_manifest,
)

from sketchssl.data.build import build_store
from sketchssl.data.store import SketchStore
from sketchssl.errors import StoreError

ARRAY_FILES = ("points.npy", "offsets.npy", "labels.npy", "splits.npy", "key_ids.npy")
NASTY_NAMES = [
    "../points.npy",
    "/etc/passwd",
    "..",
    ".",
    "",
    "sub/points.npy",
    "points.npy/..",
    "po\x00ints.npy",
    "~/points.npy",
    "offsets.npy",
    "points.npy",
]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "doodles.store"
    build_store(["doodles:1:0"], path, workers=1, progress=False)
    return path


def _paths(value, prefix=()):
    """Every place in a JSON document, as key paths."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            yield from _paths(item, (*prefix, index))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**65), 2**65)
    | st.floats()
    | st.text(max_size=4)
    | st.sampled_from(NASTY_NAMES),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children)
    ),
    max_leaves=6,
)


def manifest_edits(manifest: dict):
    """Strategy: the manifest with 1-3 places replaced by other JSON values, or deleted."""
    places = [path for path in _paths(manifest) if path]
    edit = st.tuples(st.sampled_from(places), json_values, st.booleans())

    def apply(edits) -> bytes:
        document = json.loads(json.dumps(manifest))
        for path, value, delete in edits:
            parent = document
            try:
                for key in path[:-1]:
                    parent = parent[key]
                if delete and isinstance(parent, dict):
                    parent.pop(path[-1], None)
                else:
                    parent[path[-1]] = value
            except (KeyError, IndexError, TypeError):
                continue  # an earlier edit changed the structure above this place
        return json.dumps(document).encode()

    return st.lists(edit, min_size=1, max_size=3).map(apply)


def test_template_reads_whole(template):
    assert read_store(template) == 14


def test_tampered_manifests(template, tmp_path):
    manifest = json.loads((template / "manifest.json").read_text())
    fuzz(
        lambda data: read_store_manifest(data, template, tmp_path),
        manifest_edits(manifest),
        25,
        "store manifest (fast)",
    )


def test_tampered_array_files(template, tmp_path):
    seeds = {name: (template / name).read_bytes() for name in ARRAY_FILES}
    strategy = st.tuples(st.sampled_from(ARRAY_FILES), st.data())

    def run(pair) -> None:
        name, data = pair
        content = data.draw(mutated_bytes([seeds[name]]))
        read_store_array(name, content, template, tmp_path)

    fuzz(run, strategy, 25, "store arrays (fast)")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_tampered_stores_long(template, tmp_path):
    manifest = json.loads((template / "manifest.json").read_text())
    count = fuzz(
        lambda data: read_store_manifest(data, template, tmp_path),
        manifest_edits(manifest),
        5000,
        "store manifest",
    )
    seeds = {name: (template / name).read_bytes() for name in ARRAY_FILES}
    count += fuzz(
        lambda pair: read_store_array(pair[0], pair[1], template, tmp_path),
        st.sampled_from(ARRAY_FILES).flatmap(
            lambda name: st.tuples(st.just(name), mutated_bytes([seeds[name]]))
        ),
        5000,
        "store arrays",
    )
    assert count > 9500


@pytest.mark.parametrize("name", NASTY_NAMES[:-2])
def test_manifest_naming_a_file_elsewhere_gives_a_store_error(template, tmp_path, name):
    target = tmp_path / "copy.store"
    shutil.copytree(template, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["arrays"]["labels"]["file"] = name
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="array 'labels'"):
        SketchStore.open(target)


def test_symlinked_array_leading_outside_is_refused(template, tmp_path):
    target = tmp_path / "copy.store"
    shutil.copytree(template, target)
    outside = tmp_path / "secret.npy"
    outside.write_bytes((target / "labels.npy").read_bytes())
    (target / "labels.npy").unlink()
    (target / "labels.npy").symlink_to(outside)
    with pytest.raises(StoreError, match="outside the store folder"):
        SketchStore.open(target)


def test_oversized_and_deeply_nested_manifests(template, tmp_path):
    target = tmp_path / "copy.store"
    shutil.copytree(template, target)
    (target / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(StoreError, match="unreadable manifest"):
        SketchStore.open(target)
    with open(target / "manifest.json", "wb") as handle:
        handle.truncate((64 << 20) + 1)  # sparse: nothing is written, nothing is read
    with pytest.raises(StoreError, match="more than the limit"):
        SketchStore.open(target)


def test_damaged_npy_headers(template, tmp_path):
    # numpy's header parser raises TokenError / SyntaxError / EOFError for some of these.
    target = tmp_path / "copy.store"
    content = (template / "offsets.npy").read_bytes()
    for damaged in (
        b"",
        content[:8],
        content[:20],
        content.replace(b"'descr'", b"'''des"),
        content.replace(b"{", b"("),
        content.replace(b"}", b"'"),
    ):
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(template, target)
        (target / "offsets.npy").write_bytes(damaged)
        with pytest.raises(StoreError, match="offsets.npy"):
            SketchStore.open(target)
