"""Atomic writes leave the old file or the new one, never half of one."""

from __future__ import annotations

import os

import pytest

from sketchssl.atomic import atomic_write


def test_success_replaces_and_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    with atomic_write(target) as stream:
        stream.write(b"first")
    assert target.read_bytes() == b"first"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    with pytest.raises(RuntimeError), atomic_write(target) as stream:
        stream.write(b"half of the sec")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]  # no temporary left
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(target, "ab"):
            pass


def _umask() -> int:
    value = os.umask(0)
    os.umask(value)
    return value
