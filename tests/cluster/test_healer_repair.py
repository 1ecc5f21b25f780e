"""The healer's repair side against real clusters (`hybridstore cluster`, 2 healers): lost and
corrupt replicas and shards come back byte-exact on their nodes, repair/ marks are processed and
removed, a node removed for good has its blobs moved and its manifests rewritten, a replaced
disk is refilled, a leader killed half-way through repairs leaves the standby to finish, and the
repair bandwidth limit holds. Objects are made by hand with hsdata (blobs straight to nodes,
manifests straight into etcd) so that these tests do not depend on the gateway.

Three clusters: `fast` (node grace 0, scrub every 2 s, 7 nodes so that an RS(4,2) object can
leave a node), `graced` (grace 10 min: a restarted node's blobs are rewritten in place; the
throughput measurement) and `slow` (repair limited to 1 MiB/s, one object at a time).
"""
import os
import json
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cluster import start_with_env
from harness import flip_blob_last_byte, wait_until
import hsdata
from hsdata import HsData

BASE_ENV = {"HS_HEALER_PASS_INTERVAL": "300ms", "HS_HEALER_AUDIT_INTERVAL": "2s",
            "HS_NODE_LEASE_TTL": "2s"}


def start_cluster(tmp_path_factory, name, env, nodes=6, healers=2, gateways=0):
    """A cluster whose daemons see env (the launcher passes its environment to children)."""
    return start_with_env(tmp_path_factory.mktemp(name), dict(BASE_ENV, **env), nodes=nodes,
                          gateways=gateways, healers=healers)


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    c = start_cluster(tmp_path_factory, "repair-fast", {"HS_HEALER_NODE_GRACE": "0s",
                                                         "HS_NODE_SCRUB_INTERVAL": "2s"},
                      nodes=7)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def graced(tmp_path_factory):
    c = start_cluster(tmp_path_factory, "repair-graced", {"HS_HEALER_NODE_GRACE": "10m",
                                                           "HS_HEALER_REPAIR_CONCURRENCY": "8"})
    yield c
    c.stop()


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    c = start_cluster(tmp_path_factory, "repair-slow", {"HS_HEALER_NODE_GRACE": "10m",
                                                         "HS_HEALER_REPAIR_RATE": "1MiB",
                                                         "HS_HEALER_REPAIR_CONCURRENCY": "1"})
    yield c
    c.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    """Objects written through a real gateway (all three strategies, several segments)."""
    c = start_cluster(tmp_path_factory, "repair-gw", {"HS_HEALER_NODE_GRACE": "10m",
                                                      "HS_HEALER_REPAIR_CONCURRENCY": "8"},
                      gateways=1)
    yield c
    c.stop()


# ---- helpers ---------------------------------------------------------------------------------

def healer_urls(c):
    return [(p["name"], p["url"]) for p in c.processes("healer")]


def metrics_of(url):
    try:
        return hsdata.metrics(url, timeout=2)
    except Exception:  # noqa: BLE001 - a stopped or dead healer
        return None


def total(c, key):
    return sum((metrics_of(u) or {}).get("hybridstore_healer_" + key, 0)
               for _, u in healer_urls(c))


def leader_name(c, exclude=(), timeout=30):
    def one():
        lead = [n for n, u in healer_urls(c) if n not in exclude and
                (metrics_of(u) or {}).get("hybridstore_healer_is_leader") == 1]
        return lead[0] if len(lead) == 1 else None
    return wait_until(one, timeout=timeout, interval=0.2, what="one leading healer")


def node_ids(c):
    """{process name: node id} of the cluster's nodes."""
    out = {}
    for p in c.processes("node"):
        with open(os.path.join(p["data_dir"], "node-id"), encoding="ascii") as f:
            out[p["name"]] = f.read().strip()
    return out


def blob_path(c, node_name, bid):
    root = os.path.join(c.proc(node_name)["data_dir"], "objects")
    for dirpath, _, names in os.walk(root):
        if bid in names:
            return os.path.join(dirpath, bid)
    raise AssertionError(f"{bid} not on disk of {node_name}")


def name_of(c, node_id):
    return {v: k for k, v in node_ids(c).items()}[node_id]


def all_redundant(d, keys):
    listings, live = {}, d.nodes()
    return all(d.problems(k, listings, live) == [] for k in keys)


def wait_redundant(d, keys, timeout=60):
    wait_until(lambda: all_redundant(d, keys), timeout=timeout, interval=0.3,
               what="every object fully redundant")
    listings, live = {}, d.nodes()
    for k in keys:
        assert d.problems(k, listings, live) == []


# ---- fast cluster: node grace 0, scrub every 2 s -------------------------------------------------

def test_replica_deleted_from_a_node_is_restored_on_that_node(fast):
    d = HsData(fast)
    data = os.urandom(40_000)
    man = d.put_replicated("repair/replica", data)
    victim = man["data"]["segs"][0]["blobs"][1]
    url = d.nodes()[victim["node"]]
    before = total(fast, "repaired_blobs")
    assert d.delete_blob(url, victim["id"]) == 204
    wait_redundant(d, ["repair/replica"])
    assert d.listing(url)[victim["id"]] == (len(data), hsdata.crc_hex(data))
    assert d.get_blob(url, victim["id"]).content == data
    assert d.manifest("repair/replica") == man  # same node, same id: the manifest is untouched
    assert total(fast, "repaired_blobs") >= before + 1


def test_ec_object_with_two_shards_lost_is_rebuilt_byte_exact(fast):
    d = HsData(fast)
    data = os.urandom(300_001)  # not a multiple of k: the last data piece is padded
    man = d.put_ec("repair/ec", data, k=4, m=2)
    blobs = man["data"]["segs"][0]["blobs"]
    live = d.nodes()
    lost_data, lost_parity = blobs[1], blobs[5]
    os.unlink(blob_path(fast, name_of(fast, lost_data["node"]), lost_data["id"]))  # from disk
    assert d.delete_blob(live[lost_parity["node"]], lost_parity["id"]) == 204  # via the API
    wait_redundant(d, ["repair/ec"])
    for b in (lost_data, lost_parity):
        size, crc = d.listing(live[b["node"]])[b["id"]]
        assert (size, crc) == (b["len"], b["crc"])  # the manifest's CRC, as the node computed
    assert d.manifest("repair/ec") == man
    assert d.read_object("repair/ec") == data
    # every shard, parity included, is what the encoder made
    shards = hsdata.ec_shards(data, 4, 2, man["data"]["stripe"] * 4)
    for b, want in zip(blobs, shards):
        assert d.get_blob(live[b["node"]], b["id"]).content == want


def test_repair_marks_are_processed_and_removed_only_when_whole(fast):
    d = HsData(fast)
    removed = total(fast, "repair_marks_removed")
    healthy = d.put_replicated("repair/mark-healthy", os.urandom(1000), commit=False)
    broken = d.put_ec("repair/mark-broken", os.urandom(50_000), commit=False)
    b = broken["data"]["segs"][0]["blobs"][0]
    assert d.delete_blob(d.nodes()[b["node"]], b["id"]) == 204  # lost before the commit
    d.commit_many([healthy, broken], mark=True)
    d.mark_repair("repair/mark-deleted")  # the object was deleted after it was marked
    wait_until(lambda: not any(k.startswith("repair/mark-") for k in d.repair_marks()),
               timeout=30, what="repair marks removed")
    assert d.problems("repair/mark-broken") == [] and d.problems("repair/mark-healthy") == []
    assert total(fast, "repair_marks_removed") >= removed + 3
    assert d.manifest("repair/mark-healthy") == healthy


def test_mark_of_an_object_that_cannot_be_repaired_yet_stays(fast):
    d = HsData(fast)
    data = os.urandom(2000)
    man = d.put_replicated("repair/mark-stuck", data, commit=False)
    for b in man["data"]["segs"][0]["blobs"]:  # every replica lost: nothing to copy from
        assert d.delete_blob(d.nodes()[b["node"]], b["id"]) == 204
    d.commit(man, mark=True)
    failures = total(fast, "repair_failures")
    wait_until(lambda: total(fast, "repair_failures") >= failures + 2, timeout=20,
               what="repair attempts")
    assert "repair/mark-stuck" in d.repair_marks()
    assert d.manifest("repair/mark-stuck") == man
    d.etcd_delete(hsdata.META + "repair/mark-stuck")  # clean up: the mark then goes too
    wait_until(lambda: "repair/mark-stuck" not in d.repair_marks(), timeout=20,
               what="mark of a deleted object removed")


def test_flipped_bytes_are_quarantined_by_the_scrub_and_repaired(fast):
    d = HsData(fast)
    rdata, edata = os.urandom(20_000), os.urandom(120_000)
    rman = d.put_replicated("repair/flip-replica", rdata)
    eman = d.put_ec("repair/flip-shard", edata)
    live = d.nodes()
    targets = [rman["data"]["segs"][0]["blobs"][0], eman["data"]["segs"][0]["blobs"][2]]
    for b in targets:  # blob files or needles, whichever store the node keeps them in
        flip_blob_last_byte(fast.proc(name_of(fast, b["node"]))["data_dir"], b["id"])
    # nobody reads them: the nodes' scrub finds the corruption (the listing shows header
    # values only, so until then the blob looks fine), the audit then repairs it
    def quarantined(b):
        node_dir = fast.proc(name_of(fast, b["node"]))["data_dir"]
        return any(q.startswith(b["id"] + ".")
                   for q in os.listdir(os.path.join(node_dir, "quarantine")))
    for b in targets:
        wait_until(lambda: quarantined(b), timeout=30, what=f"scrub to quarantine {b['id']}")
    wait_until(lambda: all(d.get_blob(live[b["node"]], b["id"]).status_code == 200
                           for b in targets), timeout=30, what="corrupt blobs rewritten")
    wait_redundant(d, ["repair/flip-replica", "repair/flip-shard"], timeout=30)
    assert d.read_object("repair/flip-replica") == rdata
    assert d.read_object("repair/flip-shard") == edata
    # the leader polls the nodes' scrub counters every 10 s
    wait_until(lambda: total(fast, "scrub_quarantined") >= 2, timeout=30,
               what="scrub counters summed by the healer")
    assert total(fast, "scrub_verified_blobs") > 0


def test_node_removed_for_good_has_its_blobs_moved_and_manifests_updated(fast):
    """Last test of the module: it takes a node away for good."""
    d = HsData(fast)
    ids = node_ids(fast)
    gone_name = "node3"
    gone = ids[gone_name]
    others = sorted(set(ids.values()) - {gone})
    objs = {}
    for i in range(4):
        data = os.urandom(30_000 + i)
        nodes = [gone] + others[i:i + 2]
        objs[f"repair/move-r{i}"] = (d.put_replicated(f"repair/move-r{i}", data, nodes=nodes),
                                     data)
    for i in range(2):
        data = os.urandom(100_000 + i)
        nodes = others[i:i + 2] + [gone] + others[i + 2:i + 5]
        objs[f"repair/move-e{i}"] = (d.put_ec(f"repair/move-e{i}", data, nodes=nodes), data)
    moved = total(fast, "moved_blobs")
    fast.kill(gone_name)  # SIGKILL: its registration expires with its lease (2 s)
    wait_until(lambda: gone not in d.nodes(), timeout=20, what="node gone from nodes/")
    wait_redundant(d, list(objs), timeout=60)
    for key, (man, data) in objs.items():
        now = d.manifest(key)
        assert now != man and gone not in str(now)
        for (_, old, _), (_, new, _) in zip(d.blobs_of(man), d.blobs_of(now)):
            assert new["id"] == old["id"] and new["len"] == old["len"]
            assert new["crc"] == old["crc"]
            if old["node"] != gone:
                assert new["node"] == old["node"]  # only the lost blobs moved
        assert d.read_object(key) == data
    assert total(fast, "moved_blobs") >= moved + len(objs)


# ---- graced cluster: a replaced disk, and the throughput measurement ----------------------------

def make_objects(d, count, prefix, rsize, esize):
    """count objects, every fourth RS(4,2), written with a few threads."""
    def one(i):
        key = f"{prefix}{i:05d}"
        if i % 4 == 3:
            d.put_ec(key, os.urandom(esize))
        else:
            d.put_replicated(key, os.urandom(rsize))
        return key
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def test_unplaced_blob_of_a_degraded_write_is_placed_at_once(graced):
    """A gateway that found fewer live nodes than blobs names the missing ones
    "unplaced-<i>": the healer places them without waiting for the node grace (10 min here)."""
    d = HsData(graced)
    data = os.urandom(9000)
    man = d.put_replicated("degraded/unplaced", data, commit=False)
    blobs = man["data"]["segs"][0]["blobs"]
    assert d.delete_blob(d.nodes()[blobs[2]["node"]], blobs[2]["id"]) == 204
    blobs[2]["node"] = "unplaced-2"
    d.commit(man, mark=True)
    wait_until(lambda: "degraded/unplaced" not in d.repair_marks(), timeout=30,
               what="unplaced blob placed and mark removed")
    now = d.manifest("degraded/unplaced")
    placed = now["data"]["segs"][0]["blobs"][2]
    assert placed["node"] in d.nodes() and placed["id"] == blobs[2]["id"]
    assert placed["node"] not in (blobs[0]["node"], blobs[1]["node"])
    assert d.problems("degraded/unplaced") == []
    assert d.get_blob(d.nodes()[placed["node"]], placed["id"]).content == data


def test_replaced_disk_is_refilled_and_repair_throughput(graced, capsys):
    d = HsData(graced)
    keys = make_objects(d, 400, "disk/", 64 << 10, 256 << 10)
    wait_redundant(d, keys)
    name = "node2"
    node_id = node_ids(graced)[name]
    url = d.nodes()[node_id]
    on_node = d.listing(url)
    assert len(on_node) > 150
    data_dir = graced.proc(name)["data_dir"]
    graced.kill(name, signal.SIGTERM)
    for entry in os.listdir(data_dir):  # a new disk: only the node id survives
        if entry != "node-id":
            p = os.path.join(data_dir, entry)
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    blobs0, bytes0, objs0 = (total(graced, "repaired_blobs"), total(graced, "repaired_bytes"),
                             total(graced, "repaired_objects"))
    graced.respawn(name)
    t0 = time.monotonic()
    first = []

    def restored():
        if not first and total(graced, "repaired_blobs") > blobs0:
            first.append(time.monotonic())
        return total(graced, "repaired_blobs") - blobs0 >= len(on_node) and \
            d.listing(url) == on_node
    wait_until(restored, timeout=240, interval=0.2, what="the new disk refilled")
    t_end = time.monotonic()
    listings, live = {}, d.nodes()
    for k in keys:  # blob by blob: on its node, with the manifest's length and CRC
        assert d.problems(k, listings, live) == []
    assert d.listing(url) == on_node  # the same blobs, same sizes and CRCs, on the same node
    blobs = total(graced, "repaired_blobs") - blobs0
    nbytes = total(graced, "repaired_bytes") - bytes0
    objs = total(graced, "repaired_objects") - objs0
    assert blobs == len(on_node) and objs == len(on_node)
    busy = t_end - first[0]
    with capsys.disabled():
        print(f"\n[repair throughput] replaced disk, {len(keys)} objects in the cluster "
              f"(3/4 replicated 64 KiB, 1/4 RS(4,2) 256 KiB), 6 nodes, fsync always, "
              f"repair concurrency 8: {blobs} blobs / {nbytes / 1e6:.1f} MB rewritten for "
              f"{objs} objects; full redundancy {t_end - t0:.1f} s after the node came back "
              f"(detection {first[0] - t0:.1f} s, audit interval 2 s); while repairing "
              f"{objs / busy:.0f} objects/s, {nbytes / 1e6 / busy:.1f} MB/s written")
    for k in keys[:8]:
        d.read_object(k)


# ---- slow cluster: 1 MiB/s, one object at a time ---------------------------------------------

def test_repair_bandwidth_is_limited(slow):
    d = HsData(slow)
    keys = make_objects(d, 12, "rate/", 256 << 10, 256 << 10)
    wait_redundant(d, keys)
    victim_node = sorted(d.nodes())[0]
    url = d.nodes()[victim_node]
    lost = [b["id"] for k in keys for _, b, _ in d.blobs_of(d.manifest(k))
            if b["node"] == victim_node]
    assert len(lost) >= 3
    bytes0 = total(slow, "repaired_bytes")
    for bid in lost:
        assert d.delete_blob(url, bid) == 204
    t0 = time.monotonic()
    wait_redundant(d, keys, timeout=120)
    elapsed = time.monotonic() - t0
    nbytes = total(slow, "repaired_bytes") - bytes0
    # every repaired blob costs its read plus its write against the 1 MiB/s budget, with one
    # second of burst: the transfer cannot beat that
    charged = 2 * nbytes
    assert elapsed >= (charged - (1 << 20)) / (1 << 20) * 0.9, (elapsed, charged)
    assert total(slow, "repair_throttle_ms") > 0


def test_least_redundant_objects_are_repaired_first(slow):
    """One repair at a time: the object down to its last replica goes first, then the EC
    object down to k shards, then those that lost one blob."""
    d = HsData(slow)
    keys = [f"prio/{i:02d}" for i in range(10)]
    mans = [d.put_replicated(k, os.urandom(3000), commit=False) for k in keys]
    weak, ec_key = keys[7], "prio/ec"
    mans.append(d.put_ec(ec_key, os.urandom(40_000), commit=False))
    live = d.nodes()
    for man in mans:
        blobs = man["data"]["segs"][0]["blobs"]
        lose = blobs[:2] if man["key"] in (weak, ec_key) else blobs[:1]
        for b in lose:
            assert d.delete_blob(live[b["node"]], b["id"]) == 204
    d.commit_many(mans, mark=True)  # every loss becomes visible in one etcd revision
    wait_until(lambda: not any(k.startswith("prio/") for k in d.repair_marks()), timeout=60,
               what="marks processed")
    assert all_redundant(d, keys + [ec_key])
    order = []
    for p in slow.processes("healer"):
        with open(p["log"], encoding="utf-8", errors="replace") as f:
            order += [line.split("obj='")[1].split("'")[0] for line in f
                      if "evt=object_repaired" in line and "obj='prio/" in line]
    # redundancy 0 (one replica left; 4 of 4+2 shards left; ties by key), then the rest (1)
    assert order[:2] == [weak, ec_key], order
    assert sorted(order) == sorted(keys + [ec_key])


def test_leader_killed_half_way_through_repairs_standby_finishes(slow):
    d = HsData(slow)
    keys = make_objects(d, 24, "kill/", 200 << 10, 256 << 10)
    wait_redundant(d, keys)
    victim_node = sorted(d.nodes())[1]
    url = d.nodes()[victim_node]
    lost = {b["id"] for k in keys for _, b, _ in d.blobs_of(d.manifest(k))
            if b["node"] == victim_node}
    assert len(lost) >= 6
    manifests = {k: d.manifest(k) for k in keys}
    for bid in lost:
        assert d.delete_blob(url, bid) == 204
    leader = leader_name(slow)
    leader_url = dict(healer_urls(slow))[leader]
    start = metrics_of(leader_url)["hybridstore_healer_repaired_blobs"]
    wait_until(lambda: (metrics_of(leader_url) or {}).get(
        "hybridstore_healer_repaired_blobs", 0) >= start + 2, timeout=60,
        what="the leader to repair a few blobs")
    slow.kill(leader)
    done = len(lost & set(d.listing(url)))
    assert done < len(lost), "the leader finished before it was killed: test too small"
    standby = leader_name(slow, exclude=(leader,))
    assert standby != leader
    wait_redundant(d, keys, timeout=120)
    # nothing is worse: the same manifests, every blob where they say, every object readable
    for k in keys:
        assert d.manifest(k) == manifests[k]
        d.read_object(k)
    assert set(d.listing(url)) >= lost


# ---- gw cluster: objects written by the gateway --------------------------------------------------

def gw_put(c, key, body, strategy, ctype="application/octet-stream"):
    r = requests.put(f"{c.proc('gateway0')['url']}/v1/objects/{key}", data=body,
                     params={"strategy": strategy}, headers={"Content-Type": ctype}, timeout=120)
    assert r.status_code in (200, 201), r.text
    return r.json()


def gw_get(c, key):
    r = requests.get(f"{c.proc('gateway0')['url']}/v1/objects/{key}", timeout=120)
    assert r.status_code == 200, r.text
    return r.content


def test_gateway_objects_of_every_strategy_are_repaired(gw):
    d = HsData(gw)
    bodies = {
        "gw/repl": (os.urandom(100_000), "replication", "application/octet-stream"),
        "gw/ec": (os.urandom(10 << 20), "ec", "application/octet-stream"),  # two segments
        "gw/hybrid": (json.dumps({"like_count": 7, "title": "t" * 3000, "view_count": 1,
                                  "body": "b" * 200_000}, separators=(",", ":")).encode(),
                       "field_hybrid",
                      "application/json"),
    }
    for key, (body, strategy, ctype) in bodies.items():
        assert gw_put(gw, key, body, strategy, ctype)["strategy"] == strategy
    live = d.nodes()
    lost = []
    for key in bodies:
        man = d.manifest(key)
        for part in ("data", "hot", "cold"):
            for s, seg in enumerate((man.get(part) or {}).get("segs", [])):
                b = seg["blobs"][(s + len(lost)) % len(seg["blobs"])]  # one per segment
                assert d.delete_blob(live[b["node"]], b["id"]) == 204
                lost.append((key, b))
    assert len(lost) == 5  # repl, ec segments 0 and 1, hot, cold
    wait_redundant(d, list(bodies), timeout=60)
    for key, b in lost:
        assert d.listing(live[b["node"]])[b["id"]] == (b["len"], b["crc"])
    for key, (body, _, _) in bodies.items():
        assert gw_get(gw, key) == body


def test_repair_throughput_while_the_gateway_serves_a_load(gw, capsys):
    d = HsData(gw)
    sizes = {"replication": 64 << 10, "ec": 1 << 20}
    keys = []
    for i in range(320):
        strategy = "ec" if i % 4 == 3 else "replication"
        key = f"load/{i:04d}"
        gw_put(gw, key, os.urandom(sizes[strategy]), strategy)
        keys.append(key)
    wait_redundant(d, keys)
    name = "node4"
    node_id = node_ids(gw)[name]
    url = d.nodes()[node_id]
    on_node = d.listing(url)
    data_dir = gw.proc(name)["data_dir"]
    gw.kill(name, signal.SIGTERM)
    for entry in os.listdir(data_dir):
        if entry != "node-id":
            p = os.path.join(data_dir, entry)
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    stop = threading.Event()
    served = {"ops": 0, "errors": 0, "bytes": 0}

    def load(n):
        body = os.urandom(32 << 10)
        i = 0
        while not stop.is_set():
            key = f"traffic/{n}/{i % 20}"
            try:
                gw_put(gw, key, body, "replication")
                assert gw_get(gw, key) == body
                served["ops"] += 2
                served["bytes"] += 2 * len(body)
            except (AssertionError, requests.RequestException):
                served["errors"] += 1
            i += 1
    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        blobs0, bytes0 = total(gw, "repaired_blobs"), total(gw, "repaired_bytes")
        gw.respawn(name)
        t0 = time.monotonic()
        first = []

        def restored():
            if not first and total(gw, "repaired_blobs") > blobs0:
                first.append(time.monotonic())
            listing = d.listing(url)
            return all(listing.get(b) == v for b, v in on_node.items())
        wait_until(restored, timeout=240, interval=0.2, what="the new disk refilled")
        t_end = time.monotonic()
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    listings, live = {}, d.nodes()
    for k in keys:
        assert d.problems(k, listings, live) == []
    blobs = total(gw, "repaired_blobs") - blobs0
    nbytes = total(gw, "repaired_bytes") - bytes0
    busy = t_end - first[0]
    objs = len({b.split(".")[0] for b in on_node})
    with capsys.disabled():
        print(f"\n[repair throughput under load] {len(keys)} objects written by the gateway "
              f"(3/4 replicated 64 KiB, 1/4 RS(4,2) 1 MiB), 6 nodes, concurrency 8, while 4 "
              f"clients PUT+GET 32 KiB objects through the gateway: {len(on_node)} blobs of "
              f"{objs} objects on the replaced disk ({blobs} blobs, {nbytes / 1e6:.1f} MB "
              f"rewritten) restored {t_end - t0:.1f} s after the node came back (detection "
              f"{first[0] - t0:.1f} s); while repairing {objs / busy:.0f} objects/s, "
              f"{nbytes / 1e6 / busy:.1f} MB/s; the load meanwhile: {served['ops']} ops, "
              f"{served['errors']} errors, {served['ops'] / (t_end - t0):.0f} ops/s")
    assert served["errors"] == 0
    for k in keys[:6]:
        gw_get(gw, k)
