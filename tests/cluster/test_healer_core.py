"""The healer's core against real clusters (`hybridstore cluster`, 2 healers): one leader at a
time, takeover after SIGKILL / SIGSTOP / SIGTERM of the leader, fencing of a leader that comes
back from SIGSTOP, WAL recovery (including the stale-record race the reference gets wrong) and
garbage collection (orphans deleted, live and committed blobs never, young orphans kept).

Objects are made by hand with hsdata (blobs straight to nodes, records and manifests straight
into etcd), in the order a gateway uses: WAL record first (owned by a gateway key the test
controls), then blobs, then one commit txn. A test "kills" a writer by deleting its gateway key.
"""
import calendar
import os
import re
import signal
import time
import uuid

import pytest
import requests

from cluster import start_with_env
from harness import wait_until
import hsdata
from hsdata import GATEWAYS, META, TXN, Etcd

TAKEOVER_BOUND_S = 15  # lease TTL 5 s + campaign round trips, with margin for a loaded CI box
PASS_INTERVAL = "300ms"


def start_cluster(tmp_path_factory, name, n_healers, env):
    """A cluster whose healers see env (the launcher passes its environment to children)."""
    c = start_with_env(str(tmp_path_factory.mktemp(name)), env, nodes=4, gateways=0,
                      healers=n_healers)
    return c


@pytest.fixture(scope="module")
def hc(tmp_path_factory):
    c = start_cluster(tmp_path_factory, "healer", 2,
                      {"HS_HEALER_GC_GRACE": "0s", "HS_HEALER_PASS_INTERVAL": PASS_INTERVAL,
                       "HS_NODE_SCRUB_INTERVAL": "1s"})
    yield c
    c.stop()


@pytest.fixture(scope="module")
def etcd(hc):
    return Etcd(hc.etcd)


# ---- helpers ---------------------------------------------------------------------------------


def healers(c):
    """[(name, url)] of the cluster's healers (respawned ones keep their url)."""
    return [(p["name"], p["url"]) for p in c.processes("healer")]


def metrics_of(url):
    try:
        return hsdata.metrics(url, timeout=3)
    except requests.RequestException:
        return None  # stopped or dead


def leaders(c):
    """(names reporting is_leader 1, names that answered)."""
    lead, answered = [], []
    for name, url in healers(c):
        m = metrics_of(url)
        if m is None:
            continue
        answered.append(name)
        if m["hybridstore_healer_is_leader"] == 1:
            lead.append(name)
    return lead, answered


def the_leader(c, timeout=TAKEOVER_BOUND_S, exclude=()):
    """Waits until exactly one answering healer (not in exclude) leads; returns its name."""
    def one():
        lead, _ = leaders(c)
        lead = [n for n in lead if n not in exclude]
        return lead[0] if len(lead) == 1 else None
    return wait_until(one, timeout=timeout, interval=0.1, what="exactly one healer leading")


def url_of(c, name):
    return dict(healers(c))[name]


def metric(c, name, key):
    m = metrics_of(url_of(c, name))
    assert m is not None, f"{name} does not answer /metrics"
    return m["hybridstore_healer_" + key]


def total(c, key):
    return sum((metrics_of(u) or {}).get("hybridstore_healer_" + key, 0) for _, u in healers(c))


def wait_passes(c, key, count, timeout=20):
    """Waits until the healers together completed count more passes of kind key."""
    start = total(c, key)
    wait_until(lambda: total(c, key) >= start + count, timeout=timeout,
               what=f"{count} more {key}")


def log_text(c, name):
    with open(c.proc(name)["log"], encoding="utf-8", errors="replace") as f:
        return f.read()


class Writer:
    """A fake gateway: registers gateways/<id> (no lease), then writes like the gateway does."""

    def __init__(self, c, etcd):
        self.c, self.etcd = c, etcd
        self.id = "gw-" + uuid.uuid4().hex[:10]
        self.nodes = hsdata.live_nodes(etcd)
        self.node_ids = sorted(self.nodes)
        etcd.put(GATEWAYS + self.id, '{"url":"http://127.0.0.1:1"}')

    def die(self):
        self.etcd.delete(GATEWAYS + self.id)

    def begin(self, key, data, node_ids=None, extra_locs=(), start_ms=None, txn=None):
        """WAL record, then one replica per node: returns (txn, own locs)."""
        txn = txn or hsdata.txn_id()
        node_ids = node_ids or self.node_ids[:3]
        locs = [(hsdata.blob_id(txn, 0, 0, i), n) for i, n in enumerate(node_ids)]
        self.etcd.put(TXN + txn, hsdata.wal_record(txn, key, self.id, locs + list(extra_locs),
                                                   start_ms))
        for bid, n in locs:
            hsdata.put_blob(self.nodes[n], self.c.secret, bid, data)
        return txn, locs

    def commit(self, key, data, txn, locs, ver=1):
        """One txn as the gateway's commit: record still there -> manifest put, record gone."""
        body = {"compare": [{"key": hsdata.b64(TXN + txn), "target": "VERSION",
                             "result": "GREATER", "version": "0"}],
                "success": [{"request_put": {"key": hsdata.b64(META + key),
                                             "value": hsdata.b64(hsdata.manifest_replicated(
                                                 key, data, locs, txn, ver))}},
                            {"request_delete_range": {"key": hsdata.b64(TXN + txn)}}]}
        out = self.etcd.post("/v3/kv/txn", body)
        assert out.get("succeeded"), out

    def write(self, key, data, ver=1):
        txn, locs = self.begin(key, data)
        self.commit(key, data, txn, locs, ver)
        return txn, locs


def present(c, etcd, locs):
    nodes = hsdata.live_nodes(etcd)
    return [(b, n) for b, n in locs if hsdata.has_blob(nodes[n], c.secret, b)]


# ---- leadership ------------------------------------------------------------------------------


def test_exactly_one_healer_leads_and_etcd_names_it(hc, etcd):
    leader = the_leader(hc, timeout=30)
    lead, answered = leaders(hc)
    assert lead == [leader] and len(answered) == 2
    health = requests.get(url_of(hc, leader) + "/health", timeout=2).json()
    assert health["leader"] is True
    assert etcd.leader()["value"] == health["healer_id"]
    for name, _ in healers(hc):
        if name != leader:
            assert metric(hc, name, "is_leader") == 0


# ---- WAL recovery ----------------------------------------------------------------------------


def test_record_of_dead_gateway_is_rolled_back_with_its_blobs(hc, etcd):
    w = Writer(hc, etcd)
    data = os.urandom(3000)
    txn, locs = w.begin("wal/dead-owner", data)
    wait_passes(hc, "wal_passes", 2)
    assert etcd.get(TXN + txn) is not None, "a live writer's record must stay"
    assert present(hc, etcd, locs) == locs, "a live writer's blobs must stay (GC grace 0)"
    before = total(hc, "wal_rollbacks")
    w.die()
    wait_until(lambda: etcd.get(TXN + txn) is None, timeout=15, what="record rolled back")
    wait_until(lambda: present(hc, etcd, locs) == [], timeout=15, what="blobs deleted")
    assert total(hc, "wal_rollbacks") >= before + 1
    assert etcd.get(META + "wal/dead-owner") is None


def test_record_older_than_wal_timeout_is_rolled_back_even_if_owner_lives(hc, etcd):
    w = Writer(hc, etcd)
    old_ms = int(time.time() * 1000) - 2 * 3600 * 1000  # default --wal-timeout is 60 s
    txn, locs = w.begin("wal/too-old", b"x" * 100, start_ms=old_ms,
                        txn=hsdata.txn_id(old_ms))
    wait_until(lambda: etcd.get(TXN + txn) is None, timeout=15, what="old record rolled back")
    wait_until(lambda: present(hc, etcd, locs) == [], timeout=15, what="blobs deleted")
    w.die()


def test_stale_record_never_deletes_a_blob_the_committed_manifest_references(hc, etcd):
    """The reference's race: a stale record for a key whose newer write committed, naming a
    blob that the committed manifest references. Roll-back must keep that blob."""
    key = "wal/race"
    stale = Writer(hc, etcd)
    data_old = os.urandom(2000)
    stale_txn, stale_locs = stale.begin(key, data_old)
    fresh = Writer(hc, etcd)
    data_new = os.urandom(2500)
    new_txn, new_locs = fresh.write(key, data_new)
    # the stale record also names (blob, node) pairs the committed manifest references
    shared = new_locs[:2]
    etcd.put(TXN + stale_txn, hsdata.wal_record(stale_txn, key, stale.id, stale_locs + shared))
    manifest_before = etcd.get(META + key)
    stale.die()
    wait_until(lambda: etcd.get(TXN + stale_txn) is None, timeout=15, what="stale roll-back")
    wait_until(lambda: present(hc, etcd, stale_locs) == [], timeout=15,
               what="the stale write's own blobs deleted")
    wait_passes(hc, "gc_passes", 2)
    assert present(hc, etcd, new_locs) == new_locs, "a committed blob was deleted"
    assert etcd.get(META + key) == manifest_before
    nodes = hsdata.live_nodes(etcd)
    for b, n in new_locs:
        assert hsdata.get_blob(nodes[n], hc.secret, b) == data_new
    leader = the_leader(hc)
    assert "reason=referenced" in log_text(hc, leader) or any(
        "reason=referenced" in log_text(hc, n) for n, _ in healers(hc))
    fresh.die()


# ---- garbage collection ----------------------------------------------------------------------


def test_gc_deletes_orphans_and_never_live_or_committed_blobs(hc, etcd):
    w = Writer(hc, etcd)
    nodes = hsdata.live_nodes(etcd)
    ids = sorted(nodes)
    # committed object (its record is gone after the commit)
    committed_txn, committed = w.write("gc/committed", os.urandom(4000))
    # a write in flight: record of a live gateway, blobs written, no commit yet
    inflight_data = os.urandom(1500)
    inflight_txn, inflight = w.begin("gc/inflight", inflight_data)
    before = total(hc, "gc_deleted_blobs")  # before the orphans exist: GC may be quick
    # orphans: blobs no manifest and no record name (a crashed write whose record is gone)
    orphan_txn = hsdata.txn_id(int(time.time() * 1000) - 60_000)
    orphans = hsdata.write_blobs(nodes, hc.secret, orphan_txn, b"o" * 700, ids[:2])
    # a blob id that is not a minted id: not the healer's to judge
    foreign = ("f00d", ids[0])
    hsdata.put_blob(nodes[ids[0]], hc.secret, "f00d", b"foreign")
    wait_until(lambda: present(hc, etcd, orphans) == [], timeout=20, what="orphans deleted")
    # a scrape that times out on a loaded machine counts 0: wait rather than read once
    wait_until(lambda: total(hc, "gc_deleted_blobs") >= before + len(orphans), timeout=15,
               what="gc_deleted_blobs to count the orphans")
    wait_passes(hc, "gc_passes", 2)
    assert present(hc, etcd, committed) == committed
    assert present(hc, etcd, inflight) == inflight
    assert present(hc, etcd, [foreign]) == [foreign]
    # the in-flight write can still commit (GC did not roll it back); its blobs then belong
    # to a manifest and stay
    w.commit("gc/inflight", inflight_data, inflight_txn, inflight)
    w.die()
    wait_passes(hc, "gc_passes", 2)
    assert present(hc, etcd, inflight) == inflight
    hsdata.delete_blob(nodes[ids[0]], hc.secret, "f00d")


# ---- scrub progress ---------------------------------------------------------------------------


def test_leader_reports_the_sum_of_the_nodes_scrub_counters(hc, etcd):
    w = Writer(hc, etcd)
    w.write("scrub/some-object", os.urandom(1000))
    w.die()
    nodes = hsdata.live_nodes(etcd)

    def nodes_verified():
        return sum(hsdata.node_stats(u, hc.secret)["scrub"]["verified_blobs"]
                   for u in nodes.values())
    wait_until(lambda: nodes_verified() > 0, timeout=15, what="the nodes' scrub to verify blobs")
    leader = the_leader(hc)
    # the leader polls every 10 s; node counters only grow, so its sum trails the live one
    wait_until(lambda: metric(hc, leader, "scrub_verified_blobs") > 0, timeout=25,
               what="scrub progress in the leader's metrics")
    assert metric(hc, leader, "scrub_verified_blobs") <= nodes_verified()
    assert metric(hc, leader, "scrub_quarantined") == 0


# ---- leader failures -------------------------------------------------------------------------


def test_sigstopped_leader_is_fenced_out_and_never_acts_after_cont(hc, etcd):
    old = the_leader(hc)
    rollbacks_of_old = metric(hc, old, "wal_rollbacks")
    hc.stop_proc(old)
    try:
        t0 = time.monotonic()
        new = the_leader(hc, exclude=(old,))
        took = time.monotonic() - t0
        assert new != old
        assert took < TAKEOVER_BOUND_S
        print(f"takeover after SIGSTOP: {took:.2f}s")
        # the new leader works while the old one is stopped
        w = Writer(hc, etcd)
        txn1, locs1 = w.begin("fence/while-stopped", b"a" * 500)
        w.die()
        wait_until(lambda: etcd.get(TXN + txn1) is None, timeout=15, what="roll-back by new")
    finally:
        hc.cont(old)
    # the old leader notices, within a few seconds, that it lost the lease
    wait_until(lambda: metric(hc, old, "is_leader") == 0, timeout=10,
               what="old leader steps down after SIGCONT")
    # never two leaders from here on, and the old one does no work
    w = Writer(hc, etcd)
    txns = [w.begin(f"fence/after-cont-{i}", b"b" * 300)[0] for i in range(3)]
    w.die()
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        lead, _ = leaders(hc)
        assert len(lead) <= 1, f"two leaders at once: {lead}"
        time.sleep(0.1)
    wait_until(lambda: all(etcd.get(TXN + t) is None for t in txns), timeout=15,
               what="records rolled back by the new leader")
    assert metric(hc, old, "wal_rollbacks") == rollbacks_of_old, "the stopped leader acted"
    assert leaders(hc)[0] == [new]
    text = log_text(hc, old)
    assert re.search(r"evt=(lease_lost|leadership_lost)", text), "old leader did not notice"


def test_leader_stopped_mid_pass_is_fenced_and_nothing_is_done_twice(hc, etcd):
    """SIGSTOP the leader in the middle of a WAL pass over many records, let the standby take
    over, SIGCONT: the old leader's next roll-back txn fails on the fence (fence_failures) or it
    sees its lease lost first; either way it stops leading, and every record is rolled back
    exactly once in total."""
    n = 400
    w = Writer(hc, etcd)
    session = requests.Session()
    txns = [hsdata.txn_id() for _ in range(n)]
    # Every record already quiet for longer than the owner grace (10 s, under the WAL timeout):
    # all stall together when the owner dies, so one pass holds all of them and the stop lands
    # inside it however fast each roll-back is (records written over a few seconds would stall
    # a few per pass, and a stop between two short passes fences nothing).
    start_ms = int(time.time() * 1000) - 11_000
    for t in txns:  # no blobs: each roll-back is one etcd txn, so the pass is long but cheap
        rec = hsdata.wal_record(t, "fence/many", w.id, [], start_ms=start_ms)
        r = session.post(hc.etcd + "/v3/kv/put",
                         json={"key": hsdata.b64(TXN + t), "value": hsdata.b64(rec)},
                         timeout=10)
        r.raise_for_status()
    old = the_leader(hc)
    standby = [name for name, _ in healers(hc) if name != old][0]
    before = {name: metric(hc, name, "wal_rollbacks") for name, _ in healers(hc)}
    fences_before = metric(hc, old, "fence_failures")
    w.die()  # every record is stalled at once
    wait_until(lambda: metric(hc, old, "wal_rollbacks") > before[old], timeout=15, interval=0.01,
               what="the leader's WAL pass to start")
    hc.stop_proc(old)
    try:
        assert the_leader(hc, exclude=(old,)) == standby
    finally:
        hc.cont(old)
    wait_until(lambda: all(etcd.get(TXN + t) is None for t in txns[-5:]), timeout=30,
               what="the new leader to finish the roll-backs")
    wait_until(lambda: metric(hc, old, "is_leader") == 0, timeout=10, what="old one steps down")
    wait_until(lambda: not etcd.range(TXN), timeout=90, what="every record rolled back")
    done = sum(metric(hc, name, "wal_rollbacks") - before[name] for name, _ in healers(hc))
    # Never more than one roll-back per record. One fewer is possible: the txn the old leader
    # had in flight when it was stopped may have been applied by etcd while its reply timed out
    # (an ambiguous result is not counted; that record's blobs are left to GC).
    assert n - 1 <= done <= n, f"{done} roll-backs counted for {n} records"
    # After SIGCONT the old leader stops in one of two ways, both safe: its next roll-back txn
    # fails on the fence, or its lease keeper reports the lease gone first and it steps down
    # before sending another (which of the two wins is a race of its threads).
    log = log_text(hc, old)
    fenced = metric(hc, old, "fence_failures") >= fences_before + 1 and "evt=fenced_out" in log
    lease_gone = "evt=lease_lost" in log and "was_leader=1" in log
    assert fenced or lease_gone, "the old leader neither hit the fence nor saw its lease lost"
    assert leaders(hc)[0] == [standby]


def test_standby_renews_its_campaign_without_logging_a_failure(hc):
    """A standby's campaign blocks until the leader goes and is renewed every 30 s: reaching
    that deadline is normal and must not log etcd_request_failed."""
    leader = the_leader(hc)
    standby = [n for n, _ in healers(hc) if n != leader][0]
    stamp = re.compile(r"^ts=(\S+) .*evt=campaign_started", re.M)

    def campaigning_since():
        found = stamp.findall(log_text(hc, standby))
        return calendar.timegm(time.strptime(found[-1][:19], "%Y-%m-%dT%H:%M:%S"))
    since = campaigning_since()
    wait_until(lambda: time.time() - since > 36, timeout=45, interval=1,
               what="the standby's campaign to pass its 30 s deadline")
    assert campaigning_since() == since, "the standby campaigned again: not a quiet renewal"
    failures = [ln for ln in log_text(hc, standby).splitlines()
                if "etcd_request_failed" in ln and "Campaign" in ln]
    assert not failures, failures[:3]


def test_sigkill_leader_standby_takes_over_within_bound(hc, etcd):
    old = the_leader(hc)
    hc.kill(old)
    t0 = time.monotonic()
    new = the_leader(hc, exclude=(old,))
    took = time.monotonic() - t0
    assert new != old and took < TAKEOVER_BOUND_S, took
    print(f"takeover after SIGKILL: {took:.2f}s")
    # the new leader does the work
    w = Writer(hc, etcd)
    txn, locs = w.begin("kill/after", b"k" * 400)
    w.die()
    wait_until(lambda: etcd.get(TXN + txn) is None, timeout=15, what="roll-back by new leader")
    wait_until(lambda: present(hc, etcd, locs) == [], timeout=15, what="blobs deleted")
    # bring the killed one back: it becomes the standby, one leader stays
    hc.respawn(old)
    wait_until(lambda: metrics_of(url_of(hc, old)) is not None, timeout=15, what="respawned")
    time.sleep(1)
    assert leaders(hc)[0] == [new]
    assert metric(hc, old, "is_leader") == 0


def test_sigterm_leader_resigns_and_standby_takes_over_at_once(hc):
    old = the_leader(hc)
    standby = [n for n, _ in healers(hc) if n != old][0]
    pid = None
    for p in hc.respawned:
        if p.alive() and p.args == hc.proc(old)["argv"]:
            pid = p.pid
    pid = pid or hc.pid(old)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    new = the_leader(hc, exclude=(old,), timeout=10)
    took = time.monotonic() - t0
    print(f"takeover after SIGTERM: {took:.2f}s")
    assert new == standby
    assert took < 3, f"takeover after SIGTERM took {took:.1f}s: the leader did not resign"
    wait_until(lambda: metrics_of(url_of(hc, old)) is None, timeout=10, what="old one exits")
    # its HTTP server stops first; the last line comes once its passes have returned (a layout
    # round may still be waiting on a gateway's statistics for a few seconds)
    wait_until(lambda: "evt=healer_stopped" in log_text(hc, old), timeout=20,
               what="the old one's last log line")


# ---- GC grace period (its own cluster: grace 10 minutes) -------------------------------------


@pytest.fixture(scope="module")
def graced(tmp_path_factory):
    c = start_cluster(tmp_path_factory, "healer-grace", 1,
                      {"HS_HEALER_GC_GRACE": "10m", "HS_HEALER_GC_INTERVAL": "1s",
                       "HS_HEALER_PASS_INTERVAL": PASS_INTERVAL})
    yield c
    c.stop()


def test_gc_keeps_young_orphans_and_deletes_old_ones(graced):
    e = Etcd(graced.etcd)
    nodes = hsdata.live_nodes(e)
    ids = sorted(nodes)
    now_ms = int(time.time() * 1000)
    young = hsdata.write_blobs(nodes, graced.secret, hsdata.txn_id(now_ms), b"y" * 300, ids[:2])
    old = hsdata.write_blobs(nodes, graced.secret, hsdata.txn_id(now_ms - 3600_000), b"o" * 300,
                             ids[:2])
    wait_until(lambda: present(graced, e, old) == [], timeout=20, what="old orphans deleted")
    wait_passes(graced, "gc_passes", 2)
    assert present(graced, e, young) == young
    (name, _), = healers(graced)
    assert metric(graced, name, "gc_orphans_young") >= len(young)
