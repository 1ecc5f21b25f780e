"""Runs the compose file's own command lines on 127.0.0.1, without Docker, and probes them with the
compose healthchecks.

usage: boot_topology.py RESOLVED_YAML HYBRIDSTORE_BIN HEALTHCHECK_SCRIPT NGINX_CONF

There is no Docker engine on our machines, so the compose topology cannot run as containers. What
can run is every process it describes: the same argv, with only what Docker would provide swapped
for local equivalents — service names and 0.0.0.0 become 127.0.0.1 with free ports, volume mount
points become temp directories, /run/secrets/cluster_secret becomes the compose secret's file.
That catches a wrong flag value, a wrong etcd --initial-cluster, a healthcheck path that answers
404, and a broken hs-healthcheck script, none of which `docker-compose config` can see.

Starts the 3 etcd members, then the 6 nodes, then the gateways, healers and nginx when this build
has the gateway/healer subcommands (it says so when it leaves them out). Every process is stopped
by PID at the end; the temp directory (logs included) is removed on success and kept on failure.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import compose_model as cm


class Failure(Exception):
    pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Topology:
    def __init__(self, cfg, hs_bin, probe, nginx_conf, tmp):
        self.cfg, self.hs_bin, self.probe, self.nginx_conf, self.tmp = cfg, hs_bin, probe, \
            nginx_conf, tmp
        self.services = cfg["services"]
        self.roles = cm.by_role(cfg)
        self.secret_file = cfg["secrets"]["cluster_secret"]["file"]
        self.hosts = {}  # "etcd1:2379" -> "127.0.0.1:41234", for every name:port of the network
        self.local = {}  # service -> {"0.0.0.0:9100": "127.0.0.1:41235"}
        self.exact = {}  # service -> {"9000": "41236"}: whole flag values (a gateway's --s3-port)
        self.procs = []  # (service, Popen, log path), in start order
        self._plan_ports()

    def _plan_ports(self):
        for name in self.roles["etcd"]:
            self.local[name] = {}
            for port in (2379, 2380):
                addr = f"127.0.0.1:{free_port()}"
                self.hosts[f"{name}:{port}"] = addr
                self.local[name][f"0.0.0.0:{port}"] = addr
        for role in ("node", "gateway", "healer"):
            for name in self.roles[role]:
                listen = cm.daemon_flags(self.services[name])["--listen"]
                addr = f"127.0.0.1:{free_port()}"
                self.hosts[f"{name}:{listen.rsplit(':', 1)[1]}"] = addr
                self.local[name] = {listen: addr}
                s3 = cm.daemon_flags(self.services[name]).get("--s3-port")
                if s3:
                    port = str(free_port())
                    self.exact[name] = {s3: port}
                    self.hosts[f"{name}:{s3}"] = f"127.0.0.1:{port}"

    def rewrite(self, name, value):
        """One flag value as this process sees it on loopback."""
        if value in self.exact.get(name, {}):
            return self.exact[name][value]
        for old, new in list(self.local[name].items()) + list(self.hosts.items()):
            value = value.replace(old, new)
        if value == "/run/secrets/cluster_secret":
            return self.secret_file
        for target in cm.volume_targets(self.services[name]):
            if value == target or value.startswith(target + "/"):
                return os.path.join(self.tmp, name) + value[len(target):]
        return value

    def argv(self, name):
        svc = self.services[name]
        cmd = [str(a) for a in svc.get("command") or []]
        if cm.role_of(svc) == "etcd":
            head, rest = ["etcd"], cmd
        else:
            head, rest = [self.hs_bin, cmd[0]], cmd[1:]
        cm.flags(rest)  # well-formed, or ValueError
        out = list(head)
        # Keep each flag's spelling: Go's flag package takes a bool only as --pre-vote=true.
        for a in rest:
            if a.startswith("--") and "=" in a:
                k, v = a.split("=", 1)
                out.append(f"{k}={self.rewrite(name, v)}")
            else:
                out.append(a if a.startswith("--") else self.rewrite(name, a))
        return out

    def start(self, name, argv=None):
        os.makedirs(os.path.join(self.tmp, name), mode=0o700, exist_ok=True)
        log = os.path.join(self.tmp, f"{name}.log")
        with open(log, "ab") as fh:
            p = subprocess.Popen(argv or self.argv(name), stdout=fh, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((name, p, log))

    def health_argv(self, name):
        """The service's compose healthcheck, pointed at the local port."""
        test = [str(a) for a in self.services[name]["healthcheck"]["test"]]
        if test[:2] != ["CMD", "hs-healthcheck"]:
            raise Failure(f"{name}: healthcheck {test!r} is not hs-healthcheck")
        port = int(test[2])
        addr = self.local[name].get(f"0.0.0.0:{port}") or self.hosts.get(f"{name}:{port}")
        return ["bash", self.probe, addr.rsplit(":", 1)[1]] + test[3:]

    def wait_healthy(self, names, timeout):
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            self.check_alive()
            pending = [n for n in pending if subprocess.run(
                self.health_argv(n), capture_output=True, timeout=10, check=False).returncode]
            if pending and time.monotonic() > deadline:
                raise Failure(f"not healthy after {timeout}s: {', '.join(pending)}")
            if pending:
                time.sleep(0.2)

    def check_alive(self):
        for name, p, log in self.procs:
            if p.poll() is not None:
                raise Failure(f"{name} exited with {p.returncode}; log {log}:\n{tail(log)}")

    def stop(self):
        """Reverse start order, by PID; etcd members one at a time (see docs/cluster.md)."""
        for name, p, _ in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGQUIT if name == "nginx" else signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()


def tail(path, n=15):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-n:])
    except OSError:
        return ""


def has_subcommand(hs_bin, role):
    return subprocess.run([hs_bin, role, "--help"], capture_output=True, timeout=10,
                          check=False).returncode == 0


def probe_rc(topo, argv):
    return subprocess.run(["bash", topo.probe] + argv, capture_output=True, timeout=10,
                          check=False).returncode


def check_probe_rejects(topo):
    """hs-healthcheck must fail on what a healthcheck exists to catch, not only pass on success."""
    etcd_port = topo.hosts[f"{topo.roles['etcd'][0]}:2379"].rsplit(":", 1)[1]
    node_port = topo.hosts[f"{topo.roles['node'][0]}:9100"].rsplit(":", 1)[1]
    cases = {
        "a closed port": [str(free_port()), "/health"],
        "a 404": [node_port, "/v1/no-such-route"],
        "a 200 without the expected text": [etcd_port, "/health", "no-such-text"],
    }
    for what, argv in cases.items():
        if probe_rc(topo, argv) != 1:
            raise Failure(f"hs-healthcheck did not fail on {what}")
    if probe_rc(topo, ["1"]) != 2:
        raise Failure("hs-healthcheck accepted a missing PATH argument")


def check_nodes_registered(topo, timeout=20):
    """Every node's advertised URL (the rewritten --advertise-url) is in etcd under nodes/."""
    etcd = "http://" + topo.hosts[f"{topo.roles['etcd'][-1]}:2379"]
    want = {topo.rewrite(n, cm.daemon_flags(topo.services[n])["--advertise-url"])
            for n in topo.roles["node"]}
    key = base64.b64encode(b"/hybridstore/v1/nodes/").decode()
    end = base64.b64encode(b"/hybridstore/v1/nodes0").decode()
    body = json.dumps({"key": key, "range_end": end}).encode()
    deadline = time.monotonic() + timeout
    while True:
        req = urllib.request.Request(etcd + "/v3/kv/range", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            kvs = json.load(resp).get("kvs", [])
        values = " ".join(base64.b64decode(kv.get("value", "")).decode("utf-8", "replace")
                          for kv in kvs)
        missing = {u for u in want if f'"{u}"' not in values}  # a JSON string, not a prefix
        if not missing:
            return
        if time.monotonic() > deadline:
            raise Failure(f"nodes not registered in etcd with their --advertise-url: {missing}")
        time.sleep(0.2)


def start_nginx(topo):
    """nginx with deploy/nginx.conf, gateways and /var/cache/nginx swapped like the rest."""
    name = "nginx"
    with open(topo.nginx_conf, encoding="utf-8") as fh:
        text = fh.read()
    prefix = os.path.join(topo.tmp, name)
    os.makedirs(prefix, mode=0o755, exist_ok=True)
    text = text.replace("/var/cache/nginx", prefix)
    for g in topo.roles["gateway"]:
        text = text.replace(f"{g}:8080", topo.hosts[f"{g}:8080"])
        if f"{g}:9000" in topo.hosts:
            text = text.replace(f"{g}:9000", topo.hosts[f"{g}:9000"])
    port = free_port()
    text, n = re.subn(r"listen\s+8000;", f"listen 127.0.0.1:{port};", text)
    if n != 1:
        raise Failure("nginx.conf: no single `listen 8000;`")
    text, n = re.subn(r"listen\s+9000;", f"listen 127.0.0.1:{free_port()};", text)
    if n != 1:
        raise Failure("nginx.conf: no single `listen 9000;` (the S3 endpoint)")
    conf = os.path.join(topo.tmp, "nginx.conf")
    with open(conf, "w", encoding="utf-8") as fh:
        fh.write(text)
    topo.local[name] = {"0.0.0.0:8000": f"127.0.0.1:{port}"}
    topo.start(name, ["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"])


def run(topo):
    notes = []
    for name in topo.roles["etcd"]:
        topo.start(name)
    topo.wait_healthy(topo.roles["etcd"], timeout=30)
    for name in topo.roles["node"]:
        topo.start(name)
    topo.wait_healthy(topo.roles["node"], timeout=20)
    check_nodes_registered(topo)
    check_probe_rejects(topo)
    for role in ("healer", "gateway"):
        if has_subcommand(topo.hs_bin, role):
            for name in topo.roles[role]:
                topo.start(name)
            topo.wait_healthy(topo.roles[role], timeout=20)
        else:
            notes.append(f"this build has no `{role}` subcommand: {role}s not started")
    if has_subcommand(topo.hs_bin, "gateway"):
        start_nginx(topo)
        topo.wait_healthy(["nginx"], timeout=20)
    else:
        notes.append("nginx not started (it needs gateways); tests/deploy runs `nginx -t` instead")
    topo.check_alive()
    started = ", ".join(n for n, _, _ in topo.procs)
    return started, notes


def main():
    resolved, hs_bin, probe, nginx_conf = sys.argv[1:5]
    cfg = cm.load(resolved)
    tmp = tempfile.mkdtemp(prefix="hs-deploy-boot-")
    topo = Topology(cfg, os.path.abspath(hs_bin), os.path.abspath(probe), nginx_conf, tmp)
    ok = False
    try:
        started, notes = run(topo)
        ok = True
    except (Failure, OSError, subprocess.SubprocessError, KeyError, ValueError) as exc:
        print(f"boot_topology: FAIL {exc}", file=sys.stderr)
    finally:
        topo.stop()
    if not ok:
        print(f"boot_topology: logs kept in {tmp}", file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"boot_topology: ok, healthy on loopback with the compose argv: {started}")
    for n in notes:
        print(f"boot_topology: note: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
