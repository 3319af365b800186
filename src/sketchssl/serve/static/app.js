// sketchssl demo page: a drawing canvas and live calls to the JSON API under it.
// Plain browser JavaScript, no framework, no build step, nothing loaded from elsewhere.
"use strict";

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const LIVE_INTERVAL_MS = 600; // while a stroke is being drawn, update at most this often
  const MIN_STEP = 2; // canvas pixels between recorded points (the server simplifies anyway)

  const canvas = document.getElementById("canvas");
  const context = canvas.getContext("2d");
  const statusLine = document.getElementById("status");
  const $ = (id) => document.getElementById(id);

  // strokes: [{xs: [...], ys: [...], ts: [...]}], canvas pixels and milliseconds
  let strokes = [];
  let current = null;
  let startTime = null;
  let info = null;
  let limits = { max_total_points: 16384, max_strokes: 256, max_stroke_points: 4096 };
  let lastLive = 0;
  let healSeed = 0;
  const generation = {}; // panel -> number of the latest request, so stale answers are dropped
  const inFlight = {}; // panel -> AbortController of its request in flight

  // ------------------------------------------------------------------------------ the canvas
  function resizeCanvas() {
    const side = canvas.clientWidth;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(side * ratio);
    canvas.height = Math.round(side * ratio);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    redraw();
  }

  function redraw() {
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.lineCap = "round";
    context.lineJoin = "round";
    context.lineWidth = 3;
    context.strokeStyle = "#111";
    for (const stroke of current ? [...strokes, current] : strokes) {
      context.beginPath();
      context.moveTo(stroke.xs[0], stroke.ys[0]);
      if (stroke.xs.length === 1) context.lineTo(stroke.xs[0] + 0.01, stroke.ys[0]);
      for (let i = 1; i < stroke.xs.length; i++) context.lineTo(stroke.xs[i], stroke.ys[i]);
      context.stroke();
    }
  }

  function position(event) {
    const box = canvas.getBoundingClientRect();
    const x = Math.round(Math.min(Math.max(event.clientX - box.left, 0), box.width));
    const y = Math.round(Math.min(Math.max(event.clientY - box.top, 0), box.height));
    return [x, y];
  }

  function totalPoints(list) {
    return list.reduce((sum, stroke) => sum + stroke.xs.length, 0);
  }

  function addPoint(event, force) {
    const [x, y] = position(event);
    const n = current.xs.length;
    if (!force && n && Math.hypot(x - current.xs[n - 1], y - current.ys[n - 1]) < MIN_STEP) return;
    if (n >= limits.max_stroke_points) return;
    if (totalPoints(strokes) + n >= limits.max_total_points) return;
    current.xs.push(x);
    current.ys.push(y);
    current.ts.push(Math.round(performance.now() - startTime));
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || strokes.length >= limits.max_strokes) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    if (startTime === null) startTime = performance.now();
    current = { xs: [], ys: [], ts: [] };
    addPoint(event, true);
    redraw();
  });

  canvas.addEventListener("pointermove", (event) => {
    if (!current) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) addPoint(each, false);
    redraw();
    const now = performance.now();
    if (now - lastLive > LIVE_INTERVAL_MS) {
      lastLive = now;
      update(false);
    }
  });

  function endStroke(event) {
    if (!current) return;
    addPoint(event, false);
    if (current.xs.length) strokes.push(current);
    current = null;
    redraw();
    update(true);
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  // ------------------------------------------------------------------------------ the API
  function drawingPayload() {
    const list = current && current.xs.length ? [...strokes, current] : strokes;
    return list.map((stroke) => [stroke.xs, stroke.ys]);
  }

  async function post(panel, path, body) {
    if (inFlight[panel]) inFlight[panel].abort();
    const controller = new AbortController();
    inFlight[panel] = controller;
    const number = (generation[panel] || 0) + 1;
    generation[panel] = number;
    const section = $(panel);
    section.dataset.status = "loading";
    try {
      const response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      const answer = await response.json().catch(() => ({}));
      if (generation[panel] !== number) return null; // a newer request has been sent
      if (!response.ok) {
        const message = answer.message || (typeof answer.detail === "string"
          ? answer.detail : `HTTP ${response.status}`);
        throw new Error(message);
      }
      section.dataset.status = "ready";
      return answer;
    } catch (error) {
      if (error.name === "AbortError" || generation[panel] !== number) return null;
      section.dataset.status = "error";
      setStatus(`${panel}: ${error.message}`);
      return null;
    } finally {
      if (inFlight[panel] === controller) delete inFlight[panel];
    }
  }

  function setStatus(text) {
    statusLine.textContent = text;
  }

  function enoughInk() {
    return totalPoints(drawingPayload().map(([xs, ys]) => ({ xs, ys }))) >= 2;
  }

  function update(strokeEnded) {
    if (!info) return;
    if (!enoughInk()) {
      resetPanels();
      return;
    }
    const drawing = drawingPayload();
    if (info.classify) classify(drawing);
    if (info.gallery_size) neighbours(drawing);
    if (info.complete) complete(drawing);
    if (strokeEnded) setStatus(`${strokes.length} stroke${strokes.length === 1 ? "" : "s"}`);
  }

  async function classify(drawing) {
    const answer = await post("predictions", "/api/classify", { drawing });
    if (!answer) return;
    const list = $("prediction-list");
    list.replaceChildren();
    for (const entry of answer.top) {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = entry.name;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${Math.max(1, Math.round(entry.score * 100))}%`;
      bar.append(fill);
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = `${(entry.score * 100).toFixed(1)} %`;
      item.append(name, bar, score);
      list.append(item);
    }
    $("prediction-note").textContent = answer.note;
  }

  async function neighbours(drawing) {
    const answer = await post("neighbours", "/api/neighbours", { drawing, k: 8 });
    if (!answer) return;
    const grid = $("neighbour-grid");
    grid.replaceChildren();
    for (const entry of answer.neighbours) {
      const figure = document.createElement("figure");
      figure.className = "neighbour";
      figure.append(drawingSvg([{ drawing: entry.drawing }]));
      const caption = document.createElement("figcaption");
      caption.textContent = `${entry.name ?? "#" + entry.index} ${entry.similarity.toFixed(2)}`;
      figure.append(caption);
      grid.append(figure);
    }
    $("neighbour-note").textContent =
      `cosine similarity of embeddings; ${answer.gallery_size} gallery sketches`;
  }

  async function complete(drawing) {
    const keepProb = 1 - Number($("hide").value) / 100;
    const extend = Number($("extend").value);
    const answer = await post("completion", "/api/complete", {
      drawing, keep_prob: keepProb, extend, seed: 0,
    });
    if (!answer) return;
    $("completion-view").replaceChildren(drawingSvg(
      [{ drawing: answer.input, className: "underlay" }, { drawing: answer.completion }],
      answer.predicted_points,
    ));
    const points = (n) => `${n} point${n === 1 ? "" : "s"}`;
    $("completion-note").textContent =
      `${points(answer.hidden_points)} hidden and ${answer.appended_points} appended; ` +
      "red: positions the model predicted";
  }

  async function heal() {
    if (!info || !info.heal || !enoughInk()) return;
    healSeed += 1;
    const answer = await post("healing", "/api/heal", {
      drawing: drawingPayload(), mask_prob: Number($("mask").value), seed: healSeed,
    });
    if (!answer) return;
    $("corrupted-view").replaceChildren(drawingSvg([{ drawing: answer.corrupted }]));
    $("healed-view").replaceChildren(drawingSvg([{ drawing: answer.healed }]));
    $("filled-view").replaceChildren(drawingSvg([{ drawing: answer.filled }]));
    $("healing-note").textContent =
      `${answer.method}: ${answer.masked_patches} patch${answer.masked_patches === 1 ? "" : "es"}` +
      ` masked; ${answer.note}`;
  }

  function resetPanels() {
    for (const panel of ["predictions", "neighbours", "completion", "healing"]) {
      generation[panel] = (generation[panel] || 0) + 1;
      if (inFlight[panel]) inFlight[panel].abort();
      if ($(panel).dataset.status !== "unavailable") $(panel).dataset.status = "idle";
    }
    for (const id of ["prediction-list", "neighbour-grid", "completion-view",
      "corrupted-view", "healed-view", "filled-view"]) $(id).replaceChildren();
    for (const id of ["prediction-note", "neighbour-note", "completion-note", "healing-note"]) {
      $(id).textContent = "";
    }
  }

  // ------------------------------------------------------------------------------ drawings
  // layers: [{drawing: [[xs, ys], ...], className}], drawn in one fitted view box
  function drawingSvg(layers, points = []) {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    const extend = (x, y) => {
      minX = Math.min(minX, x); maxX = Math.max(maxX, x);
      minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    };
    for (const layer of layers) {
      for (const [xs, ys] of layer.drawing) xs.forEach((x, i) => extend(x, ys[i]));
    }
    for (const [x, y] of points) extend(x, y);
    if (!Number.isFinite(minX)) { minX = minY = 0; maxX = maxY = 1; }
    const side = Math.max(maxX - minX, maxY - minY, 1);
    const pad = side * 0.08;
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", [minX - pad, minY - pad, side + 2 * pad, side + 2 * pad].join(" "));
    svg.setAttribute("class", "sketch");
    const width = side / 60;
    for (const layer of layers) {
      const group = document.createElementNS(SVG_NS, "g");
      group.setAttribute("class", layer.className || "ink");
      group.setAttribute("stroke-width", String(width));
      for (const [xs, ys] of layer.drawing) {
        const path = document.createElementNS(SVG_NS, "path");
        const d = xs.map((x, i) => `${i ? "L" : "M"}${x} ${ys[i]}`);
        if (xs.length === 1) d.push(`L${xs[0] + 0.01} ${ys[0]}`);
        path.setAttribute("d", d.join(" "));
        group.append(path);
      }
      svg.append(group);
    }
    for (const [x, y] of points) {
      const dot = document.createElementNS(SVG_NS, "circle");
      dot.setAttribute("cx", String(x));
      dot.setAttribute("cy", String(y));
      dot.setAttribute("r", String(width * 1.6));
      dot.setAttribute("class", "predicted");
      svg.append(dot);
    }
    return svg;
  }

  // ------------------------------------------------------------------------------ downloads
  function download(name, type, text) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function svgText() {
    const side = canvas.clientWidth;
    const paths = strokes.map((stroke) => {
      const d = stroke.xs.map((x, i) => `${i ? "L" : "M"}${x} ${stroke.ys[i]}`).join(" ");
      return `<path d="${d}"/>`;
    });
    return `<svg xmlns="${SVG_NS}" width="${side}" height="${side}" viewBox="0 0 ${side} ${side}">` +
      `<rect width="100%" height="100%" fill="white"/><g fill="none" stroke="black" ` +
      `stroke-width="3" stroke-linecap="round" stroke-linejoin="round">${paths.join("")}</g></svg>\n`;
  }

  function ndjsonText() {
    // QuickDraw's raw format: [xs, ys, ts] per stroke, canvas pixels and milliseconds
    const top = document.querySelector("#prediction-list .name");
    const record = {
      word: top ? top.textContent : "sketch",
      countrycode: "ZZ",
      timestamp: new Date().toISOString(),
      recognized: false,
      key_id: String(Date.now()),
      drawing: strokes.map((stroke) => [stroke.xs, stroke.ys, stroke.ts]),
    };
    return JSON.stringify(record) + "\n";
  }

  // ------------------------------------------------------------------------------ controls
  $("undo").addEventListener("click", () => {
    strokes.pop();
    redraw();
    update(true);
  });
  $("clear").addEventListener("click", () => {
    strokes = [];
    startTime = null;
    redraw();
    resetPanels();
    setStatus("Draw something.");
  });
  $("download-svg").addEventListener("click", () => {
    if (strokes.length) download("sketch.svg", "image/svg+xml", svgText());
  });
  $("download-ndjson").addEventListener("click", () => {
    if (strokes.length) download("sketch.ndjson", "application/x-ndjson", ndjsonText());
  });
  $("heal").addEventListener("click", heal);
  $("hide").addEventListener("input", () => {
    $("hide-value").textContent = `${$("hide").value} %`;
  });
  $("hide").addEventListener("change", () => update(false));
  $("extend").addEventListener("change", () => update(false));
  $("mask").addEventListener("input", () => {
    $("mask-value").textContent = `${Math.round(Number($("mask").value) * 100)} %`;
  });
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "z") {
      event.preventDefault();
      $("undo").click();
    }
  });
  window.addEventListener("resize", resizeCanvas);

  // ------------------------------------------------------------------------------ start
  async function start() {
    resizeCanvas();
    try {
      const response = await fetch("/api/info");
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      info = await response.json();
    } catch (error) {
      document.body.dataset.state = "error";
      $("model-info").textContent = `cannot reach the server: ${error.message}`;
      return;
    }
    limits = info.limits;
    const parts = [`model: ${info.method}`];
    parts.push(info.classify === "classifier_head" ? "classifier head"
      : info.classify === "linear_head" ? `linear head over ${info.classes} classes`
      : info.classify === "knn" ? "kNN classification over the gallery" : "no classifier");
    parts.push(`${info.gallery_size} gallery sketches`);
    if (info.heal) {
      const known = info.heal_classes;
      parts.push(known && known.length
        ? `healing: ${info.heal} (trained on ${known.length} classes: ${known.slice(0, 20).join(", ")}`
          + `${known.length > 20 ? ", ..." : ""})`
        : `healing: ${info.heal}`);
    }
    $("model-info").textContent = parts.join(" · ");
    const unavailable = {
      predictions: !info.classify, neighbours: !info.gallery_size,
      completion: !info.complete, healing: !info.heal,
    };
    for (const [panel, missing] of Object.entries(unavailable)) {
      if (missing) $(panel).dataset.status = "unavailable";
    }
    document.body.dataset.state = "ready";
  }

  start();
})();
