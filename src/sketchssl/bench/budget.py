"""Splitting the training budget over the runs, as they happen.

Each run gets an equal share of what is left: ``(budget - spent) / runs_left``, minus the
start-up and wrap-up time a run spends outside Lightning's timer (building the data module and
the Trainer, starting DataLoader workers, the final checkpoint). That overhead is measured on
the runs already done (wall time minus ``fit`` time) and guessed before the first. The whole wall
time of every run, failed ones included, is charged, so a run that over-runs its cap takes the
time from the later runs instead of pushing the bench past its budget. When a share would fall
under ``min_seconds`` the budget is spent and the remaining runs are skipped (and reported).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TrainingBudget"]


@dataclass
class TrainingBudget:
    """The running account of a training budget.

    Attributes:
        total_seconds: the budget.
        runs: how many runs share it.
        overhead_guess: seconds a run spends outside the fit loop, until one has been measured.
        min_seconds: the smallest fit-time cap worth starting a run for.

    Examples:
        >>> budget = TrainingBudget(total_seconds=100.0, runs=4, overhead_guess=5.0)
        >>> budget.next_cap()   # 100 / 4 - 5
        20.0
        >>> budget.charge(wall_seconds=40.0, fit_seconds=32.0)   # over-ran; overhead 8 s
        >>> budget.next_cap()   # (100 - 40) / 3 - 8
        12.0
    """

    total_seconds: float
    runs: int
    overhead_guess: float = 2.0
    min_seconds: float = 1.0
    spent_seconds: float = 0.0
    done: int = 0
    overheads: list[float] = field(default_factory=list)

    @property
    def runs_left(self) -> int:
        """Runs not yet charged."""
        return max(self.runs - self.done, 0)

    @property
    def remaining_seconds(self) -> float:
        """Budget not yet spent (never negative)."""
        return max(self.total_seconds - self.spent_seconds, 0.0)

    @property
    def overhead_seconds(self) -> float:
        """Mean measured per-run overhead, or the guess before any run finished its fit."""
        if not self.overheads:
            return self.overhead_guess
        return sum(self.overheads) / len(self.overheads)

    def next_cap(self) -> float | None:
        """Fit-time cap in seconds for the next run, or None when the budget is spent."""
        if self.runs_left == 0:
            return None
        cap = self.remaining_seconds / self.runs_left - self.overhead_seconds
        return cap if cap >= self.min_seconds else None

    def charge(self, wall_seconds: float, fit_seconds: float | None = None) -> None:
        """Record a finished (or failed) run: its whole wall time is spent.

        Args:
            wall_seconds: the run's wall time, start-up included.
            fit_seconds: the time inside Lightning's fit loop, when the run got that far; it
                updates the overhead estimate.
        """
        self.spent_seconds += max(wall_seconds, 0.0)
        self.done += 1
        if fit_seconds is not None:
            self.overheads.append(max(wall_seconds - fit_seconds, 0.0))

    def skip(self) -> None:
        """A run that will not train (its method failed earlier): it no longer shares."""
        self.done += 1
