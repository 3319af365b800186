"""Hostile and broken sketch-rnn .npz files: a record or a SketchFileError, never a crash."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from fuzz_runner import fuzz
from reliability_targets import mutated_bytes, npz_seeds, read_npz

from sketchssl.data.io import ReadLimits, load_sketchrnn_npz
from sketchssl.errors import SketchFileError, UnsafeFileError

MIB = 1 << 20


@pytest.fixture(scope="module")
def seeds():
    return npz_seeds()


def test_seeds_are_read_whole(seeds, tmp_path):
    # The mutations start from files the reader accepts (3 + 1 + 0 + 3 + 2 sketches and up).
    assert [read_npz(seed, tmp_path) for seed in seeds] == [2 * 4, 2 * 2, 2 * 3, 2 * 2]


def test_mutated_files(seeds, tmp_path):
    fuzz(lambda data: read_npz(data, tmp_path), mutated_bytes(seeds), 30, "npz (fast)")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_mutated_files_long(seeds, tmp_path):
    assert fuzz(lambda data: read_npz(data, tmp_path), mutated_bytes(seeds), 20000, "npz") > 19000


def _patch_central_directory(content: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Set one field of every central-directory entry (offsets from APPNOTE.TXT 4.3.12)."""
    patched = bytearray(content)
    start = 0
    while (entry := patched.find(b"PK\x01\x02", start)) >= 0:
        struct.pack_into(fmt, patched, entry + offset, value)
        start = entry + 4
    return bytes(patched)


def _peak_bytes_while(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_many_members_under_the_member_cap_are_refused_in_all(tmp_path):
    # 20 members each declaring 1.9 GiB: under the per-member cap, 38 GiB together.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(20):
            archive.writestr(f"part{index}.npy", b"\0" * 64)
    path = tmp_path / "bomb.npz"
    path.write_bytes(_patch_central_directory(buffer.getvalue(), 24, "<I", 1900 * MIB))

    def read():
        with pytest.raises(SketchFileError, match="declare 39845888000 decompressed bytes in all"):
            load_sketchrnn_npz(path)

    assert _peak_bytes_while(read) < 4 * MIB  # refused from the directory, nothing inflated


def test_directory_that_understates_a_member_is_refused_with_bounded_memory(tmp_path):
    # A real zip bomb: 64 MiB of zeros deflate to ~64 KB; the directory claims 1000 bytes.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("train.npy", bytes(64 * MIB))
    assert len(buffer.getvalue()) < 200_000
    path = tmp_path / "bomb.npz"
    path.write_bytes(_patch_central_directory(buffer.getvalue(), 24, "<I", 1000))

    def read():
        # zipfile stops at the declared size, then the CRC of what it read does not match.
        with pytest.raises(SketchFileError, match="train.npy.*(Bad CRC|differs from the size)"):
            load_sketchrnn_npz(path)

    assert _peak_bytes_while(read) < 4 * MIB


def test_honest_bomb_over_the_member_cap_is_refused_unread(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("train.npy", bytes(16 * MIB))
    path = tmp_path / "bomb.npz"
    path.write_bytes(buffer.getvalue())

    def read():
        with pytest.raises(SketchFileError, match="more than the limit of 1048576"):
            load_sketchrnn_npz(path, limits=ReadLimits(max_member_bytes=MIB))

    assert _peak_bytes_while(read) < 2 * MIB


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_corrupt_compressed_stream_is_a_clear_error(tmp_path, method):
    # zlib.error and lzma.LZMAError are not OSErrors; found by the fuzzer (zlib: "invalid
    # distance code"), they escaped the reader before.
    buffer = io.BytesIO()
    np.save(buffer, np.arange(5000, dtype=np.int64) % 7)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        archive.writestr("train_key_id.npy", buffer.getvalue())
    content = bytearray(out.getvalue())
    header = 30 + len("train_key_id.npy")  # local header: data follows the name (no extra)
    for offset in range(header + 8, header + 40):
        content[offset] ^= 0x5A
    path = tmp_path / "corrupt.npz"
    path.write_bytes(bytes(content))
    with pytest.raises(SketchFileError, match="train_key_id.npy"):
        load_sketchrnn_npz(path)


def test_unknown_zip_version_is_a_clear_error(tmp_path):
    # zipfile raises NotImplementedError for a "version needed to extract" above 6.3.
    buffer = io.BytesIO()
    np.savez(buffer, train=np.zeros(3))
    path = tmp_path / "future.npz"
    path.write_bytes(_patch_central_directory(buffer.getvalue(), 6, "<H", 215))
    with pytest.raises(SketchFileError, match="not a readable .npz"):
        load_sketchrnn_npz(path)


def _object_member(pickle_bytes: bytes) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|O", "fortran_order": False, "shape": (1,)}
    )
    return buffer.getvalue() + pickle_bytes


def _text(value: str) -> bytes:
    encoded = value.encode()
    return b"\x8c" + bytes([len(encoded)]) + encoded  # SHORT_BINUNICODE


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os", "system"),
        ("posix", "system"),
        ("subprocess", "getoutput"),
        ("builtins", "exec"),
        ("builtins", "__import__"),
        ("numpy", "load"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.testing._private.utils", "runstring"),
    ],
)
@pytest.mark.parametrize("opcode", ["GLOBAL", "STACK_GLOBAL"])
def test_pickled_calls_are_refused_and_nothing_runs(tmp_path, module, name, opcode):
    marker = tmp_path / "ran"
    command = f"open({str(marker)!r}, 'w')" if name in ("exec", "runstring") else f"touch {marker}"
    if opcode == "GLOBAL":  # protocol 2: c<module>\n<name>\n
        callable_ = b"c" + module.encode() + b"\n" + name.encode() + b"\n"
        payload = b"\x80\x02" + callable_ + _text(command) + b"\x85R."
    else:  # protocol 4: two strings, then STACK_GLOBAL
        payload = b"\x80\x04" + _text(module) + _text(name) + b"\x93" + _text(command) + b"\x85R."
    path = tmp_path / "cat.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train.npy", _object_member(payload))
    with pytest.raises(UnsafeFileError, match=f"{module}.{name}"):
        load_sketchrnn_npz(path)
    assert not marker.exists()


def test_member_with_an_empty_name_is_a_clear_error(tmp_path):
    # Found by the slow fuzz loop: ZipInfo.is_dir() raised IndexError on an empty name.
    path = tmp_path / "nameless.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo(""), b"abc")
    with pytest.raises(SketchFileError, match="member '': not a valid .npy header"):
        load_sketchrnn_npz(path)
