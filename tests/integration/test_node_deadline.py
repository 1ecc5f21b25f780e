"""Write deadlines on a real `hybridstore node` registered in a real etcd (docs/node.md,
"Write deadlines"): a PUT carrying X-HS-Deadline-Ms is refused once that instant has passed,
when the request starts (it waited in a queue, or the node was stopped) and right before the
blob would become visible (the body arrived late), and nothing of it stays on disk."""
import os
import signal
import time

import pytest

from harness import Node, wait_until
from test_node import blob_files, crc_hex, raw_request, tmp_files


@pytest.fixture(params=["files", "volume"])
def node(tmp_path, etcd, request):
    n = Node(str(tmp_path), etcd=etcd.endpoint, extra=["--small-blob-store", request.param])
    yield n
    if n.proc.alive():
        n.proc.signal(signal.SIGCONT)
    assert n.stop() == 0, n.proc.read_log()[-3000:]


def now_ms():
    return int(time.time() * 1000)


def stopped(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def listed(node):
    r = node.session().get(node.url + "/v1/blobs", timeout=5)
    assert r.status_code == 200
    return [b["id"] for b in r.json()["blobs"]]


def put_head(node, blob_id, length, deadline_ms):
    return (f"PUT /v1/blobs/{blob_id} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {node.secret}\r\nContent-Length: {length}\r\n"
            f"X-HS-Deadline-Ms: {deadline_ms}\r\nConnection: close\r\n\r\n")


def test_put_with_a_passed_deadline_is_refused_and_stores_nothing(node):
    s = node.session()
    data = os.urandom(3000)
    r = s.put(node.blob_url("d1.0"), data=data,
              headers={"X-HS-CRC32C": crc_hex(data), "X-HS-Deadline-Ms": str(now_ms() - 5000)})
    assert r.status_code == 504, r.text
    assert r.json()["error"] == "ETIMEDOUT"
    assert s.get(node.blob_url("d1.0")).status_code == 404
    assert "d1.0" not in listed(node)
    assert blob_files(node) == []
    wait_until(lambda: tmp_files(node) == [], timeout=5, what="no temp file")


def test_put_within_its_deadline_is_stored(node):
    s = node.session()
    data = os.urandom(3000)
    r = s.put(node.blob_url("d2.0"), data=data,
              headers={"X-HS-CRC32C": crc_hex(data), "X-HS-Deadline-Ms": str(now_ms() + 60000)})
    assert r.status_code == 201, r.text
    assert listed(node) == ["d2.0"]
    assert s.get(node.blob_url("d2.0")).content == data


@pytest.mark.parametrize("bad", ["soon", "-5", "0", "12x", ""])
def test_malformed_deadline_is_400(node, bad):
    r = node.session().put(node.blob_url("d3.0"), data=b"abc", headers={"X-HS-Deadline-Ms": bad})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "EINVAL"
    assert listed(node) == []


def test_body_finishing_after_the_deadline_is_not_published(node):
    """The commit-time check: headers arrive in time, the last body bytes after the deadline."""
    data = os.urandom(4000)
    sock = raw_request(node.port, put_head(node, "d4.0", len(data), now_ms() + 1000),
                       data[:1000], read=False)
    try:
        time.sleep(1.6)
        sock.sendall(data[1000:])
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    finally:
        sock.close()
    assert reply.split(b" ")[1] == b"504", reply
    assert b"ETIMEDOUT" in reply
    assert "d4.0" not in listed(node)
    assert blob_files(node) == []
    wait_until(lambda: tmp_files(node) == [], timeout=5, what="no temp file")
    assert "evt=blob_write_late" in node.proc.read_log()


def test_put_queued_while_the_node_was_stopped_is_refused_when_it_continues(node):
    """The orphan this prevents: the whole request sat in the socket buffer of a stopped node
    while its writer gave up; after SIGCONT the node must not store it."""
    data = os.urandom(2000)
    node.proc.signal(signal.SIGSTOP)
    wait_until(lambda: stopped(node.proc.pid), timeout=5, what="the node to be stopped")
    try:
        sock = raw_request(node.port, put_head(node, "d5.0", len(data), now_ms() + 300), data,
                           read=False)
        time.sleep(1.0)
    finally:
        node.proc.signal(signal.SIGCONT)
    try:
        sock.settimeout(10)
        reply = b""
        while b"ETIMEDOUT" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    finally:
        sock.close()
    assert reply.split(b" ")[1] == b"504", reply
    assert "d5.0" not in listed(node)
    assert blob_files(node) == []
    log = node.proc.read_log()
    assert "evt=blob_put_late" in log or "evt=blob_write_late" in log
