"""Hostile and broken checkpoints: weights_only loading, zip bombs refused, clear errors."""

from __future__ import annotations

import io
import os
import tracemalloc
import zipfile

import pytest
import torch
from fuzz_runner import fuzz
from reliability_targets import checkpoint_seeds, mutated_bytes, read_checkpoint_bytes

from sketchssl.errors import SketchFileError, UnsafeFileError
from sketchssl.methods.checkpoint import read_checkpoint

MIB = 1 << 20


@pytest.fixture(scope="module")
def seeds():
    return checkpoint_seeds()


def test_seeds_load(seeds, tmp_path):
    assert [read_checkpoint_bytes(seed, tmp_path) for seed in seeds] == [1]


def test_mutated_files(seeds, tmp_path):
    fuzz(
        lambda data: read_checkpoint_bytes(data, tmp_path),
        mutated_bytes(seeds),
        30,
        "checkpoint (fast)",
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_mutated_files_long(seeds, tmp_path):
    count = fuzz(
        lambda data: read_checkpoint_bytes(data, tmp_path),
        mutated_bytes(seeds),
        10000,
        "checkpoint",
    )
    assert count > 9500


class _RunsShell:
    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def test_pickle_payload_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hook": _RunsShell(marker)}, path)
    with pytest.raises(UnsafeFileError, match="evil.ckpt.*refused"):
        read_checkpoint(path)
    assert not marker.exists()
    # Control: a plain torch.load without weights_only runs the payload.
    torch.load(path, weights_only=False)
    assert marker.exists()


def _recompressed(content: bytes) -> bytes:
    """The same checkpoint with every member deflated (torch.load still reads it)."""
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, source.read(info.filename))
    return out.getvalue()


def test_zip_bomb_checkpoint_is_refused_before_any_allocation(tmp_path):
    # 64 MiB of zero weights deflate to ~70 KB; torch would allocate and inflate all of it.
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(16 * MIB)}}, buffer)
    path = tmp_path / "bomb.ckpt"
    path.write_bytes(_recompressed(buffer.getvalue()))
    assert path.stat().st_size < MIB
    tracemalloc.start()
    try:
        with pytest.raises(SketchFileError, match="declare 671.* bytes uncompressed"):
            read_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MIB
    # Control: torch.load itself accepts the file and materialises the 64 MiB tensor.
    assert torch.load(path, weights_only=True)["state_dict"]["w"].numel() == 16 * MIB


def test_legacy_format_and_non_checkpoints_are_refused(tmp_path):
    legacy = tmp_path / "legacy.ckpt"
    torch.save({"state_dict": {}}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(SketchFileError, match="not a zip-format torch checkpoint"):
        read_checkpoint(legacy)
    other = tmp_path / "other.ckpt"
    torch.save([1, 2, 3], other)
    with pytest.raises(SketchFileError, match="no state_dict"):
        read_checkpoint(other)


def test_every_truncation_is_a_clear_error(seeds, tmp_path):
    content = seeds[0]
    path = tmp_path / "cut.ckpt"
    for length in range(0, len(content), max(1, len(content) // 40)):
        path.write_bytes(content[:length])
        with pytest.raises(SketchFileError, match="cut.ckpt"):
            read_checkpoint(path)


def test_malformed_persistent_id_is_a_clear_error(seeds, tmp_path):
    # Found by atheris: torch's loader asserts that a persistent id is a tuple.
    source = zipfile.ZipFile(io.BytesIO(seeds[0]))
    path = tmp_path / "odd.ckpt"
    with zipfile.ZipFile(path, "w") as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("data.pkl"):
                data = b"\x80\x02K\x05Q."  # BININT1 5, BINPERSID: persistent id 5, not a tuple
            archive.writestr(info.filename, data)
    with pytest.raises(SketchFileError, match="odd.ckpt.*not a readable checkpoint"):
        read_checkpoint(path)
