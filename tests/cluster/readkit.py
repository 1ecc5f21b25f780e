"""Helpers for the read-path cluster tests (test_read.py, test_reference_read.py): gateway URLs,
native PUT/GET, manifests, and where a blob lives (node process, file on disk)."""
import json
import os
import urllib.parse

import requests

from harness import blob_location, flip_blob_last_byte, wait_until

MiB = 1 << 20


def gateways(c):
    return [p["url"] for p in c.processes("gateway")]


def gw(c, i=0):
    return gateways(c)[i]


def qkey(key):
    return urllib.parse.quote(key, safe="")


def put(c, key, data, strategy="replication", ctype="application/octet-stream", i=0):
    r = requests.put(f"{gw(c, i)}/v1/objects/{qkey(key)}", params={"strategy": strategy},
                     data=data, headers={"Content-Type": ctype}, timeout=120)
    assert r.status_code in (200, 201), (r.status_code, r.text)
    return r.json()


def get(c, key, headers=None, i=0, timeout=60):
    return requests.get(f"{gw(c, i)}/v1/objects/{qkey(key)}", headers=headers or {},
                        timeout=timeout)


def manifest(c, key, i=0):
    r = requests.get(f"{gw(c, i)}/v1/manifests/{qkey(key)}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def delete(c, key, i=0):
    return requests.delete(f"{gw(c, i)}/v1/objects/{qkey(key)}", timeout=60)


def node_ids(c):
    """{node id: process name} of every node of the cluster (ids from <data_dir>/node-id)."""
    out = {}
    for p in c.processes("node"):
        with open(os.path.join(p["data_dir"], "node-id"), encoding="ascii") as f:
            out[f.read().strip()] = p["name"]
    return out


def blob_on_disk(c, node_name, blob_id):
    """True when a node's data dir holds blob_id, as a file or as a live needle."""
    return blob_location(c.proc(node_name)["data_dir"], blob_id) is not None


def flip_last_byte(c, node_name, blob_id):
    """Flips the last payload byte of blob_id on a node, in whichever store holds it."""
    flip_blob_last_byte(c.proc(node_name)["data_dir"], blob_id)


def hybrid_doc(size, like=1):
    """A JSON object of exactly size bytes with one hot field and a cold string filling it."""
    head = '{"like_count":%d,"title":"' % like
    tail = '"}'
    pad = size - len(head) - len(tail)
    assert pad >= 0
    return (head + ("abcdefghij" * (pad // 10 + 1))[:pad] + tail).encode()


def put_complete(c, key, data, strategy, ctype="application/octet-stream", tries=5):
    """put, repeated until every blob of the manifest is on its node's disk: a write under load
    may succeed with a quorum only, and fault tests must know exactly what they break."""
    ids = node_ids(c)
    for _ in range(tries):
        put(c, key, data, strategy=strategy, ctype=ctype)
        m = manifest(c, key)
        blobs = [b for part in ("data", "hot", "cold") if m.get(part)
                 for seg in m[part]["segs"] for b in seg["blobs"]]
        if all(b["node"] in ids and blob_on_disk(c, ids[b["node"]], b["id"]) for b in blobs):
            return m
    raise AssertionError(f"{key}: no complete write in {tries} tries")


def repair_marks(c):
    return c.etcd_range("/hybridstore/v1/repair/")


def wait_node_unregistered(c, node_id, timeout=30):
    wait_until(lambda: not any(k.endswith("/" + node_id) for k in c.registered_nodes()),
               timeout=timeout, what=f"node {node_id} to leave nodes/")


def stats(c, node_name):
    r = requests.get(c.proc(node_name)["url"] + "/v1/stats",
                     headers={"Authorization": f"Bearer {c.secret}"}, timeout=5)
    return r.json()


def dump(obj):
    return json.dumps(obj, sort_keys=True)
