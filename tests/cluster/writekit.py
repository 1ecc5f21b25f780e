"""Helpers for the write-path cluster tests (test_write.py, test_reference_write.py): manifests
straight from etcd's JSON gateway, every blob on every node through the node API (cluster
secret), object bytes rebuilt from the blobs without the gateway's read path, and the orphan
check (every stored blob is referenced by some manifest, no WAL record left)."""
import base64
import json
import os
import urllib.parse

import requests

from harness import wait_until
from hsdata import crc32c, ec_join, ec_shards

ROOT = "/hybridstore/v1/"
MiB = 1 << 20


def gateways(c):
    return [p["url"] for p in c.processes("gateway")]


def gw(c, i=0):
    return gateways(c)[i]


def qkey(key):
    return urllib.parse.quote(key, safe="")


def etcd_kv(c, key):
    """(value bytes, mod_revision) of one etcd key, or (None, 0)."""
    r = requests.post(c.etcd + "/v3/kv/range",
                      json={"key": base64.b64encode(key.encode()).decode()}, timeout=5)
    r.raise_for_status()
    kvs = r.json().get("kvs", [])
    if not kvs:
        return None, 0
    return base64.b64decode(kvs[0].get("value", "")), int(kvs[0]["mod_revision"])


def manifest(c, key):
    """The manifest of key as etcd stores it (dict), or None."""
    value, _ = etcd_kv(c, ROOT + "meta/" + key)
    return None if value is None else json.loads(value)


def manifest_raw(c, key):
    return etcd_kv(c, ROOT + "meta/" + key)


def wal_records(c):
    return c.etcd_range(ROOT + "txn/")


def repair_mark(c, key):
    value, _ = etcd_kv(c, ROOT + "repair/" + key)
    return value


def node_urls(c):
    """{node id: url} of the registered nodes."""
    return {json.loads(v)["id"]: json.loads(v)["url"] for v in c.registered_nodes().values()}


def node_url_by_id(c):
    out = {}
    for p in c.processes("node"):
        with open(os.path.join(p["data_dir"], "node-id")) as f:
            out[f.read().strip()] = (p["url"], p["name"])
    return out


def session(c):
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + c.secret
    return s


def node_blobs(c, url, s=None):
    """{blob id: size} of every blob on the node at url (paged listing)."""
    s = s or session(c)
    out, after = {}, ""
    while True:
        r = s.get(url + "/v1/blobs", params={"after": after, "limit": 10000}, timeout=10)
        assert r.status_code == 200, r.text
        page = r.json()
        for b in page["blobs"]:
            out[b["id"]] = b["size"]
        if not page.get("next_after"):
            return out
        after = page["next_after"]


def all_blobs(c):
    """{(blob id, node id)} of every blob stored on any node."""
    s = session(c)
    out = set()
    for node_id, (url, _) in node_url_by_id(c).items():
        out |= {(b, node_id) for b in node_blobs(c, url, s)}
    return out


def all_manifests(c):
    return {k[len(ROOT + "meta/"):]: json.loads(v) for k, v in c.etcd_range(ROOT + "meta/").items()}


def manifest_blobs(m):
    """{(blob id, node id)} a manifest references."""
    out = set()
    for part in ("data", "hot", "cold"):
        for seg in (m.get(part) or {}).get("segs", []):
            out |= {(b["id"], b["node"]) for b in seg["blobs"]}
    return out


def referenced_blobs(c):
    out = set()
    for m in all_manifests(c).values():
        out |= manifest_blobs(m)
    return out


def retired_blobs(c):
    """{(blob id, node id)} named by retire records: replaced or deleted, kept for readers of the
    old version until the healer's sweeper deletes them after its grace."""
    out = set()
    for v in c.etcd_range(ROOT + "retire/").values():
        rec = json.loads(v)
        for s in rec["sets"]:
            out |= {((s["txn"] + "." + rest) if s["txn"] else rest, node)
                    for rest, node in s["blobs"]}
    return out


def handed_over_blobs(c):
    """{(blob id, node id)} named by WAL records a writer handed to the healer (ABORTED)."""
    out = set()
    for v in wal_records(c).values():
        rec = json.loads(v)
        if rec["state"] != "PENDING":
            out |= {(f"{rec['txn']}.{p['part']:x}.{seg:x}.{i:x}", rec["nodes"][i])
                    for p in rec["parts"] for seg in range(p["segs"])
                    for i in range(min(p["width"], len(rec["nodes"])))}
    return out


def assert_no_orphans(c):
    """No write left pending, and every blob on the nodes is referenced by a manifest, waits for
    the sweeper in a retire record, or belongs to a write handed to the healer (clusters
    without a healer never sweep nor roll back)."""
    wait_until(lambda: all(json.loads(v)["state"] != "PENDING" for v in wal_records(c).values()),
               timeout=5, what="no pending WAL records")
    orphans = all_blobs(c) - referenced_blobs(c) - retired_blobs(c) - handed_over_blobs(c)
    assert not orphans, f"orphan blobs: {sorted(orphans)[:10]} ({len(orphans)})"


def get_blob(c, node_id, blob_id, s=None):
    url = node_url_by_id(c)[node_id][0]
    r = (s or session(c)).get(f"{url}/v1/blobs/{blob_id}", timeout=30)
    assert r.status_code == 200, (node_id, blob_id, r.status_code)
    return r.content


def part_bytes(c, part):
    """The part's data rebuilt from its blobs on the nodes (replicas: every copy is compared;
    EC: data shards joined, parity recomputed and compared), CRCs checked against the
    manifest."""
    s = session(c)
    out = bytearray()
    for seg in part["segs"]:
        blobs = [get_blob(c, b["node"], b["id"], s) for b in seg["blobs"]]
        for b, data in zip(seg["blobs"], blobs):
            assert len(data) == b["len"] and "%08x" % crc32c(data) == b["crc"]
        if "replicas" in part:
            assert all(x == blobs[0] for x in blobs), "replicas differ"
            data = blobs[0]
        else:
            k, m, stripe = part["k"], part["m"], part["stripe"] * part["k"]
            data = ec_join(blobs, k, seg["len"], stripe)
            if seg["len"] <= 4 * MiB:  # the python encoder is slow: check parity on small ones
                assert ec_shards(data, k, m, stripe)[k:] == blobs[k:], "parity differs"
        assert len(data) == seg["len"] and "%08x" % crc32c(data) == seg["crc"]
        out += data
    assert len(out) == part["len"]
    return bytes(out)


def stored_object(c, key):
    """(manifest, bytes) of key read from the nodes without the gateway: replication and ec give
    the object bytes; field_hybrid gives (hot part, cold part)."""
    m = manifest(c, key)
    assert m is not None, f"no manifest for {key!r}"
    if m["strategy"] == "field_hybrid":
        cold = part_bytes(c, m["cold"]) if "cold" in m else b"{}"
        return m, (part_bytes(c, m["hot"]), cold)
    return m, part_bytes(c, m["data"])


def wait_all_nodes(c, timeout=40):
    c.wait_nodes_registered(count=c.nodes, timeout=timeout)


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")
