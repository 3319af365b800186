"""Coverage-guided fuzzing of the readers with atheris (libFuzzer for Python), optional.

atheris is not a dependency of sketchssl (``pip install atheris``; it ships Linux and macOS
wheels). The targets are the ones the hypothesis tests use (``reliability_targets.py``): each
either accepts the input and returns well-formed records, or raises the reader's documented error
type, which the target catches. Anything else escaping is a crash libFuzzer reports, with the
input saved as ``crash-*`` in the working folder.

Usage::

    python tests/reliability/fuzz_atheris.py npz -runs=20000 -max_total_time=300
    python tests/reliability/fuzz_atheris.py all -runs=5000     # every target, one after another

Targets: npz, ndjson, bin, config, checkpoint. Extra arguments go to libFuzzer. The seed files
are written to a temporary corpus folder that libFuzzer starts from and grows.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("npz", "ndjson", "bin", "config", "checkpoint")


def fuzz_one(name: str, libfuzzer_args: list[str]) -> None:
    """Run libFuzzer on one target in this process (it exits when done)."""
    import atheris

    sys.path.insert(0, str(HERE))
    with atheris.instrument_imports(include=["sketchssl", "reliability_targets"]):
        import reliability_targets as targets

    seeds_of, target = targets.BYTE_TARGETS[name]
    work = Path(tempfile.mkdtemp(prefix=f"sketchssl_atheris_{name}_"))
    corpus = work / "corpus"
    corpus.mkdir()
    for index, seed in enumerate(seeds_of()):
        (corpus / f"seed{index}").write_bytes(seed)
    scratch = work / "scratch"
    scratch.mkdir()

    def test_one_input(data: bytes) -> None:
        target(data, scratch)

    atheris.Setup([sys.argv[0], *libfuzzer_args, str(corpus)], test_one_input)
    atheris.Fuzz()


def main(argv: list[str]) -> int:
    """Fuzz one target, or each target in its own process for ``all``."""
    if not argv or argv[0] not in (*TARGETS, "all"):
        print(__doc__)
        return 2
    name, rest = argv[0], argv[1:]
    if name != "all":
        fuzz_one(name, rest)
        return 0
    failed = 0
    for each in TARGETS:
        failed |= subprocess.call([sys.executable, __file__, each, *rest])
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
