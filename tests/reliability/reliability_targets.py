"""What the reliability tests feed to every reader: valid seed files, mutations, read-everything.

Each reader target takes the bytes of one file, writes them where the reader expects them and
reads *everything* the file holds. A target either returns (the file was accepted, and every
record it gave back was checked to be well formed) or raises the reader's documented error type
(:data:`EXPECTED_ERRORS`); anything else, including a hang or a crash, is a bug the fuzz tests
report. The same targets drive the hypothesis tests and the optional atheris harness
(``fuzz_atheris.py``), so the two fuzzers exercise exactly the same code.

The seed files are small valid files of each format written by the project's own writers; the
mutations (byte flips, insertions, deletions, truncations, splices of two seeds) start from them,
which reaches far deeper into a parser than random bytes do.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sketchssl.data.io import ReadLimits, iter_binary, iter_ndjson, iter_npz
from sketchssl.data.io.ndjson import parse_drawing_line
from sketchssl.data.records import ReadStats
from sketchssl.errors import ConfigError, SketchFileError, SketchSSLError, StoreError

#: Small caps for the fuzzed readers: mutated sizes stay cheap and the caps themselves get hit.
FUZZ_LIMITS = ReadLimits(max_member_bytes=1 << 20, max_line_bytes=1 << 16, max_header_bytes=10_000)


def check_record_strokes(strokes: np.ndarray) -> None:
    """A record a reader accepted must be int16 ``(N, 3)`` stroke-3 with 0 / 1 pens."""
    assert isinstance(strokes, np.ndarray)
    assert strokes.dtype == np.int16 and strokes.ndim == 2 and strokes.shape[1] == 3
    assert len(strokes) >= 1
    assert np.isin(strokes[:, 2], (0, 1)).all()


# ------------------------------------------------------------------------------------- seeds


def _square(scale: int) -> np.ndarray:
    return np.array(
        [[scale, 0, 0], [0, scale, 0], [-scale, 0, 0], [0, -scale, 1], [3, 3, 0], [4, 4, 1]],
        dtype=np.int16,
    )


def npz_seeds() -> list[bytes]:
    """sketch-rnn files: per-category compressed and stored, and a labelled one."""
    from sketchssl.data.io import write_sketchrnn_npz

    seeds = []
    folder = Path(_scratch())
    sketches = [_square(10), _square(25)[:4], _square(7)]
    write_sketchrnn_npz(folder / "a.npz", {"train": sketches, "test": sketches[:1]})
    write_sketchrnn_npz(folder / "b.npz", {"valid": sketches[1:]}, compress=False)
    write_sketchrnn_npz(
        folder / "c.npz",
        {"train": sketches},
        train_label=np.array([0, 1, 0]),
        class_names=np.array(["cat", "dog"]),
        train_key_id=np.array([11, 12, 13], dtype=np.int64),
    )
    for name in ("a.npz", "b.npz", "c.npz"):
        seeds.append((folder / name).read_bytes())
    # The layout numpy itself writes for Google's files (protocol 3 pickles of object arrays).
    holder = np.empty(2, dtype=object)
    holder[:] = [_square(3), _square(4)]
    buffer = io.BytesIO()
    np.savez(buffer, train=holder)
    seeds.append(buffer.getvalue())
    shutil.rmtree(folder)
    return seeds


def ndjson_seeds() -> list[bytes]:
    """QuickDraw simplified and raw lines, as Google writes them."""
    simplified = {
        "word": "cat",
        "countrycode": "US",
        "timestamp": "2017-03-01 00:00:00.00000 UTC",
        "recognized": True,
        "key_id": "5678",
        "drawing": [[[0, 10, 20], [0, 5, 0]], [[30, 40], [30, 60]]],
    }
    raw = dict(
        simplified,
        drawing=[[[0.5, 10.2, 20.9, 21.0], [0.0, 5.5, 0.1, 3.0], [0, 16, 33, 50]]],
    )
    lines = [json.dumps(simplified), json.dumps(raw), json.dumps(dict(simplified, word="dog"))]
    return ["\n".join(lines).encode() + b"\n", (lines[1] + "\n").encode()]


def binary_seeds() -> list[bytes]:
    """QuickDraw ``.bin`` records written by the project's writer."""
    from sketchssl.data.io import write_binary

    folder = Path(_scratch())
    write_binary(folder / "a.bin", [_square(10), _square(40), _square(3)[:4]])
    content = (folder / "a.bin").read_bytes()
    shutil.rmtree(folder)
    return [content]


def _scratch() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="sketchssl_fuzz_seed_")


# ------------------------------------------------------------------------------------- mutations


@dataclass(frozen=True)
class Edit:
    """One byte-level change: ``kind`` at ``position`` (modulo the length) with ``value``."""

    kind: str  # flip | set | insert | delete | truncate | duplicate
    position: int
    value: int


def apply_edits(seed: bytes, edits: list[Edit], splice: bytes = b"") -> bytes:
    """Apply ``edits`` in order to ``seed``; ``splice`` (another seed's tail) is appended first."""
    data = bytearray(seed + splice)
    for edit in edits:
        if not data:
            data.append(edit.value & 0xFF)
            continue
        at = edit.position % len(data)
        if edit.kind == "flip":
            data[at] ^= 1 << (edit.value % 8)
        elif edit.kind == "set":
            data[at] = edit.value & 0xFF
        elif edit.kind == "insert":
            data[at:at] = bytes([edit.value & 0xFF]) * (1 + edit.value % 4)
        elif edit.kind == "delete":
            del data[at : at + 1 + edit.value % 8]
        elif edit.kind == "truncate":
            del data[at:]
        elif edit.kind == "duplicate":
            span = data[at : at + 1 + edit.value % 64]
            data[at:at] = span
    return bytes(data)


EDIT_KINDS = ("flip", "set", "insert", "delete", "truncate", "duplicate")


def mutated_bytes(seeds: list[bytes]):
    """A hypothesis strategy: seeds with up to 8 edits (sometimes spliced), or random bytes."""
    from hypothesis import strategies as st

    edit = st.builds(
        Edit,
        kind=st.sampled_from(EDIT_KINDS),
        position=st.integers(0, 1 << 20),
        value=st.integers(0, 255),
    )
    splice = st.one_of(
        st.just(b""),
        st.tuples(st.sampled_from(seeds), st.integers(0, 1 << 16)).map(
            lambda pair: pair[0][pair[1] % max(len(pair[0]), 1) :]
        ),
    )
    mutations = st.builds(apply_edits, st.sampled_from(seeds), st.lists(edit, max_size=8), splice)
    return st.one_of(mutations, mutations, mutations, st.binary(max_size=600))


# ------------------------------------------------------------------------------------- targets


def read_npz(data: bytes, folder: Path) -> int:
    """Every sketch of ``data`` as a sketch-rnn ``.npz``; returns how many were read."""
    path = folder / "fuzz.npz"
    path.write_bytes(data)
    count = 0
    for skip_bad in (False, True):
        stats = ReadStats()
        try:
            for record in iter_npz(path, skip_bad=skip_bad, stats=stats, limits=FUZZ_LIMITS):
                check_record_strokes(record.strokes)
                assert record.split in ("train", "valid", "test")
                count += 1
        except SketchFileError:
            pass
    return count


def read_ndjson(data: bytes, folder: Path) -> int:
    """Every drawing of ``data`` as QuickDraw ndjson, strictly and with ``skip_bad``."""
    path = folder / "fuzz.ndjson"
    path.write_bytes(data)
    count = 0
    for skip_bad in (False, True):
        stats = ReadStats()
        try:
            for record in iter_ndjson(path, skip_bad=skip_bad, stats=stats, limits=FUZZ_LIMITS):
                check_record_strokes(record.strokes)
                assert isinstance(record.label, str) and record.label
                count += 1
        except SketchFileError:
            assert not skip_bad, "skip_bad=True must skip bad lines, not stop"
    return count


def parse_line(data: bytes) -> int:
    """One ndjson line through :func:`parse_drawing_line` (the per-line parser)."""
    from sketchssl.errors import SketchFormatError

    try:
        strokes, word, _key_id = parse_drawing_line(data.decode("utf-8", errors="replace"))
    except SketchFormatError:
        return 0
    check_record_strokes(strokes)
    assert isinstance(word, str)
    return 1


def read_binary(data: bytes, folder: Path) -> int:
    """Every drawing of ``data`` as a QuickDraw ``.bin`` file."""
    path = folder / "fuzz.bin"
    path.write_bytes(data)
    count = 0
    for skip_bad in (False, True):
        try:
            for record in iter_binary(path, skip_bad=skip_bad):
                check_record_strokes(record.strokes)
                count += 1
        except SketchFileError:
            pass
    return count


def read_store(folder: Path) -> int:
    """Open a store folder (with checksums) and read every sketch and the summary."""
    from sketchssl.data.store import SketchStore

    try:
        store = SketchStore.open(folder, verify=True)
    except StoreError:
        return 0
    for index in range(len(store)):
        check_record_strokes(store[index])
        store.label_name(index)
    store.summary()
    for split in ("train", "valid", "test", "all"):
        store.split_indices(split)
    return len(store)


def read_store_manifest(manifest: bytes, template: Path, folder: Path) -> int:
    """A copy of the store ``template`` with its manifest replaced by ``manifest``."""
    target = folder / "fuzz.store"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(template, target)
    (target / "manifest.json").write_bytes(manifest)
    return read_store(target)


def read_store_array(name: str, content: bytes, template: Path, folder: Path) -> int:
    """A copy of the store ``template`` with the array file ``name`` replaced by ``content``."""
    target = folder / "fuzz.store"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(template, target)
    (target / name).write_bytes(content)
    from sketchssl.data.store import SketchStore

    try:
        # Without checksums only the structure is checked: shapes, dtypes, sizes, offsets,
        # labels and split counts. Altered values of the right size read back altered.
        store = SketchStore.open(target)
        for index in range(len(store)):
            sketch = store[index]
            assert sketch.dtype == np.int16 and sketch.ndim == 2 and sketch.shape[1] == 3
    except StoreError:
        return 0
    return read_store(target)  # with checksums: refused, or every sketch well formed


def read_config(data: bytes, folder: Path, method: str = "sketch_bert") -> int:
    """A YAML config file through :func:`load_yaml` and :func:`load_run_config`."""
    from sketchssl.configuration import load_yaml
    from sketchssl.train.config import load_run_config

    path = folder / "fuzz.yaml"
    path.write_bytes(data)
    try:
        load_yaml(path)
        load_run_config(method, None, [], config_file=path)
    except ConfigError:
        return 0
    return 1


def read_checkpoint_bytes(data: bytes, folder: Path) -> int:
    """A checkpoint file through :func:`read_checkpoint` (``weights_only`` loading)."""
    from sketchssl.methods.checkpoint import read_checkpoint

    path = folder / "fuzz.ckpt"
    path.write_bytes(data)
    try:
        checkpoint = read_checkpoint(path)
    except SketchFileError:
        return 0
    assert isinstance(checkpoint, dict) and "state_dict" in checkpoint
    return 1


def checkpoint_seeds() -> list[bytes]:
    """Small checkpoints shaped like the ones ``sketchssl train`` writes."""
    import torch

    generator = torch.Generator().manual_seed(0)
    state = {
        "method.encoder.weight": torch.randn(4, 3, generator=generator),
        "method.encoder.bias": torch.zeros(4),
        "method.head.weight": torch.randn(2, 4, generator=generator).to(torch.float16),
    }
    checkpoint = {
        "epoch": 0,
        "global_step": 7,
        "state_dict": state,
        "optimizer_states": [
            {
                "state": {0: {"step": torch.tensor(7.0), "exp_avg": torch.zeros(4, 3)}},
                "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1, 2]}],
            }
        ],
        "sketchssl": {"version": "0.1", "method": "sketch_bert", "config": {"model": {}}},
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return [buffer.getvalue()]


def config_seeds() -> list[bytes]:
    """The shipped sketch_bert presets."""
    from sketchssl.train.config import preset_path

    return [preset_path("sketch_bert", name).read_bytes() for name in ("tiny", "paper")]


#: Errors each target may raise by design (the targets above already catch them).
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (SketchSSLError,)

#: name -> (seeds factory, target taking (bytes, folder)) for the byte-level fuzzers.
BYTE_TARGETS: dict[str, tuple[Callable[[], list[bytes]], Callable[[bytes, Path], int]]] = {
    "npz": (npz_seeds, read_npz),
    "ndjson": (ndjson_seeds, read_ndjson),
    "bin": (binary_seeds, read_binary),
    "config": (config_seeds, read_config),
    "checkpoint": (checkpoint_seeds, read_checkpoint_bytes),
}


def zip_member_sizes(data: bytes) -> list[int]:
    """Declared uncompressed sizes of a zip's members (for the zip-bomb tests)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [info.file_size for info in archive.infolist()]
