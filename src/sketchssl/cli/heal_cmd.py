"""``sketchssl heal``: corrupted / healed / original rows, and the Rec / Ret report.

Corruption: patch masking at ``--mask`` from a fixed mask table (``--mask-table FILE``, an
``.npy`` of uniforms, one row per sketch of the split; by default one made from ``--seed``).
Patch-input methods read the masked canvas. Sequence-input methods (sketch-rnn) read no image:
for them the same masked squares delete the points inside them
(:func:`sketchssl.render.patch_view.corrupt_sequence`), and the command says so; their numbers
are point-level healing, not comparable one to one with patch-input methods. ``--corruption
points`` gives patch methods that same point-deleted drawing, on the original's canvas, so every
method heals one corrupted input (:data:`sketchssl.eval.healing.CORRUPTIONS`).
"""

from __future__ import annotations

from pathlib import Path

import typer

SEQUENCE_NOTE = (
    "note: {name} reads no image: its corrupted input is the sequence with the points inside the "
    "masked squares deleted (point-level corruption). Canvas healing needs a patch-input method."
)


def unseen_class_note(trained: list[str] | None, evaluated: list[str]) -> str:
    """A line naming the evaluated classes the healer never saw in training ('' when none).

    ``trained`` None (an old checkpoint whose training store is gone) says so instead.
    """
    if trained is None:
        return "note: the classes this healer was trained on are not recorded in its checkpoint"
    unseen = [name for name in evaluated if name not in set(trained)]
    if not unseen:
        return ""
    shown = ", ".join(unseen[:10]) + (f" and {len(unseen) - 10} more" if len(unseen) > 10 else "")
    return (
        f"note: {len(unseen)} of the {len(evaluated)} classes healed here were never in this "
        f"healer's training data (unseen: {shown}); it heals them all the same"
    )


def register(app: typer.Typer) -> None:
    """Add ``heal`` to ``app``."""

    @app.command("heal", no_args_is_help=True)
    def heal_command(
        checkpoint: str = typer.Argument(
            ..., help="A generative *.ckpt (sketch_rnn, ...) or a shipped healer's name."
        ),
        data: Path = typer.Option(..., "--data", "-d", help="Labelled SketchStore."),
        out: Path = typer.Option(None, "--out", "-o", help="Figure (.png or .svg)."),
        mask: float = typer.Option(0.3, "--mask", help="Patch masking probability (0 .. 1)."),
        mask_table: Path = typer.Option(
            None, "--mask-table", help="Uniforms (.npy), one row per sketch of the split."
        ),
        n: int = typer.Option(8, "--n", help="Sketches in the figure."),
        split: str = typer.Option("test", "--split"),
        report: Path = typer.Option(None, "--report", help="Write Rec / Ret into this folder."),
        judge: Path = typer.Option(None, "--judge", help="A sketch_a_net *.ckpt for Rec."),
        limit: int = typer.Option(None, "--limit", help="Report on the first N sketches only."),
        temperature: float = typer.Option(0.24, "--temperature", help="SP-gra2seq: 0.24."),
        pen_temperature: float = typer.Option(
            None,
            "--pen-temperature",
            help="The pen state's own temperature (default: --temperature).",
        ),
        greedy: bool = typer.Option(False, "--greedy", help="Most likely point at each step."),
        decode_mean: bool = typer.Option(
            None,
            "--decode-mean/--sample-code",
            help="Draw from the code's mean, or from a code sampled around it (default: the "
            "method's own: the mean, a sample for lmser_pix2seq).",
            show_default=False,
        ),
        max_len: int = typer.Option(None, "--max-len", help="Most generated points."),
        both_directions: bool = typer.Option(
            False, "--both-directions", help="Ret also original -> generated (Lmser-pix2seq)."
        ),
        seed: int = typer.Option(0, "--seed"),
        keep_input: bool = typer.Option(
            False,
            "--keep-input",
            help="Also score the corrupted input with the healed drawing filling its gaps.",
        ),
        fill_radius: float = typer.Option(
            0.1,
            "--fill-radius",
            help="--keep-input: healed points this far (share of its extent) from the kept "
            "strokes fill a gap.",
        ),
        fill_order: str = typer.Option(
            "gaps",
            "--fill-order",
            help="--keep-input: the result's stroke order: 'gaps' (the input's, each fill "
            "stroke in the gap it closes), 'drawn' (the healer's), 'kept_first' (fill appended).",
        ),
        fill_join: float = typer.Option(
            0.0,
            "--fill-join",
            help="--keep-input: join a fill stroke to the stroke it starts or ends within this "
            "many fill radii of (pen down across the cut); 0 joins nothing.",
        ),
        fill_source: str = typer.Option(
            "redraw",
            "--fill-source",
            help="--keep-input: fill from the healer's drawing of the whole sketch ('redraw') "
            "or from its decoder drawing on where the kept strokes were cut ('continue').",
        ),
        continue_threshold: float = typer.Option(
            0.5,
            "--continue-threshold",
            help="--fill-source continue: continue a kept stroke when the decoder's pen-down "
            "probability at its last point is above this.",
        ),
        continue_temperature: float = typer.Option(
            0.1,
            "--continue-temperature",
            help="--fill-source continue: sampling temperature of the continuations.",
        ),
        continue_bound: float | None = typer.Option(
            None,
            "--continue-bound",
            help="--fill-source continue: stop a continuation where it leaves the kept strokes' "
            "bounding box grown by this share of the drawing's extent (default: no bound).",
        ),
        corruption: str = typer.Option(
            "canvas",
            "--corruption",
            help="What a patch method reads: 'canvas' (the papers': the original's canvas with "
            "the masked squares blacked out) or 'points' (the point-deleted drawing every method "
            "gets, on the original's canvas; a kept-input healing is read on it too).",
        ),
    ) -> None:
        """Heal masked test sketches; draw corrupted / healed / original rows, report Rec / Ret."""
        import sketchssl.methods  # noqa: F401  (registers the methods)
        from sketchssl.data.store import SketchStore
        from sketchssl.errors import ConfigError
        from sketchssl.eval.continuation import ContinueConfig
        from sketchssl.eval.fill import FillConfig
        from sketchssl.eval.generation import (
            can_draw,
            healing_rows,
            save_rows,
            set_pen_temperature,
        )
        from sketchssl.eval.healing import (
            DIRECTIONS,
            HealingEval,
            check_corruption,
            evaluate_healing,
            write_healing_report,
        )
        from sketchssl.methods.checkpoint import load_method
        from sketchssl.pretrained import load_model, training_classes
        from sketchssl.render.patches import load_mask_table

        if out is None and report is None:
            raise ConfigError("nothing to do: pass -o FIGURE and / or --report DIR")
        if not 0.0 <= mask < 1.0:
            raise ConfigError(
                f"--mask {mask} must be in [0, 1): the share of patches erased (1 would erase all)"
            )
        check_corruption(corruption, "--corruption")
        method, run_config = load_model(checkpoint)
        if not can_draw(method):
            raise ConfigError(
                f"{checkpoint} is a {method.name!r} checkpoint, which cannot draw: heal needs a "
                "drawing method (sketch_rnn, sp_gra2seq, sketchgloc, lmser_pix2seq)"
            )
        set_pen_temperature(method, pen_temperature)
        store = SketchStore.open(data)
        if len(store.split_indices(split)) == 0:
            raise ConfigError(
                f"split {split!r} of {data} holds no sketches; choose a --split that does "
                f"(sketchssl data info {data} shows the counts)"
            )
        class_note = unseen_class_note(training_classes(checkpoint), store.classes_in(split))
        if class_note:
            typer.echo(class_note)
        table = load_mask_table(mask_table) if mask_table is not None else None
        fill = (
            FillConfig(
                radius=fill_radius,
                order=fill_order,
                join=fill_join,
                source=fill_source,
                continuation=ContinueConfig(
                    pen_threshold=continue_threshold,
                    temperature=continue_temperature,
                    bound=continue_bound,
                ),
            )
            if keep_input
            else None
        )
        if getattr(method, "healing_input", "sequence") == "sequence":
            typer.echo(SEQUENCE_NOTE.format(name=method.name))
        if out is not None:
            rows = healing_rows(
                method,
                run_config,
                store,
                mask,
                n,
                mask_table=table,
                split=split,
                temperature=temperature,
                greedy=greedy,
                max_len=max_len,
                seed=seed,
                fill=fill,
                decode_mean=decode_mean,
                corruption=corruption,
            )
            save_rows(rows, out)
            typer.echo(f"wrote {out}: {' / '.join(rows)} rows (mask {mask:g})")
        if report is not None:
            # Without a judge the report has Ret only (Rec needs a classifier of the store's
            # classes; it is meaningless on a one-class store such as aaron_sheep).
            judge_method, judge_config = (
                load_method(judge, expect="sketch_a_net") if judge is not None else (None, None)
            )
            settings = HealingEval(
                mask_probs=tuple(sorted({0.0, mask})),
                split=split,
                temperature=temperature,
                greedy=greedy,
                max_len=max_len,
                directions=DIRECTIONS if both_directions else DIRECTIONS[:1],
                limit=limit,
                seed=seed,
                fill=fill,
                decode_mean=decode_mean,
                corruption=corruption,
                notes=[f"checkpoint {checkpoint}", f"judge {judge or 'none: Rec not computed'}"]
                + ([f"mask table {mask_table}"] if mask_table else [f"mask table seed {seed}"])
                + ([class_note] if class_note else []),
            )
            results, meta = evaluate_healing(
                method,
                run_config,
                store,
                settings,
                judge=judge_method,
                judge_config=judge_config,
                mask_table=table,
            )
            write_healing_report(report, results, meta)
            for name, row in results.items():
                values = ", ".join(
                    f"{key} {100 * value:.1f}%"
                    for key, value in row.items()
                    if key == "rec" or "acc@" in key
                )
                typer.echo(f"{name}: {values}")
            typer.echo(f"report: {report}/metrics.md, {report}/metrics.json")
