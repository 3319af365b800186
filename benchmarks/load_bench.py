"""Training speed on a busy machine: a run beside a CPU-bound process pinned to one core.

For each method (tiny preset), ``sketchssl train`` runs ``--steps`` steps three times, in one
script, one after the other:

1. ``idle``: nothing else running, torch's old default of one thread per core
   (``trainer.threads=<cores>``);
2. ``loaded, threads=<cores>``: the same, beside a busy loop pinned to core 0 (``taskset``-like
   affinity set from Python), what every run did before ``trainer.threads=auto``;
3. ``loaded, threads=auto``: the same load, the thread count chosen from the free cores
   (:mod:`sketchssl.threads`), the default now.

Speed is steps per second of the training loop (``sketchssl train`` prints the loop's seconds;
process start-up and the store's scale-factor pass are not in it). Prints each run and the
slowdown of the two loaded runs against idle; writes JSON. The load is a plain Python busy loop
(one core, as a second program a user runs would be).

Usage::

    python benchmarks/load_bench.py --data STORE [--methods sketch_bert,rotation_cnn,sketch_rnn]
        [--steps 200] [--out benchmarks/results/load_bench.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DONE = re.compile(r"step (\d+) in ([0-9.]+) s \((\d+) torch threads\)")


def busy_loop(core: int) -> None:
    """Spin on one core until killed."""
    os.sched_setaffinity(0, {core})
    while True:
        pass


def run_training(method: str, store: Path, steps: int, threads: str, folder: Path) -> dict:
    """One ``sketchssl train`` run; returns steps, loop seconds, threads and wall seconds."""
    command = [
        sys.executable,
        "-m",
        "sketchssl",
        "train",
        method,
        "--preset",
        "tiny",
        "--data",
        str(store),
        "--out",
        str(folder),
        f"trainer.max_steps={steps}",
        "trainer.max_minutes=null",
        "trainer.progress_bar=false",
        f"trainer.val_every_n_steps={steps * 10}",
        f"trainer.checkpoint_every_n_steps={steps * 10}",
        f"trainer.threads={threads}",
    ]
    environment = {key: value for key, value in os.environ.items() if key != "SKETCHSSL_THREADS"}
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    wall = time.perf_counter() - started
    match = DONE.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    done, seconds, used = int(match.group(1)), float(match.group(2)), int(match.group(3))
    return {
        "steps": done,
        "loop_seconds": seconds,
        "steps_per_second": done / seconds,
        "threads": used,
        "wall_seconds": round(wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--methods", default="sketch_bert,rotation_cnn,sketch_rnn")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/load_bench.json"))
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    rows = []
    print(f"{cores} cores; load = one busy loop pinned to core 0")
    print("| method | run | threads | steps/s | slowdown vs idle |")
    print("|---|---|---:|---:|---:|")
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory() as scratch:
            row = {"method": method}
            row["idle"] = run_training(
                method, args.data, args.steps, str(cores), Path(scratch) / "idle"
            )
            load = multiprocessing.Process(target=busy_loop, args=(0,), daemon=True)
            load.start()
            try:
                time.sleep(1.0)
                row["loaded_all_cores"] = run_training(
                    method, args.data, args.steps, str(cores), Path(scratch) / "all"
                )
                row["loaded_auto"] = run_training(
                    method, args.data, args.steps, "auto", Path(scratch) / "auto"
                )
            finally:
                load.terminate()
                load.join()
        idle = row["idle"]["steps_per_second"]
        for name in ("idle", "loaded_all_cores", "loaded_auto"):
            run = row[name]
            run["slowdown"] = idle / run["steps_per_second"]
            print(
                f"| {method} | {name} | {run['threads']} | {run['steps_per_second']:.2f} | "
                f"{run['slowdown']:.2f}x |",
                flush=True,
            )
        rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {"cores": cores, "steps": args.steps, "data": str(args.data), "rows": rows}
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
