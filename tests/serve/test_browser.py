"""End to end in headless Chromium: draw with the mouse, see predictions, neighbours, completion
and healing, download the drawing, and check that nothing was fetched from elsewhere.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and the ``playwright`` Python
package (``pip install playwright``; never ``playwright install``: the system browser is used
through its executable path). Skipped, with the reason, when either is missing. Run it with
``pytest -m slow tests/serve/test_browser.py``. ``SKETCHSSL_E2E_SCREENSHOT=path.png`` keeps a
copy of the screenshot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("SKETCHSSL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous: a loaded 2-core machine runs Chromium and the models slowly.
TIMEOUT_MS = 90_000
# A house in unit coordinates of the canvas: walls, roof, door.
HOUSE = [
    [(0.2, 0.45), (0.8, 0.45), (0.8, 0.85), (0.2, 0.85), (0.2, 0.45)],
    [(0.15, 0.47), (0.5, 0.15), (0.85, 0.47)],
    [(0.43, 0.85), (0.43, 0.65), (0.57, 0.65), (0.57, 0.85)],
]


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium (Debian's package)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing: pip install playwright"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def serve_in_thread(app) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yield its base URL."""
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))  # the port is taken here, so no other process races for it
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@pytest.fixture(scope="module")
def server_url(trained):
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from sketchssl.cli.serve_cmd import LOOPBACK_NAMES
    from sketchssl.serve import ModelService, create_app

    service = ModelService.from_paths(
        trained.bert, gallery=trained.store, heal_checkpoint=trained.rnn
    )
    yield from serve_in_thread(create_app(service, allowed_hosts=LOOPBACK_NAMES))


def draw(page, strokes, steps: int = 6) -> None:
    """Draw ``strokes`` (unit canvas coordinates) with mouse events."""
    box = page.locator("#canvas").bounding_box()

    def at(point):
        return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*at(point), steps=steps)
        page.mouse.up()


def download(page, button: str) -> str:
    with page.expect_download() as waiting:
        page.click(button)
    return Path(waiting.value.path()).read_text(encoding="utf-8")


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def watch(page) -> tuple[list[str], list[str]]:
    """Lists that fill with every requested URL and every console / page error."""
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    return requested, errors


def open_page(chromium, url):
    page = chromium.new_page(viewport={"width": 1280, "height": 820}, accept_downloads=True)
    requested, errors = watch(page)
    page.goto(f"{url}/")
    page.wait_for_selector("body[data-state=ready]", timeout=TIMEOUT_MS)
    return page, requested, errors


def draw_and_wait(page, strokes=HOUSE) -> None:
    draw(page, strokes)
    for panel in ("predictions", "neighbours", "completion"):
        page.wait_for_selector(f"#{panel}[data-status=ready]", timeout=TIMEOUT_MS)
    page.click("#heal")
    page.wait_for_selector("#healing[data-status=ready]", timeout=TIMEOUT_MS)


def test_draw_recognise_complete_heal_download(chromium, server_url, tmp_path):
    page, requested, errors = open_page(chromium, server_url)
    assert "model: sketch_bert" in page.text_content("#model-info")
    draw_and_wait(page)

    # the page shows what the API says for the drawing it sent
    ndjson = json.loads(download(page, "#download-ndjson"))
    assert len(ndjson["drawing"]) == 3
    for xs, ys, ts in ndjson["drawing"]:
        assert len(xs) == len(ys) == len(ts) >= 2 and ts == sorted(ts)
    drawing = [[xs, ys] for xs, ys, _ in ndjson["drawing"]]
    expected = post_json(f"{server_url}/api/classify", {"drawing": drawing})
    shown = page.locator("#prediction-list .name").all_text_contents()
    assert shown == [entry["name"] for entry in expected["top"]]
    assert "kNN" in page.text_content("#prediction-note")
    neighbours = post_json(f"{server_url}/api/neighbours", {"drawing": drawing, "k": 8})
    captions = page.locator("#neighbour-grid figcaption").all_text_contents()
    assert captions == [f"{n['name']} {n['similarity']:.2f}" for n in neighbours["neighbours"]]
    assert page.locator("#neighbour-grid svg path").count() >= 8
    assert page.locator("#completion-view svg g.ink path").count() >= 3
    note = re.match(
        r"(\d+) points? hidden and (\d+) appended", page.text_content("#completion-note")
    )
    hidden, appended = int(note[1]), int(note[2])
    assert appended == 16  # the page's default "extend by 16"
    assert page.locator("#completion-view circle.predicted").count() == hidden + appended
    assert page.locator("#corrupted-view svg path").count() >= 1
    assert page.locator("#healed-view svg path").count() >= 1
    assert page.locator("#filled-view svg path").count() >= 1
    assert "sketch_rnn" in page.text_content("#healing-note")

    screenshot = tmp_path / "web_demo.png"
    page.screenshot(path=str(screenshot), full_page=True)
    _check_screenshot(screenshot, page)
    if os.environ.get("SKETCHSSL_E2E_SCREENSHOT"):
        shutil.copy(screenshot, os.environ["SKETCHSSL_E2E_SCREENSHOT"])

    svg = download(page, "#download-svg")
    assert svg.startswith("<svg") and svg.count("<path") == 3

    page.click("#undo")
    page.wait_for_selector("#predictions[data-status=ready]", timeout=TIMEOUT_MS)
    assert len(json.loads(download(page, "#download-ndjson"))["drawing"]) == 2
    page.click("#clear")
    assert page.locator("#prediction-list li").count() == 0
    assert page.locator("#neighbour-grid figure").count() == 0

    assert all(url.startswith(f"{server_url}/") or url.startswith("blob:") for url in requested), [
        url for url in requested if not url.startswith(server_url)
    ]
    assert errors == []
    page.close()


def _check_screenshot(path: Path, page) -> None:
    """The screenshot shows ink on the canvas and the panels' drawings."""
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"), dtype=np.int16)
    box = page.locator("#canvas").bounding_box()
    canvas = pixels[
        int(box["y"]) : int(box["y"] + box["height"]), int(box["x"]) : int(box["x"] + box["width"])
    ]
    assert (canvas < 80).mean() > 0.005  # the drawn lines
    assert (canvas > 240).mean() > 0.8  # on white paper
    grid = page.locator("#neighbour-grid").bounding_box()
    panel = pixels[
        int(grid["y"]) : int(grid["y"] + grid["height"]),
        int(grid["x"]) : int(grid["x"] + grid["width"]),
    ]
    assert (panel < 80).mean() > 0.001  # the neighbours' ink


def test_touch_draws_too(chromium, server_url):
    # real touch input through the DevTools protocol: the page must take it as a stroke (pointer
    # events of type touch; touch-action: none keeps the browser from scrolling instead)
    context = chromium.new_context(has_touch=True, viewport={"width": 900, "height": 900})
    page = context.new_page()
    page.goto(f"{server_url}/")
    page.wait_for_selector("body[data-state=ready]", timeout=TIMEOUT_MS)
    box = page.locator("#canvas").bounding_box()
    devtools = context.new_cdp_session(page)

    def touch(kind: str, step: int) -> None:
        x = box["x"] + box["width"] * (0.2 + 0.06 * step)
        y = box["y"] + box["height"] * (0.3 + 0.04 * step)
        points = [] if kind == "touchEnd" else [{"x": x, "y": y}]
        devtools.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 0)
    for step in range(1, 10):
        touch("touchMove", step)
    touch("touchEnd", 10)
    page.wait_for_selector("#predictions[data-status=ready]", timeout=TIMEOUT_MS)
    assert page.locator("#prediction-list li").count() >= 1
    assert page.text_content("#status") == "1 stroke"
    context.close()
