"""Tests of the QuickDraw downloader against a local HTTP server (never a real external host)."""

from __future__ import annotations

import io
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from sketchssl.data import download as download_module
from sketchssl.data.download import (
    QUICKDRAW_CATEGORIES,
    check_categories,
    download_categories,
    local_filename,
    quickdraw_url,
)
from sketchssl.errors import ConfigError, DownloadError


class FileServer:
    """What the test server serves, how it misbehaves, and what it saw."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.ignore_range = False
        self.drop_after: dict[str, int] = {}  # path -> bytes to send before dropping (once)
        self.always_status: int | None = None
        self.requests: list[tuple[str, str | None]] = []  # (raw path, Range header)
        self.bytes_sent: list[int] = []
        self.url = ""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        state: FileServer = self.server.state  # type: ignore[attr-defined]
        range_header = self.headers.get("Range")
        state.requests.append((self.path, range_header))
        if state.always_status is not None:
            self.send_error(state.always_status)
            return
        data = state.files.get(urllib.parse.unquote(self.path))
        if data is None:
            self.send_error(404)
            return
        start, status = 0, 200
        if range_header and not state.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", range_header).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        drop = state.drop_after.pop(urllib.parse.unquote(self.path), None)
        if drop is not None:
            body = body[:drop]
        state.bytes_sent.append(len(body))  # before writing: the client may finish first
        self.wfile.write(body)
        self.wfile.flush()


@pytest.fixture
def server():
    state = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = state  # type: ignore[attr-defined]
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def npz_bytes(seed: int = 0) -> bytes:
    """A small sketch-rnn-like .npz (fixed-length sketches, so no pickle) of about 100 kB."""
    rng = np.random.default_rng(seed)
    sketches = rng.integers(-30, 30, size=(400, 40, 3)).astype(np.int16)
    sketches[:, :, 2] = rng.random((400, 40)) < 0.1
    buffer = io.BytesIO()
    np.savez(buffer, train=sketches[:300], valid=sketches[300:350], test=sketches[350:])
    return buffer.getvalue()


def fetch(server: FileServer, out: Path, categories, **options):
    options.setdefault("progress", False)
    options.setdefault("backoff", 0.0)
    return download_categories(categories, out, base_url=server.url, **options)


def test_urls_and_file_names():
    base = "https://example.invalid/qd/"
    assert quickdraw_url("cat", base_url=base) == "https://example.invalid/qd/sketchrnn/cat.npz"
    assert quickdraw_url("cat", full=True).endswith("/quickdraw_dataset/sketchrnn/cat.full.npz")
    assert quickdraw_url("The Eiffel Tower", "simplified").endswith(
        "/full/simplified/The%20Eiffel%20Tower.ndjson"
    )
    assert quickdraw_url("cat", "raw").endswith("/full/raw/cat.ndjson")
    assert quickdraw_url("cat", "binary").endswith("/full/binary/cat.bin")
    assert local_filename("cat", "raw") == "cat.raw.ndjson"
    assert local_filename("cat", "sketchrnn", full=True) == "cat.full.npz"
    with pytest.raises(ConfigError, match="unknown QuickDraw format"):
        quickdraw_url("cat", "png")
    with pytest.raises(ConfigError, match="full=True"):
        quickdraw_url("cat", "raw", full=True)


def test_category_list_matches_the_shared_data(shared_data):
    listed = (shared_data / "quickdraw_ndjson" / "categories.txt").read_text().split("\n")
    assert list(QUICKDRAW_CATEGORIES) == [name for name in listed if name]


def test_check_categories_canonical_names_and_suggestions():
    assert len(QUICKDRAW_CATEGORIES) == 345
    assert check_categories("cat") == ["cat"]
    assert check_categories(["the eiffel tower", "cat", "CAT "]) == ["The Eiffel Tower", "cat"]
    with pytest.raises(DownloadError, match=r"unknown QuickDraw category 'catt'.*'cat'"):
        check_categories(["dog", "catt"])
    with pytest.raises(DownloadError, match="unknown QuickDraw category 'qwxyz'"):
        check_categories("qwxyz")


def test_fresh_download_then_skip(server, tmp_path):
    data = npz_bytes()
    server.files["/sketchrnn/cat.npz"] = data
    paths = fetch(server, tmp_path / "out", ["cat"])
    assert paths == [tmp_path / "out" / "cat.npz"]
    assert paths[0].read_bytes() == data
    assert not (tmp_path / "out" / "cat.npz.part").exists()
    with np.load(paths[0]) as loaded:
        assert loaded["train"].shape == (300, 40, 3)
    assert server.requests == [("/sketchrnn/cat.npz", None)]
    # a complete file is skipped without any request
    assert fetch(server, tmp_path / "out", "cat") == paths
    assert len(server.requests) == 1


def test_names_with_spaces_are_quoted(server, tmp_path):
    server.files["/full/simplified/The Eiffel Tower.ndjson"] = b'{"word": "The Eiffel Tower"}\n'
    server.files["/full/binary/The Eiffel Tower.bin"] = b"\x01\x02\x03"
    server.files["/full/raw/The Eiffel Tower.ndjson"] = b"{}\n"
    simplified = fetch(server, tmp_path, ["the eiffel tower"], fmt="simplified")
    binary = fetch(server, tmp_path, ["The Eiffel Tower"], fmt="binary")
    raw = fetch(server, tmp_path, ["The Eiffel Tower"], fmt="raw")
    assert simplified[0].name == "The Eiffel Tower.ndjson"
    assert binary[0].read_bytes() == b"\x01\x02\x03"
    assert raw[0].name == "The Eiffel Tower.raw.ndjson"
    assert [path for path, _ in server.requests] == [
        "/full/simplified/The%20Eiffel%20Tower.ndjson",
        "/full/binary/The%20Eiffel%20Tower.bin",
        "/full/raw/The%20Eiffel%20Tower.ndjson",
    ]


def test_resume_from_partial_file(server, tmp_path):
    data = npz_bytes(1)
    server.files["/sketchrnn/cat.full.npz"] = data
    (tmp_path / "cat.full.npz.part").write_bytes(data[:30_000])
    paths = fetch(server, tmp_path, ["cat"], full=True)
    assert paths[0].read_bytes() == data
    assert server.requests == [("/sketchrnn/cat.full.npz", "bytes=30000-")]
    assert server.bytes_sent == [len(data) - 30_000]  # only the rest was sent


def test_server_ignoring_range_restarts_from_scratch(server, tmp_path):
    data = npz_bytes(2)
    server.files["/sketchrnn/cat.npz"] = data
    server.ignore_range = True
    (tmp_path / "cat.npz.part").write_bytes(b"garbage that must not survive" * 100)
    paths = fetch(server, tmp_path, ["cat"])
    assert paths[0].read_bytes() == data
    assert server.requests[0][1] is not None and server.bytes_sent == [len(data)]


def test_dropped_connection_is_retried_and_resumed(server, tmp_path):
    data = npz_bytes(3)
    server.files["/sketchrnn/cat.npz"] = data
    server.drop_after["/sketchrnn/cat.npz"] = 12_345
    paths = fetch(server, tmp_path, ["cat"], retries=2)
    assert paths[0].read_bytes() == data
    assert server.requests == [
        ("/sketchrnn/cat.npz", None),
        ("/sketchrnn/cat.npz", "bytes=12345-"),
    ]
    assert server.bytes_sent == [12_345, len(data) - 12_345]


def test_complete_part_file_is_finished_on_416(server, tmp_path):
    data = b"x" * 5000
    server.files["/full/binary/cat.bin"] = data
    (tmp_path / "cat.bin.part").write_bytes(data)  # received, but never renamed
    paths = fetch(server, tmp_path, ["cat"], fmt="binary")
    assert paths[0].read_bytes() == data
    assert server.requests == [("/full/binary/cat.bin", "bytes=5000-")]


def test_oversized_part_file_is_discarded_on_416(server, tmp_path):
    data = b"y" * 5000
    server.files["/full/binary/cat.bin"] = data
    (tmp_path / "cat.bin.part").write_bytes(b"z" * 6000)
    paths = fetch(server, tmp_path, ["cat"], fmt="binary")
    assert paths[0].read_bytes() == data
    assert [range_ for _, range_ in server.requests] == ["bytes=6000-", None]


def test_not_found_names_category_and_url(server, tmp_path):
    with pytest.raises(DownloadError) as caught:
        fetch(server, tmp_path, ["cat"])
    message = str(caught.value)
    assert "'cat'" in message and "404" in message
    assert f"{server.url}/sketchrnn/cat.npz" in message
    assert len(server.requests) == 1  # a 404 is not retried
    assert not list(tmp_path.iterdir())


def test_persistent_server_errors_give_up_after_retries(server, tmp_path):
    server.always_status = 503
    with pytest.raises(DownloadError, match=r"failed after 3 attempts \(HTTP 503"):
        fetch(server, tmp_path, ["cat"], retries=2)
    assert len(server.requests) == 3


def test_connection_dropped_every_time_keeps_the_partial_file(server, tmp_path):
    data = npz_bytes(4)
    server.files["/sketchrnn/cat.npz"] = data

    class Always(dict):
        def pop(self, key, default=None):
            return 1000

    server.drop_after = Always()
    with pytest.raises(DownloadError, match="resumes it"):
        fetch(server, tmp_path, ["cat"], retries=1)
    assert (tmp_path / "cat.npz.part").read_bytes() == data[:2000]
    assert not (tmp_path / "cat.npz").exists()


def test_connection_refused_says_offline(tmp_path):
    with socket.socket() as probe:  # find a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"cannot reach 127\.0\.0\.1:\d+ .*Are you offline\?"):
        download_categories(
            ["cat"], tmp_path, base_url=f"http://127.0.0.1:{port}", progress=False, backoff=5.0
        )
    assert time.monotonic() - started < 4.0  # refused is not retried with back-off


def test_dns_failure_says_offline(tmp_path, monkeypatch):
    def no_dns(request, timeout=None):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(download_module.urllib.request, "urlopen", no_dns)
    with pytest.raises(DownloadError, match=r"cannot reach storage\.googleapis\.com .*offline"):
        download_categories(["cat"], tmp_path, progress=False)


def test_unknown_category_fails_before_any_request(server, tmp_path):
    server.files["/sketchrnn/cat.npz"] = b"data"
    with pytest.raises(DownloadError, match="Did you mean 'cat'"):
        fetch(server, tmp_path, ["cat", "catt"])
    assert server.requests == []


def test_progress_bar_runs(server, tmp_path, capsys):
    server.files["/sketchrnn/cat.npz"] = npz_bytes(5)
    fetch(server, tmp_path, ["cat"], progress=True)
    assert "cat" in capsys.readouterr().err
