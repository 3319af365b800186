"""Replacing a folder atomically: the store builder's last step, and cleaning up after dead builds.

A store is built in a temporary sibling folder and then swapped in. On Linux the swap is one
``renameat2(RENAME_EXCHANGE)`` call, so readers see the old store or the new one and never a
gap; elsewhere the old folder is renamed aside first and a build that dies between the two
renames is repaired by the next one (:func:`clean_stale_builds`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
from pathlib import Path

from sketchssl.data.store import pending_build_folders
from sketchssl.errors import StoreError

__all__ = ["clean_stale_builds", "fsync_path", "install_folder"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_builds(out: Path) -> None:
    """Remove what dead builds left beside ``out``; refuse when a live build is running."""
    for folder in pending_build_folders(out):
        try:
            pid = int(folder.name.rsplit("-", 2)[-2])
        except (IndexError, ValueError):
            pid = -1
        if pid > 0 and pid != os.getpid() and _pid_alive(pid):
            raise StoreError(
                f"{out}: another build of this store is running (process {pid}, folder "
                f"{folder.name}); wait for it to finish"
            )
        if folder.name.startswith(f".{out.name}.old-") and not out.exists():
            # A replace died between its two renames: the old store is the one to restore.
            os.replace(folder, out)
            continue
        shutil.rmtree(folder, ignore_errors=True)


def fsync_path(path: Path) -> None:
    """Flush a file or folder to disk, so a rename that follows survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(second))


def install_folder(tmp: Path, out: Path, tag: str) -> None:
    """Move the finished ``tmp`` folder to ``out``, replacing an old store without a gap."""
    if not out.exists():
        os.replace(tmp, out)
    elif _exchange(tmp, out):
        shutil.rmtree(tmp)  # tmp now holds the old store
    else:
        old = out.with_name(f".{out.name}.old-{tag}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    fsync_path(out.parent if str(out.parent) else Path("."))
