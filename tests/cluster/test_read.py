"""The read path of the native API against a real cluster (docs/gateway.md "The read path"):
round trips of every strategy and size, Range reads, conditional GET, HEAD, listing, manifests,
readers racing overwrites, corrupted blobs, stopped and killed nodes. The tests that stop or kill
nodes run last: they leave the module's cluster degraded."""
import json
import os
import threading
import time

import pytest
import requests

from readkit import (MiB, delete, flip_last_byte, get, gw, hybrid_doc, manifest,
                     node_ids, put, put_complete, qkey, repair_marks, wait_node_unregistered)

SIZES = [0, 1, 1024, MiB, 20 * MiB]  # 20 MiB: three 8 MiB segments


def payload(size):
    """Random bytes: no period, so a Range answer at a wrong offset cannot pass."""
    return os.urandom(size)


@pytest.mark.parametrize("strategy", ["replication", "ec"])
@pytest.mark.parametrize("size", SIZES)
def test_binary_round_trip_every_size(cluster, strategy, size):
    key = f"rt/{strategy}/{size}"
    data = payload(size)
    res = put(cluster, key, data, strategy=strategy)
    assert res["strategy"] == strategy and res["size"] == size
    for i in (0, 1):  # both gateways
        r = get(cluster, key, i=i)
        assert r.status_code == 200, r.text
        assert r.content == data
        assert r.headers["Content-Length"] == str(size)
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.headers["ETag"] == f'"{res["etag"]}"'
        assert r.headers["X-HS-Strategy"] == strategy
        assert r.headers["X-HS-Version"] == str(res["version"])


@pytest.mark.parametrize("size", [1024, MiB, 20 * MiB])
def test_field_hybrid_round_trip_every_size(cluster, size):
    key = f"rt/hybrid/{size}"
    doc = hybrid_doc(size, like=7)
    res = put(cluster, key, doc, strategy="field_hybrid", ctype="application/json")
    assert res["strategy"] == "field_hybrid"
    r = get(cluster, key)
    assert r.status_code == 200
    assert r.content == doc
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Content-Length"] == str(len(doc))
    assert r.headers["X-HS-Strategy"] == "field_hybrid"
    r = requests.head(f"{gw(cluster)}/v1/objects/{qkey(key)}", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Length"] == str(len(doc))
    m = manifest(cluster, key)
    assert m["hot"] and m["cold"]


@pytest.mark.parametrize("doc", [b'{"like_count":1}', b'{"title":"x"}', b'{}'])
def test_field_hybrid_smallest_documents(cluster, doc):
    """Only hot, only cold, and nothing at all: the empty part is still merged correctly."""
    key = f"rt/hybrid/small/{len(doc)}"
    put(cluster, key, doc, strategy="field_hybrid", ctype="application/json")
    r = get(cluster, key)
    assert r.status_code == 200 and r.content == doc


def test_missing_object_is_404_and_bad_key_400(cluster):
    r = get(cluster, "no/such/object")
    assert r.status_code == 404
    assert r.json()["error"] == "ENOENT"
    assert r.headers["X-Request-Id"] == r.json()["request_id"]
    # every /v1 route that names a key answers a bad one the same way, and touches nothing
    for method, path in [("GET", "objects"), ("PUT", "objects"), ("PATCH", "objects"),
                         ("DELETE", "objects"), ("GET", "manifests")]:
        r = requests.request(method, f"{gw(cluster)}/v1/{path}/bad%01key", data=b"{}",
                             headers={"Content-Type": "application/merge-patch+json"},
                             timeout=10)
        assert r.status_code == 400 and r.json()["error"] == "EINVAL", (method, path, r.text)
        assert "1..1024 bytes of UTF-8" in r.json()["message"], (method, path, r.text)


def test_head_gives_headers_only_and_if_none_match_gives_304(cluster):
    data = os.urandom(5000)
    res = put(cluster, "cond/a", data, strategy="ec", ctype="image/png")
    etag = f'"{res["etag"]}"'
    r = requests.head(f"{gw(cluster)}/v1/objects/cond%2Fa", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == "5000"
    assert r.headers["ETag"] == etag and r.headers["Content-Type"] == "image/png"
    assert r.content == b""
    for inm in [etag, f'W/{etag}', f'"zzz", {etag}', "*"]:
        r = get(cluster, "cond/a", headers={"If-None-Match": inm})
        assert r.status_code == 304, inm
        assert r.content == b"" and r.headers["ETag"] == etag
    r = get(cluster, "cond/a", headers={"If-None-Match": '"other"'})
    assert r.status_code == 200 and r.content == data


@pytest.mark.parametrize("strategy", ["replication", "ec"])
def test_range_reads(cluster, strategy):
    size = 20 * MiB + 12345
    data = payload(size)
    key = f"range/{strategy}"
    put(cluster, key, data, strategy=strategy)
    seg = 8 * MiB
    cases = [("bytes=0-0", 0, 0), (f"bytes={size // 2}-{size // 2 + 99}", size // 2,
                                    size // 2 + 99),
             (f"bytes={size - 1}-", size - 1, size - 1), ("bytes=-1000", size - 1000, size - 1),
             (f"bytes={seg - 10}-{seg + 10}", seg - 10, seg + 10),  # across a segment boundary
             (f"bytes={seg - 5}-{2 * seg + 5}", seg - 5, 2 * seg + 5),  # across two
             ("bytes=123-", 123, size - 1), (f"bytes=100-{size * 2}", 100, size - 1),
             ("bytes=1000000-1000000", 1000000, 1000000)]
    for header, start, end in cases:
        r = get(cluster, key, headers={"Range": header})
        assert r.status_code == 206, (header, r.text[:200])
        assert r.headers["Content-Range"] == f"bytes {start}-{end}/{size}", header
        assert int(r.headers["Content-Length"]) == end - start + 1
        assert r.content == data[start:end + 1], header
    for header in [f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=-0"]:
        r = get(cluster, key, headers={"Range": header})
        assert r.status_code == 416, header
        assert r.json()["error"] == "ERANGE"
        assert r.headers["Content-Range"] == f"bytes */{size}"
    # several ranges are not supported: the whole object
    r = get(cluster, key, headers={"Range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and len(r.content) == size


def test_range_on_small_and_empty_objects(cluster):
    put(cluster, "range/small", b"0123456789", strategy="ec")
    r = get(cluster, "range/small", headers={"Range": "bytes=2-4"})
    assert r.status_code == 206 and r.content == b"234"
    r = get(cluster, "range/small", headers={"Range": "bytes=-3"})
    assert r.status_code == 206 and r.content == b"789"
    put(cluster, "range/empty", b"", strategy="replication")
    r = get(cluster, "range/empty", headers={"Range": "bytes=0-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == "bytes */0"
    r = get(cluster, "range/empty")
    assert r.status_code == 200 and r.content == b""


def test_range_on_field_hybrid(cluster):
    doc = hybrid_doc(3000, like=5)
    put(cluster, "range/hybrid", doc, strategy="field_hybrid", ctype="application/json")
    r = get(cluster, "range/hybrid", headers={"Range": "bytes=0-14"})
    assert r.status_code == 206 and r.content == doc[:15]
    r = get(cluster, "range/hybrid", headers={"Range": "bytes=-2"})
    assert r.status_code == 206 and r.content == b'"}'


def test_listing_pages_with_prefix_start_after_and_limit(cluster):
    keys = sorted(f"list/k{i:03d}" for i in range(25))
    for i, k in enumerate(keys):
        put(cluster, k, b"x" * i, strategy="replication" if i % 2 else "ec")
    put(cluster, "listz", b"outside the prefix")
    seen, after = [], None
    for _ in range(10):
        params = {"prefix": "list/", "limit": "7"}
        if after:
            params["start-after"] = after
        r = requests.get(f"{gw(cluster)}/v1/objects", params=params, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += body["objects"]
        if not body["truncated"]:
            assert body["next_start_after"] is None
            break
        after = body["next_start_after"]
        assert after == body["objects"][-1]["key"]
    assert [o["key"] for o in seen] == keys
    first = seen[3]
    assert first["size"] == 3 and first["strategy"] == "replication"
    assert first["version"] >= 1 and first["etag"] and first["modified_ms"] > 0
    assert first["content_type"] == "application/octet-stream"
    r = requests.get(f"{gw(cluster)}/v1/objects",
                     params={"prefix": "list/", "start-after": "list/k020"}, timeout=10)
    assert [o["key"] for o in r.json()["objects"]] == keys[21:]
    assert r.json()["truncated"] is False
    r = requests.get(f"{gw(cluster)}/v1/objects",
                     params={"prefix": "list/", "start-after": "m"}, timeout=10)
    assert r.json() == {"objects": [], "truncated": False, "next_start_after": None}
    r = requests.get(f"{gw(cluster)}/v1/objects",
                     params={"prefix": "list/", "start-after": "a", "limit": "2"}, timeout=10)
    assert [o["key"] for o in r.json()["objects"]] == keys[:2] and r.json()["truncated"]
    for bad in ["0", "-1", "x"]:
        r = requests.get(f"{gw(cluster)}/v1/objects", params={"limit": bad}, timeout=10)
        assert r.status_code == 400, bad


def test_manifest_route_lists_blobs_with_node_urls(cluster):
    put(cluster, "man/ec", os.urandom(3000), strategy="ec")
    m = manifest(cluster, "man/ec")
    assert m["strategy"] == "ec" and m["size"] == 3000
    urls = {p["url"] for p in cluster.processes("node")}
    blobs = [b for s in m["data"]["segs"] for b in s["blobs"]]
    assert len(blobs) == 6
    assert all(b["url"] in urls for b in blobs)
    assert requests.get(f"{gw(cluster)}/v1/manifests/none", timeout=10).status_code == 404


def test_reader_racing_overwrites_never_sees_a_mix(cluster):
    """A writer alternates two distinct multi-segment values; every complete GET must equal one
    of them (a GET that loses its blobs mid-stream is cut, never completed with other bytes)."""
    a = b"A" * (9 * MiB) + os.urandom(64)
    b = b"B" * (9 * MiB) + os.urandom(64)
    put(cluster, "race/obj", a, strategy="ec")
    stop = threading.Event()
    errors = []

    def writer():
        i = 0
        while not stop.is_set():
            try:
                put(cluster, "race/obj", b if i % 2 == 0 else a, strategy="ec")
            except AssertionError as e:  # noqa: PERF203 - a failed write is a test failure
                errors.append(e)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    ok = cut = 0
    deadline = time.monotonic() + 8
    try:
        while time.monotonic() < deadline:
            try:
                r = get(cluster, "race/obj", i=1)
            except requests.exceptions.RequestException:
                cut += 1
                continue
            assert r.status_code == 200, r.text
            if len(r.content) != int(r.headers["Content-Length"]):
                cut += 1  # the connection was cut after the first byte: allowed, never a mix
                continue
            assert r.content == a or r.content == b, "a GET mixed two versions"
            ok += 1
    finally:
        stop.set()
        t.join(60)
    assert not errors, errors
    assert ok >= 3, (ok, cut)
    print(f"racing reads: {ok} complete, {cut} cut")
    # blobs deleted by a newer version are not a loss: no repair mark for them
    assert "/hybridstore/v1/repair/race/obj" not in repair_marks(cluster)


def test_delete_then_read_is_404(cluster):
    put(cluster, "gone/x", b"bye")
    r = delete(cluster, "gone/x")
    assert r.status_code in (200, 204), r.text
    assert get(cluster, "gone/x").status_code == 404
    assert requests.get(f"{gw(cluster)}/v1/manifests/{qkey('gone/x')}",
                        timeout=10).status_code == 404


def test_reads_fall_back_to_nodes_whose_registration_lapsed(cluster):
    """A node whose registration vanished (its lease lapsed while etcd stalled) but which still
    serves: reads fall back to its last known URL instead of failing for want of live nodes."""
    import base64
    data = payload(4096)
    put_complete(cluster, "lapsed", data, "replication")
    m = manifest(cluster, "lapsed")
    holders = {b["node"] for seg in m["data"]["segs"] for b in seg["blobs"]}
    assert len(holders) == 3
    for node_id in holders:
        key = ("/hybridstore/v1/nodes/" + node_id).encode()
        cluster.etcd_post("/v3/kv/deleterange", {"key": base64.b64encode(key).decode()})
    time.sleep(0.5)  # the gateways' watches drop the three nodes
    r = get(cluster, "lapsed")
    assert r.status_code == 200 and r.content == data
    cluster.wait_nodes_registered(6, timeout=40)  # their next refresh puts the keys back
    time.sleep(0.5)  # and the gateways' watches see them


def test_corrupt_replicas_and_shards_are_read_around(cluster):
    ids = node_ids(cluster)
    data = os.urandom(300000)
    mr = put_complete(cluster, "corrupt/r", data, "replication")
    me = put_complete(cluster, "corrupt/e", data, "ec")
    # two of three replicas, and data shards 0 and 1 (m = 2): parity must rebuild them
    victims = mr["data"]["segs"][0]["blobs"][:2] + me["data"]["segs"][0]["blobs"][:2]
    for blob in victims:
        flip_last_byte(cluster, ids[blob["node"]], blob["id"])
    # Replica reads rotate their first choice per gateway thread, so a read may well pick the
    # healthy replica: read often enough that some read meets a corrupt one ((1/3)^10 to miss).
    # The first read of a corrupt blob finds the corruption, later ones a missing blob.
    for _ in range(10):
        for key in ("corrupt/r", "corrupt/e"):
            r = get(cluster, key)
            assert r.status_code == 200 and r.content == data, key
    r = get(cluster, "corrupt/e", headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == data[1000:2000]
    metrics = requests.get(f"{gw(cluster)}/metrics", timeout=10).text
    degraded = [line for line in metrics.splitlines()
                if line.startswith("hybridstore_gateway_degraded_reads_total ")]
    assert degraded and float(degraded[0].split()[1]) >= 2, degraded
    marks = repair_marks(cluster)
    assert "/hybridstore/v1/repair/corrupt/r" in marks
    assert "/hybridstore/v1/repair/corrupt/e" in marks
    mark = json.loads(marks["/hybridstore/v1/repair/corrupt/e"])  # manifest.h, repair mark
    assert mark == {"ms": mark["ms"], "reason": "degraded_read"} and mark["ms"] > 0


def test_stopped_node_costs_a_timeout_then_fails_over(cluster):
    ids = node_ids(cluster)
    data = os.urandom(200000)
    put_complete(cluster, "stop/r", data, "replication")
    shard0 = put_complete(cluster, "stop/e", data, "ec")["data"]["segs"][0]["blobs"][0]["node"]
    victim = ids[shard0]
    cluster.stop_proc(victim)
    try:
        results = {}

        def read(key):
            results[key] = get(cluster, key, timeout=60)

        threads = [threading.Thread(target=read, args=(k,)) for k in ("stop/r", "stop/e")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        for key in ("stop/r", "stop/e"):
            assert results[key].status_code == 200, results[key].text
            assert results[key].content == data
    finally:
        cluster.cont(victim)
    # its lease may have expired meanwhile: wait until it is back in the live set
    cluster.wait_nodes_registered(6, timeout=40)


def test_killed_nodes_degraded_ec_and_replica_failover(cluster):
    """Kills the holders of data shards 0 and 1 of a multi-segment EC object: EC reads decode
    from parity, replicated reads fail over, at once (connection refused) and after the nodes
    left nodes/ (not live). Runs last: the cluster stays degraded."""
    ids = node_ids(cluster)
    cluster.wait_nodes_registered(6, timeout=40)  # every shard placed on a live node
    big = payload(20 * MiB + 7)
    blobs = put_complete(cluster, "dead/big", big, "ec")["data"]["segs"][0]["blobs"]
    small = {f"dead/r{i}": os.urandom(1000 + i) for i in range(20)}
    for k, v in small.items():
        put_complete(cluster, k, v, "replication")
    doc = hybrid_doc(200000, like=3)
    put_complete(cluster, "dead/h", doc, "field_hybrid", ctype="application/json")
    dead_ids = [blobs[0]["node"], blobs[1]["node"]]
    affected = [k for k in small
                if {b["node"] for b in manifest(cluster, k)["data"]["segs"][0]["blobs"]} &
                set(dead_ids)]
    assert affected, "no replicated object had a replica on the killed nodes"
    for nid in dead_ids:
        cluster.kill(ids[nid])

    def check_all():
        r = get(cluster, "dead/big")
        assert r.status_code == 200 and r.content == big
        r = get(cluster, "dead/big", headers={"Range": f"bytes={8 * MiB - 3}-{8 * MiB + 2}"})
        assert r.status_code == 206 and r.content == big[8 * MiB - 3:8 * MiB + 3]
        r = get(cluster, "dead/big", headers={"Range": "bytes=-5"})
        assert r.status_code == 206 and r.content == big[-5:]
        for k, v in small.items():
            r = get(cluster, k)
            assert r.status_code == 200 and r.content == v, k
        r = get(cluster, "dead/h")
        assert r.status_code == 200 and r.content == doc

    check_all()  # nodes still registered: connections refused
    assert "/hybridstore/v1/repair/dead/big" in repair_marks(cluster)
    for nid in dead_ids:
        wait_node_unregistered(cluster, nid)
    check_all()  # nodes gone from the live set
    # a third loss is one too many for RS(4,2): a clear 503, not wrong bytes
    third = blobs[2]["node"]
    cluster.kill(ids[third])
    r = get(cluster, "dead/big")
    assert r.status_code == 503, r.status_code
    assert r.json()["error"] == "EUNAVAIL"
