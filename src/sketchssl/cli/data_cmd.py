"""``sketchssl data``: build a SketchStore, describe one, download QuickDraw categories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sketchssl.errors import ConfigError

data_app = typer.Typer(
    name="data",
    help="Build and inspect sketch stores; download QuickDraw categories.",
    no_args_is_help=True,
)


def _parse_ratios(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ConfigError(
            f"--split-ratios {text!r}: give three numbers such as 0.8,0.1,0.1 (train,valid,test)"
        )
    return values  # type: ignore[return-value]


def _parse_counts(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ConfigError(
            f"--split-counts {text!r}: give three whole numbers such as 600,50,50 "
            "(train,valid,test sketches a class)"
        )
    return values  # type: ignore[return-value]


@data_app.command("build")
def build_command(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Sketch files (.npz, .ndjson, .bin), folders of them, doodles[:N[:SEED]] "
            "(synthetic) or quickdraw-sample (2,000 real QuickDraw drawings that ship with "
            "sketchssl)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The store folder to write.")],
    workers: Annotated[
        int | None, typer.Option("--workers", "-j", help="Reader processes (default: one per CPU).")
    ] = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip unreadable sketches instead of stopping.")
    ] = False,
    split_ratios: Annotated[
        str, typer.Option("--split-ratios", help="train,valid,test shares where a source has none.")
    ] = "0.8,0.1,0.1",
    split_seed: Annotated[int, typer.Option("--split-seed", help="Seed of the hashed split.")] = 0,
    split_counts: Annotated[
        str | None,
        typer.Option(
            "--split-counts",
            help="train,valid,test sketches a class (e.g. 600,50,50) instead of ratios, where a "
            "source fixes no split. SPG part-labelled sources default to 600,50,50.",
        ),
    ] = None,
    max_len: Annotated[
        int | None, typer.Option("--max-len", help="Leave out sketches with more points than this.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing store.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the build report as JSON (no progress bar).")
    ] = False,
) -> None:
    """Read sketch sources into a memory-mapped store (atomically, in parallel)."""
    from sketchssl.data.build import build_store, report_dict
    from sketchssl.data.store import SketchStore

    report = build_store(
        sources,
        out,
        workers=workers,
        skip_bad=skip_bad,
        split_ratios=_parse_ratios(split_ratios),
        split_seed=split_seed,
        split_counts=_parse_counts(split_counts),
        max_len=max_len,
        overwrite=force,
        progress=not (quiet or as_json),
    )
    if as_json:
        typer.echo(json.dumps(report_dict(report), indent=2))
        return
    for line in report.lines():
        typer.echo(line)
    print_summary(SketchStore.open(out).summary(), show_all=False)


def print_summary(summary: dict, *, show_all: bool = False, few: int = 5) -> None:
    """Print a store summary: counts per split and class, and length statistics."""
    splits = summary["splits"]
    typer.echo(f"store      {summary['path']}")
    typer.echo(
        f"sketches   {summary['num_sketches']} (train {splits['train']}, valid {splits['valid']}, "
        f"test {splits['test']}), {summary['num_points']} points"
    )
    typer.echo(f"classes    {summary['num_classes']} ({summary['unlabelled']} sketches unlabelled)")
    for label, key in (("lengths", "lengths"), ("strokes", "strokes")):
        stats = summary[key]
        typer.echo(
            f"{label:<10} min {stats['min']}, mean {stats['mean']:.1f}, "
            f"median {stats['median']:.0f}, p95 {stats['p95']:.0f}, max {stats['max']}"
        )
    ranked = sorted(summary["per_class"].items(), key=lambda item: (-item[1], item[0]))
    if ranked:
        if show_all or len(ranked) <= 2 * few:
            typer.echo("per class:")
            shown = [ranked]
        else:
            typer.echo(f"per class (top and bottom {few}; --all lists every class):")
            shown = [ranked[:few], ranked[-few:]]
        for part_number, part in enumerate(shown):
            if part_number:
                typer.echo("  ...")
            for name, count in part:
                typer.echo(f"  {count:8d}  {name}")
    if summary.get("duplicates_dropped"):
        typer.echo(
            f"duplicates {summary['duplicates_dropped']} dropped at build (same key_id as a "
            "stored sketch)"
        )
    part_names = summary.get("part_names") or {}
    if part_names:
        typer.echo(
            f"parts      {summary.get('labelled_points', 0)} points part-labelled, "
            f"{len(part_names)} classes with part names:"
        )
        for name, names in sorted(part_names.items()):
            typer.echo(f"  {name}: {', '.join(names)}")
    sources = summary["sources"]
    typer.echo(f"sources    {len(sources)}")
    listed = sources if show_all else sources[:few]
    for source in listed:
        name = source.get("path") or source.get("source", "?")
        size = f", {source['size']} bytes" if "size" in source else ""
        typer.echo(f"  {name} ({source.get('read', '?')} read{size})")
    if len(listed) < len(sources):
        typer.echo(f"  ... and {len(sources) - len(listed)} more")


@data_app.command("info")
def info_command(
    store: Annotated[Path, typer.Argument(help="The store folder.")],
    show_all: Annotated[bool, typer.Option("--all", help="List every class and source.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Also check the array checksums.")
    ] = False,
    top: Annotated[
        int, typer.Option("--top", help="How many of the largest and smallest classes to list.")
    ] = 5,
) -> None:
    """Describe a store: counts per split and class, lengths, sources."""
    from sketchssl.data.store import SketchStore

    summary = SketchStore.open(store, verify=verify).summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        print_summary(summary, show_all=show_all, few=max(top, 1))


@data_app.command("download")
def download_command(
    categories: Annotated[
        list[str], typer.Argument(help="QuickDraw category names, e.g. cat bus.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the downloaded files.")],
    fmt: Annotated[
        str,
        typer.Option("--format", help="sketchrnn (.npz), simplified (.ndjson) or raw (.ndjson)."),
    ] = "sketchrnn",
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="Mirror to download from instead of Google's bucket."),
    ] = None,
) -> None:
    """Download QuickDraw categories (needs network access)."""
    from sketchssl.data.download import download_categories

    if fmt not in ("sketchrnn", "simplified", "raw"):
        raise ConfigError(f"--format {fmt!r}: choose sketchrnn, simplified or raw")
    options = {"fmt": fmt}
    if base_url is not None:
        options["base_url"] = base_url
    result = download_categories(categories, out, **options)
    paths = list(result.values()) if isinstance(result, dict) else list(result or [])
    for path in paths:
        typer.echo(str(path))
    typer.echo(f"downloaded {len(categories)} categories to {out}")


def register(app: typer.Typer) -> None:
    """Add the ``data`` sub-commands to ``app``."""
    app.add_typer(data_app, name="data")
