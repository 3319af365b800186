"""Atomic file writes: a temporary sibling, flushed to disk, then renamed over the target.

Every file that matters (stores' arrays, checkpoints, configs, reports, figures, mask tables) is
written through :func:`atomic_write`, so a run interrupted at any moment leaves the previous
file or the new one, never half of one. Standard library only: every layer may use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "default_file_mode"]


def default_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", *, make_parents: bool = True, **open_args: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    Args:
        path: the file to (re)place.
        mode: ``"wb"`` or ``"w"`` (text; ``open_args`` such as ``encoding`` apply).
        make_parents: create the parent folder when it does not exist.
        **open_args: passed to ``open`` (``encoding`` for text).

    On an exception inside the block the temporary file is removed and ``path`` is untouched.

    Examples:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
        >>> with atomic_write(target, "w", encoding="utf-8") as stream:
        ...     _ = stream.write("done")
        >>> target.read_text()
        'done'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes whole files: mode 'wb' or 'w', not {mode!r}")
    target = Path(path)
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(descriptor, mode, **open_args) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, default_file_mode())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can fsync a folder)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
