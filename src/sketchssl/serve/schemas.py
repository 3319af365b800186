"""Request and response bodies of the demo API, with strict validation.

A drawing travels as in QuickDraw's simplified ndjson files: ``{"drawing": [[xs, ys], ...]}``,
one ``[xs, ys]`` pair of integer lists per stroke (https://github.com/googlecreativelab/
quickdraw-dataset). Integers are strict (no floats, strings, booleans, NaN or infinities), within
``+-COORDINATE_LIMIT``, and the counts are bounded (:mod:`sketchssl.serve.limits`), so any
request FastAPI lets through is small and well-formed. Responses draw sketches the same way with
float coordinates.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sketchssl.serve.limits import (
    COORDINATE_LIMIT,
    MAX_STROKE_POINTS,
    MAX_STROKES,
    MAX_TOTAL_POINTS,
)

__all__ = [
    "Coordinate",
    "DrawingRequest",
    "NeighboursRequest",
    "CompleteRequest",
    "HealRequest",
    "EmbedResponse",
    "ClassScore",
    "ClassifyResponse",
    "Neighbour",
    "NeighboursResponse",
    "CompleteResponse",
    "HealResponse",
    "InfoResponse",
    "LimitsInfo",
]

Coordinate = Annotated[int, Field(strict=True, ge=-COORDINATE_LIMIT, le=COORDINATE_LIMIT)]
CoordinateList = Annotated[list[Coordinate], Field(min_length=1, max_length=MAX_STROKE_POINTS)]
Stroke = Annotated[
    tuple[CoordinateList, CoordinateList],
    Field(description="One stroke: [xs, ys], two integer lists of the same length."),
]
OutputStroke = tuple[list[float], list[float]]


class StrictModel(BaseModel):
    """Unknown keys are errors, so a misspelled option is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class DrawingRequest(StrictModel):
    """A drawing, as in QuickDraw's simplified ndjson: ``[[xs, ys], ...]``, one pair per stroke.

    Any integer frame works (canvas pixels, QuickDraw's 0-255 box): the server aligns the
    drawing, scales it to QuickDraw's 255 box, resamples and simplifies it as the simplified
    files are made, before the model sees it.
    """

    drawing: Annotated[
        list[Stroke],
        Field(
            min_length=1,
            max_length=MAX_STROKES,
            description=f"Strokes [[xs, ys], ...]: at most {MAX_STROKES} strokes, "
            f"{MAX_STROKE_POINTS} points per stroke, {MAX_TOTAL_POINTS} points in all, "
            f"integers within +-{COORDINATE_LIMIT}.",
            examples=[[[[10, 60, 110], [20, 80, 20]], [[30, 90], [70, 70]]]],
        ),
    ]

    @model_validator(mode="after")
    def _check_counts(self) -> DrawingRequest:
        total = 0
        for index, (xs, ys) in enumerate(self.drawing):
            if len(xs) != len(ys):
                raise ValueError(
                    f"stroke {index}: xs has {len(xs)} values but ys has {len(ys)}; "
                    "each stroke is [xs, ys] with one x and one y per point"
                )
            total += len(xs)
        if total > MAX_TOTAL_POINTS:
            raise ValueError(
                f"the drawing has {total} points, more than {MAX_TOTAL_POINTS}; simplify it first"
            )
        return self


class NeighboursRequest(DrawingRequest):
    """A drawing and how many gallery neighbours to return."""

    k: int = Field(8, strict=True, ge=1, le=32, description="Neighbours to return.")


class CompleteRequest(DrawingRequest):
    """A drawing for Sketch-BERT's gestalt completion."""

    keep_prob: float = Field(
        0.85,
        strict=True,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="Share of each Sketch Gestalt Model mask group left visible (0.85 hides 15 %"
        " as in pre-training; 1 hides nothing but the last pen state).",
    )
    extend: int = Field(
        0,
        strict=True,
        ge=0,
        le=64,
        description="Points of one more stroke appended after the drawing: pen states given, "
        "positions hidden for the model to predict (a continuation; longer runs of hidden "
        "points than pre-training ever hid).",
    )
    seed: int = Field(0, strict=True, ge=0, le=2**31 - 1, description="Seed of the masks.")


class HealRequest(DrawingRequest):
    """A drawing to corrupt by patch masking and heal with the healing checkpoint."""

    mask_prob: float = Field(
        0.3,
        strict=True,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="Probability of masking a patch.",
    )
    temperature: float = Field(
        0.24,
        strict=True,
        ge=0.01,
        le=2.0,
        allow_inf_nan=False,
        description="Sampling temperature (SP-gra2seq's 0.24).",
    )
    greedy: bool = Field(False, strict=True, description="Most likely point at each step.")
    seed: int = Field(0, strict=True, ge=0, le=2**31 - 1, description="Seed of masks and sampling.")


class EmbedResponse(BaseModel):
    """The encoder's embedding of the drawing."""

    method: str
    dim: int
    embedding: list[float]


class ClassScore(BaseModel):
    """One predicted class."""

    index: int
    name: str
    score: float = Field(description="Softmax probability (head) or share of the kNN votes.")


class ClassifyResponse(BaseModel):
    """Top-5 classes, and which classifier produced them."""

    source: Literal["classifier_head", "linear_head", "knn"]
    note: str
    top: list[ClassScore]


class Neighbour(BaseModel):
    """A gallery sketch close to the drawing."""

    index: int = Field(description="Index of the sketch in the gallery store.")
    name: str | None = Field(description="Its class name (None when the store has no labels).")
    similarity: float = Field(description="Cosine similarity of the embeddings.")
    drawing: list[OutputStroke]


class NeighboursResponse(BaseModel):
    """The gallery's nearest sketches, most similar first."""

    neighbours: list[Neighbour]
    gallery_size: int


class CompleteResponse(BaseModel):
    """Sketch-BERT's completion, in the frame of the (simplified) input drawing."""

    input: list[OutputStroke] = Field(description="The drawing as the model read it.")
    completion: list[OutputStroke]
    predicted_points: list[tuple[float, float]] = Field(
        description="Points whose position the model predicted (hidden or appended)."
    )
    hidden_points: int
    appended_points: int


class HealResponse(BaseModel):
    """A corrupted drawing and the healing checkpoint's result."""

    method: str
    corrupted: list[OutputStroke]
    healed: list[OutputStroke]
    filled: list[OutputStroke] = Field(
        description="The masked drawing's own strokes, with the healer's decoder drawing on where "
        "they were cut, kept where it lies away from them (sketchssl.eval.continuation, "
        "sketchssl.eval.fill)."
    )
    masked_patches: int
    note: str


class LimitsInfo(BaseModel):
    """The request limits a client should respect."""

    max_strokes: int
    max_stroke_points: int
    max_total_points: int
    coordinate_limit: int
    max_body_bytes: int
    rate: float
    burst: int


class InfoResponse(BaseModel):
    """What this server has loaded and which endpoints work."""

    method: str
    classify: Literal["classifier_head", "linear_head", "knn"] | None
    complete: bool
    heal: str | None = Field(description="The healing method, or None without one.")
    heal_classes: list[str] | None = Field(
        default=None,
        description="The classes the healer was trained on (it heals any drawing, but knows "
        "these); None without a healer or when its checkpoint does not say.",
    )
    gallery_size: int
    classes: int
    limits: LimitsInfo
