"""Unreadable records do not stop the healer (a real cluster: 4 nodes, a gateway, a healer with
GC grace 0). A manifest put straight into etcd with an out-of-range number is skipped by every
pass and counted (unreadable_records, gc_unreadable_manifests), logged at most once a minute per
pass; GC keeps collecting orphans elsewhere and keeps the blob ids the bad manifest names; a
DELETE of that object answers 204 and removes the key, after which GC collects its blobs.
"""
import json
import os
import time

import pytest
import requests

from cluster import start_with_env
from harness import wait_until
import hsdata
from hsdata import HsData

META = hsdata.ROOT + "meta/"


@pytest.fixture(scope="module")
def uc(tmp_path_factory):
    c = start_with_env(str(tmp_path_factory.mktemp("unreadable")),
                       # The objects below are written blobs first, then their manifest,
                       # with no WAL record: a grace of a few seconds (judged by the txn id's
                       # time) keeps a GC pass between the two from taking them for orphans.
                       {"HS_HEALER_GC_GRACE": "5s", "HS_HEALER_PASS_INTERVAL": "300ms"}, nodes=4, gateways=1, healers=1)
    yield c
    c.stop()


def healer_metrics(c):
    (p,) = c.processes("healer")
    try:
        return hsdata.metrics(p["url"], timeout=3)
    except requests.RequestException:
        return {}


def metric(c, name):
    return healer_metrics(c).get("hybridstore_healer_" + name, 0)


def present(d, locs):
    nodes = d.nodes()
    return [(b, n) for b, n in locs if d.get_blob(nodes[n], b).status_code == 200]


def locs_of(man):
    return [(b["id"], b["node"]) for s in man["data"]["segs"] for b in s["blobs"]]


def gw_url(c):
    (g,) = c.processes("gateway")
    return g["url"]


def test_unreadable_manifest_is_skipped_counted_and_deletable(uc):
    d = HsData(uc)
    good = d.put_replicated("ok/object", os.urandom(3000))
    bad = d.put_replicated("bad/object", os.urandom(2000), commit=False)
    bad["size"] = -1  # valid JSON, not a valid manifest
    d.etcd_put(META + "bad/object", json.dumps(bad))
    passes0 = metric(uc, "gc_passes")
    # an orphan GC must still collect although a manifest cannot be read
    orphan_txn = hsdata.txn_id(int(time.time() * 1000) - 60_000)
    nodes = d.nodes()
    orphans = hsdata.write_blobs(nodes, uc.secret, orphan_txn, b"o" * 500, sorted(nodes)[:2])
    wait_until(lambda: present(d, orphans) == [], timeout=30, what="orphans collected")
    wait_until(lambda: metric(uc, "gc_passes") >= passes0 + 2, timeout=30,
               what="GC passes to go on")
    assert metric(uc, "gc_unreadable_manifests") == 1
    assert metric(uc, "unreadable_records") >= 2
    assert present(d, locs_of(good)) == locs_of(good)
    assert present(d, locs_of(bad)) == locs_of(bad), "blob ids of an unreadable manifest kept"
    # the log says so at most once a minute per pass, not once per pass
    (p,) = uc.processes("healer")
    with open(p["log"], encoding="utf-8", errors="replace") as f:
        lines = [ln for ln in f if "evt=records_unreadable" in ln and "pass=gc" in ln]
    assert 1 <= len(lines) <= 2, lines
    assert "evt=gc_pass_failed" not in open(p["log"], encoding="utf-8", errors="replace").read()

    # reads say the manifest is broken; DELETE removes it anyway
    url = gw_url(uc) + "/v1/objects/bad/object"
    assert requests.get(url, timeout=10).status_code >= 500
    r = requests.delete(url, headers={"If-Match": '"x"'}, timeout=10)
    assert r.status_code == 412  # an ETag that cannot be read never matches
    r = requests.delete(url, timeout=10)
    assert r.status_code == 204, r.text
    assert d.etcd_get(META + "bad/object") == (None, 0)
    assert requests.delete(url, timeout=10).status_code == 404
    # its blobs are orphans now: GC collects them, never the readable object's
    wait_until(lambda: present(d, locs_of(bad)) == [], timeout=30,
               what="the deleted manifest's blobs collected")
    wait_until(lambda: metric(uc, "gc_unreadable_manifests") == 0, timeout=30,
               what="a GC pass without unreadable manifests")
    assert present(d, locs_of(good)) == locs_of(good)
