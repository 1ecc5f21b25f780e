"""Scenarios 1, 2, 4 and 6 of tests/faults/README.md on one cluster (7 nodes, so that with two nodes down
an EC write still finds its quorum of k+1 = 5 nodes; 2 gateways, 2 healers; nodes stay "gone,
not removed" for the whole module: node grace 1 h).

1. Under a write load of all three strategies through both APIs, SIGKILL one node, then a
   second: every acknowledged object stays readable, new writes keep succeeding with quorum.
2. The two nodes come back with empty disks (node-id kept): the healer restores full
   redundancy, checked blob by blob against the manifests in etcd and the nodes' listings.
4. Bytes flipped in one replica, one EC data shard and one EC parity shard on disk: reads stay
   correct; the blobs are quarantined by their nodes (on a read, or by the scrub) and rewritten
   by the healer.
6. The leading healer is SIGKILLed while it repairs a wiped node: the standby finishes.

The tests share one cluster and run in file order (each builds on the previous state)."""
import time

import pytest

import faultinject
import faultlib as fl

ENV = {
    "HS_HEALER_NODE_GRACE": "1h",
    "HS_HEALER_GC_GRACE": "30s",
    # a bounded repair (the throttle is part of what runs), still slow enough that scenario 6
    # kills the leader in the middle of one
    "HS_HEALER_REPAIR_CONCURRENCY": "4",
    "HS_HEALER_REPAIR_RATE": "8MB",
    "HS_NODE_SCRUB_INTERVAL": "3s",
    "HS_NODE_SCRUB_RATE": "32MiB",
}


@pytest.fixture(scope="module")
def env(tmp_path_factory, hs_bin):  # hs_bin: a clear failure when the build is missing
    c = fl.start_cluster(tmp_path_factory.mktemp("faults-nodes"), env=ENV, nodes=7,
                         gateways=2, healers=2)
    st = type("State", (), {})()
    st.c = c
    st.urls = fl.gateway_urls(c)
    st.nodes = fl.NodeCtl(c)
    st.objects = {}   # every acknowledged object: key -> (api, body)
    st.killed = []
    yield st
    st.nodes.stop_all()
    c.stop()


def test_1_two_nodes_sigkilled_under_write_load(env):
    c = env.c
    load = fl.WriteLoad(env.urls, "s1", threads=3, pause=0.1).start()
    try:
        time.sleep(4)
        first, second = "node2", "node5"
        t_kill1 = time.monotonic()
        c.kill(first)
        time.sleep(4)
        t_kill2 = time.monotonic()
        c.kill(second)
        ids = [fl.node_id_of(c, first), fl.node_id_of(c, second)]
        for nid in ids:
            fl.wait_unregistered(c, nid)
        time.sleep(1.5)  # the gateways' watch of nodes/ has seen both go
        t_converged = time.monotonic()
        time.sleep(5)
    finally:
        load.stop()
    env.killed = [first, second]
    env.objects.update(load.acked)

    # each phase: writes that started and ended within it (one in flight at a kill may lose
    # a second blob to it: 4 of 6 shards is below quorum, and 503 is then the right answer)
    before = [a for a in load.attempts() if a[1] < t_kill1]
    one_down = [a for a in load.attempts(since=t_kill1) if a[1] < t_kill2]
    two_down = load.attempts(since=t_converged)
    for phase, attempts in (("before the kills", before), ("one node down", one_down),
                            ("two nodes down", two_down)):
        failed = [a[2:] + (load.why.get(a[2]),) for a in attempts if a[5] not in (200, 201)]
        kinds = {(a[3], a[4]) for a in attempts}
        assert len(attempts) >= 6, f"{phase}: only {len(attempts)} writes"
        assert kinds == set(fl.WRITE_KINDS), f"{phase}: not every strategy/API ran: {kinds}"
        assert not failed, f"{phase}: {len(failed)}/{len(attempts)} writes failed: {failed[:5]}"

    # every acknowledged object reads back exactly, with two of seven nodes gone
    assert not fl.unreadable(env.urls, env.objects, rounds=2)

    # writes placed on 5 live nodes lack a shard: they are acknowledged at quorum and marked
    marks = set(fl.repair_marks(c))
    ec_late = [a[2] for a in two_down if a[4] == "ec"]
    assert ec_late and all(k in marks for k in ec_late), \
        f"degraded EC writes without repair/ mark: {[k for k in ec_late if k not in marks]}"


def test_2_replaced_disks_restored_to_full_redundancy(env):
    c = env.c
    assert env.killed, "scenario 1 did not run"
    for name in env.killed:
        env.nodes.wipe(name)
        env.nodes.start(name)
        fl.wait_registered(c, fl.node_id_of(c, name))
    t0 = time.monotonic()
    fl.wait_full_redundancy(c, timeout=150, what="full redundancy after two replaced disks")
    took = time.monotonic() - t0
    fl.wait_until(lambda: fl.repair_marks(c) == [], timeout=30, what="repair/ marks to go")
    assert fl.healer_sum(c, "repaired_blobs") > 0
    # `hybridstore stat` shows the same blobs as etcd, each on the live node it names
    nodes = fl.live_nodes(c)
    sample = sorted(env.objects)[::max(1, len(env.objects) // 12)]
    for key in sample:
        want = {(b["id"], b["node"]): (b["len"], b["crc"], nodes[b["node"]])
                for _, _, b in fl.manifest_blobs(fl.manifests(c)[key])}
        assert fl.stat_blobs(env.urls[0], key) == want, key
    ids = {fl.node_id_of(c, n) for n in env.killed}
    held = [b for m in fl.manifests(c).values() for _, _, b in fl.manifest_blobs(m)
            if b["node"] in ids]
    mb = sum(b["len"] for b in held) / 1e6
    print(f"\n2 replaced disks ({len(held)} blobs, {mb:.1f} MB of {len(env.objects)} objects) "
          f"restored in {took:.1f}s ({len(held) / took:.0f} blobs/s, {mb / took:.1f} MB/s)")
    assert not fl.unreadable(env.urls, env.objects)


def test_4_flipped_bytes_detected_quarantined_repaired(env):
    c = env.c
    fl.wait_full_redundancy(c, timeout=60)
    inj = faultinject.Injector(c, seed=4)
    flipped = inj.flip(kinds=("replica", "shard", "parity"))
    assert sorted(k for k, *_ in flipped) == ["parity", "replica", "shard"], flipped
    keys = {key for _, key, _, _ in flipped}
    objs = {k: env.objects[k] for k in keys if k in env.objects}
    assert len(objs) == len(keys), "flipped blobs of objects scenario 1 did not write"
    # every read is correct; nodes verify the CRC on every GET and quarantine a corrupt blob
    # (reading again and again lets replica rotation reach the bad copy); the parity shard,
    # which a healthy read never fetches, is found by the nodes' scrub
    wrong = []

    def quarantined():
        wrong.extend(fl.unreadable(env.urls, objs))
        return all(any(q.startswith(b + ".") for q in
                           fl.quarantined_files(c.proc(n)["data_dir"])) for _, _, n, b in flipped)
    fl.wait_until(quarantined, timeout=30, interval=0.2, what=f"{flipped} quarantined")
    assert not wrong, f"reads of corrupted objects failed: {wrong}"
    fl.wait_full_redundancy(c, timeout=60, keys=keys, what="flipped blobs repaired")
    s = fl.node_session(c)
    for kind, key, name, blob_id in flipped:
        m = fl.manifests(c)[key]
        for _, _, b in fl.manifest_blobs(m):
            if b["id"] == blob_id:
                url = fl.live_nodes(c)[b["node"]]
                r = s.get(f"{url}/v1/blobs/{blob_id}", timeout=10)
                assert r.status_code == 200 and len(r.content) == b["len"], \
                    f"repaired {kind} {blob_id}: {r.status_code}"
    assert not fl.unreadable(env.urls, objs)


def test_6_standby_healer_finishes_repair(env):
    c = env.c
    fl.wait_full_redundancy(c, timeout=60)
    leader = fl.leading_healer(c)
    standby = [p for p in c.processes("healer") if p["name"] != leader["name"]][0]
    base = fl.healer_metric(fl.metrics(leader["url"]), "repaired_blobs")
    victim = "node3"
    c.kill(victim)
    env.nodes.wipe(victim)
    env.nodes.start(victim)
    fl.wait_until(lambda: fl.healer_metric(fl.metrics(leader["url"]), "repaired_blobs") > base,
                  timeout=30, interval=0.05, what="the leader to start repairing")
    c.kill(leader["name"])
    t_kill = time.monotonic()
    left = fl.redundancy_problems(c)
    assert left, "the leader finished before it was killed: nothing left to prove"

    new = fl.leading_healer(c, timeout=20)
    t_takeover = time.monotonic() - t_kill
    assert new["name"] == standby["name"]
    fl.wait_full_redundancy(c, timeout=120, what="full redundancy after the leader died")
    print(f"leader killed with {len(left)} blobs left to repair; standby led after "
          f"{t_takeover:.1f}s, finished after {time.monotonic() - t_kill:.1f}s")
    assert fl.healer_metric(fl.metrics(standby["url"]), "repaired_blobs") > 0, \
        "the standby repaired nothing"
    assert not fl.unreadable(env.urls, env.objects)
