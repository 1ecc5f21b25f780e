"""HsCluster: a whole local cluster started by `hybridstore cluster`, for tests.

    with HsCluster(tmp_path, nodes=6, gateways=3, healers=2, etcd=1) as c:
        c.url, c.etcd, c.secret, c.node(0)["url"], c.kill("node3"), c.stop_proc("etcd0") ...

Ports: every port derives from one base (docs/cluster.md); pick_base_port() chooses a random base
whose derived ports are all free and start() retries with another base if the launcher still
finds one busy (exit code 3). The launcher's own log is <dir>/launcher.log, each process logs to
<dir>/logs/<name>.log; pytest keeps tmp dirs, so logs survive a failure.
HsCluster.attach(dir) wraps a cluster someone already started (make run), e.g. to use gdb on it.
"""
import base64
import contextlib
import json
import os
import random
import signal
import socket
import time

import requests

from harness import HS_BIN, Proc, wait_until

OFF_ETCD, OFF_NODE, OFF_GATEWAY, OFF_HEALER = 100, 200, 300, 400
EXIT_PORT_IN_USE = 3
NODES_PREFIX = "/hybridstore/v1/nodes/"
OFF_S3 = 1000  # nginx's S3 port PORT+1000, gateway<i>'s S3 port PORT+1001+i
# Below Linux's ephemeral range (32768-60999), so outgoing connections never take our ports
# (the S3 ports included).
BASE_MIN, BASE_MAX = 20000, 31600


def derived_ports(base, nodes=6, gateways=0, healers=0, etcd=1):
    """Every port `hybridstore cluster --port base` listens on with these counts."""
    ports = [base] if gateways else []
    for i in range(etcd):
        ports += [base + OFF_ETCD + 2 * i, base + OFF_ETCD + 2 * i + 1]
    ports += [base + OFF_NODE + i for i in range(nodes)]
    ports += [base + OFF_GATEWAY + i for i in range(gateways)]
    ports += [base + OFF_HEALER + i for i in range(healers)]
    if gateways:
        ports += [base + OFF_S3 + i for i in range(gateways + 1)]
    return ports


def port_free(port):
    """True if 127.0.0.1:port can be bound and listened on (as the daemons do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(1)
        except OSError:
            return False
    return True


def pick_base_port(nodes=6, gateways=0, healers=0, etcd=1, exclude=()):
    """A random base in [20000, 31600) whose derived ports are free right now."""
    for _ in range(500):
        base = random.randrange(BASE_MIN, BASE_MAX)
        ports = derived_ports(base, nodes, gateways, healers, etcd)
        if any(abs(base - other) < 500 for other in exclude):
            continue
        if all(port_free(p) for p in ports):
            return base
    raise AssertionError("no free base port found in 500 tries")


@contextlib.contextmanager
def patched_environ(env):
    """Sets env in os.environ for the duration (the launcher copies it when it is spawned, and
    every daemon it starts reads its options from HS_<ROLE>_<OPTION> variables)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_with_env(tmpdir, env, **kw):
    """An HsCluster(tmpdir, **kw) started with env in its and its children's environment."""
    c = HsCluster(str(tmpdir), **kw)
    with patched_environ(env):
        c.start()
    return c


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def unb64(text):
    return base64.b64decode(text)


def prefix_end(prefix):
    """etcd range_end for a prefix: the prefix with its last byte + 1."""
    raw = prefix.encode()
    return raw[:-1] + bytes([raw[-1] + 1])


class HsCluster:
    """One `hybridstore cluster` launcher and what it started, in dir (created if missing)."""

    def __init__(self, tmpdir, nodes=6, gateways=0, healers=0, etcd=1, port=None,
                 fsync="always", extra_args=(), hs_bin=HS_BIN, start_timeout=90,
                 wait_registered=True):
        self.dir = os.path.abspath(str(tmpdir))
        self.nodes, self.gateways, self.healers, self.n_etcd = nodes, gateways, healers, etcd
        self.port = port
        self.fsync = fsync
        self.extra_args = list(extra_args)
        self.hs_bin = hs_bin
        self.start_timeout = start_timeout
        self.wait_registered = wait_registered
        self.launcher = None
        self.respawned = []
        self.attached = False

    # ---- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def attach(cls, directory):
        """Wraps a cluster that is already up in directory; stop() then leaves it running."""
        c = cls(directory)
        c.attached = True
        info = c.info
        assert info["state"] == "up", f"cluster in {directory} is {info['state']}"
        c.port = info["port"]
        return c

    def args(self):
        return [self.hs_bin, "cluster", "--dir", self.dir, "--port", str(self.port),
                "--nodes", str(self.nodes), "--gateways", str(self.gateways),
                "--healers", str(self.healers), "--etcd", str(self.n_etcd),
                "--fsync", self.fsync] + self.extra_args

    def start(self, tries=5):
        """Starts the launcher, waits until cluster.json says "up" and (wait_registered) every
        node is registered in etcd. Returns self."""
        os.makedirs(self.dir, exist_ok=True)
        fixed_port = self.port is not None
        for _ in range(tries):
            if not fixed_port:
                self.port = pick_base_port(self.nodes, self.gateways, self.healers,
                                           self.n_etcd)
            self.launcher = Proc(self.args(), self.launcher_log)
            rc = self._wait_up()
            if rc is None:
                if self.wait_registered:
                    self.wait_nodes_registered()
                return self
            if rc != EXIT_PORT_IN_USE or fixed_port:
                raise AssertionError(f"hybridstore cluster exited {rc}:\n{self.launcher_tail()}")
        raise AssertionError(f"no free ports after {tries} tries:\n{self.launcher_tail()}")

    def _wait_up(self):
        """None once up; the launcher's exit code if it exited first."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self.launcher.alive():
                return self.launcher.stop()
            try:
                info = self.info
                if info["state"] == "up" and info["launcher_pid"] == self.launcher.pid:
                    return None
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        self.launcher.stop()
        raise AssertionError(f"cluster not up after {self.start_timeout}s:\n"
                             f"{self.launcher_tail()}")

    def stop(self, timeout=90):
        """SIGTERM to the launcher (it stops everything), wait; returns its exit code."""
        for p in self.respawned:
            p.stop()
        self.respawned = []
        if self.attached or self.launcher is None:
            return None
        launcher, self.launcher = self.launcher, None
        if launcher.alive():
            launcher.popen.send_signal(signal.SIGTERM)
        try:
            rc = launcher.popen.wait(timeout)
        except Exception:  # noqa: BLE001 - a hung launcher is killed; its children follow
            launcher.popen.kill()
            rc = launcher.popen.wait(10)
        launcher.log.close()
        self._kill_leftovers()
        return rc

    def _kill_leftovers(self):
        """Safety net after a failed stop: SIGKILL recorded pids still running our argv."""
        try:
            procs = self.info["processes"]
        except (OSError, ValueError, KeyError):
            return
        for p in procs:
            pid = p.get("pid")
            if pid and self._is_ours(pid):
                os.kill(pid, signal.SIGKILL)

    def _is_ours(self, pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return self.dir.encode() in f.read()
        except OSError:
            return False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- what is running ---------------------------------------------------------------------

    @property
    def launcher_log(self):
        return os.path.join(self.dir, "launcher.log")

    def launcher_tail(self, lines=40):
        try:
            with open(self.launcher_log, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def info(self):
        """cluster.json, parsed afresh (the launcher rewrites it whenever something changes)."""
        with open(os.path.join(self.dir, "cluster.json"), encoding="utf-8") as f:
            return json.load(f)

    @property
    def url(self):
        return self.info["url"]

    @property
    def s3(self):
        """cluster.json's "s3": endpoint (nginx), region, access_key, secret_key."""
        return self.info["s3"]

    @property
    def etcd_endpoints(self):
        return self.info["etcd"].split(",")

    @property
    def etcd(self):
        return self.etcd_endpoints[0]

    @property
    def secret(self):
        with open(self.info["secret_file"], encoding="ascii") as f:
            return f.read().strip()

    def processes(self, role=None):
        return [p for p in self.info["processes"] if role is None or p["role"] == role]

    def proc(self, name):
        for p in self.info["processes"]:
            if p["name"] == name:
                return p
        raise KeyError(name)

    def pid(self, name):
        return self.proc(name)["pid"]

    def node(self, i):
        return self.proc(f"node{i}")

    def node_url(self, i):
        return self.node(i)["url"]

    def node_pid(self, i):
        return self.node(i)["pid"]

    def send_signal(self, name, sig):
        pid = self.pid(name)
        assert pid, f"{name} is not running"
        os.kill(pid, sig)
        return pid

    def kill(self, name, sig=signal.SIGKILL):
        """Kills a process behind the launcher's back and waits until the launcher saw it."""
        self.send_signal(name, sig)
        wait_until(lambda: self.proc(name)["status"] == "exited", timeout=15,
                   what=f"launcher to record {name} as exited")

    def stop_proc(self, name):
        """SIGSTOP: the process hangs (connections still accepted by the kernel)."""
        return self.send_signal(name, signal.SIGSTOP)

    def cont(self, name):
        return self.send_signal(name, signal.SIGCONT)

    def respawn(self, name):
        """Starts an exited process again with its recorded argv; stop() stops it by PID."""
        p = self.proc(name)
        assert p["status"] == "exited", f"{name} is {p['status']}"
        proc = Proc(p["argv"], p["log"])
        self.respawned.append(proc)
        return proc

    # ---- etcd through its JSON gateway -------------------------------------------------------

    def etcd_post(self, path, body, endpoint=None):
        r = requests.post((endpoint or self.etcd) + path, json=body, timeout=5)
        r.raise_for_status()
        return r.json()

    def etcd_range(self, prefix, endpoint=None):
        """{key: value} (bytes) for every key under prefix."""
        out = self.etcd_post("/v3/kv/range", {"key": b64(prefix),
                                              "range_end": b64(prefix_end(prefix))}, endpoint)
        return {unb64(kv["key"]).decode(): unb64(kv.get("value", "")) for kv in out.get("kvs", [])}

    def etcd_put(self, key, value, endpoint=None):
        return self.etcd_post("/v3/kv/put", {"key": b64(key), "value": b64(value)}, endpoint)

    def etcd_members(self, endpoint=None):
        return self.etcd_post("/v3/cluster/member/list", {}, endpoint).get("members", [])

    def registered_nodes(self):
        """{key: value} of the node registrations in etcd (/hybridstore/v1/nodes/<id>)."""
        return self.etcd_range(NODES_PREFIX)

    def wait_nodes_registered(self, count=None, timeout=20):
        """Waits until count (default: every running node) registrations are in etcd. The
        launcher waits only for each node's /v1/health; a node registers right after."""
        if count is None:
            count = len([p for p in self.processes("node") if p["pid"]])
        if count == 0:
            return {}
        return wait_until(lambda: len(self.registered_nodes()) >= count and
                          self.registered_nodes(), timeout=timeout,
                          what=f"{count} node registrations in etcd")
