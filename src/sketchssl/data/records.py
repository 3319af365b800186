"""The record every reader yields: one sketch plus where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SketchRecord:
    """One sketch read from a source file.

    Attributes:
        strokes: ``(N, 3)`` int16 stroke-3 (dx, dy, pen_lifted), the first absolute point dropped
            as in the sketch-rnn ``.npz`` files (see :mod:`sketchssl.data.formats`).
        label: the class name (QuickDraw ``word``), or None when the source has none.
        split: ``"train"``, ``"valid"`` or ``"test"`` when the source fixes it, else None.
        key_id: QuickDraw ``key_id`` when known.
        source: the file (or generator) the sketch came from.
        index: its position there: line number (1-based) for ndjson, index within the split
            for ``.npz``, record number for ``.bin``.
        parts: ``(N,)`` int8 part label of each stroke-3 row (the point it ends at), an index
            into ``part_names``; None when the source has no part labels (SPG files have them).
        part_names: the names of the class's parts, in index order, when ``parts`` is given.
    """

    strokes: np.ndarray
    label: str | None = None
    split: str | None = None
    key_id: int | None = None
    source: str = ""
    index: int = 0
    parts: np.ndarray | None = None
    part_names: tuple[str, ...] | None = None


@dataclass
class ReadStats:
    """What a reader skipped with ``skip_bad=True``: a count and the first messages."""

    read: int = 0
    skipped: int = 0
    messages: list[str] = field(default_factory=list)
    max_messages: int = 20

    def skip(self, message: str) -> None:
        """Count one skipped drawing and keep its message (the first ``max_messages`` only)."""
        self.skipped += 1
        if len(self.messages) < self.max_messages:
            self.messages.append(message)

    def merge(self, other: ReadStats) -> None:
        """Add another reader's counts to these."""
        self.read += other.read
        self.skipped += other.skipped
        room = self.max_messages - len(self.messages)
        self.messages.extend(other.messages[: max(room, 0)])
