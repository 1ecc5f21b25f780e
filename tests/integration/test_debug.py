"""`hybridstore debug shard|place|manifest|txn` (src/cli/cmd_debug.c) against real data: a blob
file written by a real node, the node's registration in a real etcd, and a manifest and a
write-ahead record put into that etcd by hand (the JSON formats of include/hs/manifest.h)."""
import base64
import json
import os
import shutil
import subprocess
import time

import pytest
import requests

from harness import Node, wait_until

ROOT = "/hybridstore/v1/"


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc_hex(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return f"{c ^ 0xFFFFFFFF:08x}"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def etcd_put(etcd, key, value):
    r = requests.post(etcd.endpoint + "/v3/kv/put", json={"key": b64(key), "value": b64(value)},
                      timeout=5)
    r.raise_for_status()
    return int(r.json()["header"]["revision"])


def etcd_delete(etcd, key):
    requests.post(etcd.endpoint + "/v3/kv/deleterange", json={"key": b64(key)},
                  timeout=5).raise_for_status()


def etcd_prefix(etcd, prefix):
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    r = requests.post(etcd.endpoint + "/v3/kv/range",
                      json={"key": b64(prefix), "range_end": b64(end)}, timeout=5)
    r.raise_for_status()
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", ""))
            for kv in r.json().get("kvs", [])}


def debug(hs_bin, *args):
    return subprocess.run([hs_bin, "debug", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def node(etcd, tmp_path_factory):
    # `debug shard` reads blob files: the node keeps them as files whatever the default
    n = Node(str(tmp_path_factory.mktemp("debug-node")), etcd=etcd.endpoint,
             extra=["--small-blob-store", "files"])
    yield n
    n.stop()


def blob_path(node, blob_id):
    return os.path.join(node.data_dir, "objects", blob_id[0:2], blob_id[2:4], blob_id)


def put_blob(node, blob_id, data):
    r = node.session().put(node.blob_url(blob_id), data=data,
                           headers={"X-HS-CRC32C": crc_hex(data)}, timeout=10)
    assert r.status_code == 201, r.text
    path = blob_path(node, blob_id)
    assert os.path.isfile(path)
    return path


def fields(stdout):
    """'name:   value' lines -> {name: value} (indented raw fields keep their own names)."""
    out = {}
    for line in stdout.splitlines():
        name, sep, value = line.strip().partition(":")
        if sep:
            out.setdefault(name, value.strip())
    return out


# ---- shard ----

def test_shard_on_a_good_blob_prints_every_header_field_and_crc_ok(hs_bin, node):
    data = b"hello debug shard " * 100
    path = put_blob(node, "0d1e.0.0.0", data)
    r = debug(hs_bin, "shard", path)
    assert r.returncode == 0, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["magic"] == "ok"
    assert f["version"] == "1"
    assert f["id"] == "0d1e.0.0.0"
    assert int(f["header_bytes"]) == 44 + len("0d1e.0.0.0")
    assert int(f["payload_bytes"]) == len(data)
    assert int(f["file_bytes"]) == 44 + len("0d1e.0.0.0") + len(data)
    assert f["flags"] == "0x00000000"
    assert f["payload_crc"].split()[0] == crc_hex(data)
    assert f["header_crc"] == "ok"
    assert f["crc"] == "ok"
    assert f["verdict"] == "ok"
    # created is the write time, within a minute of now
    created_ms = int(f["created"].split("(")[1].split()[0])
    assert abs(created_ms - time.time() * 1000) < 60_000


def test_shard_with_a_flipped_payload_byte_reports_the_crc_mismatch(hs_bin, node, tmp_path):
    data = b"payload that will rot" * 50
    src = put_blob(node, "0bad.0.0.1", data)
    copy = tmp_path / "rotten"
    shutil.copyfile(src, copy)
    raw = bytearray(copy.read_bytes())
    raw[-7] ^= 0x40  # a payload byte: the header stays valid
    copy.write_bytes(bytes(raw))
    rotten = data[:-7] + bytes([data[-7] ^ 0x40]) + data[-6:]
    r = debug(hs_bin, "shard", str(copy))
    assert r.returncode == 1, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["id"] == "0bad.0.0.1"
    assert f["crc"] == f"MISMATCH (stored {crc_hex(data)}, computed {crc_hex(rotten)})"
    assert f["verdict"].startswith("CORRUPT")


def test_shard_with_a_broken_header_shows_the_raw_fields(hs_bin, node, tmp_path):
    src = put_blob(node, "0bad.0.0.2", b"abc")
    copy = tmp_path / "badheader"
    shutil.copyfile(src, copy)
    raw = bytearray(copy.read_bytes())
    raw[8] = 7  # format version 7: the header CRC no longer matches either
    copy.write_bytes(bytes(raw))
    r = debug(hs_bin, "shard", str(copy))
    assert r.returncode == 1, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["header"].startswith("CORRUPT")
    assert f["version"] == "7"  # the unverified raw field, as the bytes say
    assert f["id"] == "0bad.0.0.2"
    assert f["crc"].startswith("not checked")
    assert f["verdict"].startswith("CORRUPT")


def test_shard_usage_and_unreadable_file_exit_2(hs_bin, tmp_path):
    r = debug(hs_bin, "shard", str(tmp_path / "missing"))
    assert r.returncode == 2
    assert "cannot read" in r.stderr
    assert debug(hs_bin, "shard").returncode == 2
    assert debug(hs_bin, "shard", "a", "b").returncode == 2
    assert debug(hs_bin, "nonsense").returncode == 2
    h = debug(hs_bin, "shard", "--help")
    assert h.returncode == 0 and "FILE" in h.stdout


# ---- place ----

def placement(stdout):
    rows = [line.split() for line in stdout.splitlines()[2:] if line.strip()]
    return [(int(r[0]), r[1], r[2], r[3]) for r in rows]


def test_place_with_nodes_is_deterministic_and_lists_every_node(hs_bin):
    ids = [f"node-{i}" for i in range(7)]
    a = debug(hs_bin, "place", "photos/cat.jpg", "--nodes", ",".join(ids))
    b = debug(hs_bin, "place", "photos/cat.jpg", "--nodes", ",".join(reversed(ids)))
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout  # same list whatever the order given
    rows = placement(a.stdout)
    assert [r[0] for r in rows] == list(range(7))
    assert sorted(r[1] for r in rows) == ids
    scores = [int(r[3], 16) for r in rows]
    assert scores == sorted(scores, reverse=True)  # best (highest score) first
    other = placement(debug(hs_bin, "place", "photos/dog.jpg", "--nodes", ",".join(ids)).stdout)
    assert [r[1] for r in other] != [r[1] for r in rows]  # the key matters
    top = debug(hs_bin, "place", "photos/cat.jpg", "--nodes", ",".join(ids), "--n", "3")
    assert top.returncode == 0
    assert placement(top.stdout) == rows[:3]


def test_place_errors(hs_bin):
    too_many = debug(hs_bin, "place", "k", "--nodes", "a,b", "--n", "3")
    assert too_many.returncode == 1 and "only 2" in too_many.stderr
    assert debug(hs_bin, "place", "k", "--nodes", "a,a").returncode == 2
    assert debug(hs_bin, "place", "k", "--nodes", ",").returncode == 2
    assert debug(hs_bin, "place", "--nodes", "a").returncode == 2
    unreachable = debug(hs_bin, "place", "k", "--etcd", "http://127.0.0.1:1")
    assert unreachable.returncode == 1 and "cannot list" in unreachable.stderr


def test_place_from_etcd_lists_the_registered_node_with_its_url(hs_bin, node, etcd):
    regs = wait_until(lambda: etcd_prefix(etcd, ROOT + "nodes/"), timeout=15,
                      what="node registration")
    node_id = json.loads(next(iter(regs.values())))["id"]
    r = debug(hs_bin, "place", "some/key", "--etcd", etcd.endpoint)
    assert r.returncode == 0, r.stderr
    rows = placement(r.stdout)
    assert (0, node_id, node.url) == rows[0][:3]
    assert len(rows) == len(regs)


# ---- manifest ----

TXN_ID = "0190f0e0d0c0b0a09080706050403020"


def replication_manifest(key, node_id, data):
    crc = crc_hex(data)
    return json.dumps({
        "v": 1, "key": key, "strategy": "replication", "size": len(data),
        "ctype": "text/plain", "etag": "e-1", "ver": 2, "ctime_ms": 1795680435019,
        "txn": TXN_ID,
        "data": {"len": len(data), "replicas": 2, "segs": [{
            "len": len(data), "crc": crc, "blobs": [
                {"id": f"{TXN_ID}.0.0.0", "node": node_id, "len": len(data), "crc": crc},
                {"id": f"{TXN_ID}.0.0.1", "node": "gone-node", "len": len(data), "crc": crc},
            ]}]},
    }, separators=(",", ":"))


def test_manifest_is_printed_readably_with_repair_mark_and_revision(hs_bin, node, etcd):
    regs = wait_until(lambda: etcd_prefix(etcd, ROOT + "nodes/"), timeout=15,
                      what="node registration")
    node_id = json.loads(next(iter(regs.values())))["id"]
    data = b"twelve bytes"
    rev = etcd_put(etcd, ROOT + "meta/docs/readme", replication_manifest("docs/readme", node_id,
                                                                        data))
    r = debug(hs_bin, "manifest", "docs/readme", "--etcd", etcd.endpoint)
    assert r.returncode == 0, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["strategy"] == "replication"
    assert f["size"] == "12 bytes"
    assert f["version"] == "2"
    assert f["etag"] == '"e-1"'
    assert f["created"].startswith("2026-11-26T")
    assert f["txn"] == TXN_ID
    assert f["mod_revision"].startswith(f"{rev} ")
    assert f["repair"] == "not marked"
    lines = r.stdout.splitlines()
    blob0 = next(line for line in lines if f"{TXN_ID}.0.0.0" in line)
    assert f"node {node_id}" in blob0 and crc_hex(data) in blob0 and node.url in blob0
    blob1 = next(line for line in lines if f"{TXN_ID}.0.0.1" in line)
    assert "node gone-node" in blob1 and "NOT REGISTERED" in blob1

    etcd_put(etcd, ROOT + "repair/docs/readme", '{"reason":"degraded","ms":1}')
    marked = debug(hs_bin, "manifest", "docs/readme", "--etcd", etcd.endpoint)
    assert marked.returncode == 0
    assert fields(marked.stdout)["repair"].startswith('MARKED {"reason":"degraded"')

    raw = debug(hs_bin, "manifest", "docs/readme", "--etcd", etcd.endpoint, "--raw")
    assert raw.returncode == 0
    assert json.loads(raw.stdout) == json.loads(replication_manifest("docs/readme", node_id, data))
    assert "MARKED" in raw.stderr and f"mod_revision: {rev}" in raw.stderr


def test_ec_manifest_names_data_and_parity_shards(hs_bin, etcd):
    seg = b"0123456789"

    def shard(i):
        return {"id": f"{TXN_ID}.0.0.{i}", "node": f"n{i}", "len": 5, "crc": f"{i:08x}"}

    manifest = {"v": 1, "key": "big/ec", "strategy": "ec", "size": 10, "ctype": "a/b",
                "etag": "e-2", "ver": 1, "ctime_ms": 1, "txn": TXN_ID,
                "data": {"len": 10, "k": 2, "m": 1, "stripe": 4096, "segs": [
                    {"len": 10, "crc": crc_hex(seg), "blobs": [shard(i) for i in range(3)]}]}}
    etcd_put(etcd, ROOT + "meta/big/ec", json.dumps(manifest, separators=(",", ":")))
    r = debug(hs_bin, "manifest", "big/ec", "--etcd", etcd.endpoint)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "part data: ec RS(2,1), stripe 4096 bytes, 10 bytes, 1 segment(s)" in r.stdout
    assert f"segment 0: offset 0, 10 bytes, crc {crc_hex(seg)}" in r.stdout
    kinds = [line.split()[:2] for line in r.stdout.splitlines() if TXN_ID + ".0.0." in line]
    assert kinds == [["data", "0"], ["data", "1"], ["parity", "2"]]
    assert "NOT REGISTERED" in r.stdout  # n0..n2 are not live nodes


def test_manifest_absent_exits_3_and_corrupt_exits_1(hs_bin, etcd):
    r = debug(hs_bin, "manifest", "no/such/key", "--etcd", etcd.endpoint)
    assert r.returncode == 3
    assert "no manifest for 'no/such/key'" in r.stderr
    etcd_put(etcd, ROOT + "meta/broken", '{"v":1,"key":"broken"}')
    bad = debug(hs_bin, "manifest", "broken", "--etcd", etcd.endpoint)
    assert bad.returncode == 1
    assert "CORRUPT" in bad.stdout and '{"v":1,"key":"broken"}' in bad.stdout
    unreachable = debug(hs_bin, "manifest", "k", "--etcd", "http://127.0.0.1:1")
    assert unreachable.returncode == 1


# ---- txn ----

def test_txn_lists_a_pending_record_decoded(hs_bin, etcd):
    txn = "0190f0e0d0c0b0a0908070605040aaaa"
    start_ms = int(time.time() * 1000) - 90_000
    record = {"v": 1, "state": "PENDING", "txn": txn, "key": "docs/pending", "owner": "gw-7",
              "start_ms": start_ms,
              "blobs": [{"id": f"{txn}.0.0.{i}", "node": f"n{i}"} for i in range(3)]}
    etcd_put(etcd, ROOT + "txn/" + txn, json.dumps(record, separators=(",", ":")))
    try:
        r = debug(hs_bin, "txn", "--etcd", etcd.endpoint, "--blobs")
        assert r.returncode == 0, r.stdout + r.stderr
        row = next(line.split() for line in r.stdout.splitlines() if line.startswith(txn))
        assert row[1:3] == ["docs/pending", "gw-7"]
        assert 90 <= float(row[3].rstrip("s")) < 150  # age in seconds
        assert row[4] == "3"
        assert f"blob {txn}.0.0.2  node n2" in r.stdout
        assert "1 pending record(s)" in r.stdout

        etcd_put(etcd, ROOT + "txn/ffffffffffffffff", "not json")
        bad = debug(hs_bin, "txn", "--etcd", etcd.endpoint)
        assert bad.returncode == 1
        assert "ffffffffffffffff" in bad.stdout and "UNDECODABLE" in bad.stdout
    finally:
        etcd_delete(etcd, ROOT + "txn/ffffffffffffffff")
        etcd_delete(etcd, ROOT + "txn/" + txn)
    empty = debug(hs_bin, "txn", "--etcd", etcd.endpoint)
    assert empty.returncode == 0 and "0 pending record(s)" in empty.stdout
