"""Rendering sketches, and the torch views built from them per sample.

Anti-aliased CPU rasteriser, batched torch rasteriser, grids, SVG, GIF, patches, and the torch
views (sequence / raster / points / pretext copies) built in DataLoader workers.

This layer may import ``sketchssl.data``, numpy, torch and Pillow.
"""
