"""Process helpers shared by the integration tests: free ports, a real etcd, waiting.

Every process started here is stopped by PID when its fixture ends; logs stay in the test's
temp dir (pytest keeps the last few) so a failure can be read afterwards.
"""
import os
import signal
import socket
import struct
import subprocess
import time
import uuid

import requests

BUILD_DIR = os.environ.get("HS_BUILD_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
HS_BIN = os.path.join(BUILD_DIR, "hybridstore")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Polls predicate until it returns a truthy value; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc})")



def _needles(path):
    """(payload offset, payload length, tombstone, id) of each needle of a volume file, in order
    (format in include/hs/blob.h; a stretch without the magic is stepped over 8 bytes at a
    time, as the node's rebuild does)."""
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off + 28 <= len(data):
        if data[off:off + 4] != b"HSN1":
            off += 8
            continue
        flags, id_len, plen = struct.unpack_from("<HHI", data, off + 4)
        head = 28 + id_len
        yield off + head, plen, bool(flags & 1), data[off + 24:off + 24 + id_len].decode()
        off += (head + plen + 7) & ~7


def blob_location(data_dir, blob_id):
    """Where a node's data dir keeps blob_id's payload: (path, payload offset, length) of its
    blob file (objects/<id[0:2]>/<id[2:4]>/<id>) or of its live needle in volumes/, whichever
    store holds it; None when neither does."""
    path = os.path.join(data_dir, "objects", blob_id[0:2].ljust(2, "+"),
                        blob_id[2:4].ljust(2, "+"), blob_id)
    if os.path.exists(path):
        size = os.path.getsize(path)
        head = 44 + len(blob_id)
        return path, head, size - head
    found = None
    vdir = os.path.join(data_dir, "volumes")
    for name in sorted(os.listdir(vdir)) if os.path.isdir(vdir) else []:
        vpath = os.path.join(vdir, name)
        for off, plen, tomb, bid in _needles(vpath):
            if bid == blob_id:
                found = None if tomb else (vpath, off, plen)
    return found


def flip_blob_last_byte(data_dir, blob_id):
    """Flips the last payload byte of blob_id in whichever store holds it (AssertionError when
    none does): the next verified read must find the CRC wrong."""
    loc = blob_location(data_dir, blob_id)
    assert loc and loc[2] > 0, f"{blob_id} not on disk in {data_dir}"
    path, off, length = loc
    with open(path, "r+b") as f:
        f.seek(off + length - 1)
        b = f.read(1)
        f.seek(off + length - 1)
        f.write(bytes([b[0] ^ 0x5A]))

class Proc:
    """A child process with its log file; stop() sends SIGTERM then SIGKILL, by PID."""

    def __init__(self, args, log_path, env=None):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.popen = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                      env=full_env, start_new_session=True)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.popen.pid, sig)

    def stop(self, timeout=10.0):
        """SIGTERM, wait, then SIGKILL. Returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGCONT)
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        self.log.close()
        return self.popen.returncode

    def kill(self):
        if self.alive():
            self.popen.kill()
            self.popen.wait(10)
        self.log.close()

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Etcd:
    """A real single-member etcd on free loopback ports, in its own data dir."""

    def __init__(self, workdir, name="etcd0"):
        self.client_port = free_port()
        self.peer_port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        data_dir = os.path.join(workdir, name)
        self.proc = Proc([
            "etcd", "--name", name, "--data-dir", data_dir,
            "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{name}={peer}",
            "--initial-cluster-token", f"hs-test-{uuid.uuid4().hex}",
            "--initial-cluster-state", "new", "--logger=zap", "--log-outputs=stderr",
            "--log-level=warn", "--auto-compaction-mode=revision",
            "--auto-compaction-retention=1000",
        ], os.path.join(workdir, f"{name}.log"))
        wait_until(self.healthy, timeout=20, what="etcd health")

    def healthy(self):
        r = requests.get(self.endpoint + "/health", timeout=1)
        return r.status_code == 200 and r.json().get("health") == "true"

    def stop(self):
        self.proc.stop()


class EtcdCluster:
    """A real multi-member etcd cluster on free loopback ports (pre-vote on, as in production).

    members[i] is a Proc; endpoints[i] its client URL. stop() stops every member by PID
    (SIGCONT first, so a member stopped on purpose can terminate)."""

    def __init__(self, workdir, size=3):
        token = f"hs-test-{uuid.uuid4().hex}"
        self.names = [f"m{i}" for i in range(size)]
        client_ports = [free_port() for _ in range(size)]
        peer_ports = [free_port() for _ in range(size)]
        self.endpoints = [f"http://127.0.0.1:{p}" for p in client_ports]
        peers = [f"http://127.0.0.1:{p}" for p in peer_ports]
        initial = ",".join(f"{n}={u}" for n, u in zip(self.names, peers))
        self.members = []
        try:
            for name, client, peer in zip(self.names, self.endpoints, peers):
                self.members.append(Proc([
                    "etcd", "--name", name, "--data-dir", os.path.join(workdir, name),
                    "--listen-client-urls", client, "--advertise-client-urls", client,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", initial, "--initial-cluster-token", token,
                    "--initial-cluster-state", "new", "--logger=zap", "--log-outputs=stderr",
                    "--log-level=warn", "--pre-vote=true",
                ], os.path.join(workdir, f"{name}.log")))
            for i in range(size):
                wait_until(lambda i=i: self.healthy(i), timeout=30, what=f"etcd member {i} health")
        except Exception:
            self.stop()
            raise

    def healthy(self, i):
        r = requests.get(self.endpoints[i] + "/health", timeout=1)
        return r.status_code == 200 and r.json().get("health") == "true"

    def status(self, i):
        """The member's /v3/maintenance/status reply (member_id and leader are uint64 strings)."""
        r = requests.post(self.endpoints[i] + "/v3/maintenance/status", json={}, timeout=2)
        r.raise_for_status()
        return r.json()

    def leader_index(self):
        """Index of the member that is raft leader right now (waits for one)."""
        def find():
            for i in range(len(self.members)):
                st = self.status(i)
                if st.get("leader") and st["leader"] == st["header"]["member_id"]:
                    return str(i)
            return None
        return int(wait_until(find, timeout=15, what="an etcd leader"))

    def stop(self):
        for m in self.members:
            m.stop()


class Node:
    """One `hybridstore node` on a free loopback port with its own data dir.

    Without etcd it points at a port where nothing listens (the node serves anyway). restart()
    keeps port, data dir and node id. session() sends the cluster secret."""

    def __init__(self, workdir, name="node", etcd=None, secret="test-secret", extra=(),
                 port=None, wait=True):
        self.workdir, self.name, self.secret, self.extra = workdir, name, secret, list(extra)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = os.path.join(workdir, f"{name}-data")
        self.etcd = etcd or "http://127.0.0.1:1"
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.proc = None
        self.start(wait)

    def args(self):
        return [HS_BIN, "node", "--listen", f"127.0.0.1:{self.port}", "--data-dir",
                self.data_dir, "--secret", self.secret, "--etcd", self.etcd, "--threads", "2",
                "--lease-ttl", "3s"] + self.extra

    def start(self, wait=True):
        self.proc = Proc(self.args(), self.log_path)
        if wait:
            wait_until(self.healthy, timeout=15, what=f"{self.name} health")

    def healthy(self):
        if not self.proc.alive():
            raise AssertionError(f"{self.name} exited: {self.proc.read_log()[-2000:]}")
        return requests.get(self.url + "/v1/health", timeout=1).status_code == 200

    def session(self):
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {self.secret}"
        return s

    def blob_url(self, blob_id):
        return f"{self.url}/v1/blobs/{blob_id}"

    def stop(self):
        return self.proc.stop()

    def kill(self):
        self.proc.kill()

    def restart(self, wait=True):
        if self.proc.alive():
            self.stop()
        self.start(wait)
