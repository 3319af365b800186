"""The ``sketchssl`` command-line program (Typer)."""
