"""The reference API's read side against a real cluster (docs/api.md): GET /read/<key> after
POST /write for every strategy (bytes exactly as written: large integers, unicode, escapes),
404 bodies, /health, /node_status (also with a dead node) and /storage_usage (back to 0 once
everything is deleted and the healer has swept the blobs of replaced versions)."""
import json
import socket

import pytest
import requests

from cluster import start_with_env
from harness import wait_until
from readkit import gw, qkey, stats


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The default cluster plus one healer that sweeps retired blobs after 1 s."""
    env = {"HS_HEALER_RETIRE_GRACE": "1s", "HS_HEALER_PASS_INTERVAL": "300ms"}
    c = start_with_env(str(tmp_path_factory.mktemp("refread")), env, nodes=6, gateways=2, healers=1)
    yield c
    c.stop()

DOC = ('{"id": 123456789012345678901234567890, "price": 1.000000000000000000001,'
       ' "name": "Gr\\u00fc\\u00dfe \u00fcber \U0001F600 \\"quoted\\" \\\\ back",'
       ' "tags": ["a", {"nested": [1, 2.5e-300, null, true]}], "like_count": 42,'
       ' "view_count": -0.0}')


def write(c, key, body, strategy, ctype="application/json", i=0):
    return requests.post(f"{gw(c, i)}/write", params={"key": key, "strategy": strategy},
                         data=body.encode() if isinstance(body, str) else body,
                         headers={"Content-Type": ctype}, timeout=60)


def read(c, key, i=0):
    return requests.get(f"{gw(c, i)}/read/{qkey(key)}", timeout=60)


@pytest.mark.parametrize("strategy", ["replication", "ec", "field_hybrid"])
def test_write_then_read_gives_the_document_byte_for_byte(cluster, strategy):
    key = f"ref/{strategy}/doc"
    r = write(cluster, key, DOC, strategy)
    assert r.status_code == 200, r.text
    for i in (0, 1):
        r = read(cluster, key, i=i)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        body = r.content.decode()
        if strategy == "field_hybrid":
            # members come back in the original order with the client's exact value bytes;
            # only the whitespace between top-level members is not kept
            assert json.loads(body) == json.loads(DOC)
            assert '"id":123456789012345678901234567890' in body
            assert '"price":1.000000000000000000001' in body
            assert list(json.loads(body)) == list(json.loads(DOC))
        else:
            assert body == DOC
        assert "123456789012345678901234567890" in body


def test_large_document_round_trips(cluster):
    doc = json.dumps({"like_count": 1, "blob": "x" * (3 << 20), "n": 10 ** 40})
    for strategy in ("replication", "ec", "field_hybrid"):
        key = f"ref/big/{strategy}"
        assert write(cluster, key, doc, strategy).status_code == 200
        r = read(cluster, key)
        assert r.status_code == 200
        assert json.loads(r.content) == json.loads(doc)
        if strategy != "field_hybrid":
            assert r.content == doc.encode()


def test_overwrite_reads_the_new_version(cluster):
    assert write(cluster, "ref/over", '{"v": 1}', "ec").status_code == 200
    assert write(cluster, "ref/over", '{"v": 2, "like_count": 3}', "replication").status_code == 200
    assert read(cluster, "ref/over").content == b'{"v": 2, "like_count": 3}'


def test_unknown_key_is_404_with_the_reference_body(cluster):
    for key in ["nope", "with space", "ünï/cødé"]:
        r = read(cluster, key)
        assert r.status_code == 404
        assert r.json() == {"detail": f"Metadata not found for key '{key}'"}


def test_health(cluster):
    r = requests.get(f"{gw(cluster)}/health", timeout=5)
    assert r.status_code == 200
    assert r.json() == {"status": "healthy", "service": "api_gateway",
                        "hostname": socket.gethostname()}


def test_storage_usage_counts_payload_bytes(cluster):
    r = requests.get(f"{gw(cluster)}/storage_usage", timeout=10)
    assert r.status_code == 200
    u = r.json()
    assert set(u) == {"total_system_size", "active_nodes_with_data", "total_nodes_queried"}
    assert u["total_nodes_queried"] == 6
    assert u["total_system_size"] == sum(stats(cluster, p["name"])["payload_bytes"]
                                         for p in cluster.processes("node"))
    assert u["total_system_size"] > 0 and u["active_nodes_with_data"] >= 3


def test_storage_usage_is_zero_after_deleting_everything(cluster):
    keys = []
    after = None
    while True:
        params = {"start-after": after} if after else {}
        body = requests.get(f"{gw(cluster)}/v1/objects", params=params, timeout=10).json()
        keys += [o["key"] for o in body["objects"]]
        if not body["truncated"]:
            break
        after = body["next_start_after"]
    assert keys
    for k in keys:
        r = requests.delete(f"{gw(cluster)}/delete/{qkey(k)}", timeout=30)
        assert r.status_code == 200, r.text
    # the deletes gave their blobs back at once; replaced versions' blobs go with the sweeper
    want = {"total_system_size": 0, "active_nodes_with_data": 0, "total_nodes_queried": 6}
    wait_until(lambda: requests.get(f"{gw(cluster)}/storage_usage", timeout=10).json() == want,
               timeout=30, interval=0.5, what="/storage_usage back to 0")


def test_node_status_lists_every_node_and_marks_a_dead_one(cluster):
    urls = sorted(p["url"] for p in cluster.processes("node"))
    r = requests.get(f"{gw(cluster)}/node_status", timeout=10)
    assert r.status_code == 200
    assert r.json() == {u: "healthy" for u in urls}
    cluster.kill("node5")  # still registered until its lease expires: probed and unhealthy
    st = requests.get(f"{gw(cluster)}/node_status", timeout=10).json()
    dead = cluster.node_url(5)
    assert st.get(dead, "unhealthy") == "unhealthy"
    assert all(st[u] == "healthy" for u in urls if u != dead)
