"""The native write path against a real cluster: PUT/DELETE /v1/objects with conditions and the
auto strategy, large objects streamed in segments with bounded gateway memory, concurrent
writers to one key (one of the written values wins, no orphan blobs, no WAL record left), a
stopped node (writes still succeed, repair/<key> marked) and three stopped nodes (503, the old
version untouched). Content is checked from the blobs on the nodes, not through the gateway."""
import base64
import hashlib
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cluster import HsCluster
from harness import wait_until
from writekit import (MiB, all_blobs, assert_no_orphans, gw, manifest, manifest_blobs,
                      manifest_raw, node_url_by_id, qkey, repair_mark, stored_object,
                      vm_hwm_kib, wait_all_nodes, wal_records)

NODE_TIMEOUT = "2s"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A short node timeout, so that writes to a stopped node give up in 2 s (the gateways
    inherit HS_GATEWAY_NODE_TIMEOUT from the launcher)."""
    old = os.environ.get("HS_GATEWAY_NODE_TIMEOUT")
    os.environ["HS_GATEWAY_NODE_TIMEOUT"] = NODE_TIMEOUT
    try:
        c = HsCluster(str(tmp_path_factory.mktemp("cluster")), nodes=6, gateways=2, healers=0)
        c.start()
    finally:
        if old is None:
            del os.environ["HS_GATEWAY_NODE_TIMEOUT"]
        else:
            os.environ["HS_GATEWAY_NODE_TIMEOUT"] = old
    yield c
    c.stop()


def url(c, key, i=0):
    return f"{gw(c, i)}/v1/objects/{qkey(key)}"


def put(c, key, data, strategy=None, ctype="application/octet-stream", headers=None, i=0,
        params=None):
    h = {"Content-Type": ctype}
    h.update(headers or {})
    p = dict(params or {})
    if strategy:
        p["strategy"] = strategy
    return requests.put(url(c, key, i), data=data, headers=h, params=p, timeout=300)


def test_put_creates_201_then_replaces_200_with_etag(cluster):
    r = put(cluster, "n/a", b"hello")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body == {"key": "n/a", "etag": body["etag"], "version": 1, "strategy": "replication",
                    "size": 5}
    assert r.headers["ETag"] == '"%s"' % body["etag"]
    r = put(cluster, "n/a", b"world!", i=1)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["size"] == 6
    m, data = stored_object(cluster, "n/a")
    assert data == b"world!" and m["ctype"] == "application/octet-stream"
    assert m["etag"] == r.json()["etag"]


def test_auto_strategy_picks_by_size_and_hot_fields(cluster):
    assert put(cluster, "auto/small", os.urandom(1000)).json()["strategy"] == "replication"
    assert put(cluster, "auto/large", os.urandom(MiB + 1)).json()["strategy"] == "ec"
    doc = json.dumps({"like_count": 1, "title": "x"}).encode()
    r = put(cluster, "auto/doc", doc, ctype="application/json")
    assert r.json()["strategy"] == "field_hybrid"
    r = put(cluster, "auto/plain-json", b'{"title":"no hot field"}', ctype="application/json")
    assert r.json()["strategy"] == "replication"
    # chunked bodies (no Content-Length) are decided as they arrive
    r = put(cluster, "auto/chunked", (bytes([i]) * 65536 for i in range(40)))
    assert r.status_code == 201 and r.json()["strategy"] == "ec"
    _, data = stored_object(cluster, "auto/chunked")
    assert data == b"".join(bytes([i]) * 65536 for i in range(40))
    r = put(cluster, "auto/x-hs", b"abc", headers={"X-HS-Strategy": "ec"})
    assert r.json()["strategy"] == "ec"


def test_content_type_and_empty_object_round_trip(cluster):
    r = put(cluster, "empty", b"", strategy="ec", ctype="image/png")
    assert r.status_code == 201 and r.json()["size"] == 0
    m, data = stored_object(cluster, "empty")
    assert data == b"" and m["ctype"] == "image/png"


def test_conditional_puts(cluster):
    etag = put(cluster, "cond", b"v1").json()["etag"]
    r = put(cluster, "cond", b"v2", headers={"If-Match": '"nope"'})
    assert r.status_code == 412 and r.json()["error"] == "EPRECONDITION"
    r = put(cluster, "cond", b"v2", headers={"If-None-Match": "*"})
    assert r.status_code == 412
    r = put(cluster, "cond-absent", b"v", headers={"If-Match": '"%s"' % etag})
    assert r.status_code == 412 and manifest(cluster, "cond-absent") is None
    r = put(cluster, "cond-absent", b"v", headers={"If-Match": "*"})
    assert r.status_code == 412
    r = put(cluster, "cond", b"v2", headers={"If-Match": '"%s"' % etag})
    assert r.status_code == 200 and stored_object(cluster, "cond")[1] == b"v2"
    r = put(cluster, "cond-new", b"v", headers={"If-None-Match": "*"})
    assert r.status_code == 201
    assert not wal_records(cluster)


def test_bad_native_puts_answer_json_errors_and_change_nothing(cluster):
    before = (cluster.etcd_range("/hybridstore/v1/meta/"), all_blobs(cluster))
    cases = [
        (url(cluster, "k") + "?strategy=raid5", b"x", {}, 400),
        (gw(cluster) + "/v1/objects/" + "k" * 1025, b"x", {}, 400),
        (gw(cluster) + "/v1/objects/%ff", b"x", {}, 400),
        (gw(cluster) + "/v1/objects/a%01b", b"x", {}, 400),
        (url(cluster, "k") + "?strategy=field_hybrid", b"[1]", {}, 422),
        (url(cluster, "k") + "?strategy=field_hybrid", b'{"a":', {}, 422),
        (url(cluster, "k"), b"x", {"If-Match": 'W/"weak"'}, 400),
    ]
    for u, data, headers, status in cases:
        r = requests.put(u, data=data, headers=headers, timeout=30)
        assert r.status_code == status, (u, r.text)
        body = r.json()
        assert set(body) == {"error", "message", "request_id"}, body
        assert r.headers["X-Request-Id"] == body["request_id"]
    assert (cluster.etcd_range("/hybridstore/v1/meta/"), all_blobs(cluster)) == before
    assert not wal_records(cluster)


def test_native_delete(cluster):
    etag = put(cluster, "gone", b"bye", strategy="ec").json()["etag"]
    m = manifest(cluster, "gone")
    r = requests.delete(url(cluster, "gone"), headers={"If-Match": '"other"'}, timeout=30)
    assert r.status_code == 412 and manifest(cluster, "gone") is not None
    r = requests.delete(url(cluster, "gone"), headers={"If-Match": '"%s"' % etag}, timeout=30)
    assert r.status_code == 204 and r.content == b""
    assert manifest(cluster, "gone") is None
    assert not manifest_blobs(m) & all_blobs(cluster)
    r = requests.delete(url(cluster, "gone"), timeout=30)
    assert r.status_code == 404 and r.json()["error"] == "ENOENT"


def test_multi_segment_objects_are_stored_segment_by_segment(cluster):
    data = os.urandom(19 * MiB + 12345)  # 3 segments of 8 MiB, the last one partial
    for strategy in ("replication", "ec"):
        r = put(cluster, f"big/{strategy}", data, strategy=strategy)
        assert r.status_code == 201, r.text
        m, stored = stored_object(cluster, f"big/{strategy}")
        assert len(m["data"]["segs"]) == 3 and stored == data


def test_streamed_100mib_put_keeps_gateway_memory_bounded(cluster):
    pid = cluster.processes("gateway")[0]["pid"]
    before = vm_hwm_kib(pid)
    digest = hashlib.sha256()
    chunk = os.urandom(MiB)

    def body():
        for i in range(100):
            piece = bytes([i]) + chunk[1:]
            digest.update(piece)
            yield piece

    r = put(cluster, "huge", body())  # chunked: auto picks ec once past the threshold
    assert r.status_code == 201, r.text
    assert r.json()["size"] == 100 * MiB and r.json()["strategy"] == "ec"
    after = vm_hwm_kib(pid)
    print(f"gateway VmHWM before {before} KiB, after a 100 MiB PUT {after} KiB")
    assert after < 200 * 1024, f"gateway peak RSS {after} KiB (before {before} KiB)"
    m = manifest(cluster, "huge")
    assert len(m["data"]["segs"]) == 13 and m["size"] == 100 * MiB
    r = requests.get(url(cluster, "huge"), timeout=300)
    if r.status_code == 200:  # the read path (another module) is there: compare end to end
        assert hashlib.sha256(r.content).digest() == digest.digest()
    requests.delete(url(cluster, "huge"), timeout=60)


def test_client_gone_mid_upload_leaves_nothing(cluster):
    """A streamed PUT whose client disconnects after a segment went to the nodes: the blobs
    already stored and the WAL record are removed, nothing becomes visible."""
    import socket
    host, port = gw(cluster).split("//")[1].split(":")
    before = all_blobs(cluster)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"PUT /v1/objects/cut?strategy=ec HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: %d\r\n\r\n" % (20 * MiB))
    sock.sendall(os.urandom(8 * MiB))
    # Keep a trickle going until the first segment's shards are on the nodes (the gateway must
    # be mid-upload, not waiting for the body, when the client goes away).
    deadline = time.monotonic() + 20
    while len(all_blobs(cluster) - before) < 6:
        assert time.monotonic() < deadline, "the first segment never reached the nodes"
        sock.sendall(b"x" * 4096)
        time.sleep(0.05)
    sock.close()
    wait_until(lambda: not wal_records(cluster), timeout=15, what="clean-up after the client left")
    assert manifest(cluster, "cut") is None
    assert_no_orphans(cluster)


def test_concurrent_writers_to_one_key_end_in_one_value_without_orphans(cluster):
    values = [os.urandom(3000 + i) for i in range(8)]
    with ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(lambda iv: put(cluster, "race", iv[1], strategy=("replication", "ec")
                                        [iv[0] % 2], i=iv[0] % 2), enumerate(values)))
    assert all(r.status_code in (200, 201) for r in rs), [r.text for r in rs]
    assert sorted(r.json()["version"] for r in rs) == list(range(1, 9))
    m, data = stored_object(cluster, "race")
    assert data in values and m["ver"] == 8
    assert_no_orphans(cluster)


def test_concurrent_hot_and_cold_updates_stay_consistent(cluster):
    """Pure hot updates race with cold updates: a hot update whose reused cold blobs were
    replaced meanwhile must write its cold part, so every version reads back whole."""
    key = "race-hybrid"
    base = {"title": "a" * 2000, "like_count": 0}
    assert put(cluster, key, json.dumps(base), strategy="field_hybrid").status_code == 201
    for rnd in range(6):
        docs = []
        for j in range(4):
            d = dict(base, like_count=rnd * 10 + j)
            if j % 2:
                d["title"] = f"cold-{rnd}-{j}-" + "b" * 2000
            docs.append(json.dumps(d))
        with ThreadPoolExecutor(4) as ex:
            rs = list(ex.map(lambda jd: put(cluster, key, jd[1], strategy="field_hybrid",
                                            i=jd[0] % 2), enumerate(docs)))
        assert all(r.status_code == 200 for r in rs), [r.text for r in rs]
        m, (hot, cold) = stored_object(cluster, key)
        merged = dict(json.loads(cold), **json.loads(hot))
        assert json.dumps(merged, sort_keys=True) in {json.dumps(json.loads(d), sort_keys=True)
                                                       for d in docs}
    assert_no_orphans(cluster)


def test_cluster_settings_in_etcd_override_the_flags(cluster):
    key = "/hybridstore/v1/config/replicas"
    cluster.etcd_put(key, "2")
    try:
        def replicas():
            assert put(cluster, "cfg", b"x", strategy="replication").status_code in (200, 201)
            return manifest(cluster, "cfg")["data"]["replicas"] == 2
        wait_until(replicas, timeout=10, what="config/replicas=2 to apply")
        assert len(manifest(cluster, "cfg")["data"]["segs"][0]["blobs"]) == 2
    finally:
        cluster.etcd_post("/v3/kv/deleterange", {"key": base64.b64encode(key.encode()).decode()})
    wait_until(lambda: put(cluster, "cfg", b"y", strategy="replication").ok and
               manifest(cluster, "cfg")["data"]["replicas"] == 3, timeout=10,
               what="the flag's replicas again")
    assert_no_orphans(cluster)


def replica_nodes(c, key, part="data"):
    m = manifest(c, key)
    return [b["node"] for b in m[part]["segs"][0]["blobs"]]


def test_one_stopped_node_writes_succeed_degraded_and_mark_repair(cluster):
    c = cluster
    wait_all_nodes(c)
    ids = node_url_by_id(c)
    assert put(c, "deg/rep", b"r0", strategy="replication").status_code == 201
    victim = replica_nodes(c, "deg/rep")[0]
    hyb = None
    for i in range(40):  # a hybrid key whose hot replicas include the victim too
        key = f"deg/hyb{i}"
        assert put(c, key, json.dumps({"like_count": 0, "t": "x"}),
                   strategy="field_hybrid").status_code == 201
        if victim in replica_nodes(c, key, "hot"):
            hyb = key
            break
    assert hyb, "no hybrid key placed on the victim"
    assert put(c, "deg/ec", b"e0", strategy="ec").status_code == 201
    name = ids[victim][1]
    c.send_signal(name, signal.SIGSTOP)
    try:
        jobs = [("deg/rep", b"r1", "replication", "application/octet-stream"),
                ("deg/ec", b"e1" * 1000, "ec", "application/octet-stream"),
                (hyb, json.dumps({"like_count": 1, "t": "y"}), "field_hybrid",
                 "application/json")]
        t0 = time.monotonic()
        with ThreadPoolExecutor(3) as ex:  # in parallel: before the victim's lease expires
            rs = list(ex.map(lambda j: put(c, j[0], j[1], strategy=j[2], ctype=j[3]), jobs))
        assert time.monotonic() - t0 < 10  # one node timeout, not one per blob
        for (key, data, strategy, _), r in zip(jobs, rs):
            assert r.status_code == 200, (key, r.text)
            assert repair_mark(c, key) is not None, key
            m = manifest(c, key)
            assert m["ver"] == 2
        # the reference API reports what was stored
        r = requests.post(gw(c) + "/write", params={"key": "deg/rep", "strategy": "replication"},
                          json={"a": 1}, timeout=30)
        if r.status_code == 200 and victim in replica_nodes(c, "deg/rep"):
            assert len(r.json()["nodes_written"]) == 2
    finally:
        c.send_signal(name, signal.SIGCONT)
    wait_all_nodes(c)
    m = manifest(c, "deg/ec")
    blobs = all_blobs(c)
    missing = [b for b in m["data"]["segs"][0]["blobs"] if (b["id"], b["node"]) not in blobs]
    assert len(missing) <= 1 and all(b["node"] == victim for b in missing)
    r = requests.get(url(c, "deg/ec"), timeout=30)
    if r.status_code == 200:  # the read path (another module) is there
        assert r.content == b"e1" * 1000


def test_write_rolled_back_meanwhile_answers_503_and_commits_nothing(cluster):
    """The healer rolls a stalled write back by deleting its WAL record: the commit's compare
    on version(txn/<id>) then fails, the gateway removes its blobs and answers 503."""
    c = cluster
    wait_all_nodes(c)
    ids = node_url_by_id(c)
    assert put(c, "fence", b"old", strategy="replication").status_code in (200, 201)
    before = manifest_raw(c, "fence")
    name = ids[replica_nodes(c, "fence")[0]][1]
    c.send_signal(name, signal.SIGSTOP)  # the write waits NODE_TIMEOUT for this replica
    try:
        with ThreadPoolExecutor(1) as ex:
            fut = ex.submit(put, c, "fence", b"new", "replication")
            recs = wait_until(lambda: wal_records(c), timeout=5, what="the write's WAL record")
            for key in recs:
                c.etcd_post("/v3/kv/deleterange",
                            {"key": base64.b64encode(key.encode()).decode()})
            r = fut.result()
        assert r.status_code == 503, r.text
        assert "rolled back" in r.json()["message"]
        assert manifest_raw(c, "fence") == before
    finally:
        c.send_signal(name, signal.SIGCONT)
    wait_all_nodes(c)
    assert stored_object(c, "fence")[1] == b"old"


def test_three_stopped_nodes_answer_503_and_keep_the_old_version(cluster):
    c = cluster
    wait_all_nodes(c)
    ids = node_url_by_id(c)
    assert put(c, "q/rep", b"old-rep", strategy="replication").status_code in (200, 201)
    assert put(c, "q/ec", b"old-ec", strategy="ec").status_code in (200, 201)
    r = requests.post(gw(c) + "/write", params={"key": "q/hyb", "strategy": "field_hybrid"},
                      json={"like_count": 1, "t": "old"}, timeout=30)
    assert r.status_code == 200
    victims = replica_nodes(c, "q/rep")
    before = {k: manifest_raw(c, k) for k in ("q/rep", "q/ec", "q/hyb")}
    names = [ids[v][1] for v in victims]
    for n in names:
        c.send_signal(n, signal.SIGSTOP)
    try:
        def ref(key, strategy, body):
            return requests.post(gw(c) + "/write", params={"key": key, "strategy": strategy},
                                 json=body, timeout=60)
        jobs = [lambda: ref("q/rep", "replication", {"t": "new"}),
                lambda: put(c, "q/ec", b"new-ec", strategy="ec"),
                lambda: ref("q/hyb", "field_hybrid", {"like_count": 2, "t": "new cold"})]
        with ThreadPoolExecutor(3) as ex:
            rs = list(ex.map(lambda f: f(), jobs))
        for r in rs:
            assert r.status_code == 503, r.text
        assert "live" in rs[1].json()["message"]
        assert rs[0].json()["error"]
        for k, v in before.items():
            assert manifest_raw(c, k) == v, k  # nothing half-visible
        # no write is left pending: a clean failure removed its record; one whose PUTs timed
        # out (they may still land) handed its clean-up to the healer (ABORTED)
        assert all(json.loads(v)["state"] == "ABORTED" for v in wal_records(c).values())
    finally:
        for n in names:
            c.send_signal(n, signal.SIGCONT)
    wait_all_nodes(c)
    # the old versions are whole on the nodes (a stopped node refuses the refused write's PUTs
    # once their deadline has passed; the ABORTED records name whatever may have landed)
    assert stored_object(c, "q/rep")[1] == b"old-rep"
    assert stored_object(c, "q/ec")[1] == b"old-ec"
    _, (hot, cold) = stored_object(c, "q/hyb")
    assert dict(json.loads(cold), **json.loads(hot)) == {"like_count": 1, "t": "old"}


def test_gateway_registration_and_clean_shutdown(cluster):
    regs = cluster.etcd_range("/hybridstore/v1/gateways/")
    assert len(regs) == 2
    urls = [p["url"] for p in cluster.processes("gateway")]
    for v in regs.values():
        assert json.loads(v)["url"] in urls
    name = cluster.processes("gateway")[1]["name"]
    cluster.kill(name, signal.SIGTERM)  # drains, then revokes its lease: gone at once
    assert len(cluster.etcd_range("/hybridstore/v1/gateways/")) == 1
    with open(cluster.proc(name)["log"]) as f:
        log = f.read()
    assert "evt=gateway_stopping" in log and "evt=gateway_stopped" in log
    assert cluster.proc(name)["exit"] == "code 0"


def test_fewer_live_nodes_than_shards_writes_degraded_or_refuses_before_writing(tmp_path):
    """5 nodes: RS(4,2) puts shard 5 on the pseudo node unplaced-5 (nothing stored, repair
    marked); RS(5,2) needs a quorum of 6 and is refused with 503 before anything is written."""
    with HsCluster(str(tmp_path), nodes=5, gateways=1, healers=0) as c:
        r = put(c, "few", b"q" * 10000, strategy="ec")
        assert r.status_code == 201, r.text
        m = manifest(c, "few")
        nodes = [b["node"] for b in m["data"]["segs"][0]["blobs"]]
        assert nodes[5] == "unplaced-5" and len(set(nodes[:5])) == 5
        mark = json.loads(repair_mark(c, "few"))  # include/hs/manifest.h, repair mark
        assert mark["reason"] == "degraded" and mark["txn"] == m["txn"] and mark["ms"] > 0
        r = requests.get(url(c, "few"), timeout=30)
        if r.status_code == 200:  # the read path (another module) is there
            assert r.content == b"q" * 10000
        c.etcd_put("/hybridstore/v1/config/ec-k", "5")
        before = (c.etcd_range("/hybridstore/v1/"), all_blobs(c))

        def refused():
            r = put(c, "few2", b"z" * 100, strategy="ec")
            return [r] if r.status_code == 503 else None  # a 503 Response is falsy
        r = wait_until(refused, timeout=10, what="config/ec-k=5 to apply")[0]
        assert "5 live" in r.json()["message"] and "needs 7" in r.json()["message"]
        now = c.etcd_range("/hybridstore/v1/")
        assert {k: v for k, v in now.items() if "/nodes/" not in k} == \
            {k: v for k, v in before[0].items() if "/nodes/" not in k}
        assert all_blobs(c) == before[1]
        c.etcd_post("/v3/kv/deleterange",
                    {"key": base64.b64encode(b"/hybridstore/v1/config/ec-k").decode()})
        assert_no_orphans(c)


def test_gateway_killed_mid_upload_keeps_the_old_version(cluster):
    """SIGKILL of the gateway while it streams a new version to the nodes: the upload fails, the
    old version stays readable through the other gateway, and no new manifest appears. (The WAL
    record it leaves names its blobs; rolling it back is the healer's job, tested there.)"""
    import socket
    for g in cluster.processes("gateway"):  # an earlier test stops one on purpose
        if g["status"] == "exited":
            cluster.respawn(g["name"])
            wait_until(lambda g=g: requests.get(g["url"] + "/health", timeout=2).ok,
                       timeout=20, what=f"{g['name']} back")
    old = os.urandom(3 * MiB)
    assert put(cluster, "killed-mid", old, strategy="replication", i=1).status_code == 201
    before = manifest(cluster, "killed-mid")
    victim = cluster.processes("gateway")[0]
    host, port = victim["url"].split("//")[1].split(":")
    blobs_before = all_blobs(cluster)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"PUT /v1/objects/killed-mid?strategy=replication HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: %d\r\n\r\n" % (20 * MiB))
    sock.sendall(os.urandom(8 * MiB))
    deadline = time.monotonic() + 20
    while len(all_blobs(cluster) - blobs_before) < 3:
        assert time.monotonic() < deadline, "the first segment never reached the nodes"
        sock.sendall(b"x" * 4096)
        time.sleep(0.05)
    cluster.kill(victim["name"])
    sock.close()
    r = requests.get(url(cluster, "killed-mid", i=1), timeout=30)
    assert r.status_code == 200 and r.content == old
    after = manifest(cluster, "killed-mid")
    assert after["ver"] == before["ver"] and after["txn"] == before["txn"]
    assert any(json.loads(v)["key"] == "killed-mid" for v in wal_records(cluster).values())
    proc = cluster.respawn(victim["name"])
    wait_until(lambda: requests.get(victim["url"] + "/health", timeout=2).status_code == 200,
               timeout=20, what="the respawned gateway")
    assert proc.alive()
