"""Scenarios 3 and 5 of tests/faults/README.md on one cluster (7 nodes, 2 gateways, 2 healers) whose
healers treat a node as removed at once (HS_HEALER_NODE_GRACE=0s) and collect orphans at once
(HS_HEALER_GC_GRACE=0s).

3. A node is removed for good: its blobs move to the remaining nodes, the manifests are updated
   (by compare-and-swap) and reads never fail meanwhile.
5. A gateway is SIGKILLed between the blob phase and the commit (the build-time fault point
   hs_fault("gateway.before_commit"), armed with HS_FAULT in that gateway's environment only):
   the client's write fails, the old version stays readable, the healer rolls the WAL record
   back and no orphan blob survives the GC grace period."""
import signal
import threading
import time

import pytest

import faultlib as fl

ENV = {
    "HS_HEALER_NODE_GRACE": "0s",
    "HS_HEALER_GC_GRACE": "0s",
}
FAULT = "gateway.before_commit"


@pytest.fixture(scope="module")
def env(tmp_path_factory, hs_bin):  # hs_bin: a clear failure when the build is missing
    c = fl.start_cluster(tmp_path_factory.mktemp("faults-removal"), env=ENV, nodes=7,
                         gateways=2, healers=2)
    st = type("State", (), {})()
    st.c = c
    st.urls = fl.gateway_urls(c)
    st.objects = {}
    yield st
    c.stop()


def write_objects(urls, prefix, per_kind):
    gw = fl.Gw(urls[0])
    out = {}
    for api, strategy in fl.WRITE_KINDS:
        for i in range(per_kind):
            key = f"{prefix}/{api}-{strategy}-{i}"
            size = [100, 5000, 70000, 600000][i % 4]
            body, ctype = fl.object_body(api, strategy, key, i, size)
            code = fl.write_object(gw, api, strategy, key, body, ctype)
            assert code in (200, 201), f"write {key}: {code}"
            out[key] = (api, body)
    return out


class Reader:
    """Reads every object again and again until stopped; records every failed read."""

    def __init__(self, urls, objects):
        self.urls, self.objects = urls, objects
        self.rounds, self.reads, self.bad = 0, 0, []
        self.stop_flag = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_flag.is_set():
            bad = fl.unreadable(self.urls, self.objects, rounds=1)
            self.bad += [(time.monotonic(), b) for b in bad]
            self.reads += len(self.objects)
            self.rounds += 1

    def start(self):
        self.t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        self.t.join(60)


def test_3_removed_node_blobs_move_while_reads_succeed(env):
    c = env.c
    env.objects.update(write_objects(env.urls, "s3", per_kind=4))
    fl.wait_full_redundancy(c, timeout=60)
    by_node = {}
    for m in fl.manifests(c).values():
        for _, _, b in fl.manifest_blobs(m):
            by_node[b["node"]] = by_node.get(b["node"], 0) + 1
    victim_id = max(by_node, key=by_node.get)
    victim = fl.node_names_by_id(c)[victim_id]
    moved_before = fl.healer_sum(c, "moved_blobs")

    reader = Reader(env.urls, env.objects).start()
    try:
        # a whole round of reads before the kill (a loaded machine takes more than a second)
        fl.wait_until(lambda: reader.rounds >= 1, timeout=60, interval=0.1,
                      what="a first round of reads")
        c.kill(victim)
        t_kill = time.monotonic()
        rounds_at_kill = reader.rounds
        fl.wait_unregistered(c, victim_id)
        fl.wait_until(lambda: not any(b["node"] == victim_id for m in fl.manifests(c).values()
                                      for _, _, b in fl.manifest_blobs(m)),
                      timeout=60, interval=0.5, what=f"manifests to drop {victim}")
        fl.wait_full_redundancy(c, timeout=60, what="full redundancy without the removed node")
        rounds_at_done = reader.rounds
        fl.wait_until(lambda: reader.rounds > rounds_at_done + 1, timeout=60,
                      what="a whole round of reads after the move")
    finally:
        reader.stop()
    # whole rounds of reads ran while the blobs moved, and after
    assert rounds_at_kill >= 1 and rounds_at_done > rounds_at_kill
    assert not reader.bad, f"{len(reader.bad)} failed reads after the removal started at " \
        f"{t_kill:.1f}: {reader.bad[:5]}"
    assert fl.healer_sum(c, "moved_blobs") - moved_before >= by_node[victim_id]
    assert not fl.unreadable(env.urls, env.objects)


def fault_write(c, api, strategy, key, body, ctype):
    """Writes through a gateway armed with the fault point. Returns (status or None, the WAL
    record of the write as seen while it was stalled, the record's blobs present on the nodes
    then). The gateway is dead afterwards: killed by the fault point itself, or by us with
    SIGKILL once its record and blobs are in place (if the fault point holds the request)."""
    proc, url = fl.start_gateway(c, f"gateway-fault-{strategy}", env={"HS_FAULT": FAULT},
                                 extra=["--lease-ttl", "2s"])
    result = {}

    def send():
        result["code"] = fl.write_object(fl.Gw(url, timeout=60), api, strategy, key, body,
                                         ctype)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    record, present = None, set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        recs = [r for r in fl.txn_records(c).values() if r["key"] == key]
        if recs:
            record = recs[0]
            lists = fl.listings(c)
            present = {(b["id"], b["node"]) for b in record["blobs"]
                       if b["id"] in lists.get(b["node"], {})}
        if not proc.alive() or not t.is_alive():
            break
        if record and present:
            proc.signal(signal.SIGKILL)  # the fault point holds the request: kill it now
            break
        time.sleep(0.05)
    proc.kill()
    t.join(30)
    if record is None:  # killed before we looked: the record outlives it until rolled back
        recs = [r for r in fl.txn_records(c).values() if r["key"] == key]
        record = recs[0] if recs else None
        if record:
            lists = fl.listings(c)
            present = {(b["id"], b["node"]) for b in record["blobs"]
                       if b["id"] in lists.get(b["node"], {})}
    return result.get("code"), record, present


@pytest.mark.parametrize("api,strategy", [("v1", "ec"), ("ref", "field_hybrid"),
                                          ("v1", "replication")])
def test_5_gateway_killed_before_commit_is_rolled_back(env, api, strategy):
    c = env.c
    key = f"s5/{api}-{strategy}"
    gw = fl.Gw(env.urls[0])
    old, ctype = fl.object_body(api, strategy, key, 1, 300000)
    assert fl.write_object(gw, api, strategy, key, old, ctype) in (200, 201)
    old_txn = fl.manifests(c)[key]["txn"]
    rollbacks = fl.healer_sum(c, "wal_rollbacks")

    new, _ = fl.object_body(api, strategy, key, 2, 400000)
    code, record, present = fault_write(c, api, strategy, key, new, ctype)
    assert code not in (200, 201), "the write was acknowledged: the fault point did not fire"
    assert record is not None, "no WAL record of the interrupted write"
    assert present, "no blob of the interrupted write reached a node: not after the blob phase"

    # the old version is untouched and readable while the record waits for the healer
    assert fl.manifests(c)[key]["txn"] == old_txn
    assert not fl.unreadable(env.urls, {key: (api, old)})

    fl.wait_until(lambda: record["txn"] not in fl.txn_records(c), timeout=30, interval=0.2,
                  what="the healer to roll the WAL record back")
    assert fl.healer_sum(c, "wal_rollbacks") > rollbacks

    def blobs_left():
        lists = fl.listings(c)
        return [b for b in record["blobs"] if b["id"] in lists.get(b["node"], {})]
    fl.wait_until(lambda: not blobs_left(), timeout=30, interval=0.2,
                  what="the interrupted write's blobs to be deleted")
    assert fl.manifests(c)[key]["txn"] == old_txn
    assert not fl.unreadable(env.urls, {key: (api, old)}, rounds=2)
    # nothing else was left behind either (GC grace 0 s)
    fl.wait_until(lambda: not fl.orphans(c), timeout=30, interval=0.5, what="no orphan blobs")
