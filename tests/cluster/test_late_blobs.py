"""Late blobs: a blob PUT that reaches a node after the gateway gave up on it (the node was
SIGSTOPped, then continued) must not be stored. The gateway sends each blob PUT with the
instant it stops waiting (X-HS-Deadline-Ms) and the node refuses it past that instant, so
once every object is deleted no node keeps a blob of those writes, long before the healer's
GC would have found them (docs/node.md, "Write deadlines"). No healer runs here."""
import os
import time

import pytest
import requests

from cluster import start_with_env
from harness import wait_until
from writekit import all_blobs, gw, qkey

NODE_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_with_env(tmp_path_factory.mktemp("late"),
                       {"HS_GATEWAY_NODE_TIMEOUT": f"{NODE_TIMEOUT_S}s"}, nodes=6, gateways=1,
                       healers=0)
    yield c
    c.stop()


def node_healthy(c, name):
    try:
        return requests.get(c.proc(name)["url"] + "/v1/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def usage(c):
    r = requests.get(gw(c) + "/storage_usage", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def write(c, key, size, statuses):
    strategy = key.split("/")[1]
    try:
        r = requests.put(f"{gw(c)}/v1/objects/{qkey(key)}", params={"strategy": strategy},
                         data=os.urandom(size), timeout=60)
        statuses[key] = r.status_code  # degraded success or failure: both are fine
    except requests.RequestException as e:
        statuses[key] = repr(e)


@pytest.mark.parametrize("n_paused", [1, 2])
def test_writes_to_paused_nodes_leave_no_blob_after_delete(cluster, n_paused):
    """One node stopped: writes succeed degraded (their manifests name the stopped node's blob
    as missing). Two nodes stopped: EC writes (4+2 over 6 nodes) miss their quorum and fail, and
    so do replicated writes that land on both; the gateway's clean-up of a failed write cannot
    reach the stopped nodes, whose PUTs wait in socket buffers, and no manifest names those
    blobs, so deleting objects would never find them. Either way, after the nodes continue,
    those PUTs must not be stored."""
    c = cluster
    c.wait_nodes_registered(6, timeout=40)  # a previous case's stopped nodes are back
    assert all_blobs(c) == set()
    paused = ["node0", "node1"][:n_paused]
    statuses = {}
    keys = [f"late{n_paused}/{strategy}/{i}" for strategy in ("replication", "ec")
            for i in range(5)]
    stopped = []
    try:
        for name in paused:
            c.stop_proc(name)
            stopped.append(name)
        for key in keys:
            write(c, key, 5000, statuses)
        # every PUT the gateway sent to a paused node is now past its deadline
        time.sleep(NODE_TIMEOUT_S + 1)
    finally:
        for name in stopped:
            c.cont(name)
    for name in paused:
        wait_until(lambda: node_healthy(c, name), timeout=30, what=f"{name} to answer again")
    time.sleep(1)  # let the node drain what was queued while it was stopped
    for key in statuses:
        r = requests.delete(f"{gw(c)}/v1/objects/{qkey(key)}", timeout=60)
        assert r.status_code in (200, 204, 404), (key, r.status_code, r.text)
    # well under the healer's 1 h GC grace: a few seconds for queued requests to drain
    try:
        wait_until(lambda: all_blobs(c) == set(), timeout=20, interval=0.5,
                   what="no blob left on any node")
    except AssertionError:
        raise AssertionError(f"blobs left after delete: {sorted(all_blobs(c))} "
                             f"(writes answered {statuses})")
    wait_until(lambda: usage(c)["total_system_size"] == 0, timeout=20, interval=0.5,
               what="/storage_usage back to 0")
