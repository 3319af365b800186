"""The side-by-side benchmark of every method: one command, one budget, one report.

``sketchssl bench`` (:mod:`sketchssl.cli.bench_cmd`) is a thin wrapper over :func:`run_bench`::

    from sketchssl.bench import BenchConfig, run_bench
    document = run_bench(BenchConfig(data=Path("/tmp/qd.store"), out=Path("bench"),
                                     budget_minutes=10, seeds=3))

Modules, one concept each:

* :mod:`~sketchssl.bench.plan`: settings, which methods each suite covers, the training runs;
* :mod:`~sketchssl.bench.budget`: splitting the training budget over the runs as they go;
* :mod:`~sketchssl.bench.speed`: throughput and model FLOPs utilisation (the speed suite);
* :mod:`~sketchssl.bench.estimate`: the up-front time estimate and its basis;
* :mod:`~sketchssl.bench.suites`: representation and healing evaluation of one run, pixels;
* :mod:`~sketchssl.bench.figures`: training curves, sample grids, healing rows;
* :mod:`~sketchssl.bench.summary`: mean and spread over seeds;
* :mod:`~sketchssl.bench.tables`, :mod:`~sketchssl.bench.report`, :mod:`~sketchssl.bench.html`:
  the tables and the ``report.json`` / ``report.md`` / ``report.html`` writers;
* :mod:`~sketchssl.bench.environment`: hardware, versions and source revision;
* :mod:`~sketchssl.bench.runner`: the run itself, which survives a failing method.
"""

from sketchssl.bench.budget import TrainingBudget
from sketchssl.bench.plan import SUITES, BenchConfig, parse_suites, select_methods
from sketchssl.bench.report import write_reports
from sketchssl.bench.runner import BenchRunner, run_bench

__all__ = [
    "SUITES",
    "BenchConfig",
    "BenchRunner",
    "TrainingBudget",
    "parse_suites",
    "run_bench",
    "select_methods",
    "write_reports",
]
