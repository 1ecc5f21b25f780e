"""Hedged reads (docs/gateway.md, "Hedged reads"): with one node stopped (SIGSTOP: it accepts
connections and never answers) and still registered, every read that picks it gets a backup
after a short delay (the next replica; for EC, a parity shard and a decode), so it completes
far below the gateway's node timeout instead of waiting for it. The gateway's node timeout is
10 s and the nodes' leases outlive the test, so a read that waited would be unmistakable.

Latencies are printed (run with -s to see them), never asserted on: the machine is shared."""
import os
import random
import time

import pytest
import requests

from cluster import HsCluster
from readkit import gw, hybrid_doc, manifest, node_ids, qkey

NODE_TIMEOUT_S = 10
READS_PER_OBJECT = int(os.environ.get("HS_TEST_HEDGE_READS", "4"))  # more for a measurement


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    env = {"HS_GATEWAY_NODE_TIMEOUT": f"{NODE_TIMEOUT_S}s", "HS_NODE_LEASE_TTL": "300s",
           "HS_GATEWAY_SEGMENT_SIZE": "1MiB"}  # large objects stream several segments
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        c = HsCluster(str(tmp_path_factory.mktemp("hedge")), nodes=6, gateways=1, healers=0)
        c.start()
    finally:
        for k, v in old.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v
    yield c
    c.stop()


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def read_all(c, objects, rounds, session):
    """Reads every object rounds times; returns the latencies (s). Every read must succeed."""
    lat = []
    for _ in range(rounds):
        for key, data in objects.items():
            t0 = time.monotonic()
            r = session.get(f"{gw(c)}/v1/objects/{qkey(key)}", timeout=4 * NODE_TIMEOUT_S)
            dt = time.monotonic() - t0
            assert r.status_code == 200, (key, r.status_code, r.text)
            assert r.content == data, key
            lat.append(dt)
    return lat


def read_ranges(c, objects, session):
    """Small Range reads (EC: per-shard spans, not whole blobs) of every object; latencies."""
    lat = []
    for key, data in objects.items():
        for off in (0, len(data) // 3, max(0, len(data) - 300)):
            end = min(len(data), off + 300) - 1
            t0 = time.monotonic()
            r = session.get(f"{gw(c)}/v1/objects/{qkey(key)}",
                            headers={"Range": f"bytes={off}-{end}"}, timeout=4 * NODE_TIMEOUT_S)
            lat.append(time.monotonic() - t0)
            assert r.status_code == 206, (key, off, r.status_code, r.text)
            assert r.content == data[off:end + 1], (key, off)
    return lat


def hedged_reads(c):
    """hedged_reads_total of the gateway the reads go to."""
    text = requests.get(f"{gw(c)}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("hybridstore_gateway_hedged_reads_total "):
            return float(line.split()[1])
    raise AssertionError("no hedged_reads_total in /metrics")


def test_reads_with_a_stopped_node_do_not_wait_for_its_timeout(cluster):
    c = cluster
    rng = random.Random(7)
    objects, big = {}, {}
    for strategy in ("replication", "ec"):
        for i in range(15):
            key = f"hedge/{strategy}/{i}"
            data = rng.randbytes(rng.choice([700, 5000, 20000, 70000]))
            r = requests.put(f"{gw(c)}/v1/objects/{qkey(key)}", params={"strategy": strategy},
                             data=data, timeout=60)
            assert r.status_code in (200, 201), r.text
            objects[key] = data
    for i in range(6):  # hot part replicated, cold part EC: both fetched in one race
        key = f"hedge/hybrid/{i}"
        data = hybrid_doc(rng.choice([2000, 30000]), like=i)
        r = requests.put(f"{gw(c)}/v1/objects/{qkey(key)}", params={"strategy": "field_hybrid"},
                         data=data, headers={"Content-Type": "application/json"}, timeout=60)
        assert r.status_code in (200, 201), r.text
        objects[key] = data
    for strategy in ("replication", "ec"):  # 4 segments each, streamed one at a time
        key = f"hedge/big/{strategy}"
        data = rng.randbytes(3 * (1 << 20) + 500007)
        r = requests.put(f"{gw(c)}/v1/objects/{qkey(key)}", params={"strategy": strategy},
                         data=data, timeout=60)
        assert r.status_code in (200, 201), r.text
        big[key] = data
    # the node holding the most blobs of these objects
    ids = node_ids(c)
    held = {}
    for key in list(objects) + list(big):
        m = manifest(c, key)
        for part in ("data", "hot", "cold"):
            for seg in (m.get(part) or {}).get("segs", [])[:1]:
                for b in seg["blobs"]:
                    held[ids[b["node"]]] = held.get(ids[b["node"]], 0) + 1
    paused = max(held, key=held.get)
    s = requests.Session()
    read_all(c, objects, 1, s)  # warm up connections and latency estimates
    healthy = read_all(c, objects, READS_PER_OBJECT, s)
    healthy_other = read_all(c, big, 2, s) + read_ranges(c, {**objects, **big}, s)
    hedged_before = hedged_reads(c)
    c.stop_proc(paused)
    try:
        degraded = read_all(c, objects, READS_PER_OBJECT, s)
        other = read_all(c, big, 2, s) + read_ranges(c, {**objects, **big}, s)
    finally:
        c.cont(paused)
    assert hedged_reads(c) > hedged_before, "no read was hedged while a node was stopped"
    print(f"\nhedged reads: {len(objects)} small objects (6 field_hybrid) x {READS_PER_OBJECT} "
          f"reads, {paused} holds {held[paused]} first-segment blobs; healthy "
          f"p50={percentile(healthy, 50) * 1000:.1f} ms p99={percentile(healthy, 99) * 1000:.1f} "
          f"ms; {paused} stopped p50={percentile(degraded, 50) * 1000:.1f} ms "
          f"p99={percentile(degraded, 99) * 1000:.1f} ms max={max(degraded) * 1000:.1f} ms; "
          f"3.5 MiB objects and ranges: healthy max={max(healthy_other) * 1000:.1f} ms, "
          f"stopped max={max(other) * 1000:.1f} ms")
    slow = [round(t, 2) for t in degraded + other if t >= NODE_TIMEOUT_S / 2]
    assert not slow, f"reads that waited for the stopped node: {slow}"
