"""The decoder led through the kept strokes draws on where they were cut."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sketchssl.errors import ConfigError
from sketchssl.eval.continuation import (
    ContinueConfig,
    continuation_drawings,
    continue_cut_strokes,
)
from sketchssl.eval.fill import FillConfig, fill_erased
from sketchssl.nn.decoder import MixtureDecoder

# a vertical stroke from the origin to (0, 5) (stroke-3 keeps no first point)
UPRIGHT = np.array([[0.0, 5.0, 1.0]])


def constant_decoder(pen: tuple[float, float, float], mean: tuple[float, float]) -> MixtureDecoder:
    """A one-component decoder whose every step says ``pen`` and offset (or point) ``mean``.

    The head's weights are zero, so the output is its bias whatever the input: the pen logits
    ``pen``, the component mean ``mean`` and the smallest sigma the clamps allow.
    """
    decoder = MixtureDecoder(latent_size=2, hidden_size=4, num_mixtures=1).eval()
    with torch.no_grad():
        decoder.head.weight.zero_()
        # raw layout: 3 pen logits, then pi, mu_x, mu_y, log sigma_x, log sigma_y, rho
        decoder.head.bias.copy_(torch.tensor([*pen, 0.0, *mean, -20.0, -20.0, 0.0]))
    return decoder


PEN_DOWN = (10.0, -10.0, -10.0)
PEN_UP = (-10.0, 10.0, -10.0)


def test_a_cut_stroke_goes_on_by_the_decoders_offsets():
    decoder = constant_decoder(PEN_DOWN, (1.0, 0.0))  # every step: one unit right, pen down
    config = ContinueConfig(max_steps=4)
    lines = continue_cut_strokes(decoder, torch.zeros(2), UPRIGHT, config)
    assert len(lines) == 1
    # it starts at the kept stroke's end and walks right, leaving the stroke at once
    expected = [[0, 5], [1, 5], [2, 5], [3, 5], [4, 5]]
    np.testing.assert_allclose(lines[0], expected, atol=0.01)


def test_an_absolute_decoder_draws_its_points_where_it_says():
    # the same head read as absolute positions: every sampled point is (3, 5) itself
    decoder = constant_decoder(PEN_DOWN, (3.0, 5.0))
    lines = continue_cut_strokes(
        decoder, torch.zeros(2), UPRIGHT, ContinueConfig(max_steps=3), absolute=True
    )
    np.testing.assert_allclose(lines[0], [[0, 5], [3, 5], [3, 5], [3, 5]], atol=0.01)
    # read as offsets, the same outputs walk away: (3, 10), (6, 15), ...
    offsets = continue_cut_strokes(decoder, torch.zeros(2), UPRIGHT, ContinueConfig(max_steps=2))
    np.testing.assert_allclose(offsets[0], [[0, 5], [3, 10], [6, 15]], atol=0.01)


def test_a_bound_stops_a_continuation_before_it_leaves_the_kept_box():
    decoder = constant_decoder(PEN_DOWN, (1.0, 0.0))  # walks right from (0, 5)
    # the kept stroke's box is x = 0, y in [0, 5], extent 5: bound 0.5 lets x reach 2.5
    lines = continue_cut_strokes(
        decoder, torch.zeros(2), UPRIGHT, ContinueConfig(max_steps=10, bound=0.5)
    )
    np.testing.assert_allclose(lines[0], [[0, 5], [1, 5], [2, 5]], atol=0.01)
    # bound 0: the first step is already outside, so nothing is drawn
    tight = ContinueConfig(max_steps=10, bound=0.0)
    assert continue_cut_strokes(decoder, torch.zeros(2), UPRIGHT, tight) == []
    # no bound: the walk runs to max_steps
    free = continue_cut_strokes(decoder, torch.zeros(2), UPRIGHT, ContinueConfig(max_steps=10))
    assert len(free[0]) == 11


def test_a_stroke_the_decoder_ends_is_not_continued():
    lifting = constant_decoder(PEN_UP, (1.0, 0.0))
    assert continue_cut_strokes(lifting, torch.zeros(2), UPRIGHT) == []
    # and nothing is continued at threshold 1, whatever the decoder says
    drawing = constant_decoder(PEN_DOWN, (1.0, 0.0))
    assert continue_cut_strokes(drawing, torch.zeros(2), UPRIGHT, ContinueConfig(1.0)) == []


def test_a_continuation_that_retraces_the_kept_strokes_stops():
    # a horizontal stroke to (10, 0); the decoder walks back along it, never leaving it
    decoder = constant_decoder(PEN_DOWN, (-1.0, 0.0))
    config = ContinueConfig(idle_steps=3, max_steps=50)
    lines = continue_cut_strokes(decoder, torch.zeros(2), np.array([[10.0, 0.0, 1.0]]), config)
    # steps 0 .. idle_steps are drawn, the last of them stops it: start + 4 points
    np.testing.assert_allclose(lines[0][:, 0], [10, 9, 8, 7, 6], atol=0.01)


def test_a_continuation_stops_where_it_comes_back_to_the_kept_strokes():
    # two kept strokes: (0,0)-(0,5) and (2,5)-(2,0); the decoder walks right from (0, 5): it
    # leaves the first stroke and stops on reaching the second, where the erased run rejoined
    sketch = np.array([[0.0, 5.0, 1.0], [2.0, 0.0, 0.0], [0.0, -5.0, 1.0]])
    decoder = constant_decoder(PEN_DOWN, (0.5, 0.0))
    lines = continue_cut_strokes(decoder, torch.zeros(2), sketch, ContinueConfig(max_steps=50))
    first = lines[0]
    np.testing.assert_allclose(first[-1], [2.0, 5.0], atol=0.01)
    assert len(first) == 5  # (0,5), (0.5,5), (1,5), (1.5,5), (2,5)


def test_an_end_of_sketch_sample_lifts_the_pen_where_it_is():
    # the decoder all but ends the sketch at every step: threshold 0 still continues, and the
    # first sample ends it; the decoder then reads a pen lift at the same place, and the next
    # kept point's offset from there
    decoder = constant_decoder((-5.0, -5.0, 5.0), (1.0, 0.0))
    fed: list[list[float]] = []
    step = decoder.step

    def recording_step(point, z, state):
        fed.append([round(value, 4) for value in point[0].tolist()])
        return step(point, z, state)

    decoder.step = recording_step  # type: ignore[method-assign]
    sketch = np.array([[0.0, 5.0, 1.0], [2.0, 0.0, 0.0], [0.0, -5.0, 1.0]])
    lines = continue_cut_strokes(decoder, torch.zeros(2), sketch, ContinueConfig(0.0))
    assert lines == []  # nothing drawn: each continuation ended at once
    assert fed == [
        [0, 0, 1, 0, 0],  # S0, the origin
        [0, 5, 1, 0, 0],  # the first stroke's end, pen down: go on
        [0, 0, 0, 1, 0],  # the end sample: the pen lifts where it is
        [2, 0, 1, 0, 0],  # the second stroke's start, from there
        [0, -5, 1, 0, 0],  # its end, pen down: go on (ends again; nothing more is read)
    ]


def test_continuations_fill_the_input_in_its_own_frame():
    decoder = constant_decoder(PEN_DOWN, (1.0, 0.0))
    raw = UPRIGHT.copy()
    raw[:, :2] *= 10.0  # raw units: the decoder's unit is 10 of them
    [(drawing, start)] = continuation_drawings(
        decoder, torch.zeros(1, 2), [raw], 10.0, ContinueConfig(max_steps=4)
    )
    np.testing.assert_allclose(start, [0.0, 50.0], atol=0.1)
    filled = fill_erased(raw, drawing, FillConfig(0.1, join=1.5), drawn_start=start)
    # the kept stroke is unchanged and drawn on to the right with the pen down: one stroke
    np.testing.assert_allclose(filled[0], [0.0, 50.0, 0.0], atol=0.1)
    assert filled[:, 2].sum() == 1
    np.testing.assert_allclose(filled[:, :2].sum(axis=0), [40.0, 50.0], atol=0.5)


def test_bad_settings_name_the_setting():
    with pytest.raises(ConfigError, match="pen_threshold"):
        ContinueConfig(pen_threshold=1.5)
    with pytest.raises(ConfigError, match="temperature"):
        ContinueConfig(temperature=0.0)
    with pytest.raises(ConfigError, match="bound"):
        ContinueConfig(bound=-0.1)
    with pytest.raises(ConfigError, match="fill source"):
        FillConfig(source="guess")
    with pytest.raises(ConfigError, match="one code per sketch"):
        continuation_drawings(constant_decoder(PEN_UP, (0, 0)), torch.zeros(2, 2), [UPRIGHT], 1.0)
