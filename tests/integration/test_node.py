"""The storage node's HTTP API (docs/node.md) against a real `hybridstore node` process: every
route, every bad input, crash and corruption handling, and registration in a real etcd. The nodes
that look at blob files on disk run the file store by name (`--small-blob-store files`), whatever
the default; test_node_volume.py reruns the store-agnostic tests against the volume store."""
import base64
import json
import os
import signal
import socket
import threading
import time

import pytest
import requests

from harness import Node, wait_until

NODES_PREFIX = "/hybridstore/v1/nodes/"
FILES = ["--small-blob-store", "files"]


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def crc_hex(data):
    return f"{crc32c(data):08x}"


def files_under(root):
    out = []
    for dirpath, _, names in os.walk(root):
        out += [os.path.join(dirpath, n) for n in names]
    return sorted(out)


def blob_files(node):
    return files_under(os.path.join(node.data_dir, "objects"))


def tmp_files(node):
    return files_under(os.path.join(node.data_dir, "tmp"))


def stats(node):
    r = node.session().get(node.url + "/v1/stats", timeout=5)
    assert r.status_code == 200
    return r.json()


def raw_request(port, head, body=b"", read=True, timeout=10):
    """Sends head (+body) on a fresh socket; returns (status, headers text, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head.encode() + body)
        if not read:
            return s
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                hdr, _, rest = data.partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in hdr.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(rest) >= length[0]:
                    break
        hdr, _, rest = data.partition(b"\r\n\r\n")
        return int(hdr.split(b" ")[1]), hdr.decode(), rest
    finally:
        if read:
            s.close()


def etcd_get(etcd, key):
    r = requests.post(etcd.endpoint + "/v3/kv/range",
                      json={"key": base64.b64encode(key.encode()).decode()}, timeout=5)
    r.raise_for_status()
    kvs = r.json().get("kvs", [])
    return json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path), extra=["--max-blob-size", "1MiB"] + FILES)
    yield n
    assert n.stop() == 0, n.proc.read_log()[-3000:]  # clean SIGTERM exit (and no leak under ASan)


def test_put_get_head_delete_round_trip(node):
    s = node.session()
    data = os.urandom(5000)
    r = s.put(node.blob_url("0a1b.2.3"), data=data, headers={"X-HS-CRC32C": crc_hex(data)})
    assert r.status_code == 201, r.text
    assert r.headers["X-Request-Id"]
    r = s.get(node.blob_url("0a1b.2.3"))
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["X-HS-CRC32C"] == crc_hex(data)
    assert r.headers["Content-Length"] == "5000"
    r = s.head(node.blob_url("0a1b.2.3"))
    assert r.status_code == 200
    assert r.headers["Content-Length"] == "5000"
    assert r.headers["X-HS-CRC32C"] == crc_hex(data)
    assert r.content == b""
    assert s.delete(node.blob_url("0a1b.2.3")).status_code == 204
    r = s.get(node.blob_url("0a1b.2.3"))
    assert r.status_code == 404
    assert r.json()["error"] == "ENOENT"
    assert s.delete(node.blob_url("0a1b.2.3")).status_code == 404
    assert s.head(node.blob_url("0a1b.2.3")).status_code == 404


def test_put_without_crc_header_is_accepted_and_empty_blob_works(node):
    s = node.session()
    assert s.put(node.blob_url("aa"), data=b"no crc given").status_code == 201
    assert s.get(node.blob_url("aa")).headers["X-HS-CRC32C"] == crc_hex(b"no crc given")
    assert s.put(node.blob_url("bb"), data=b"").status_code == 201
    r = s.get(node.blob_url("bb"))
    assert r.status_code == 200 and r.content == b""
    assert r.headers["X-HS-CRC32C"] == "00000000"


def test_idempotent_retry_succeeds_and_different_content_conflicts(node):
    s = node.session()
    assert s.put(node.blob_url("cafe.1"), data=b"v1").status_code == 201
    assert s.put(node.blob_url("cafe.1"), data=b"v1").status_code in (200, 201)
    r = s.put(node.blob_url("cafe.1"), data=b"v2")
    assert r.status_code == 409
    assert r.json()["error"] == "EEXIST"
    assert s.get(node.blob_url("cafe.1")).content == b"v1"
    assert tmp_files(node) == []


@pytest.mark.parametrize("bad_id", ["%2e%2e", "%2e%2e%2f%2e%2e%2fLOCK", "ABC", "a" * 201, ".hidden", "a..b",
                                    "a%2fb", "x%20y", "g1", "%00", "a_b"])
def test_bad_id_is_rejected_before_any_file_is_made(node, bad_id):
    s = node.session()
    # The node's own id files (.hs-volume-id and its temp file) may still be in the making when
    # the test starts; only files a request could have made count.
    before = [f for f in files_under(node.data_dir) if "/.hs-" not in f]
    for method in ("PUT", "GET", "HEAD", "DELETE"):
        r = s.request(method, f"{node.url}/v1/blobs/{bad_id}", data=b"x" if method == "PUT" else None)
        assert r.status_code == 400, (method, bad_id, r.status_code)
        if method != "HEAD":
            assert r.json()["error"] == "EINVAL"
    assert [f for f in files_under(node.data_dir) if "/.hs-" not in f] == before


def test_crc_mismatch_is_refused_and_stores_nothing(node):
    s = node.session()
    r = s.put(node.blob_url("dead.1"), data=b"payload", headers={"X-HS-CRC32C": "00000001"})
    assert r.status_code == 400
    assert r.json()["error"] == "ECORRUPT"
    assert r.headers["X-HS-Error"] == "ECORRUPT"
    assert s.get(node.blob_url("dead.1")).status_code == 404
    r = s.put(node.blob_url("dead.2"), data=b"payload", headers={"X-HS-CRC32C": "XYZ"})
    assert r.status_code == 400
    assert blob_files(node) == [] and tmp_files(node) == []


def test_body_over_max_blob_size_is_refused_before_the_body(node):
    head = (f"PUT /v1/blobs/beef HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {node.secret}\r\n"
            f"Content-Length: {2 * 1024 * 1024}\r\n\r\n")
    status, hdr, body = raw_request(node.port, head)  # no body byte sent at all
    assert status == 413
    assert json.loads(body)["error"] == "ETOOBIG"
    assert tmp_files(node) == [] and blob_files(node) == []
    # exactly the limit is fine
    data = b"z" * (1024 * 1024)
    assert node.session().put(node.blob_url("beef"), data=data).status_code == 201


def test_chunked_put_without_length_is_refused(node):
    head = (f"PUT /v1/blobs/c0de HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {node.secret}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    status, _, body = raw_request(node.port, head)
    assert status == 411
    assert json.loads(body)["error"] == "EINVAL"
    assert tmp_files(node) == [] and blob_files(node) == []


def test_missing_or_wrong_secret_is_401_but_health_is_open(node):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dGVzdA=="},
                    {"Authorization": f"Bearer {node.secret}x"}):
        for method, path in (("GET", "/v1/blobs/aa"), ("PUT", "/v1/blobs/aa"),
                             ("GET", "/v1/blobs"), ("GET", "/v1/stats"),
                             ("DELETE", "/v1/blobs/aa")):
            r = requests.request(method, node.url + path, headers=headers, data=b"x")
            assert r.status_code == 401, (headers, method, path)
            assert r.json()["error"] == "EAUTH"
    r = requests.get(node.url + "/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert blob_files(node) == []


def test_unknown_route_and_method(node):
    s = node.session()
    r = s.get(node.url + "/v2/blobs/aa")
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "ENOENT" and body["request_id"] == r.headers["X-Request-Id"]
    assert s.post(node.blob_url("aa"), data=b"x").status_code == 405
    r = s.get(node.url + "/v1/health", headers={"X-Request-Id": "trace-42"})
    assert r.headers["X-Request-Id"] == "trace-42"


def test_stalled_client_is_dropped_and_its_temp_file_removed(tmp_path):
    n = Node(str(tmp_path), extra=["--request-timeout", "2s"])
    try:
        head = (f"PUT /v1/blobs/5105 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {n.secret}\r\n"
                "Content-Length: 1000000\r\n\r\n")
        sock = raw_request(n.port, head, body=b"0123456789", read=False)
        wait_until(lambda: len(tmp_files(n)) == 1, timeout=5, what="temp file of the upload")
        t0 = time.monotonic()
        sock.settimeout(15)
        try:
            rest = sock.recv(65536)
        except ConnectionResetError:
            rest = b""
        waited = time.monotonic() - t0
        sock.close()
        assert rest == b"" and 1.0 < waited < 10, (rest, waited)  # closed by the node
        wait_until(lambda: tmp_files(n) == [], timeout=5, what="temp file removal")
        assert n.session().get(n.blob_url("5105")).status_code == 404
    finally:
        assert n.stop() == 0


def test_write_under_reserve_is_507(tmp_path):
    n = Node(str(tmp_path), extra=["--reserve", "1000000000000000000"])
    try:
        r = n.session().put(n.blob_url("f00d"), data=b"x" * 100)
        assert r.status_code == 507
        assert r.json()["error"] == "ENOSPC"
        assert tmp_files(n) == [] and blob_files(n) == []
    finally:
        assert n.stop() == 0


def test_refuses_to_start_without_a_secret(tmp_path):
    n = Node(str(tmp_path), secret="", wait=False)
    n.proc.popen.wait(10)
    assert n.proc.popen.returncode == 2
    assert "secret" in n.proc.read_log()
    n.proc.stop()
    f = tmp_path / "secret"
    f.write_text("  from-file\n")
    n.secret = "from-file"
    n.extra = []
    args = n.args()
    i = args.index("--secret")
    args[i:i + 2] = ["--secret-file", str(f)]
    n.args = lambda: args
    n.start()
    try:
        assert n.session().put(n.blob_url("ab"), data=b"x").status_code == 201
    finally:
        n.stop()


def test_temp_files_left_by_a_crash_are_removed_at_startup(node):
    node.stop()
    # in a slot directory, and in tmp/ itself where older layouts kept them
    stale = [os.path.join(node.data_dir, "tmp", "7", "0abc.12345.1.tmp"),
             os.path.join(node.data_dir, "tmp", "0abc.12345.2.tmp")]
    for path in stale:
        with open(path, "wb") as f:
            f.write(b"half a blob")
    node.start()
    assert not any(os.path.exists(path) for path in stale)
    assert tmp_files(node) == []
    assert node.session().get(node.blob_url("0abc")).status_code == 404


def test_sigkill_mid_write_leaves_no_visible_partial_blob(node):
    head = (f"PUT /v1/blobs/abad.1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {node.secret}\r\n"
            "Content-Length: 500000\r\n\r\n")
    sock = raw_request(node.port, head, body=b"a" * 1000, read=False)
    stop = threading.Event()

    def dribble():
        try:
            while not stop.is_set():
                sock.sendall(b"b" * 1000)
                time.sleep(0.05)
        except OSError:
            pass
    t = threading.Thread(target=dribble)
    t.start()
    try:
        wait_until(lambda: len(tmp_files(node)) == 1, timeout=5, what="upload in progress")
        node.proc.signal(signal.SIGKILL)
        node.proc.popen.wait(10)
    finally:
        stop.set()
        t.join()
        sock.close()
    node.restart()
    s = node.session()
    assert s.get(node.blob_url("abad.1")).status_code == 404
    assert s.head(node.blob_url("abad.1")).status_code == 404
    ids = [b["id"] for b in s.get(node.url + "/v1/blobs").json()["blobs"]]
    assert "abad.1" not in ids
    assert tmp_files(node) == [] and blob_files(node) == []


def test_corrupt_blob_answers_ecorrupt_and_is_quarantined(node):
    s = node.session()
    data = b"precious bytes " * 100
    assert s.put(node.blob_url("0bad.7"), data=data).status_code == 201
    assert s.put(node.blob_url("0900d"), data=b"fine").status_code == 201
    before = stats(node)
    assert before["blobs"] == 2 and before["quarantined"] == 0
    [path] = [p for p in blob_files(node) if p.endswith("/0bad.7")]
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)  # the last payload byte
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0x01]))
    r = s.get(node.blob_url("0bad.7"))
    assert r.status_code == 500
    assert r.headers["X-HS-Error"] == "ECORRUPT"
    assert r.json()["error"] == "ECORRUPT"
    assert not os.path.exists(path)
    quarantined = files_under(os.path.join(node.data_dir, "quarantine"))
    assert len(quarantined) == 1 and "0bad.7" in quarantined[0]
    after = stats(node)
    assert after["blobs"] == 1 and after["quarantined"] == 1
    assert after["payload_bytes"] == 4
    assert after["errors"]["ECORRUPT"] == before["errors"]["ECORRUPT"] + 1
    assert s.get(node.blob_url("0bad.7")).status_code == 404
    ids = [b["id"] for b in s.get(node.url + "/v1/blobs").json()["blobs"]]
    assert ids == ["0900d"]


def test_range_get_answers_206_with_the_sub_range_and_416_past_the_end(node):
    s = node.session()
    data = os.urandom(10000)
    assert s.put(node.blob_url("0aa.1"), data=data).status_code == 201
    for header, start, end in [("bytes=0-0", 0, 0), ("bytes=100-4095", 100, 4095),
                               ("bytes=9999-", 9999, 9999), ("bytes=-10", 9990, 9999),
                               ("bytes=5000-20000", 5000, 9999), ("bytes=-20000", 0, 9999)]:
        r = s.get(node.blob_url("0aa.1"), headers={"Range": header})
        assert r.status_code == 206, (header, r.text)
        assert r.content == data[start:end + 1], header
        assert r.headers["Content-Range"] == f"bytes {start}-{end}/10000"
        assert r.headers["Content-Length"] == str(end - start + 1)
        # the CRC is still the whole blob's: the node verified all of it before answering
        assert r.headers["X-HS-CRC32C"] == crc_hex(data)
    for header in ["bytes=10000-", "bytes=-0"]:
        r = s.get(node.blob_url("0aa.1"), headers={"Range": header})
        assert r.status_code == 416, header
        assert r.headers["X-HS-Error"] == "ERANGE"
        assert r.headers["Content-Range"] == "bytes */10000"
    # several ranges or another unit: ignored, the whole blob is served
    for header in ["bytes=0-1,5-6", "items=0-1", "bytes=5-2"]:
        r = s.get(node.blob_url("0aa.1"), headers={"Range": header})
        assert r.status_code == 200 and r.content == data, header
    # a corrupt blob is refused for a ranged read too (the whole payload is checked)
    [path] = [p for p in blob_files(node) if p.endswith("/0aa.1")]
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0x01]))
    r = s.get(node.blob_url("0aa.1"), headers={"Range": "bytes=0-9"})
    assert r.status_code == 500 and r.headers["X-HS-Error"] == "ECORRUPT"


def test_listing_pages_cover_every_blob_exactly_once(node):
    s = node.session()
    want = {}
    for i in range(25):
        blob_id = f"{i * 7919:x}.{i % 3}"
        data = os.urandom(i + 1)
        assert s.put(node.blob_url(blob_id), data=data).status_code == 201
        want[blob_id] = (len(data), crc_hex(data))
    seen, after, pages = [], "", 0
    while True:
        r = s.get(node.url + "/v1/blobs", params={"after": after, "limit": 7})
        assert r.status_code == 200
        page = r.json()
        seen += page["blobs"]
        pages += 1
        if page["next_after"] is None:
            break
        after = page["next_after"]
        assert after == page["blobs"][-1]["id"]
    assert pages == 4
    ids = [b["id"] for b in seen]
    assert ids == sorted(want)  # id order, no duplicates, nothing missing
    assert {b["id"]: (b["size"], b["crc32c"]) for b in seen} == want
    for bad in ({"limit": 0}, {"limit": 10001}, {"limit": "x"}, {"after": "UPPER"}):
        assert s.get(node.url + "/v1/blobs", params=bad).status_code == 400


def test_stats_counters_move(node):
    s = node.session()
    before = stats(node)
    for key in ("blobs", "payload_bytes", "free_bytes", "total_bytes", "quarantined"):
        assert isinstance(before[key], int)
    assert before["free_bytes"] > 0 and before["total_bytes"] >= before["free_bytes"]
    assert s.put(node.blob_url("5eed"), data=b"12345").status_code == 201
    assert s.get(node.blob_url("5eed")).status_code == 200
    assert s.head(node.blob_url("5eed")).status_code == 200
    assert s.get(node.blob_url("0404")).status_code == 404
    assert s.put(node.blob_url("BAD"), data=b"x").status_code == 400
    assert s.delete(node.blob_url("5eed")).status_code == 204
    after = stats(node)
    ops_b, ops_a = before["ops"], after["ops"]
    assert ops_a["puts"] == ops_b["puts"] + 1
    assert ops_a["put_bytes"] == ops_b["put_bytes"] + 5
    assert ops_a["gets"] == ops_b["gets"] + 1
    assert ops_a["heads"] == ops_b["heads"] + 1
    assert ops_a["deletes"] == ops_b["deletes"] + 1
    assert after["errors"]["ENOENT"] == before["errors"]["ENOENT"] + 1
    assert after["errors"]["EINVAL"] == before["errors"]["EINVAL"] + 1
    assert after["blobs"] == before["blobs"]


def test_node_id_is_created_once_and_kept(node):
    with open(os.path.join(node.data_dir, "node-id")) as f:
        node_id = f.read().strip()
    assert len(node_id) == 16 and int(node_id, 16) >= 0
    assert requests.get(node.url + "/v1/health").json()["node_id"] == node_id
    node.restart()
    assert requests.get(node.url + "/v1/health").json()["node_id"] == node_id


def test_serves_while_etcd_is_down_and_logs_it_once(node):
    s = node.session()
    assert s.put(node.blob_url("e7cd"), data=b"x").status_code == 201
    time.sleep(2)  # several registration retries with back-off
    log = node.proc.read_log()
    assert log.count("evt=etcd_unreachable") == 1
    assert "evt=registered" not in log


def test_registration_appears_vanishes_on_sigterm_and_returns(tmp_path, etcd):
    n = Node(str(tmp_path), etcd=etcd.endpoint, extra=["--node-id", "node-a", "--zone", "z1"])
    key = NODES_PREFIX + "node-a"
    try:
        value = wait_until(lambda: etcd_get(etcd, key), timeout=10, what="registration")
        assert value["id"] == "node-a" and value["url"] == n.url and value["zone"] == "z1"
        assert value["capacity_bytes"] >= value["free_bytes"] > 0
        assert value["started_ms"] > 0
        assert n.stop() == 0
        assert etcd_get(etcd, key) is None  # revoked, not left to expire
        assert "evt=registered" in n.proc.read_log()
        n.start()
        value = wait_until(lambda: etcd_get(etcd, key), timeout=10, what="re-registration")
        assert value["url"] == n.url
    finally:
        assert n.stop() == 0


def test_sigterm_finishes_in_flight_upload_and_refuses_new_connections(node):
    # over 64 KiB: a streamed write, whose temp file shows that the upload is in progress
    # (smaller blobs are collected in memory and touch the disk only at commit)
    head = (f"PUT /v1/blobs/d4a1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {node.secret}\r\n"
            "Content-Length: 80000\r\n\r\n")
    sock = raw_request(node.port, head, body=b"x" * 1000, read=False)
    wait_until(lambda: len(tmp_files(node)) == 1, timeout=5, what="upload in progress")
    node.proc.signal(signal.SIGTERM)
    wait_until(lambda: "evt=node_stopping" in node.proc.read_log(), timeout=5, what="stopping")

    def refused():
        # the listening socket closes right after that line is logged (a loaded machine can
        # still accept a connect in between)
        try:
            socket.create_connection(("127.0.0.1", node.port), timeout=2).close()
            return False
        except OSError:
            return True
    wait_until(refused, timeout=5, interval=0.05, what="new connections refused")
    for _ in range(79):
        sock.sendall(b"x" * 1000)
        time.sleep(0.005)
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the answer"
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 201"), reply
    assert node.proc.popen.wait(10) == 0
    node.start()
    r = node.session().get(node.blob_url("d4a1"))
    assert r.status_code == 200 and r.content == b"x" * 80000


def test_lost_lease_is_noticed_and_the_node_registers_again(tmp_path, etcd):
    n = Node(str(tmp_path), etcd=etcd.endpoint, extra=["--node-id", "node-lost"])
    key = NODES_PREFIX + "node-lost"
    b64key = base64.b64encode(key.encode()).decode()
    try:
        wait_until(lambda: etcd_get(etcd, key), timeout=10, what="registration")
        kv = requests.post(etcd.endpoint + "/v3/kv/range", json={"key": b64key},
                           timeout=5).json()["kvs"][0]
        old_lease = kv["lease"]
        r = requests.post(etcd.endpoint + "/v3/lease/revoke", json={"ID": old_lease}, timeout=5)
        assert r.status_code == 200
        assert etcd_get(etcd, key) is None

        def registered_again():
            kvs = requests.post(etcd.endpoint + "/v3/kv/range", json={"key": b64key},
                                timeout=5).json().get("kvs", [])
            return kvs and kvs[0]["lease"] != old_lease
        wait_until(registered_again, timeout=15, what="re-registration under a new lease")
        log = n.proc.read_log()
        assert log.count("evt=registration_lost") == 1
        assert log.count("evt=registered") == 2
    finally:
        assert n.stop() == 0


# ---- scrub (src/node/scrub.c) and the prefix filter of the listing -------------------------------

def flip_last_byte(path):
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0x01]))


def test_scrub_finds_a_flipped_byte_and_quarantines_it(tmp_path):
    n = Node(str(tmp_path), extra=["--scrub-interval", "1s", "--scrub-rate", "64MiB"] + FILES)
    try:
        s = n.session()
        blobs = {f"5c0b.{i}": os.urandom(3000 + i) for i in range(5)}
        for blob_id, data in blobs.items():
            assert s.put(n.blob_url(blob_id), data=data).status_code == 201
        wait_until(lambda: stats(n)["scrub"]["cycles_completed"] >= 1, timeout=15,
                   what="a first clean scrub cycle")
        sc = stats(n)["scrub"]
        assert sc["enabled"] is True and sc["interval_ms"] == 1000
        assert sc["rate_bytes_per_s"] == 64 << 20
        assert sc["quarantined"] == 0 and sc["verified_blobs"] >= 5
        [path] = [p for p in blob_files(n) if p.endswith("/5c0b.3")]
        flip_last_byte(path)  # no request touches it: only the scrub can notice
        wait_until(lambda: stats(n)["scrub"]["quarantined"] == 1, timeout=15,
                   what="the scrub to quarantine the corrupt blob")
        st = stats(n)
        assert st["quarantined"] == 1 and st["blobs"] == 4
        assert not os.path.exists(path)
        assert any("5c0b.3" in p for p in files_under(os.path.join(n.data_dir, "quarantine")))
        ids = [b["id"] for b in s.get(n.url + "/v1/blobs").json()["blobs"]]
        assert ids == sorted(set(blobs) - {"5c0b.3"})
        assert s.get(n.blob_url("5c0b.3")).status_code == 404
        cycles = st["scrub"]["cycles_completed"]
        wait_until(lambda: stats(n)["scrub"]["cycles_completed"] > cycles, timeout=15,
                   what="another cycle")
        st = stats(n)["scrub"]
        assert st["quarantined"] == 1  # the other blobs stay healthy across cycles
        assert st["last_cycle_end_ms"] > 0 and st["last_cycle_ms"] >= 0
        assert "evt=scrub_corrupt_blob" in n.proc.read_log()
        with open(os.path.join(n.data_dir, "scrub-last")) as f:
            assert int(f.read()) > 0
    finally:
        assert n.stop() == 0, n.proc.read_log()[-3000:]


def test_scrub_is_paced_to_its_rate(tmp_path):
    n = Node(str(tmp_path), extra=["--scrub-interval", "1s", "--scrub-rate", "100KiB"] + FILES)
    try:
        s = n.session()
        for i in range(3):
            assert s.put(n.blob_url(f"9ace.{i}"), data=os.urandom(100 << 10)).status_code == 201
        # the first cycle may have started before the blobs existed: wait for one that saw them
        wait_until(lambda: stats(n)["scrub"]["verified_bytes"] >= 300 << 10, timeout=20,
                   what="a cycle over the three blobs")
        wait_until(lambda: stats(n)["scrub"]["cycles_completed"] >= 2, timeout=20,
                   what="a full cycle over the three blobs")
        sc = stats(n)["scrub"]
        assert sc["last_cycle_ms"] >= 2500, sc  # 300 KiB at 100 KiB/s: about 3 s
    finally:
        assert n.stop() == 0, n.proc.read_log()[-3000:]


def test_scrub_off_with_interval_zero_and_daily_by_default(tmp_path):
    off = Node(str(tmp_path), name="off", extra=["--scrub-interval", "0"] + FILES)
    on = Node(str(tmp_path), name="on", extra=FILES)
    try:
        assert off.session().put(off.blob_url("0ff"), data=b"abc").status_code == 201
        [path] = blob_files(off)
        flip_last_byte(path)
        time.sleep(2)
        sc = stats(off)["scrub"]
        assert sc["enabled"] is False and sc["cycles_completed"] == 0 and sc["quarantined"] == 0
        assert os.path.exists(path)  # nobody looked at it
        sc = stats(on)["scrub"]
        assert sc["enabled"] is True and sc["interval_ms"] == 24 * 3600 * 1000
        assert sc["rate_bytes_per_s"] == 32 << 20
    finally:
        assert off.stop() == 0 and on.stop() == 0


def test_listing_with_a_prefix_returns_only_those_ids_in_pages(node):
    s = node.session()
    txn_a, txn_b = "0123456789abcdef", "0123456789abcdf0"
    ids = [txn_a, f"{txn_a}.0.0.0", f"{txn_a}.0.0.1", f"{txn_a}.1.0.0", f"{txn_b}.0.0.0", "00ff"]
    for blob_id in ids:
        assert s.put(node.blob_url(blob_id), data=b"x").status_code == 201
    want = sorted(i for i in ids if i.startswith(txn_a))
    page = s.get(node.url + "/v1/blobs", params={"prefix": txn_a}).json()
    assert [b["id"] for b in page["blobs"]] == want and page["next_after"] is None
    seen, after = [], ""
    while True:
        page = s.get(node.url + "/v1/blobs",
                     params={"prefix": txn_a, "after": after, "limit": 1}).json()
        seen += [b["id"] for b in page["blobs"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == want
    page = s.get(node.url + "/v1/blobs", params={"prefix": "fff"}).json()
    assert page == {"blobs": [], "next_after": None}
    assert s.get(node.url + "/v1/blobs", params={"prefix": "UP"}).status_code == 400


def test_node_id_follows_the_one_id_rule_of_manifest_h(tmp_path):
    """Node ids obey hs_meta_node_id_valid, as gateways and the healer check them: a dot is
    fine, a leading '-' or '_' is not (the node used to have a looser rule of its own)."""
    n = Node(str(tmp_path), name="dotted", extra=["--node-id", "rack1.node-a"])
    try:
        assert requests.get(n.url + "/v1/health").json()["node_id"] == "rack1.node-a"
    finally:
        assert n.stop() == 0
    for bad in ["-node", "_node", "a/b"]:
        n = Node(str(tmp_path), name="bad", extra=["--node-id", bad], wait=False)
        n.proc.popen.wait(10)
        assert n.proc.popen.returncode != 0
        assert "node_id_invalid" in n.proc.read_log()
        n.proc.stop()


@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 64 * 1024 + 1, 300 * 1024])
def test_get_of_small_and_large_blobs_answers_verified_bytes_and_catches_damage(node, size):
    # up to 64 KiB a GET is answered from memory, above it streamed from the file: same
    # answer, same CRC check on every read
    s = node.session()
    data = os.urandom(size)
    blob = "5123.%d" % size
    assert s.put(node.blob_url(blob), data=data).status_code == 201
    r = s.get(node.blob_url(blob))
    assert r.status_code == 200 and r.content == data
    assert r.headers["X-HS-CRC32C"] == crc_hex(data)
    assert int(r.headers["Content-Length"]) == size
    if size == 0:
        return
    [path] = [p for p in blob_files(node) if p.endswith("/" + blob)]
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0x01]))
    r = s.get(node.blob_url(blob))
    assert r.status_code == 500 and r.headers["X-HS-Error"] == "ECORRUPT"
    assert not os.path.exists(path)
    assert s.get(node.blob_url(blob)).status_code == 404
