"""What a bench ran on: hardware, software versions and the source revision.

Recorded in every report so that a run can be repeated and its timings put in context.
Nothing here identifies a person or a host: no host name, user name or paths outside the run.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

__all__ = ["describe_environment", "source_revision"]

_PACKAGES = ("sketchssl", "torch", "lightning", "numpy", "omegaconf", "matplotlib", "scikit-learn")


def _cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def source_revision() -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout sketchssl runs from; None outside one."""
    folder = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def describe_environment(device: str) -> dict[str, Any]:
    """Hardware and software of this process, for the report's ``environment``."""
    cuda = torch.cuda.is_available()
    description: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "device": device,
        "cuda_available": cuda,
        "versions": {package: _version(package) for package in _PACKAGES},
        "source": source_revision(),
    }
    if cuda:
        index = (torch.device(device).index or 0) if device.startswith("cuda") else 0
        properties = torch.cuda.get_device_properties(index)
        description["gpu"] = {
            "name": properties.name,
            "memory_gib": round(properties.total_memory / 2**30, 1),
            "capability": f"{properties.major}.{properties.minor}",
            "cuda": torch.version.cuda,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        }
    return description
