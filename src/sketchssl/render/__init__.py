"""Rendering sketches: anti-aliased CPU rasteriser, batched torch rasteriser, grids, SVG, GIF,
and the torch views (sequence / raster) built per sample in DataLoader workers.

This layer may import ``sketchssl.data``, numpy, torch and Pillow.
"""
