"""Retired blobs (docs/healer.md, "Retired blobs"): an overwrite or a delete retires the blobs it
replaced (a retire/ record in its commit transaction); the healer's sweeper deletes them once
retire-grace has passed, never earlier, never a live blob, and GC (grace 0 here) leaves them to
the sweeper. Also: readers racing writers of one object never fail nor see a mix of versions,
a gateway killed right after its commit leaves nothing behind, and a sweeper killed between two
batches is finished by its standby.

One cluster for the module: 6 nodes (EC 4+2), 2 gateways with 64 KiB segments (so 200 KiB is
multi-segment), 2 healers with a short retire grace, GC grace 0 and small delete batches."""
import hashlib
import json
import random
import threading
import time

import pytest
import requests

from cluster import start_with_env
from harness import wait_until
import hsdata
from writekit import (ROOT, all_blobs, gw, manifest, manifest_blobs, node_url_by_id, qkey,
                      referenced_blobs, session, wal_records)

GRACE_S = 4
KiB = 1024
SMALL, MULTI = 1 * KiB, 200 * KiB  # MULTI spans 4 segments of 64 KiB
STRATEGIES = ("replication", "ec", "field_hybrid")
TAKEOVER_S = 20


@pytest.fixture(scope="module")
def rc(tmp_path_factory):
    env = {"HS_HEALER_RETIRE_GRACE": f"{GRACE_S}s", "HS_HEALER_PASS_INTERVAL": "300ms",
           "HS_HEALER_RETIRE_BATCH": "2", "HS_HEALER_GC_GRACE": "0s",
           "HS_HEALER_GC_INTERVAL": "2s", "HS_GATEWAY_SEGMENT_SIZE": "64KiB"}
    c = start_with_env(str(tmp_path_factory.mktemp("retire")), env, nodes=6, gateways=2, healers=2)
    c.wait_nodes_registered(count=6, timeout=40)
    yield c
    c.stop()


# ---- helpers ---------------------------------------------------------------------------------


def url(c, key, i=0):
    return f"{gw(c, i)}/v1/objects/{qkey(key)}"


def value_for(strategy, size, writer, seq):
    """A self-describing value: a reader can tell it is one writer's whole write."""
    rnd = random.Random(f"{writer}-{seq}")
    if strategy == "field_hybrid":
        pad = "".join(rnd.choice("abcdefgh") for _ in range(size))
        check = hashlib.sha256(f"{writer}:{seq}:{pad}".encode()).hexdigest()
        doc = {"like_count": seq, "writer": writer, "pad": pad, "check": check}
        return json.dumps(doc).encode(), "application/json"
    rest = rnd.randbytes(size)
    head = f"{writer} {seq} {hashlib.sha256(rest).hexdigest()}\n".encode()
    return head + rest, "application/octet-stream"


def whole(strategy, body):
    """True when body is exactly one write's value."""
    if strategy == "field_hybrid":
        d = json.loads(body)
        want = hashlib.sha256(f"{d['writer']}:{d['like_count']}:{d['pad']}".encode()).hexdigest()
        return d["check"] == want
    head, _, rest = body.partition(b"\n")
    parts = head.split(b" ")
    return len(parts) == 3 and hashlib.sha256(rest).hexdigest().encode() == parts[2]


def put(c, key, strategy, size, writer="w", seq=0, i=0, s=None):
    data, ctype = value_for(strategy, size, writer, seq)
    r = (s or requests).put(url(c, key, i), data=data, params={"strategy": strategy},
                            headers={"Content-Type": ctype}, timeout=60)
    assert r.status_code in (200, 201), r.text
    return r


def retire_records(c):
    return c.etcd_range(ROOT + "retire/")


def blob_exists(c, s, urls, blob, node):
    r = s.get(f"{urls[node][0]}/v1/blobs/{blob}", timeout=10)
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


def healers(c):
    return [(p["name"], p["url"]) for p in c.processes("healer") if p["status"] != "exited"]


def healer_metrics(url_):
    try:
        return hsdata.metrics(url_, timeout=3)
    except requests.RequestException:
        return None


def total(c, key):
    return sum((healer_metrics(u) or {}).get("hybridstore_healer_" + key, 0)
               for _, u in healers(c))


def the_leader(c, exclude=()):
    def one():
        lead = [n for n, u in healers(c) if n not in exclude
                and (healer_metrics(u) or {}).get("hybridstore_healer_is_leader") == 1]
        return lead[0] if len(lead) == 1 else None
    return wait_until(one, timeout=TAKEOVER_S, interval=0.1, what="exactly one healer leading")


def wait_swept(c, timeout=60):
    """Every retire record is gone, no write is in flight, and the nodes hold exactly the
    blobs the manifests reference (nothing retired left, nothing live deleted)."""
    wait_until(lambda: not retire_records(c) and not wal_records(c), timeout=timeout,
               what="retire/ and txn/ empty")
    wait_until(lambda: all_blobs(c) == referenced_blobs(c), timeout=timeout,
               what="stored blobs == referenced blobs")


def assert_refs_intact(c):
    """Every referenced blob is on its node (no live blob deleted)."""
    missing = referenced_blobs(c) - all_blobs(c)
    assert not missing, f"live blobs deleted: {sorted(missing)[:5]} ({len(missing)})"


# ---- a. overwrite and delete: kept through the grace, gone after -----------------------------


@pytest.mark.parametrize("size", [SMALL, MULTI], ids=["small", "multi"])
def test_replaced_blobs_stay_through_the_grace_then_only_they_go(rc, size):
    s, urls = session(rc), node_url_by_id(rc)
    deleted0 = total(rc, "retire_blobs_deleted")
    retired = set()
    for strategy in STRATEGIES:
        key, gone = f"a/{strategy}/{size}", f"a/{strategy}/{size}/deleted"
        put(rc, key, strategy, size, seq=1)
        put(rc, gone, strategy, size, seq=1)
        old, old_gone = manifest_blobs(manifest(rc, key)), manifest_blobs(manifest(rc, gone))
        put(rc, key, strategy, size, seq=2, i=1)
        assert requests.delete(url(rc, gone), timeout=30).status_code in (200, 204)
        replaced = old - manifest_blobs(manifest(rc, key))
        assert replaced, "an overwrite replaced nothing"
        assert retire_records(rc), "no retire record"
        # right away (well within the grace): a reader holding the old manifest finds them
        for blob, node in replaced:
            assert blob_exists(rc, s, urls, blob, node), (strategy, blob, node)
        # a DELETE gives its storage back at once (its retire record is for what fails)
        assert not any(blob_exists(rc, s, urls, b, n) for b, n in old_gone), strategy
        retired |= replaced
    wait_swept(rc, timeout=GRACE_S + 60)
    stored = all_blobs(rc)
    assert not retired & stored
    assert total(rc, "retire_blobs_deleted") - deleted0 >= len(retired)
    for strategy in STRATEGIES:  # the current versions read back whole
        r = requests.get(url(rc, f"a/{strategy}/{size}"), timeout=30)
        assert r.status_code == 200 and whole(strategy, r.content)


# ---- GC leaves retired blobs to the sweeper ----------------------------------------------------


def test_gc_with_a_shorter_grace_never_takes_retired_blobs(rc):
    """GC runs with grace 0 here: without the retire records in its reference set it would
    delete the replaced blobs at its next pass, under the feet of readers of the old version."""
    s, urls = session(rc), node_url_by_id(rc)
    key = "gc/retired"
    put(rc, key, "ec", MULTI, seq=1)
    old = manifest_blobs(manifest(rc, key))
    put(rc, key, "ec", MULTI, seq=2)
    replaced = old - manifest_blobs(manifest(rc, key))
    records = {k: json.loads(v) for k, v in retire_records(rc).items()
               if json.loads(v)["key"] == key}
    assert len(records) == 1, records
    (rkey, rec), = records.items()
    rec["ms"] = int(time.time() * 1000) + 3600_000  # not due for an hour: the sweeper waits
    rc.etcd_put(rkey, json.dumps(rec))
    passes = total(rc, "gc_passes")
    wait_until(lambda: total(rc, "gc_passes") >= passes + 2, timeout=30, what="2 GC passes")
    assert all(blob_exists(rc, s, urls, b, n) for b, n in replaced)
    rec["ms"] = int(time.time() * 1000) - 3600_000  # due now
    rc.etcd_put(rkey, json.dumps(rec))
    wait_swept(rc, timeout=GRACE_S + 60)
    assert not replaced & all_blobs(rc)


# ---- a record naming a node that is not registered --------------------------------------------


def test_blobs_on_an_unregistered_node_are_left_to_gc_and_the_record_goes(rc):
    """Hand-made record: 2 blobs on a live node (deleted), 1 on a node that is not registered
    (counted as left to GC; it does not hold the record back)."""
    urls = node_url_by_id(rc)
    live = sorted(urls)[0]
    old_txn = hsdata.txn_id(int(time.time() * 1000) - 60_000)
    for i in range(2):
        hsdata.put_blob(urls[live][0], rc.secret, hsdata.blob_id(old_txn, 0, 0, i), b"old")
    rec = {"v": 1, "key": "u/unregistered", "ms": int(time.time() * 1000) - 3600_000,
           "sets": [{"txn": old_txn, "blobs": [["0.0.0", live], ["0.0.1", live],
                                               ["0.0.2", "node-never-registered"]]}]}
    left0 = total(rc, "retire_blobs_left")
    rkey = ROOT + "retire/" + hsdata.txn_id(int(time.time() * 1000) - 3600_000)
    rc.etcd_put(rkey, json.dumps(rec))
    wait_until(lambda: rkey not in retire_records(rc), timeout=30, what="the record swept")
    for i in range(2):
        assert not hsdata.has_blob(urls[live][0], rc.secret, hsdata.blob_id(old_txn, 0, 0, i))
    assert total(rc, "retire_blobs_left") >= left0 + 1


# ---- many records: one etcd read and one fenced delete per group of 64 ---------------------------


def test_many_records_are_swept_with_one_read_and_one_delete_txn_per_group(rc):
    """100 hand-made due records appear in one etcd transaction, so one pass sees them all: the
    sweeper reads their keys' manifests in 2 read-only txns and deletes them in 2 fenced txns
    (groups of 64 and 36), not 100 of each. The keys have no manifest, so every blob goes."""
    wait_swept(rc, timeout=GRACE_S + 60)
    urls = node_url_by_id(rc)
    live = sorted(urls)[1]
    old_ms = int(time.time() * 1000) - 3600_000
    puts, real = [], []
    for i in range(100):
        txn = hsdata.txn_id(old_ms)
        if i < 3:  # a few real blobs: they must go too
            bid = hsdata.blob_id(txn, 0, 0, 0)
            hsdata.put_blob(urls[live][0], rc.secret, bid, b"old")
            real.append(bid)
        rec = {"v": 1, "key": f"e/many{i}", "ms": old_ms,
               "sets": [{"txn": txn, "blobs": [["0.0.0", live], ["0.0.1", live]]}]}
        puts.append({"request_put": {"key": hsdata.b64(ROOT + "retire/" + txn),
                                     "value": hsdata.b64(json.dumps(rec))}})
    reads0, txns0 = total(rc, "retire_manifest_reads"), total(rc, "retire_drop_txns")
    swept0 = total(rc, "retire_records_swept")
    rc.etcd_post("/v3/kv/txn", {"success": puts})
    wait_until(lambda: total(rc, "retire_records_swept") >= swept0 + 100, timeout=60,
               what="the 100 records swept")
    assert not retire_records(rc)
    for bid in real:
        assert not hsdata.has_blob(urls[live][0], rc.secret, bid)
    reads = total(rc, "retire_manifest_reads") - reads0
    txns = total(rc, "retire_drop_txns") - txns0
    print(f"100 records: {reads} manifest reads, {txns} delete txns")
    assert 2 <= reads <= 3, reads  # a third only if leadership moved mid-sweep
    assert 2 <= txns <= 3, txns


# ---- b. readers racing writers of one object -------------------------------------------------


def race(c, strategy, size, seconds, key):
    stop = threading.Event()
    failures, mixed, reads, writes = [], [], [0], [0]
    lock = threading.Lock()
    put(c, key, strategy, size, writer="init")

    def writer(w):
        s, seq = requests.Session(), 0
        while not stop.is_set():
            seq += 1
            data, ctype = value_for(strategy, size, f"w{w}", seq)
            r = s.put(url(c, key, w % 2), data=data, params={"strategy": strategy},
                      headers={"Content-Type": ctype}, timeout=60)
            with lock:
                writes[0] += 1
                if r.status_code not in (200, 201):
                    failures.append(("PUT", r.status_code, r.text[:200]))

    def reader(rd):
        s = requests.Session()
        while not stop.is_set():
            r = s.get(url(c, key, rd % 2), timeout=60)
            with lock:
                reads[0] += 1
                if r.status_code != 200:
                    failures.append(("GET", r.status_code, r.text[:200]))
                elif not whole(strategy, r.content):
                    mixed.append(r.content[:80])

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    threads += [threading.Thread(target=reader, args=(rd,)) for rd in range(3)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures[:5]
    assert not mixed, mixed[:3]
    assert reads[0] > 0 and writes[0] > 0
    return reads[0], writes[0]


def test_readers_racing_overwrites_never_fail_and_only_replaced_blobs_go(rc):
    swept0 = total(rc, "retire_records_swept")
    counts = {}
    for strategy in STRATEGIES:
        for size, name in ((SMALL, "small"), (MULTI, "multi")):
            counts[(strategy, name)] = race(rc, strategy, size, 5, f"b/{strategy}/{name}")
    print("reads, writes per variant:", counts)
    wait_swept(rc, timeout=GRACE_S + 90)
    assert total(rc, "retire_records_swept") > swept0
    for strategy in STRATEGIES:
        for name in ("small", "multi"):
            r = requests.get(url(rc, f"b/{strategy}/{name}"), timeout=30)
            assert r.status_code == 200 and whole(strategy, r.content)


# ---- c. the gateway dies right after the commit ----------------------------------------------


def test_gateway_killed_right_after_its_commit_leaves_no_retired_blob(rc):
    name = rc.processes("gateway")[1]["name"]
    key = "c/killed-gateway"
    put(rc, key, "ec", MULTI, seq=1)
    old = manifest_blobs(manifest(rc, key))
    put(rc, key, "ec", MULTI, seq=2, i=1)
    rc.kill(name)  # the commit is in; the gateway did nothing after it
    try:
        replaced = old - manifest_blobs(manifest(rc, key))
        assert replaced
        wait_swept(rc, timeout=GRACE_S + 60)
        assert not replaced & all_blobs(rc)
    finally:
        rc.respawn(name)
        wait_until(lambda: requests.get(gw(rc, 1) + "/v1/health", timeout=2).ok, timeout=30,
                   what="gateway back")


# ---- d. the sweeper dies between two batches -------------------------------------------------


def test_sweeper_killed_between_batches_is_finished_by_the_standby(rc):
    wait_swept(rc, timeout=GRACE_S + 60)  # start from a clean slate
    keys = [f"d/big{i}" for i in range(2)]
    retired = set()
    for key in keys:  # 2 x 4 MiB EC in 64 KiB segments: 2 x 384 retired blobs
        put(rc, key, "ec", 4 << 20, seq=1)
        old = manifest_blobs(manifest(rc, key))
        put(rc, key, "ec", 4 << 20, seq=2)
        retired |= old - manifest_blobs(manifest(rc, key))
    assert len(retired) >= 700
    leader = the_leader(rc)
    lurl = dict(healers(rc))[leader]
    start = (healer_metrics(lurl) or {}).get("hybridstore_healer_retire_blobs_deleted", 0)

    def sweeping():
        m = healer_metrics(lurl) or {}
        return m.get("hybridstore_healer_retire_blobs_deleted", 0) > start

    wait_until(sweeping, timeout=GRACE_S + 30, interval=0.02, what="the leader sweeping")
    rc.kill(leader)
    try:
        left = retired & all_blobs(rc)
        assert left and retire_records(rc), "the sweep ended before the kill"
        assert len(left) < len(retired)
        the_leader(rc, exclude=(leader,))
        wait_swept(rc, timeout=TAKEOVER_S + 60)
        assert not retired & all_blobs(rc)
        assert_refs_intact(rc)
        for key in keys:
            r = requests.get(url(rc, key), timeout=60)
            assert r.status_code == 200 and whole("ec", r.content)
    finally:
        rc.respawn(leader)
