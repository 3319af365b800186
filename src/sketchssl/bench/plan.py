"""What a bench run does: its settings, which methods each suite covers, the training runs.

Rules (stated in the report too):

* **Representation suite**: every registered method whose ``uses_labels`` class attribute is
  False, i.e. whose training objective never reads a class label. Classifiers and fine-tuning
  heads (``sketch_a_net``, ``sketch_bert_cls``, ``sketch_bert_retrieval``) are left out unless
  ``--methods`` names them; then they train on the labels and are marked *supervised*.
* **Healing suite**: the trained methods that can heal: their ``generate`` takes the healing
  protocol's ``temperature`` (:mod:`sketchssl.eval.healing`; Sketch-BERT's ``generate`` is
  gestalt completion and does not). Rec needs a judge: ``sketch_a_net`` is trained on the store's
  train split when the store has at least 2 classes; otherwise the suite reports Ret only.
* **Speed suite**: every selected method, untrained, on the run's own preset and device.
* Runs are seed-major (every method's seed 0, then every method's seed 1, ...), so a budget that
  runs out leaves whole seeds rather than whole methods missing.
"""

from __future__ import annotations

import inspect
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sketchssl.errors import ConfigError

__all__ = [
    "JUDGE_METHOD",
    "SUITES",
    "BenchConfig",
    "MethodChoice",
    "RunSpec",
    "can_heal",
    "overrides_for",
    "parse_suites",
    "select_methods",
    "training_runs",
]

SUITES: tuple[str, ...] = ("representation", "healing", "speed")
JUDGE_METHOD = "sketch_a_net"


def parse_suites(text: str) -> tuple[str, ...]:
    """``"all"`` or a comma-separated subset of :data:`SUITES`, in canonical order.

    Examples:
        >>> parse_suites("speed,representation")
        ('representation', 'speed')
        >>> parse_suites("all")
        ('representation', 'healing', 'speed')
    """
    names = {part.strip() for part in text.split(",") if part.strip()}
    if "all" in names:
        return SUITES
    unknown = sorted(names - set(SUITES))
    if unknown or not names:
        raise ConfigError(
            f"unknown suite(s) {unknown or [text]}: choose from {', '.join(SUITES)} or all"
        )
    return tuple(suite for suite in SUITES if suite in names)


@dataclass
class BenchConfig:
    """Settings of one ``sketchssl bench`` run.

    Attributes:
        data: the SketchStore every method trains and is evaluated on.
        out: the report folder (must not hold a report yet).
        suites: a subset of :data:`SUITES`.
        budget_minutes: training wall time of all runs together (judge included); evaluation
            comes on top and is estimated before training starts.
        seeds: seeds per method (0 .. seeds - 1).
        methods: method names; None = every self-supervised method (see the module rules).
        preset: preset of every method (``tiny`` on a CPU, ``paper`` on a GPU); a method
            without it trains from its config dataclass defaults (the report says so).
        device: ``cpu`` or ``cuda`` (training, evaluation and speed).
        precision: Lightning precision for training (None = the preset's).
        overrides: ``[METHOD:]section.key=value``; without ``METHOD:`` for every method.
        eval_gallery: train sketches embedded as the gallery / probe set (seeded subset;
            None = the whole train split).
        heal_sketches: first test sketches of the healing suite.
        heal_masks: masking rates of the healing suite.
        speed_steps: measured steps of the speed suite (1 when only calibrating).
        speed_warmup: unmeasured steps before them.
        estimate_only: calibrate, print the estimate, write the plan and stop.
        command: the command line, recorded in the report.
    """

    data: Path
    out: Path
    suites: tuple[str, ...] = SUITES
    budget_minutes: float = 10.0
    seeds: int = 3
    methods: tuple[str, ...] | None = None
    preset: str = "tiny"
    device: str = "cpu"
    precision: str | None = None
    overrides: tuple[str, ...] = ()
    eval_gallery: int | None = 2000
    heal_sketches: int = 100
    heal_masks: tuple[float, ...] = (0.0, 0.1, 0.3)
    speed_steps: int = 5
    speed_warmup: int = 2
    estimate_only: bool = False
    command: str = field(
        default_factory=lambda: shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
    )

    def __post_init__(self) -> None:
        if not self.suites or any(suite not in SUITES for suite in self.suites):
            raise ConfigError(f"suites {self.suites}: choose from {', '.join(SUITES)}")
        if self.budget_minutes <= 0:
            raise ConfigError(f"--budget-minutes must be positive, got {self.budget_minutes}")
        if self.seeds < 1:
            raise ConfigError(f"--seeds must be at least 1, got {self.seeds}")
        if self.eval_gallery is not None and self.eval_gallery < 1:
            raise ConfigError(f"--eval-gallery must be at least 1, got {self.eval_gallery}")
        if self.heal_sketches < 2:
            raise ConfigError(f"--heal-sketches must be at least 2, got {self.heal_sketches}")
        if any(not 0.0 <= rate <= 1.0 for rate in self.heal_masks):
            raise ConfigError(f"healing mask rates {self.heal_masks} must be in [0, 1]")
        if self.speed_steps < 1 or self.speed_warmup < 0:
            raise ConfigError("--speed-steps must be >= 1 (and the warm-up >= 0)")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(
                f"--device {self.device!r}: use cpu or cuda (pick the GPU with "
                "CUDA_VISIBLE_DEVICES)"
            )
        for override in self.overrides:
            _split_override(override)

    @property
    def budget_seconds(self) -> float:
        """The training budget in seconds."""
        return 60.0 * self.budget_minutes


@dataclass(frozen=True)
class MethodChoice:
    """A selected method and what the suites do with it."""

    name: str
    supervised: bool
    can_heal: bool


@dataclass(frozen=True)
class RunSpec:
    """One training run: a method and a seed (the judge has ``is_judge``)."""

    method: str
    seed: int
    is_judge: bool = False

    @property
    def key(self) -> str:
        """Folder name under ``runs/`` and the key in the report."""
        return f"judge_{self.method}" if self.is_judge else f"{self.method}/seed{self.seed}"


def can_heal(method_class: type) -> bool:
    """Whether ``method_class.generate`` follows the healing protocol (takes ``temperature``)."""
    from sketchssl.methods.base import SketchMethod

    if method_class.generate is SketchMethod.generate:
        return False
    return "temperature" in inspect.signature(method_class.generate).parameters


def select_methods(requested: tuple[str, ...] | None) -> tuple[list[MethodChoice], dict[str, str]]:
    """The methods of a bench run, and the registered ones left out with the reason.

    Raises:
        ConfigError: an unknown method name (with the closest registered one).
    """
    import sketchssl.methods  # noqa: F401  (registers the methods)
    from sketchssl.methods.registry import get_method, list_methods

    excluded: dict[str, str] = {}
    if requested is None:
        names = []
        for name, _ in list_methods():
            if get_method(name).uses_labels:
                excluded[name] = (
                    "trains on class labels (classifier or fine-tuning head); "
                    "name it in --methods to include it"
                )
            else:
                names.append(name)
    else:
        names = list(dict.fromkeys(requested))
        if not names:
            raise ConfigError("--methods is empty: name at least one method")
    choices = []
    for name in names:
        method_class = get_method(name)
        choices.append(MethodChoice(name, bool(method_class.uses_labels), can_heal(method_class)))
    return choices, excluded


def training_runs(
    choices: list[MethodChoice], suites: tuple[str, ...], seeds: int, judge: bool
) -> list[RunSpec]:
    """The training runs in order: the judge first, then seed-major over the methods.

    The representation suite trains every chosen method; the healing suite alone trains only
    those that can heal; the speed suite alone trains nothing.
    """
    if "representation" in suites:
        trained = [choice.name for choice in choices]
    elif "healing" in suites:
        trained = [choice.name for choice in choices if choice.can_heal]
    else:
        trained = []
    runs = [RunSpec(JUDGE_METHOD, 0, is_judge=True)] if judge and trained else []
    runs += [RunSpec(name, seed) for seed in range(seeds) for name in trained]
    return runs


def _split_override(text: str) -> tuple[str | None, str]:
    """``"sketch_bert:model.num_layers=2"`` -> ``("sketch_bert", "model.num_layers=2")``."""
    key, separator, _ = text.partition("=")
    if not separator or not key:
        raise ConfigError(f"override {text!r}: write [METHOD:]section.key=value")
    method, colon, rest = text.partition(":")
    if colon and "=" not in method:
        return method, rest
    return None, text


def overrides_for(method: str, overrides: tuple[str, ...]) -> list[str]:
    """The overrides that apply to ``method``: the unprefixed ones and ``method:...`` ones.

    Examples:
        >>> overrides_for("sketch_rnn", ("data.num_workers=0", "sketch_bert:model.num_layers=2"))
        ['data.num_workers=0']
    """
    applied = []
    for override in overrides:
        target, text = _split_override(override)
        if target is None or target == method:
            applied.append(text)
    return applied
