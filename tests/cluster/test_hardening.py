"""Request hygiene and local hardening of a real cluster (docs/api.md, docs/deploy.md): an
encoded NUL anywhere in the URL, conflicting Content-Length headers, Range numbers beyond 64
bits, slow-header (slowloris) clients at the gateways and at nginx, private file modes in the
cluster directory, and `hybridstore put` streaming a slow pipe."""
import os
import socket
import stat
import subprocess
import threading
import time
import urllib.parse

import requests

from harness import HS_BIN
from writekit import gateways

JSON = {"Content-Type": "application/json"}


def hostport(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port


def raw(url, head, body=b"", timeout=20):
    """head + body on a fresh socket; (status, whole answer) once the server closes."""
    s = socket.create_connection(hostport(url), timeout=timeout)
    try:
        s.sendall(head.encode() + body)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data.split(b" ")[1]), data


def put(gw, key, data):
    r = requests.put(f"{gw}/v1/objects/{key}", data=data, timeout=30)
    assert r.status_code in (200, 201), r.text
    return r


# ---- NUL in the URL -----------------------------------------------------------------------------

def test_encoded_nul_never_addresses_another_object(cluster):
    gw = gateways(cluster)[0]
    put(gw, "victim", b"v1 body")
    assert requests.post(gw + "/write", params={"key": "k1"}, data=b'{"a":1}', headers=JSON,
                         timeout=30).status_code == 200
    cases = [
        ("DELETE", "/v1/objects/victim%00other", b""),
        ("GET", "/v1/objects/victim%00other", b""),
        ("PUT", "/v1/objects/victim%00other", b"overwrite"),
        ("POST", "/write?key=k1%00junk", b'{"b":2}'),
        ("POST", "/write?key=nulnew&strategy=replication%00x", b'{"b":2}'),
        ("GET", "/read/k1%00junk", b""),
        ("DELETE", "/delete/k1%00junk", b""),
        ("GET", "/v1/objects?prefix=vic%00tim", b""),
    ]
    for method, target, body in cases:
        ctype = "Content-Type: application/json\r\n" if method == "POST" else ""
        head = (f"{method} {target} HTTP/1.1\r\nHost: x\r\n{ctype}"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        status, answer = raw(gw, head, body)
        assert status == 400, (method, target, answer[:300])
        assert b"EINVAL" in answer
    r = requests.get(gw + "/v1/objects/victim", timeout=30)
    assert r.status_code == 200 and r.content == b"v1 body"
    r = requests.get(gw + "/read/k1", timeout=30)
    assert r.status_code == 200 and r.json() == {"a": 1}
    assert requests.get(gw + "/v1/objects/nulnew", timeout=30).status_code == 404


# ---- Content-Length -----------------------------------------------------------------------------

def test_conflicting_content_lengths_are_rejected(cluster):
    gw = gateways(cluster)[0]
    head = ("PUT /v1/objects/dupcl HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            "Content-Length: 5\r\nConnection: close\r\n\r\n")
    status, answer = raw(gw, head, b"abcde")
    assert status == 400, answer[:300]
    head = ("POST /write?key=dupcl2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 7\r\nContent-Length: 8\r\nConnection: close\r\n\r\n")
    status, answer = raw(gw, head, b'{"a":12}')
    assert status == 400, answer[:300]
    assert requests.get(gw + "/v1/objects/dupcl", timeout=30).status_code == 404
    assert requests.get(gw + "/v1/objects/dupcl2", timeout=30).status_code == 404


# ---- Range --------------------------------------------------------------------------------------

def test_range_numbers_beyond_64_bits(cluster):
    gw = gateways(cluster)[1]
    data = bytes(range(200))
    put(gw, "bigrange", data)
    url = gw + "/v1/objects/bigrange"
    r = requests.get(url, headers={"Range": "bytes=0-99999999999999999999"}, timeout=30)
    assert r.status_code == 206 and r.content == data
    assert r.headers["Content-Range"] == "bytes 0-199/200"
    r = requests.get(url, headers={"Range": "bytes=150-184467440737095516160"}, timeout=30)
    assert r.status_code == 206 and r.content == data[150:]
    r = requests.get(url, headers={"Range": "bytes=-99999999999999999999"}, timeout=30)
    assert r.status_code == 206 and r.content == data
    r = requests.get(url, headers={"Range": "bytes=99999999999999999999-"}, timeout=30)
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */200"


# ---- slowloris ----------------------------------------------------------------------------------

def trickle(socks, budget_s):
    """Sends a header line on each socket every second until the server closes it; returns the
    set of indexes closed within budget_s."""
    closed = set()
    deadline = time.monotonic() + budget_s
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for i, c in enumerate(socks):
            if i in closed:
                continue
            try:
                c.sendall(b"X-Slow: 1\r\n")
                c.settimeout(0.005)
                c.recv(4096)  # b"" (closed) or an error answer: the server is done with it
                closed.add(i)
            except socket.timeout:
                pass
            except OSError:
                closed.add(i)
        time.sleep(1)
    return closed


def test_slow_header_clients_are_cut_and_do_not_block_requests(cluster):
    gw = gateways(cluster)[0]
    lb = cluster.url
    socks = []
    try:
        for i in range(300):
            target = gw if i % 3 else lb  # a third through nginx, the rest straight at a gateway
            c = socket.create_connection(hostport(target), timeout=10)
            c.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
            socks.append(c)
        # legitimate requests are served while the slow clients hang on
        put(gw, "during-slowloris", b"served")
        r = requests.get(lb + "/v1/objects/during-slowloris", timeout=30)
        assert r.status_code == 200 and r.content == b"served"
        # every slow client is cut near the 10 s header deadline, though each one keeps sending
        # (which restarts an idle timeout); 60 s leaves room for a loaded machine
        closed = trickle(socks, 60)
        assert len(closed) == len(socks), f"{len(socks) - len(closed)} slow clients still open"
    finally:
        for c in socks:
            c.close()
    assert requests.get(gw + "/v1/objects/during-slowloris", timeout=30).status_code == 200


def test_generated_nginx_config_has_header_timeout_and_per_client_limit(cluster):
    [nginx] = cluster.processes("nginx")
    conf = os.path.join(nginx["data_dir"], "nginx.conf")
    text = open(conf, encoding="utf-8").read()
    for directive in ("client_header_timeout 10s;", "limit_conn_zone $binary_remote_addr",
                      "limit_conn perclient"):
        assert directive in text
    r = subprocess.run(["nginx", "-t", "-p", nginx["data_dir"], "-c", conf],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


# ---- file modes ---------------------------------------------------------------------------------

def test_cluster_dir_and_node_data_are_private(cluster):
    gw = gateways(cluster)[0]
    put(gw, "private-bytes", os.urandom(3000))
    files = 0
    for dirpath, _, names in os.walk(cluster.dir):
        mode = stat.S_IMODE(os.stat(dirpath).st_mode)
        assert mode & 0o077 == 0, f"{dirpath} is {oct(mode)}"
        for name in names:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode) or p == cluster.launcher_log:
                continue  # sockets, fifos; the launcher's stdout, which the test harness made
            assert stat.S_IMODE(st.st_mode) & 0o077 == 0, f"{p} is {oct(st.st_mode)}"
            files += 1
    assert files > 10


# ---- the CLI and a slow pipe --------------------------------------------------------------------

def cli_env(gw):
    e = dict(os.environ, HYBRIDSTORE_URL=gw)
    e.pop("HS_SECRET_FILE", None)
    return e


def test_cli_put_streams_a_slow_pipe_as_it_arrives(tmp_path):
    """Against a listener that records when body bytes arrive: the first bytes a slow producer
    writes reach the server while the producer is still running (the old client waited for
    64 KiB or the end before sending anything, and a gateway's idle timeout cut it)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = bytearray()
    seen = threading.Event()

    def serve():
        conn, _ = srv.accept()
        conn.settimeout(60)
        with conn:
            while b"0\r\n\r\n" not in got:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                got.extend(chunk)
                if b"first-bytes" in got:
                    seen.set()
            conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    url = f"http://127.0.0.1:{srv.getsockname()[1]}"
    p = subprocess.Popen([HS_BIN, "put", "slow/stream", "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(url))
    try:
        p.stdin.write(b"first-bytes")
        p.stdin.flush()
        arrived = seen.wait(20)
        p.stdin.write(b"-and-the-rest")
        p.stdin.close()
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        srv.close()
    assert arrived, "the first bytes did not reach the server while the producer was running"
    t.join(10)
    assert b"first-bytes" in got and b"-and-the-rest" in got


def test_cli_put_from_a_slow_producer_reads_back_exact(cluster):
    """A producer that writes every second for ~12 s; --timeout 8s bounds a stall of the upload,
    not its length (it used to be a total deadline and cut the producer off)."""
    gw = gateways(cluster)[1]
    def tick(i):
        return b"tick %d " % i + bytes((i * 40 + j) & 255 for j in range(40))

    producer = ("import sys, time\n"
                "for i in range(12):\n"
                "    b = b'tick %d ' % i + bytes((i * 40 + j) & 255 for j in range(40))\n"
                "    sys.stdout.buffer.write(b)\n"
                "    sys.stdout.buffer.flush()\n"
                "    time.sleep(1)\n")
    expect = b"".join(tick(i) for i in range(12))
    prod = subprocess.Popen(["/usr/bin/python3", "-c", producer], stdout=subprocess.PIPE)
    try:
        r = subprocess.run([HS_BIN, "put", "slow/producer", "-", "--timeout", "8s"],
                           stdin=prod.stdout, capture_output=True, env=cli_env(gw), timeout=120)
    finally:
        prod.stdout.close()
        prod.wait(timeout=30)
    assert r.returncode == 0, r.stderr
    got = requests.get(gw + "/v1/objects/slow/producer", timeout=30)
    assert got.status_code == 200 and got.content == expect
