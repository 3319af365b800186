"""The demo's JSON API with FastAPI's TestClient, on tiny checkpoints trained on doodles."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")
from fastapi.testclient import TestClient  # noqa: E402

from sketchssl.data.build import build_store  # noqa: E402
from sketchssl.data.io.ndjson import write_ndjson  # noqa: E402
from sketchssl.data.store import SketchStore  # noqa: E402
from sketchssl.eval.baselines import embed_dataset  # noqa: E402
from sketchssl.eval.healing import corrupt_inputs  # noqa: E402
from sketchssl.eval.knn import knn_class_scores  # noqa: E402
from sketchssl.methods.checkpoint import load_method  # noqa: E402
from sketchssl.render.patches import PatchConfig, make_mask_table  # noqa: E402
from sketchssl.serve import ModelService, ServerLimits, create_app  # noqa: E402
from sketchssl.serve.drawing import simplify_drawing, to_strokes  # noqa: E402
from sketchssl.serve.views import dataset_for  # noqa: E402

# A house in canvas pixels: walls, roof, door.
HOUSE = [
    [[100, 300, 300, 100, 100], [200, 200, 380, 380, 200]],
    [[90, 200, 310], [205, 90, 205]],
    [[180, 180, 220, 220], [380, 310, 310, 380]],
]


@pytest.fixture(scope="module")
def service(trained):
    return ModelService.from_paths(trained.bert, gallery=trained.store, heal_checkpoint=trained.rnn)


@pytest.fixture(scope="module")
def client(service):
    return TestClient(create_app(service), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def classifier_client(trained):
    return TestClient(
        create_app(ModelService.from_paths(trained.classifier)), raise_server_exceptions=False
    )


def post(client, path, **body):
    response = client.post(path, json={"drawing": HOUSE, **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_info_says_what_is_loaded(client):
    info = client.get("/api/info").json()
    assert info["method"] == "sketch_bert"
    assert info["classify"] == "knn" and info["complete"] and info["heal"] == "sketch_rnn"
    store = SketchStore.open(client.app.state.service.gallery.store.path)
    assert info["gallery_size"] == len(store.split_indices("train"))
    assert info["classes"] == 14
    # the healer was trained on the doodle store's train split: its classes, by name
    assert info["heal_classes"] == store.classes_in("train")
    assert info["limits"]["max_strokes"] == 256 and info["limits"]["burst"] == 40


def test_embedding_is_what_evaluation_computes_for_the_same_drawing(client, trained, tmp_path):
    # The same drawing as a QuickDraw raw ndjson line, built into a store and embedded the way
    # `sketchssl eval` embeds: the API must give the same vector.
    strokes = [np.stack(stroke, axis=1) for stroke in HOUSE]
    timings = [[[10 * i for i in range(len(stroke))] for stroke in strokes]]
    write_ndjson(tmp_path / "house.ndjson", [strokes], words="house", timings=timings)
    build_store([tmp_path / "house.ndjson"], tmp_path / "house.store", workers=1, progress=False)
    method, run_config = load_method(trained.bert)
    dataset = dataset_for(SketchStore.open(tmp_path / "house.store"), run_config["data"], "all")
    assert len(dataset) == 1
    expected, _ = embed_dataset(method, torch.utils.data.DataLoader(dataset, batch_size=1))
    answer = post(client, "/api/embed")
    assert answer["method"] == "sketch_bert" and answer["dim"] == 32
    np.testing.assert_allclose(answer["embedding"], expected[0].tolist(), atol=1e-5)


def _gallery_reference(trained, query):
    """Gallery embeddings and labels computed apart from the service, and the query's top 20."""
    method, run_config = load_method(trained.bert)
    store = SketchStore.open(trained.store)
    dataset = dataset_for(store, run_config["data"], "train")
    loader = torch.utils.data.DataLoader(dataset, batch_size=16)
    gallery, labels = embed_dataset(method, loader)
    similarity = torch.nn.functional.normalize(gallery, dim=1) @ torch.nn.functional.normalize(
        query, dim=0
    )  # (G,)
    order = torch.argsort(similarity, descending=True)
    return store, dataset.indices, labels, similarity, order


def test_neighbours_are_the_most_similar_gallery_sketches(client, trained):
    query = torch.tensor(post(client, "/api/embed")["embedding"])
    store, indices, _, similarity, order = _gallery_reference(trained, query)
    answer = post(client, "/api/neighbours", k=5)
    found = answer["neighbours"]
    assert [item["index"] for item in found] == [int(indices[i]) for i in order[:5]]
    assert [item["similarity"] for item in found] == pytest.approx(
        similarity[order[:5]].tolist(), abs=1e-3
    )
    first = found[0]
    assert first["name"] == store.label_name(first["index"])
    assert first["drawing"] == [list(map(list, s)) for s in to_strokes(store[first["index"]])]


def test_knn_classification_matches_the_vote_computed_by_hand(client, trained):
    query = torch.tensor(post(client, "/api/embed")["embedding"])
    _, _, labels, similarity, order = _gallery_reference(trained, query)
    top = order[:20]
    votes = knn_class_scores(similarity[top][None], labels[top][None], 14, 0.07)[0]
    shares = votes / votes.sum()
    answer = post(client, "/api/classify")
    assert answer["source"] == "knn" and "kNN" in answer["note"]
    expected = torch.argsort(shares, descending=True, stable=True)[:5]
    assert [entry["index"] for entry in answer["top"]] == expected.tolist()
    assert [entry["score"] for entry in answer["top"]] == pytest.approx(
        shares[expected].tolist(), abs=1e-4
    )
    names = SketchStore.open(trained.store).class_names
    assert [entry["name"] for entry in answer["top"]] == [names[i] for i in expected.tolist()]


def test_a_classifier_head_is_used_when_the_checkpoint_has_one(classifier_client, trained):
    answer = post(classifier_client, "/api/classify")
    assert answer["source"] == "classifier_head"
    method, _ = load_method(trained.classifier)
    views = classifier_client.app.state.service.encoder.views
    probabilities = torch.softmax(
        method.logits(views.batch([simplify_drawing(HOUSE).stroke3]))[0], 0
    )
    expected = torch.argsort(probabilities, descending=True, stable=True)[:5]
    assert [entry["index"] for entry in answer["top"]] == expected.tolist()
    assert [entry["score"] for entry in answer["top"]] == pytest.approx(
        probabilities[expected].tolist(), abs=1e-4
    )
    # no gallery, no Sketch Gestalt Model, no healer: those endpoints say what is missing
    for path, needs in [
        ("/api/neighbours", "--gallery"),
        ("/api/complete", "sketch_bert"),
        ("/api/heal", "--heal-checkpoint"),
    ]:
        response = classifier_client.post(path, json={"drawing": HOUSE})
        assert response.status_code == 404 and needs in response.json()["detail"]


def test_completion_with_nothing_hidden_gives_the_drawing_back(client):
    # keep_prob 1 hides no position, only the last pen state, which the output always closes
    answer = post(client, "/api/complete", keep_prob=1.0)
    assert answer["completion"] == answer["input"]
    assert answer["predicted_points"] == [] and answer["appended_points"] == 0
    assert answer["input"] == [list(map(list, s)) for s in simplify_drawing(HOUSE).strokes]


def test_completion_appends_one_stroke_of_predicted_points(client):
    answer = post(client, "/api/complete", keep_prob=1.0, extend=6)
    assert answer["appended_points"] == 6
    assert answer["completion"][:-1] == answer["input"]
    xs, ys = answer["completion"][-1]
    assert len(xs) == 6
    assert answer["predicted_points"] == [[x, y] for x, y in zip(xs, ys, strict=True)]


def test_completion_fills_in_hidden_points(client):
    answer = post(client, "/api/complete", keep_prob=0.5, seed=3)
    assert answer["hidden_points"] > 0
    assert len(answer["predicted_points"]) == answer["hidden_points"]
    # as many points as drawn (hidden pen states may split or join strokes); the hidden ones
    # are where the model put them
    assert sum(len(xs) for xs, _ in answer["completion"]) == sum(
        len(xs) for xs, _ in answer["input"]
    )
    completed = {(x, y) for xs, ys in answer["completion"] for x, y in zip(xs, ys, strict=True)}
    assert {tuple(point) for point in answer["predicted_points"]} <= completed
    same = post(client, "/api/complete", keep_prob=0.5, seed=3)
    assert same == answer  # seeded masks, deterministic model


def test_healing_corrupts_as_the_healing_protocol_and_is_reproducible(client, service):
    answer = post(client, "/api/heal", mask_prob=0.5, seed=7)
    assert answer["method"] == "sketch_rnn" and "deleted" in answer["note"]
    prepared = service.healer.views.base.prepare(simplify_drawing(HOUSE).stroke3)
    row = make_mask_table(1, PatchConfig().max_patches, 7)[0]
    corrupted = corrupt_inputs([prepared], [row], 0.5)[0]
    points = sum(len(xs) for xs, _ in answer["corrupted"])
    assert points == len(corrupted) + 1  # stroke-3 rows + the implicit first point
    assert answer["healed"] and post(client, "/api/heal", mask_prob=0.5, seed=7) == answer
    # "filled" keeps every point the masked drawing has, where it has it (integer pixels)
    filled = np.array(
        [point for xs, ys in answer["filled"] for point in zip(xs, ys, strict=True)], float
    )
    for xs, ys in answer["corrupted"]:
        for point in zip(xs, ys, strict=True):
            assert np.abs(filled - point).sum(axis=1).min() <= 2.0
    untouched = post(client, "/api/heal", mask_prob=0.0)
    assert untouched["masked_patches"] == 0
    assert untouched["corrupted"] == [list(map(list, s)) for s in simplify_drawing(HOUSE).strokes]


def test_openapi_schema_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    for path in ("/api/embed", "/api/classify", "/api/neighbours", "/api/complete", "/api/heal"):
        operation = schema["paths"][path]["post"]
        assert "requestBody" in operation and {"200", "413", "422", "429"} <= set(
            operation["responses"]
        )
    assert "get" in schema["paths"]["/api/info"]
    drawing = schema["components"]["schemas"]["DrawingRequest"]["properties"]["drawing"]
    assert drawing["maxItems"] == 256 and drawing["minItems"] == 1
    coordinates = drawing["items"]["prefixItems"][0]
    assert coordinates["maxItems"] == 4096
    assert coordinates["items"] == {"type": "integer", "minimum": -32767, "maximum": 32767}
    # the interactive docs pages load scripts from a CDN: switched off
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


def test_the_page_and_its_assets_come_from_the_server_only(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    texts = [page.text]
    for asset in ("/static/app.js", "/static/app.css"):
        response = client.get(asset)
        assert response.status_code == 200
        texts.append(response.text)
    for text in texts:
        urls = [url for url in _urls(text) if url != "http://www.w3.org/2000/svg"]
        assert urls == [], urls


def _urls(text):
    import re

    return re.findall(r"https?://[^\s\"'`)]+", text)


def test_cli_registers_serve():
    from typer.testing import CliRunner

    from sketchssl.cli.app import app
    from sketchssl.cli.serve_cmd import is_loopback

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--checkpoint", "--gallery", "--heal-checkpoint", "--host", "--port"):
        assert option in result.output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


# ------------------------------------------------------------------------------ bad requests
def square(points):
    return [list(range(points)), list(range(points))]


MALFORMED = {
    "not JSON": b"{drawing: nope",
    "deep nesting": b"[" * 100_000,
    "top-level list": json.dumps([HOUSE]),
    "no drawing": json.dumps({"strokes": HOUSE}),
    "unknown key": json.dumps({"drawing": HOUSE, "colour": "red"}),
    "drawing a string": json.dumps({"drawing": "a house"}),
    "no strokes": json.dumps({"drawing": []}),
    "empty stroke": json.dumps({"drawing": [[[], []]]}),
    "stroke of three lists": json.dumps({"drawing": [[[1, 2], [3, 4], [5, 6]]]}),
    "lengths differ": json.dumps({"drawing": [[[1, 2, 3], [3, 4]]]}),
    "NaN": b'{"drawing": [[[1, NaN], [3, 4]]]}',
    "Infinity": b'{"drawing": [[[1, 2], [Infinity, 4]]]}',
    "float": json.dumps({"drawing": [[[1, 2.5], [3, 4]]]}),
    "string number": json.dumps({"drawing": [[[1, "2"], [3, 4]]]}),
    "boolean": json.dumps({"drawing": [[[1, True], [3, 4]]]}),
    "null": json.dumps({"drawing": [[[1, None], [3, 4]]]}),
    "coordinate too large": json.dumps({"drawing": [[[1, 40_000], [3, 4]]]}),
    "huge integer": json.dumps({"drawing": [[[1, 10**30], [3, 4]]]}),
    "too many strokes": json.dumps({"drawing": [[[1, 2], [3, 4]]] * 257}),
    "stroke too long": json.dumps({"drawing": [square(4097)]}),
    "too many points": json.dumps({"drawing": [square(4000)] * 5}),
    "single point": json.dumps({"drawing": [[[7], [7]]]}),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_drawings_get_a_clear_4xx(client, body):
    response = client.post(
        "/api/classify", content=body, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    answer = response.json()
    message = answer.get("message", answer["detail"])
    assert isinstance(message, str) and message
    assert len(response.content) < 4096  # the input is never echoed back


@pytest.mark.parametrize(
    "path, options, key",
    [
        ("/api/neighbours", {"k": 0}, "k"),
        ("/api/neighbours", {"k": "3"}, "k"),
        ("/api/complete", {"keep_prob": 1.5}, "keep_prob"),
        ("/api/complete", {"keep_prob": "0.5"}, "keep_prob"),
        ("/api/complete", {"extend": 65}, "extend"),
        ("/api/heal", {"mask_prob": -0.1}, "mask_prob"),
        ("/api/heal", {"seed": -1}, "seed"),
        ("/api/heal", {"temperature": 0}, "temperature"),
        ("/api/heal", {"greedy": "yes"}, "greedy"),
    ],
)
def test_bad_options_are_named(client, path, options, key):
    response = client.post(path, json={"drawing": HOUSE, **options})
    assert response.status_code == 422
    assert key in response.json()["message"]


def test_a_message_says_which_value_is_wrong(client):
    response = client.post("/api/embed", json={"drawing": [[[1, 2], [3, 4]], [[5, 6.5], [7, 8]]]})
    assert response.json()["message"] == "body.drawing.1.0.1: Input should be a valid integer"


def test_bodies_over_the_limit_are_refused_before_parsing(service):
    client = TestClient(create_app(service, ServerLimits(max_body_bytes=2048)))
    big = json.dumps({"drawing": [square(600)]}).encode()
    assert len(big) > 2048
    response = client.post("/api/embed", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "2048 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit holds for a streamed body too
        for start in range(0, len(big), 512):
            yield big[start : start + 512]

    response = client.post(
        "/api/embed", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    small = client.post("/api/embed", json={"drawing": HOUSE})
    assert small.status_code == 200


def test_requests_over_the_rate_get_429_with_retry_after(service):
    now = [0.0]
    client = TestClient(create_app(service, ServerLimits(rate=1.0, burst=2), clock=lambda: now[0]))
    codes = [client.post("/api/embed", json={"drawing": HOUSE}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = client.post("/api/embed", json={"drawing": HOUSE})
    assert refused.headers["retry-after"] == "1" and "retry in 1 s" in refused.json()["detail"]
    assert client.get("/").status_code == 200  # the page itself is not rate limited
    now[0] = 1.0
    assert client.post("/api/embed", json={"drawing": HOUSE}).status_code == 200


def test_unknown_hosts_are_refused_when_hosts_are_pinned(service):
    client = TestClient(create_app(service, allowed_hosts=["127.0.0.1"]))
    assert client.get("/api/info").status_code == 400  # TestClient sends Host: testserver
    pinned = TestClient(
        create_app(service, allowed_hosts=["127.0.0.1"]), base_url="http://127.0.0.1"
    )
    assert pinned.get("/api/info").status_code == 200
