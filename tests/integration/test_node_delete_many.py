"""POST /v1/blobs/delete (docs/node.md): one request deleting many blobs on a real node."""
import os

import pytest
import requests

from harness import Node

DELETE_MANY = "/v1/blobs/delete"


@pytest.fixture(params=["files", "volume"])
def node(tmp_path, request):
    n = Node(str(tmp_path), extra=["--small-blob-store", request.param])
    yield n
    assert n.stop() == 0, n.proc.read_log()[-3000:]


def put(node, s, blob_id, data=b"x"):
    assert s.put(node.blob_url(blob_id), data=data).status_code == 201


def test_batch_of_existing_missing_and_invalid_ids(node):
    s = node.session()
    present = [f"0a1b.{i}.0" for i in range(5)]
    for b in present:
        put(node, s, b, os.urandom(100))
    put(node, s, "0a1c.0.0")  # not in the batch: must survive
    missing = ["0a1b.9.9", "0fff.0.0"]
    invalid = ["ABC", "../x", ".hidden"]
    body = "\n".join(present + missing[:1] + invalid + missing[1:]) + "\r\n\n"
    r = s.post(node.url + DELETE_MANY, data=body.encode())
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["deleted"] == 5 and j["missing"] == 2, j
    assert sorted(f["id"] for f in j["failed"]) == sorted(invalid)
    assert all(f["error"] == "EINVAL" for f in j["failed"])
    for b in present:
        assert s.head(node.blob_url(b)).status_code == 404
    assert s.head(node.blob_url("0a1c.0.0")).status_code == 200
    # a second time: everything is missing, which counts as done
    r = s.post(node.url + DELETE_MANY, data="\n".join(present).encode())
    assert r.json() == {"deleted": 0, "missing": 5, "failed": []}
    assert s.get(node.url + "/v1/stats").json()["ops"]["deletes"] == 5


def test_empty_body_deletes_nothing(node):
    r = node.session().post(node.url + DELETE_MANY, data=b"")
    assert r.status_code == 200 and r.json() == {"deleted": 0, "missing": 0, "failed": []}


def test_needs_the_cluster_secret(node):
    put(node, node.session(), "0a1b.0.0")
    r = requests.post(node.url + DELETE_MANY, data=b"0a1b.0.0\n")
    assert r.status_code == 401 and r.json()["error"] == "EAUTH"
    assert node.session().head(node.blob_url("0a1b.0.0")).status_code == 200


def test_too_many_ids_or_bytes_are_refused_before_any_delete(node):
    s = node.session()
    put(node, s, "0a1b.0.0")
    r = s.post(node.url + DELETE_MANY, data=("0a1b.0.0\n" * 4097).encode())
    assert r.status_code == 413 and r.json()["error"] == "ETOOBIG"
    r = s.post(node.url + DELETE_MANY, data=b"0a1b.0.0\n" + b"a" * (1 << 20))
    assert r.status_code == 413
    assert s.head(node.blob_url("0a1b.0.0")).status_code == 200
    # the exact limit is fine
    r = s.post(node.url + DELETE_MANY, data=("0a1b.0.0\n" * 4096).encode())
    assert r.status_code == 200 and r.json()["deleted"] == 1 and r.json()["missing"] == 4095


def test_get_of_the_path_is_a_bad_blob_id_not_a_batch(node):
    r = node.session().get(node.url + DELETE_MANY)
    assert r.status_code == 400 and r.json()["error"] == "EINVAL"
