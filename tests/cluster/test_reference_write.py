"""The reference API's writes against a real cluster (docs/api.md): every POST /write status
and body field per strategy, what lands on the nodes and in etcd (read without the gateway),
pure hot update vs cold update (field order and white space do not count), hot_only=true,
every bad input (answered, nothing changed) and DELETE /delete/<key> with its counts."""
import json

import pytest
import requests

from writekit import (all_blobs, all_manifests, assert_no_orphans, etcd_kv, gw, manifest,
                      manifest_blobs, manifest_raw, node_url_by_id, qkey, repair_mark,
                      retired_blobs, stored_object, wal_records, ROOT)

JSON = {"Content-Type": "application/json"}


def write(c, key, body, strategy=None, hot_only=None, headers=None, i=0):
    params = {"key": key}
    if strategy is not None:
        params["strategy"] = strategy
    if hot_only is not None:
        params["hot_only"] = hot_only
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(gw(c, i) + "/write", params=params, data=data,
                         headers=headers or JSON, timeout=60)


def state(c):
    """Everything a write could change: manifests, WAL records, repair marks, blobs."""
    return (c.etcd_range(ROOT + "meta/"), c.etcd_range(ROOT + "txn/"),
            c.etcd_range(ROOT + "repair/"), all_blobs(c))


def node_urls(c):
    return {url for url, _ in node_url_by_id(c).values()}


def check_common(r, key, strategy):
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok" and body["key"] == key and body["strategy"] == strategy
    assert isinstance(body["latency_ms"], (int, float)) and body["latency_ms"] >= 0
    return body


def test_replication_write_answers_and_stores_three_replicas(cluster):
    doc = {"user_id": 1001, "name": "ada", "big": 123456789012345678901234567890}
    raw = json.dumps(doc).encode()
    r = write(cluster, "user:1001", raw, "replication")
    body = check_common(r, "user:1001", "replication")
    assert len(body["nodes_written"]) == 3 and len(set(body["nodes_written"])) == 3
    assert set(body["nodes_written"]) <= node_urls(cluster)
    m, data = stored_object(cluster, "user:1001")
    assert data == raw  # byte for byte, the big integer untouched
    assert m["strategy"] == "replication" and m["ver"] == 1 and m["ctype"] == "application/json"
    urls = node_url_by_id(cluster)
    assert {urls[b["node"]][0] for b in m["data"]["segs"][0]["blobs"]} == set(body["nodes_written"])
    # the strategy defaults to replication
    r = write(cluster, "default-strategy", {"a": 1})
    check_common(r, "default-strategy", "replication")
    assert manifest(cluster, "default-strategy")["ver"] == 1


def test_ec_write_answers_chunks_and_stores_shards_with_parity(cluster):
    raw = json.dumps({"blob": "x" * 300_000, "n": 7}).encode()
    r = write(cluster, "image.png", raw, "ec")
    body = check_common(r, "image.png", "ec")
    assert body["chunks_written"] == 6 and body["total_chunks"] == 6
    m, data = stored_object(cluster, "image.png")  # data shards joined, parity recomputed
    assert data == raw
    assert m["data"]["k"] == 4 and m["data"]["m"] == 2
    assert len({b["node"] for b in m["data"]["segs"][0]["blobs"]}) == 6


def test_hybrid_write_fields_then_pure_hot_then_cold_update(cluster):
    first = b'{"user_id": 1, "view_count": 50, "bio": "long text", "tags": [1, 2]}'
    r = write(cluster, "user:1", first, "field_hybrid")
    body = check_common(r, "user:1", "field_hybrid")
    assert body["is_pure_hot_update"] is False and body["operation_type"] == "Cold Update"
    assert len(body["hot_nodes_written"]) == 3 and body["cold_chunks_written"] == 6
    assert len(body["trace_id"]) == 32
    m1, (hot, cold) = stored_object(cluster, "user:1")
    assert json.loads(hot) == {"view_count": 50}
    assert json.loads(cold) == {"user_id": 1, "bio": "long text", "tags": [1, 2]}
    assert m1["txn"] == body["trace_id"]

    # fields reordered, white space changed, only the hot value differs: pure hot update
    second = b'{ "tags":[1,2],"view_count":51,\n "bio":"long text","user_id":1 }'
    r = write(cluster, "user:1", second, "field_hybrid")
    body = check_common(r, "user:1", "field_hybrid")
    assert body["is_pure_hot_update"] is True and body["operation_type"] == "Pure Hot Update"
    assert body["cold_chunks_written"] == 0 and len(body["hot_nodes_written"]) == 3
    m2, (hot, _) = stored_object(cluster, "user:1")
    assert m2["ver"] == 2 and m2["cold"] == m1["cold"]  # the very same cold blobs
    assert json.loads(hot) == {"view_count": 51}
    old_hot = manifest_blobs(m1) - manifest_blobs(m2)
    assert old_hot and old_hot <= retired_blobs(cluster)  # retired: swept after the grace
    r = requests.get(gw(cluster) + "/read/user:1", timeout=10)
    assert r.status_code == 200 and r.json() == json.loads(second)

    # a changed cold value (even a number's spelling) is a cold update
    third = b'{"tags":[1,2],"view_count":51,"bio":"long text","user_id":1.0}'
    r = write(cluster, "user:1", third, "field_hybrid")
    body = check_common(r, "user:1", "field_hybrid")
    assert body["is_pure_hot_update"] is False and body["cold_chunks_written"] == 6
    m3, (_, cold) = stored_object(cluster, "user:1")
    assert m3["ver"] == 3 and m3["cold"] != m1["cold"] and b'"user_id":1.0' in cold


def test_hot_only_with_changed_cold_part_is_409_and_writes_nothing(cluster):
    doc = {"title": "t", "like_count": 1}
    assert write(cluster, "hot-only", doc, "field_hybrid").status_code == 200
    before = state(cluster)
    r = write(cluster, "hot-only", {"title": "changed", "like_count": 2}, "field_hybrid",
              hot_only="true")
    assert r.status_code == 409, r.text
    assert r.json()["error"]
    assert state(cluster) == before
    r = write(cluster, "hot-only", {"like_count": 3, "title": "t"}, "field_hybrid",
              hot_only="true")
    assert r.status_code == 200 and r.json()["is_pure_hot_update"] is True
    # a key stored another way has no cold part to keep
    assert write(cluster, "hot-only-rep", doc, "replication").status_code == 200
    before = state(cluster)
    r = write(cluster, "hot-only-rep", doc, "field_hybrid", hot_only="true")
    assert r.status_code == 409 and state(cluster) == before


@pytest.mark.parametrize("params,body,headers,status,answer", [
    ({"strategy": "replication"}, b'{"a":1}', JSON, 400, None),
    ({"key": "", "strategy": "replication"}, b'{"a":1}', JSON, 400, None),
    ({"key": "k", "strategy": "raid5"}, b'{"a":1}', JSON, 422, {"error": "Invalid strategy"}),
    ({"key": "k", "strategy": ""}, b'{"a":1}', JSON, 422, {"error": "Invalid strategy"}),
    ({"key": "k"}, b'{"a":1}', {"Content-Type": "text/plain"}, 415,
     {"error": "Invalid Content-Type", "detail": "Must be application/json"}),
    ({"key": "k"}, b'{"a":1}', {}, 415,
     {"error": "Invalid Content-Type", "detail": "Must be application/json"}),
    ({"key": "k"}, b'{"a":1', JSON, 422, {"error": "Invalid JSON body"}),
    ({"key": "k"}, b'{}', JSON, 422, {"error": "Invalid JSON body"}),
    ({"key": "k"}, b' { } ', JSON, 422, {"error": "Invalid JSON body"}),
    ({"key": "k"}, b'[1,2]', JSON, 422, {"error": "Invalid JSON body"}),
    ({"key": "k"}, b'', JSON, 422, {"error": "Invalid JSON body"}),
    ({"key": "k", "strategy": "field_hybrid"}, b'{"a":1,"a":2}', JSON, 422,
     {"error": "Invalid JSON body"}),
    ({"key": "k" * 1025}, b'{"a":1}', JSON, 400, None),
    ({"key": "bad\x01key"}, b'{"a":1}', JSON, 400, None),
    ({"key": "bad\x7fkey"}, b'{"a":1}', JSON, 400, None),
])
def test_bad_inputs_answer_their_error_and_change_nothing(cluster, params, body, headers,
                                                          status, answer):
    before = state(cluster)
    r = requests.post(gw(cluster) + "/write", params=params, data=body, headers=headers,
                      timeout=30)
    assert r.status_code == status, r.text
    if answer is not None:
        assert r.json() == answer
    else:
        assert "error" in r.json()
    assert state(cluster) == before


def test_invalid_utf8_key_is_400_and_changes_nothing(cluster):
    before = state(cluster)
    r = requests.post(gw(cluster) + "/write?key=%ff%fe&strategy=replication", data=b'{"a":1}',
                      headers=JSON, timeout=30)
    assert r.status_code == 400, r.text
    assert state(cluster) == before


def test_content_type_parameters_are_accepted(cluster):
    r = write(cluster, "charset", {"a": "é"}, headers={"Content-Type":
                                                      "application/json; charset=utf-8"})
    check_common(r, "charset", "replication")


@pytest.mark.parametrize("strategy,counts", [
    ("replication", {"nodes_deleted": 3}),
    ("ec", {"chunks_deleted": 6}),
    ("field_hybrid", {"hot_nodes_deleted": 3, "cold_chunks_deleted": 6}),
])
def test_delete_removes_manifest_and_blobs_with_counts(cluster, strategy, counts):
    key = f"del/{strategy}"
    assert write(cluster, key, {"like_count": 1, "body": "b" * 1000}, strategy).status_code == 200
    m = manifest(cluster, key)
    r = requests.delete(gw(cluster, 1) + "/delete/" + qkey(key), timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok" and body["key"] == key and body["strategy"] == strategy
    assert isinstance(body["latency_ms"], (int, float))
    for name, n in counts.items():
        assert body[name] == n, body
    assert manifest(cluster, key) is None and repair_mark(cluster, key) is None
    assert not manifest_blobs(m) & all_blobs(cluster)  # removed before the answer
    r = requests.get(gw(cluster) + "/read/" + qkey(key), timeout=10)
    assert r.status_code == 404


def test_delete_of_unknown_key_is_200_key_not_found(cluster):
    r = requests.delete(gw(cluster) + "/delete/never-written", timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["key"] == "never-written" and body["detail"] == "key_not_found"


def test_rewrites_replace_versions_and_leave_no_orphans(cluster):
    for i in range(3):
        for strategy in ("replication", "ec", "field_hybrid"):
            r = write(cluster, f"again/{strategy}", {"like_count": i, "v": strategy * (i + 1)},
                      strategy, i=i % 2)
            assert r.status_code == 200, r.text
    for strategy in ("replication", "ec", "field_hybrid"):
        assert manifest(cluster, f"again/{strategy}")["ver"] == 3
    assert all_manifests(cluster)
    assert not wal_records(cluster)
    assert_no_orphans(cluster)
    _, rev = manifest_raw(cluster, "again/ec")
    assert rev > 0 and etcd_kv(cluster, ROOT + "meta/nothing")[0] is None
