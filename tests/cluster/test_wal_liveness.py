"""Slow uploads and the healer's WAL roll-back: a live, progressing upload is never rolled back
however long it takes; a write whose record was rolled back never commits; a streamed write's
WAL record does not grow with the length the client declares.

The healer runs with a WAL timeout of 4 s, so an upload that trickles for 12 s outlives it
three times. Before the fix the healer rolled such a write back (deleting its blobs), the next
segment re-created the record, the commit succeeded and every GET then failed.
"""
import http.client
import json
import os
import socket
import time
import urllib.parse

import signal

import pytest
import requests

from cluster import start_with_env
from harness import wait_until
from writekit import all_blobs, gw, qkey, referenced_blobs, wal_records

WAL_TIMEOUT_S = 4
TRICKLE_S = 12


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    env = {"HS_HEALER_WAL_TIMEOUT": f"{WAL_TIMEOUT_S}s", "HS_HEALER_WAL_OWNER_GRACE": "2s",
           "HS_HEALER_PASS_INTERVAL": "300ms", "HS_HEALER_GC_GRACE": "1h",
           "HS_GATEWAY_WAL_ALIVE_INTERVAL": "1s",
           # small segments: a trickled upload also crosses segment boundaries
           "HS_GATEWAY_SEGMENT_SIZE": "64KiB",
           # a write to a stopped node gives up in 2 s
           "HS_GATEWAY_NODE_TIMEOUT": "2s"}
    c = start_with_env(str(tmp_path_factory.mktemp("walive")), env, nodes=6, gateways=1, healers=1)
    yield c
    c.stop()


def url(c, key, strategy):
    return f"{gw(c)}/v1/objects/{qkey(key)}?strategy={strategy}"


def trickle(data, seconds):
    """Yields data in pieces spread evenly over `seconds`."""
    pieces = max(1, int(seconds / 0.25))
    step = -(-len(data) // pieces)
    for off in range(0, len(data), step):
        yield data[off:off + step]
        time.sleep(seconds / pieces)


def records_of(c, key):
    out = []
    for k, v in wal_records(c).items():
        rec = json.loads(v)
        if rec["key"] == key:
            out.append(rec)
    return out


def rollbacks(c):
    name = c.processes("healer")[0]["name"]
    with open(c.proc(name)["log"], encoding="utf-8", errors="replace") as f:
        return f.read().count("wal_rolled_back")


@pytest.mark.parametrize("strategy", ["replication", "ec"])
def test_chunked_upload_slower_than_the_wal_timeout_is_readable(cluster, strategy):
    c = cluster
    key = f"slow/chunked-{strategy}"
    data = os.urandom(300_000)  # 5 segments of 64 KiB
    before = rollbacks(c)
    r = requests.put(url(c, key, strategy), data=trickle(data, TRICKLE_S), timeout=120,
                     headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    got = requests.get(f"{gw(c)}/v1/objects/{qkey(key)}", timeout=30)
    assert got.status_code == 200, got.text
    assert got.content == data
    assert rollbacks(c) == before, "a progressing upload was rolled back"


def test_known_length_upload_slower_than_the_wal_timeout_is_readable(cluster):
    c = cluster
    key = "slow/known-length"
    data = os.urandom(200_000)
    u = urllib.parse.urlsplit(url(c, key, "ec"))
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    conn.putrequest("PUT", f"{u.path}?{u.query}")
    conn.putheader("Content-Length", str(len(data)))
    conn.putheader("Content-Type", "application/octet-stream")
    conn.endheaders()
    for piece in trickle(data, TRICKLE_S):
        conn.send(piece)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 201, body
    got = requests.get(f"{gw(c)}/v1/objects/{qkey(key)}", timeout=30)
    assert got.status_code == 200 and got.content == data


def test_a_stalled_upload_is_rolled_back_and_never_committed(cluster):
    """The client stops sending for longer than the WAL timeout: the healer rolls the write
    back; when bytes come again the write is refused, the old version stays, and the blobs it
    had stored are deleted."""
    c = cluster
    key = "slow/stalled"
    old = b"old version"
    assert requests.put(url(c, key, "replication"), data=old, timeout=30).status_code == 201
    data = os.urandom(150_000)
    u = urllib.parse.urlsplit(url(c, key, "replication"))
    sock = socket.create_connection((u.hostname, u.port), timeout=60)
    sock.sendall((f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Length: {len(data)}\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n").encode())
    sock.sendall(data[:100_000])  # one full segment stored, the record names it
    wait_until(lambda: records_of(c, key), timeout=10, what="the write's WAL record")
    wait_until(lambda: not records_of(c, key), timeout=30,
               what="the healer rolling the stalled write back")
    try:
        sock.sendall(data[100_000:])
        reply = sock.recv(65536).decode(errors="replace")
    except OSError:
        reply = ""  # the gateway may also have given up on the silent client
    finally:
        sock.close()
    assert not reply.startswith("HTTP/1.1 2"), reply
    got = requests.get(f"{gw(c)}/v1/objects/{qkey(key)}", timeout=30)
    assert got.status_code == 200 and got.content == old
    # nothing of the refused write stays on the nodes
    wait_until(lambda: all_blobs(c) <= referenced_blobs(c), timeout=30,
               what="the rolled-back write's blobs deleted")


def test_declared_length_does_not_grow_the_wal_record(cluster):
    """Headers alone (a huge Content-Length, one body byte) make etcd store a record of the
    same small size as any write: blob names derive from the txn id. (90 MB is just under the
    largest object of this cluster's 64 KiB segments; the record used to name 8 000 blobs.)"""
    c = cluster
    u = urllib.parse.urlsplit(url(c, "slow/huge-claim", "ec"))
    socks, sizes = [], []
    try:
        for i in range(3):
            s = socket.create_connection((u.hostname, u.port), timeout=30)
            s.sendall((f"PUT /v1/objects/slow/huge-claim-{i}?strategy=ec HTTP/1.1\r\n"
                       "Host: x\r\nContent-Length: 90000000\r\n"
                       "Content-Type: application/octet-stream\r\n\r\nx").encode())
            socks.append(s)
        wait_until(lambda: len([k for k in wal_records(c)]) >= 3, timeout=10,
                   what="three WAL records")
        sizes = [len(v) for v in wal_records(c).values()]
    finally:
        for s in socks:
            s.close()
    assert sizes and max(sizes) < 1024, sizes


def test_a_failed_write_on_stopped_nodes_leaves_nothing_once_they_return(cluster):
    """Five of six nodes stopped: the write reaches at most one replica, fails (503) and hands
    its clean-up to the healer (record ABORTED), which keeps retrying the deletes on the stopped
    nodes; once they continue, every blob of the write is gone and so is its record, well
    within the GC grace (1 h here)."""
    c = cluster
    nodes = [p["name"] for p in c.processes("node")]
    stopped = nodes[:5]
    for name in stopped:
        c.send_signal(name, signal.SIGSTOP)
    try:
        r = requests.put(url(c, "late/failed", "replication"), data=b"z" * 5000, timeout=60)
        assert r.status_code == 503, r.text
    finally:
        for name in stopped:
            c.send_signal(name, signal.SIGCONT)
    wait_until(lambda: not records_of(c, "late/failed"), timeout=60,
               what="the failed write's record cleaned up by the healer")
    wait_until(lambda: all_blobs(c) <= referenced_blobs(c), timeout=60,
               what="every blob of the failed write deleted")
    assert requests.get(f"{gw(c)}/v1/objects/late/failed", timeout=30).status_code == 404
    name = c.processes("healer")[0]["name"]
    with open(c.proc(name)["log"], encoding="utf-8", errors="replace") as f:
        assert "reason=aborted" in f.read(), "the gateway did not hand its clean-up over"
