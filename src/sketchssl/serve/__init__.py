"""``sketchssl serve``: an interactive web demo over trained checkpoints.

Draw on a canvas and see, live, the top-5 classes, the nearest gallery sketches, Sketch-BERT's
completion and (with a generative checkpoint) the healed drawing. The page is plain HTML, JS and
CSS served by the app itself; the JSON API under it is documented in ``/openapi.json``.

Needs the ``serve`` extra (FastAPI and uvicorn): ``pip install -e ".[serve]"``.

Examples:
    >>> from sketchssl.serve import ModelService, create_app  # doctest: +SKIP
    >>> service = ModelService.from_paths("runs/bert/checkpoints/last.ckpt", gallery="qd.store")
    >>> app = create_app(service)  # an ASGI app: uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from sketchssl.serve.app import create_app
from sketchssl.serve.limits import ServerLimits
from sketchssl.serve.service import ModelService

__all__ = ["ModelService", "ServerLimits", "create_app"]
