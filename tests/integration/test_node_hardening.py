"""Request hygiene of the storage node (docs/node.md): an encoded NUL in the URL, conflicting
Content-Length headers, Range numbers beyond 64 bits, the header deadline against slowloris
clients, and private file modes in the data dir."""
import os
import socket
import stat
import subprocess
import time

import pytest

from harness import HS_BIN, Node, free_port, wait_until
from test_node import crc_hex, raw_request


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(str(tmp_path_factory.mktemp("hnode")), extra=["--max-blob-size", "1MiB"])
    yield n
    assert n.stop() == 0, n.proc.read_log()[-3000:]


def auth(node):
    return f"Authorization: Bearer {node.secret}\r\n"


def put(node, blob_id, data):
    r = node.session().put(node.blob_url(blob_id), data=data,
                           headers={"X-HS-CRC32C": crc_hex(data)}, timeout=10)
    assert r.status_code in (200, 201, 204), r.text
    return r


def test_encoded_nul_in_blob_id_is_rejected(node):
    s = node.session()
    put(node, "aa01", b"keep me")
    # requests would re-encode the path; send the raw target
    for method, target in [("PUT", "/v1/blobs/aa02%00/../../x"),
                           ("DELETE", "/v1/blobs/aa01%00other"),
                           ("GET", "/v1/blobs/aa01%00other"),
                           ("GET", "/v1/blobs?prefix=aa%00x")]:
        body = b"abc" if method == "PUT" else b""
        head = (f"{method} {target} HTTP/1.1\r\nHost: x\r\n{auth(node)}"
                f"X-HS-CRC32C: {crc_hex(body)}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n")
        status, _, text = raw_request(node.port, head, body)
        assert status == 400, (method, target, status, text)
        assert b"EINVAL" in text
    assert s.get(node.blob_url("aa01"), timeout=5).content == b"keep me"
    assert s.get(node.blob_url("aa02"), timeout=5).status_code == 404


def test_conflicting_content_lengths_are_rejected(node):
    head = (f"PUT /v1/blobs/aa03 HTTP/1.1\r\nHost: x\r\n{auth(node)}"
            f"X-HS-CRC32C: {crc_hex(b'abc')}\r\nContent-Length: 3\r\nContent-Length: 5\r\n"
            "Connection: close\r\n\r\n")
    status, _, text = raw_request(node.port, head, b"abcde")
    assert status == 400, text
    assert node.session().get(node.blob_url("aa03"), timeout=5).status_code == 404


def test_identical_repeated_content_length_is_one_length(node):
    head = (f"PUT /v1/blobs/aa04 HTTP/1.1\r\nHost: x\r\n{auth(node)}"
            f"X-HS-CRC32C: {crc_hex(b'abc')}\r\nContent-Length: 3\r\nContent-Length: 3\r\n"
            "Connection: close\r\n\r\n")
    status, _, text = raw_request(node.port, head, b"abc")
    assert status in (200, 201, 204, 400), text
    if status != 400:
        assert node.session().get(node.blob_url("aa04"), timeout=5).content == b"abc"


def test_range_numbers_beyond_64_bits(node):
    s = node.session()
    data = bytes(range(100))
    put(node, "aa05", data)
    r = s.get(node.blob_url("aa05"), headers={"Range": "bytes=0-99999999999999999999"},
              timeout=5)
    assert r.status_code == 206 and r.content == data
    assert r.headers["Content-Range"] == "bytes 0-99/100"
    r = s.get(node.blob_url("aa05"), headers={"Range": "bytes=90-184467440737095516160"},
              timeout=5)
    assert r.status_code == 206 and r.content == data[90:]
    r = s.get(node.blob_url("aa05"), headers={"Range": "bytes=99999999999999999999-"},
              timeout=5)
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */100"
    r = s.get(node.blob_url("aa05"), headers={"Range": "bytes=-99999999999999999999"},
              timeout=5)
    assert r.status_code == 206 and r.content == data


def test_blob_files_and_dirs_are_private(node):
    put(node, "aa06", b"secret bytes")
    checked = 0
    for dirpath, dirs, files in os.walk(node.data_dir):
        mode = stat.S_IMODE(os.stat(dirpath).st_mode)
        assert mode & 0o077 == 0, f"{dirpath} is {oct(mode)}"
        for name in files:
            p = os.path.join(dirpath, name)
            mode = stat.S_IMODE(os.stat(p).st_mode)
            assert mode & 0o077 == 0, f"{p} is {oct(mode)}"
            checked += 1
    assert checked >= 1


def test_slow_header_connections_are_closed_and_do_not_block(node):
    """Clients that trickle header bytes (slowloris) are cut at the header deadline, even though
    each byte restarts the idle timeout; a normal request is served meanwhile."""
    socks = []
    for i in range(40):
        c = socket.create_connection(("127.0.0.1", node.port), timeout=5)
        c.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        socks.append(c)
    assert node.session().get(node.url + "/v1/health", timeout=10).status_code == 200
    closed = set()
    deadline = time.monotonic() + 60  # header deadline 10 s; generous for a loaded machine
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for i, c in enumerate(socks):
            if i in closed:
                continue
            try:
                c.sendall(b"X-Slow: 1\r\n")
                c.settimeout(0.01)
                if c.recv(4096) == b"":
                    closed.add(i)
            except socket.timeout:
                pass
            except OSError:
                closed.add(i)
        time.sleep(1)
    for c in socks:
        c.close()
    assert len(closed) == len(socks), f"only {len(closed)} of {len(socks)} slow clients cut"
    wait_until(lambda: "http_header_timeout" in node.proc.read_log(), timeout=10,
               what="header timeout log line")


def test_slow_but_moving_upload_outlives_the_header_deadline(node):
    """The header deadline (10 s) ends once the headers are in: a body that trickles in for
    longer, a byte a second, is stored."""
    data = b"0123456789abcd"  # 14 bytes over ~14 s
    head = (f"PUT /v1/blobs/aa07 HTTP/1.1\r\nHost: x\r\n{auth(node)}"
            f"X-HS-CRC32C: {crc_hex(data)}\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n")
    c = socket.create_connection(("127.0.0.1", node.port), timeout=30)
    try:
        c.sendall(head.encode())
        for b in data:
            time.sleep(1)
            c.sendall(bytes([b]))
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = c.recv(4096)
            if not chunk:
                break
            answer += chunk
    finally:
        c.close()
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
    assert node.session().get(node.blob_url("aa07"), timeout=5).content == data


EXAMPLE_SECRET = "hybridstore-example-cluster-secret-REPLACE-ME-see-docs-deploy-md"


@pytest.mark.parametrize("how", ["flag", "file"])
def test_the_public_example_secret_is_refused(tmp_path, how):
    """deploy/ once shipped this secret (and compose fell back to it): every daemon refuses it."""
    if how == "file":
        f = tmp_path / "secret"
        f.write_text(EXAMPLE_SECRET + "\n")
        secret_args = ["--secret-file", str(f)]
    else:
        secret_args = ["--secret", EXAMPLE_SECRET]
    for role, extra in [("node", ["--data-dir", str(tmp_path / "d")]), ("gateway", []),
                        ("healer", [])]:
        p = subprocess.run([HS_BIN, role, "--listen", f"127.0.0.1:{free_port()}", "--etcd",
                            "http://127.0.0.1:1"] + extra + secret_args,
                           capture_output=True, text=True, timeout=15)
        assert p.returncode != 0, (role, p.stderr)
        assert "public example" in p.stderr, (role, p.stderr)
