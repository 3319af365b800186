"""sketchssl: self-supervised representation learning for free-hand vector sketches.

Layers (see docs/ARCHITECTURE.md): ``sketchssl.data`` (formats, readers, store, doodles),
``sketchssl.render`` (rasterisers, grids, SVG / GIF, torch datasets), ``sketchssl.cli``.
"""

__version__ = "0.1.0"
