"""A node that comes back with an empty data dir is refilled at once, with the healer's default
settings (no shortened audit interval): the node reports a new data-dir identity (`volume` in
its registration, kept in <data-dir>/.hs-volume-id) or a restart, the healer starts a targeted
sweep of that node (its listing against every manifest placing something on it) and repairs
everything it lost, within a deadline far shorter than the audit interval.

Objects are made by hand with hsdata (blobs straight to nodes, manifests straight into etcd):
300 objects, 3/4 replicated, 1/4 RS(4,2), on 6 nodes.
"""
import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cluster import start_with_env
from harness import wait_until
import hsdata
from hsdata import HsData

OBJECTS = 300
REFILL_DEADLINE_S = 45  # default audit interval: 1 min between sweep starts
AUDIT_INTERVAL = "1h"   # no regular sweep can do the job: only the targeted one


@pytest.fixture(scope="module")
def wc(tmp_path_factory):
    env = {"HS_HEALER_AUDIT_INTERVAL": AUDIT_INTERVAL}
    c = start_with_env(str(tmp_path_factory.mktemp("wipe")), env, nodes=6, gateways=0, healers=1)
    yield c
    c.stop()


def healer_metric(c, key):
    (p,) = c.processes("healer")
    try:
        return hsdata.metrics(p["url"], timeout=3).get("hybridstore_healer_" + key, 0)
    except requests.RequestException:
        return 0


def healer_log(c):
    (p,) = c.processes("healer")
    with open(p["log"], encoding="utf-8", errors="replace") as f:
        return f.read()


def node_id_of(c, name):
    with open(os.path.join(c.proc(name)["data_dir"], "node-id"), encoding="ascii") as f:
        return f.read().strip()


def make_objects(d, prefix):
    def one(i):
        key = f"{prefix}{i:04d}"
        if i % 4 == 3:
            d.put_ec(key, os.urandom(48 << 10))
        else:
            d.put_replicated(key, os.urandom(12 << 10))
        return key
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(OBJECTS)))


def wipe(c, name, keep):
    """Stops the node (SIGTERM), removes everything in its data dir but `keep`, restarts it."""
    data_dir = c.proc(name)["data_dir"]
    c.kill(name, signal.SIGTERM)
    for entry in os.listdir(data_dir):
        if entry not in keep:
            p = os.path.join(data_dir, entry)
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    c.respawn(name)


def refill(c, d, name, capsys, what, keep):
    node_id = node_id_of(c, name)
    url = d.nodes()[node_id]
    before = d.listing(url)
    assert len(before) > 100
    sweeps0 = healer_metric(c, "targeted_sweeps")
    wipe(c, name, keep)
    t0 = time.monotonic()
    wait_until(lambda: node_id in d.nodes(), timeout=30, what=f"{name} registered again")
    url = d.nodes()[node_id]
    wait_until(lambda: d.listing(url) == before, timeout=REFILL_DEADLINE_S, interval=0.5,
               what=f"{name}'s {len(before)} blobs back after {what}")
    took = time.monotonic() - t0
    assert healer_metric(c, "targeted_sweeps") > sweeps0
    with capsys.disabled():
        print(f"\n[wipe] {what}: {len(before)} blobs of {OBJECTS} objects back on {name} "
              f"{took:.1f} s after its restart (audit interval {AUDIT_INTERVAL})")
    return node_id


def test_node_back_with_a_new_data_dir_is_refilled_at_once(wc, capsys):
    d = HsData(wc)
    keys = make_objects(d, "wipe/")
    node_id = refill(wc, d, "node2", capsys, "a new data dir (node-id kept)", keep={"node-id"})
    assert f"evt=node_refill_wanted node={node_id} reason=volume_changed" in healer_log(wc)
    listings, live = {}, d.nodes()
    for k in keys:
        assert d.problems(k, listings, live) == []
    for k in keys[:8]:
        d.read_object(k)


def test_node_restarted_without_its_blobs_is_refilled_at_once(wc, capsys):
    """The blob files gone but the identity file kept: the restart is what triggers."""
    d = HsData(wc)
    node_id = refill(wc, d, "node4", capsys, "blob files removed (identity kept)",
                     keep={"node-id", ".hs-volume-id"})
    log = healer_log(wc)
    assert f"evt=node_refill_wanted node={node_id} reason=restarted" in log or \
        f"evt=node_refill_wanted node={node_id} reason=back" in log
