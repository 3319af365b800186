"""Download QuickDraw files from Google's public bucket, resumable and verified.

The "Quick, Draw!" data set (Google Creative Lab, https://github.com/googlecreativelab/
quickdraw-dataset, CC BY 4.0) is published per category in four forms:

======================  ================================================================
``fmt``                 URL under ``base_url`` (default ``https://storage.googleapis.com/quickdraw_dataset``)
======================  ================================================================
``"sketchrnn"``         ``sketchrnn/{category}.npz`` (``.full.npz`` with ``full=True``)
``"simplified"``        ``full/simplified/{category}.ndjson``
``"raw"``               ``full/raw/{category}.ndjson``
``"binary"``            ``full/binary/{category}.bin``
======================  ================================================================

Category names are checked against the 345 published ones (with a close-match suggestion) before
anything is fetched. Each file streams into ``<name>.part`` in the output folder; an interrupted
download resumes from there with an HTTP ``Range`` request, the size is checked against
``Content-Length``, transient failures are retried with exponential back-off, and only a complete
file is renamed into place. A file already in place is skipped without touching the network.

Standard library only (``urllib``); the progress bar uses ``tqdm`` when it is installed.
"""

from __future__ import annotations

import difflib
import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sketchssl.errors import ConfigError, DownloadError

__all__ = [
    "DEFAULT_BASE_URL",
    "FORMATS",
    "QUICKDRAW_CATEGORIES",
    "check_categories",
    "download_categories",
    "download_file",
    "local_filename",
    "quickdraw_url",
]

#: Google's public bucket of the Quick, Draw! data.
DEFAULT_BASE_URL = "https://storage.googleapis.com/quickdraw_dataset"

#: The four published forms of a category (see the module docstring).
FORMATS = ("sketchrnn", "simplified", "raw", "binary")

# HTTP statuses worth another try: timeouts, rate limiting and passing server trouble.
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK_BYTES = 1 << 16
_USER_AGENT = "sketchssl-download/0.1 (+https://github.com/googlecreativelab/quickdraw-dataset)"

# The 345 category names, in Google's order, ';'-separated (some names hold spaces).
_CATEGORY_TEXT = """
aircraft carrier;airplane;alarm clock;ambulance;angel;animal migration;ant;anvil;apple;arm
asparagus;axe;backpack;banana;bandage;barn;baseball;baseball bat;basket;basketball;bat
bathtub;beach;bear;beard;bed;bee;belt;bench;bicycle;binoculars;bird;birthday cake
blackberry;blueberry;book;boomerang;bottlecap;bowtie;bracelet;brain;bread;bridge;broccoli
broom;bucket;bulldozer;bus;bush;butterfly;cactus;cake;calculator;calendar;camel;camera
camouflage;campfire;candle;cannon;canoe;car;carrot;castle;cat;ceiling fan;cello;cell phone
chair;chandelier;church;circle;clarinet;clock;cloud;coffee cup;compass;computer;cookie
cooler;couch;cow;crab;crayon;crocodile;crown;cruise ship;cup;diamond;dishwasher
diving board;dog;dolphin;donut;door;dragon;dresser;drill;drums;duck;dumbbell;ear;elbow
elephant;envelope;eraser;eye;eyeglasses;face;fan;feather;fence;finger;fire hydrant
fireplace;firetruck;fish;flamingo;flashlight;flip flops;floor lamp;flower;flying saucer
foot;fork;frog;frying pan;garden;garden hose;giraffe;goatee;golf club;grapes;grass;guitar
hamburger;hammer;hand;harp;hat;headphones;hedgehog;helicopter;helmet;hexagon;hockey puck
hockey stick;horse;hospital;hot air balloon;hot dog;hot tub;hourglass;house;house plant
hurricane;ice cream;jacket;jail;kangaroo;key;keyboard;knee;knife;ladder;lantern;laptop
leaf;leg;light bulb;lighter;lighthouse;lightning;line;lion;lipstick;lobster;lollipop
mailbox;map;marker;matches;megaphone;mermaid;microphone;microwave;monkey;moon;mosquito
motorbike;mountain;mouse;moustache;mouth;mug;mushroom;nail;necklace;nose;ocean;octagon
octopus;onion;oven;owl;paintbrush;paint can;palm tree;panda;pants;paper clip;parachute
parrot;passport;peanut;pear;peas;pencil;penguin;piano;pickup truck;picture frame;pig
pillow;pineapple;pizza;pliers;police car;pond;pool;popsicle;postcard;potato;power outlet
purse;rabbit;raccoon;radio;rain;rainbow;rake;remote control;rhinoceros;rifle;river
roller coaster;rollerskates;sailboat;sandwich;saw;saxophone;school bus;scissors;scorpion
screwdriver;sea turtle;see saw;shark;sheep;shoe;shorts;shovel;sink;skateboard;skull
skyscraper;sleeping bag;smiley face;snail;snake;snorkel;snowflake;snowman;soccer ball;sock
speedboat;spider;spoon;spreadsheet;square;squiggle;squirrel;stairs;star;steak;stereo
stethoscope;stitches;stop sign;stove;strawberry;streetlight;string bean;submarine;suitcase
sun;swan;sweater;swing set;sword;syringe;table;teapot;teddy-bear;telephone;television
tennis racquet;tent;The Eiffel Tower;The Great Wall of China;The Mona Lisa;tiger;toaster
toe;toilet;tooth;toothbrush;toothpaste;tornado;tractor;traffic light;train;tree;triangle
trombone;truck;trumpet;t-shirt;umbrella;underwear;van;vase;violin;washing machine
watermelon;waterslide;whale;wheel;windmill;wine bottle;wine glass;wristwatch;yoga;zebra
zigzag"""

#: The 345 QuickDraw categories, exactly as Google spells them (file names use these).
QUICKDRAW_CATEGORIES: tuple[str, ...] = tuple(
    name for line in _CATEGORY_TEXT.strip().splitlines() for name in line.split(";")
)
_BY_LOWER_CASE = {name.lower(): name for name in QUICKDRAW_CATEGORIES}


class _RetryableError(Exception):
    """One attempt failed in a way another attempt may fix (kept internal)."""


def check_categories(categories: str | Iterable[str]) -> list[str]:
    """Validate category names and return them as Google spells them, duplicates dropped.

    Matching ignores case and surrounding spaces (``"the eiffel tower"`` gives
    ``"The Eiffel Tower"``).

    Raises:
        DownloadError: an unknown name, with the closest known names as a suggestion.
    """
    names = [categories] if isinstance(categories, str) else list(categories)
    result: list[str] = []
    for name in names:
        canonical = _BY_LOWER_CASE.get(str(name).strip().lower())
        if canonical is None:
            close = difflib.get_close_matches(
                str(name).strip().lower(), list(_BY_LOWER_CASE), n=3, cutoff=0.6
            )
            hint = (
                " Did you mean " + " or ".join(f"'{_BY_LOWER_CASE[c]}'" for c in close) + "?"
                if close
                else ""
            )
            raise DownloadError(
                f"unknown QuickDraw category '{name}'.{hint} "
                f"There are {len(QUICKDRAW_CATEGORIES)} categories; "
                "see sketchssl.data.download.QUICKDRAW_CATEGORIES for the list."
            )
        if canonical not in result:
            result.append(canonical)
    if not result:
        raise DownloadError("no QuickDraw categories were given")
    return result


def _check_format(fmt: str, full: bool) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown QuickDraw format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if full and fmt != "sketchrnn":
        raise ConfigError(
            "full=True selects the sketchrnn '.full.npz' files; the ndjson and binary "
            f"formats (here '{fmt}') always hold every drawing, so leave full off"
        )


def quickdraw_url(
    category: str, fmt: str = "sketchrnn", *, base_url: str = DEFAULT_BASE_URL, full: bool = False
) -> str:
    """The download URL of one category file (the name is URL-quoted: spaces become ``%20``)."""
    _check_format(fmt, full)
    quoted = urllib.parse.quote(category)
    base = base_url.rstrip("/")
    if fmt == "sketchrnn":
        return f"{base}/sketchrnn/{quoted}{'.full' if full else ''}.npz"
    if fmt == "binary":
        return f"{base}/full/binary/{quoted}.bin"
    return f"{base}/full/{fmt}/{quoted}.ndjson"


def local_filename(category: str, fmt: str = "sketchrnn", *, full: bool = False) -> str:
    """The file name a category is saved under.

    ``cat.npz`` / ``cat.full.npz`` (sketchrnn), ``cat.ndjson`` (simplified),
    ``cat.raw.ndjson`` (raw, so it can sit beside the simplified file) and ``cat.bin``.
    """
    _check_format(fmt, full)
    suffix = {
        "sketchrnn": ".full.npz" if full else ".npz",
        "simplified": ".ndjson",
        "raw": ".raw.ndjson",
        "binary": ".bin",
    }[fmt]
    return f"{category}{suffix}"


def download_categories(
    categories: str | Iterable[str],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "sketchrnn",
    base_url: str = DEFAULT_BASE_URL,
    retries: int = 3,
    timeout: float = 30.0,
    progress: bool = True,
    full: bool = False,
    backoff: float = 1.0,
) -> list[Path]:
    """Download QuickDraw category files into ``out_dir``; files already there are skipped.

    Args:
        categories: category names (or one name); checked before anything is fetched.
        out_dir: the folder to write into (created if needed).
        fmt: ``"sketchrnn"``, ``"simplified"``, ``"raw"`` or ``"binary"``.
        base_url: where the bucket is (a mirror, or a local server in tests).
        retries: how many more attempts after a transient failure (timeout, dropped connection,
            HTTP 429/5xx); each resumes from what the previous one received.
        timeout: seconds to wait for the server on connect and on each read.
        progress: show a progress bar per file (needs ``tqdm``; silently off without it).
        full: sketchrnn only: the ``.full.npz`` files with every drawing instead of 75,000.
        backoff: the first wait between attempts in seconds; it doubles each time.

    Returns:
        The paths of the files, in the order of ``categories``.

    Raises:
        DownloadError: unknown category, file not on the server (404), host unreachable
            (offline), or still failing after the retries.
        ConfigError: unknown ``fmt``, ``full`` with another format, or a negative option.

    Examples:
        >>> download_categories(["cat", "The Eiffel Tower"], "data/quickdraw")  # doctest: +SKIP
        [PosixPath('data/quickdraw/cat.npz'), PosixPath('data/quickdraw/The Eiffel Tower.npz')]
    """
    _check_format(fmt, full)
    if retries < 0 or timeout <= 0 or backoff < 0:
        raise ConfigError(
            f"retries must be >= 0, timeout > 0 and backoff >= 0; got retries={retries}, "
            f"timeout={timeout}, backoff={backoff}"
        )
    names = check_categories(categories)
    folder = Path(out_dir)
    paths = []
    for name in names:
        url = quickdraw_url(name, fmt, base_url=base_url, full=full)
        destination = folder / local_filename(name, fmt, full=full)
        label = f"QuickDraw category '{name}' ({fmt})"
        paths.append(
            download_file(
                url,
                destination,
                retries=retries,
                timeout=timeout,
                progress=progress,
                backoff=backoff,
                label=label,
            )
        )
    return paths


def download_file(
    url: str,
    destination: str | os.PathLike[str],
    *,
    retries: int = 3,
    timeout: float = 30.0,
    progress: bool = True,
    backoff: float = 1.0,
    label: str | None = None,
) -> Path:
    """Fetch ``url`` into ``destination`` through ``<destination>.part``, resuming and retrying.

    See :func:`download_categories` for the options. ``label`` names the file in messages.

    Returns:
        ``destination`` as a Path; it exists only once the whole file was received.
    """
    destination = Path(destination)
    if destination.is_file():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    label = label or destination.name
    problem = "no attempt was made"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _fetch_into(url, part, timeout=timeout, progress=progress, label=label)
        except _RetryableError as error:
            problem = str(error)
            continue
        os.replace(part, destination)
        return destination
    kept = f"; {part.stat().st_size} bytes are kept in {part} and" if part.exists() else "; "
    raise DownloadError(
        f"{label}: download from {url} failed after {retries + 1} attempts ({problem}){kept} "
        "running the same download again resumes it"
    )


def _fetch_into(url: str, part: Path, *, timeout: float, progress: bool, label: str) -> None:
    """One attempt: append the rest of ``url`` to ``part``; raises _RetryableError to retry."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        with error:
            _handle_http_error(error, url, part, offset, label)
        return  # the part file turned out to be complete already
    except urllib.error.URLError as error:
        raise _unreachable(url, error.reason, label) from None
    except (OSError, http.client.HTTPException) as error:
        raise _RetryableError(f"{type(error).__name__}: {error}") from None

    with response:
        length = _int_header(response.headers.get("Content-Length"))
        if response.status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _RetryableError(
                    f"the server resumed at byte {start} instead of {offset}; starting again"
                )
            mode = "ab"
            expected = total if total is not None else _plus(offset, length)
        else:  # 200: the whole file, either asked for or because the server ignored our Range
            offset, mode, expected = 0, "wb", length
        received = offset
        bar = _progress_bar(progress, label, expected, offset)
        try:
            with open(part, mode) as sink:
                while True:
                    try:
                        chunk = response.read(_CHUNK_BYTES)
                    except (OSError, http.client.HTTPException) as error:
                        raise _RetryableError(
                            f"connection lost after {received} of {expected or '?'} bytes "
                            f"({type(error).__name__}: {error})"
                        ) from None
                    if not chunk:
                        break
                    sink.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        finally:
            bar.close()
    if expected is not None and received != expected:
        if received > expected:
            part.unlink(missing_ok=True)
            raise _RetryableError(
                f"received {received} bytes but the server announced {expected}; starting again"
            )
        raise _RetryableError(f"the connection closed after {received} of {expected} bytes")


def _handle_http_error(
    error: urllib.error.HTTPError, url: str, part: Path, offset: int, label: str
) -> None:
    """Turn an HTTP error status into a decision: done, retry, or a DownloadError."""
    if error.code == 416 and offset:
        # "Range Not Satisfiable": we asked to start at or beyond the end of the file
        _, total = _parse_content_range(error.headers.get("Content-Range"))
        if total is not None and total == offset:
            return  # an earlier run received everything but stopped before the rename
        part.unlink(missing_ok=True)
        raise _RetryableError(
            f"the partial file ({offset} bytes) does not fit the server's file "
            f"({total if total is not None else 'unknown'} bytes); starting again"
        )
    if error.code == 404:
        raise DownloadError(
            f"{label}: not found on the server (HTTP 404) at {url}. Check the category name "
            "and format, or base_url if you use a mirror."
        )
    if error.code in _RETRY_STATUSES:
        raise _RetryableError(f"HTTP {error.code} {error.reason}")
    raise DownloadError(f"{label}: the server answered HTTP {error.code} {error.reason} for {url}")


def _unreachable(url: str, reason: Any, label: str) -> Exception:
    """A connection that could not be opened: retry timeouts, give up on the rest at once."""
    if isinstance(reason, (TimeoutError, socket.timeout, ConnectionResetError)):
        return _RetryableError(f"connecting timed out or was reset ({reason})")
    host = urllib.parse.urlsplit(url).netloc or url
    return DownloadError(
        f"{label}: cannot reach {host} ({reason}). Are you offline? "
        "Check the network connection (or base_url) and run the download again."
    )


def _int_header(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _plus(offset: int, length: int | None) -> int | None:
    return None if length is None else offset + length


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes START-END/TOTAL`` or ``bytes */TOTAL`` -> ``(START, TOTAL)``, None where absent."""
    if not value:
        return None, None
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value)
    if match is None:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return start, total


class _NoProgress:
    def update(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(enabled: bool, label: str, total: int | None, initial: int) -> Any:
    """A tqdm byte counter, or a do-nothing stand-in when disabled or tqdm is missing."""
    if not enabled:
        return _NoProgress()
    try:
        from tqdm.auto import tqdm  # optional: the data layer needs only the standard library
    except ImportError:
        return _NoProgress()
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        leave=True,
    )
