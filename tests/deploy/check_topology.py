"""Structural checks of the resolved compose file against the topology (docs/design.md, docs/deploy.md).

usage: check_topology.py RESOLVED_YAML NGINX_CONF HYBRIDSTORE_BIN

RESOLVED_YAML is the output of `docker-compose -f deploy/docker-compose.yaml config`. Checks the
role counts, that only nginx publishes a port (8000), that every daemon gets the secret and the
whole etcd member list, that the etcd members agree on one cluster, that nginx's upstream is
exactly the gateways, and that every flag the file passes exists in the etcd or hybridstore
binary it is meant for (`--help`), so a misspelt flag fails here rather than in a container.
Then checks that known-bad variants of the same file are rejected. Prints every failure,
exits 1 if there is any.
"""
import copy
import functools
import os
import re
import subprocess
import sys

import compose_model as cm

WANT = {"nginx": 1, "etcd": 3, "gateway": 3, "node": 6, "healer": 2}
SECRET = "/run/secrets/cluster_secret"
# Flags the gateway and healer accept (their interface was fixed before they were written).
DAEMON_FLAGS = {"--listen", "--etcd", "--secret-file", "--log-level"}
GATEWAY_FLAGS = DAEMON_FLAGS | {"--s3-port"}  # the S3 listener (docs/s3.md)
S3_PORT = 9000
# What docker-compose 1.29 accepts under healthcheck (start_interval is compose-spec only).
HEALTH_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}

errors = []


def fail(msg):
    errors.append(msg)


@functools.lru_cache(maxsize=None)
def help_flags(argv):
    """Every --flag named in a program's --help output (etcd prints it on stderr)."""
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    return set(re.findall(r"--[a-z0-9][a-z0-9-]*", p.stdout + p.stderr)), p.returncode


def check_common(cfg, roles):
    services = cfg["services"]
    for role, n in WANT.items():
        if len(roles.get(role, [])) != n:
            fail(f"want {n} {role} service(s), found {roles.get(role)}")
    for name in roles.get("?", []):
        fail(f"service {name}: not one of the roles {sorted(WANT)}")
    for name, svc in services.items():
        if svc.get("restart") not in ("always", "unless-stopped"):
            fail(f"service {name}: restart policy is {svc.get('restart')!r}")
        hc = svc.get("healthcheck")
        if not hc or not hc.get("test"):
            fail(f"service {name}: no healthcheck")
        elif set(hc) - HEALTH_KEYS:
            fail(f"service {name}: healthcheck keys {sorted(set(hc) - HEALTH_KEYS)} not in v1.29")
        ports = svc.get("ports") or []
        if name in roles["nginx"]:
            published = {(str(p.get("published")), str(p.get("target"))) if isinstance(p, dict)
                         else tuple(str(p).rsplit(":", 2)[-2:]) for p in ports}
            if ("8000", "8000") not in published or (str(S3_PORT), str(S3_PORT)) not in published:
                fail(f"nginx publishes {ports!r}, want 8000:8000 and {S3_PORT}:{S3_PORT}")
        elif ports:
            fail(f"service {name} publishes {ports!r}: only nginx may be reachable from outside")
    secret = (cfg.get("secrets") or {}).get("cluster_secret") or {}
    if not secret.get("file") or not os.path.isfile(secret["file"]):
        fail(f"secrets.cluster_secret.file {secret.get('file')!r} is not a file")


def check_etcd(cfg, roles):
    services = cfg["services"]
    known, _ = help_flags(("etcd", "--help"))
    peers = {}
    tokens = set()
    clusters = set()
    for name in roles["etcd"]:
        svc = services[name]
        f = cm.flag_map(svc.get("command") or [])
        for k in set(f) - known:
            fail(f"{name}: etcd has no flag {k}")
        want = {"--name": name, "--advertise-client-urls": f"http://{name}:2379",
                "--initial-advertise-peer-urls": f"http://{name}:2380",
                "--initial-cluster-state": "new", "--pre-vote": "true",
                "--auto-compaction-mode": "revision", "--logger": "zap"}
        for k, v in want.items():
            if f.get(k) != v:
                fail(f"{name}: {k}={f.get(k)!r}, want {v!r}")
        if not f.get("--auto-compaction-retention", "0").strip("0"):
            fail(f"{name}: auto-compaction is off (--auto-compaction-retention)")
        if int(f.get("--quota-backend-bytes", "0")) <= 0:
            fail(f"{name}: no explicit --quota-backend-bytes")
        data = f.get("--data-dir", "")
        if not any(data == t or data.startswith(t + "/") for t in cm.volume_targets(svc)):
            fail(f"{name}: --data-dir {data!r} is not on a volume")
        if cm.health_port(svc) != 2379:
            fail(f"{name}: healthcheck does not probe the client port 2379")
        peers[name] = f"http://{name}:2380"
        tokens.add(f.get("--initial-cluster-token"))
        clusters.add(f.get("--initial-cluster"))
    want_ic = {f"{n}={u}" for n, u in peers.items()}
    for ic in clusters:
        if set((ic or "").split(",")) != want_ic:
            fail(f"--initial-cluster {ic!r}, want the members {sorted(want_ic)}")
    if len(clusters) != 1 or len(tokens) != 1 or None in tokens or "etcd-cluster" in tokens:
        fail(f"members disagree or use the default token: tokens={tokens} clusters={clusters}")


def check_daemons(cfg, roles, hs_bin):
    services = cfg["services"]
    endpoints = {f"http://{n}:2379" for n in roles["etcd"]}
    node_known, rc = help_flags((hs_bin, "node", "--help"))
    if rc != 0:
        fail(f"{hs_bin} node --help exited {rc}")
    node_data = set()
    for role in ("gateway", "node", "healer"):
        for name in roles[role]:
            svc = services[name]
            f = cm.daemon_flags(svc)
            allowed = (node_known if role == "node" else
                       GATEWAY_FLAGS if role == "gateway" else DAEMON_FLAGS)
            for k in set(f) - allowed:
                fail(f"{name}: {role} takes no flag {k}")
            if set(f.get("--etcd", "").split(",")) != endpoints:
                fail(f"{name}: --etcd {f.get('--etcd')!r}, want all of {sorted(endpoints)}")
            if f.get("--secret-file") != SECRET:
                fail(f"{name}: --secret-file {f.get('--secret-file')!r}, want {SECRET}")
            if "cluster_secret" not in [s["source"] if isinstance(s, dict) else s
                                        for s in svc.get("secrets") or []]:
                fail(f"{name}: the cluster_secret secret is not mounted")
            if not str(svc.get("build", {}).get("dockerfile", "")).endswith("deploy/Dockerfile"):
                fail(f"{name}: not built from deploy/Dockerfile")
            port = int(f.get("--listen", ":0").rsplit(":", 1)[1])
            if not f.get("--listen", "").startswith("0.0.0.0:"):
                fail(f"{name}: --listen {f.get('--listen')!r} is unreachable from other containers")
            if cm.health_port(svc) != port:
                fail(f"{name}: healthcheck probes {cm.health_port(svc)}, daemon listens on {port}")
            if role == "gateway" and port != 8080:
                fail(f"{name}: gateways listen on 8080 (nginx.conf's upstream)")
            if role == "gateway" and f.get("--s3-port") != str(S3_PORT):
                fail(f"{name}: --s3-port {f.get('--s3-port')!r}, want {S3_PORT} (nginx.conf's "
                     "gateways_s3)")
            if role == "node":
                vols = cm.volume_targets(svc)
                src = vols.get(f.get("--data-dir"))
                if not src or src not in (cfg.get("volumes") or {}):
                    fail(f"{name}: --data-dir {f.get('--data-dir')!r} is not a named volume")
                elif src in node_data:
                    fail(f"{name}: volume {src} is shared with another node")
                node_data.add(src)
                if f.get("--advertise-url") != f"http://{name}:{port}":
                    fail(f"{name}: --advertise-url {f.get('--advertise-url')!r}")


def check_nginx_upstream(roles, nginx_conf):
    with open(nginx_conf, encoding="utf-8") as fh:
        text = fh.read()
    m = re.search(r"upstream\s+gateways\s*\{(.*?)\}", text, re.S)
    servers = set(re.findall(r"^\s*server\s+(\S+)", m.group(1), re.M)) if m else set()
    want = {f"{g}:8080" for g in roles["gateway"]}
    if servers != want:
        fail(f"nginx.conf upstream servers {sorted(servers)}, want {sorted(want)}")
    m = re.search(r"upstream\s+gateways_s3\s*\{(.*?)\}", text, re.S)
    servers = set(re.findall(r"^\s*server\s+(\S+)", m.group(1), re.M)) if m else set()
    want = {f"{g}:{S3_PORT}" for g in roles["gateway"]}
    if servers != want:
        fail(f"nginx.conf S3 upstream servers {sorted(servers)}, want {sorted(want)}")
    if not re.search(r"proxy_set_header\s+Host\s+\$http_host;", text):
        fail("nginx.conf: the S3 server must pass Host with its port ($http_host: SigV4 signs it)")


def run_checks(cfg, nginx_conf, hs_bin):
    """Every check on one resolved compose file; returns the list of failures."""
    errors.clear()
    roles = cm.by_role(cfg)
    for check in (lambda: check_common(cfg, roles), lambda: check_etcd(cfg, roles),
                  lambda: check_daemons(cfg, roles, hs_bin),
                  lambda: check_nginx_upstream(roles, nginx_conf)):
        try:
            check()
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
            fail(f"malformed compose file: {exc!r}")
    return list(errors)


def _cmd(cfg, svc):
    return cfg["services"][svc]["command"]


# Known-bad variants of the real file: each must be rejected, or the checks above prove nothing.
MUTATIONS = {
    "a node removed": lambda c: c["services"].pop("node6"),
    "a node port published": lambda c: c["services"]["node1"].__setitem__("ports", ["9100:9100"]),
    "an etcd flag misspelt": lambda c: _cmd(c, "etcd2").append("--pre-votes=true"),
    "pre-vote off": lambda c: c["services"]["etcd3"].__setitem__(
        "command", [a.replace("--pre-vote=true", "--pre-vote=false") for a in _cmd(c, "etcd3")]),
    "a node flag misspelt": lambda c: _cmd(c, "node2").extend(["--fsynk", "always"]),
    "a gateway flag the gateway lacks": lambda c: _cmd(c, "gateway1").extend(["--zone", "a"]),
    "an etcd member missing from --etcd": lambda c: c["services"]["healer1"].__setitem__(
        "command", [a.replace("http://etcd3:2379,", "").replace(",http://etcd3:2379", "")
                    for a in _cmd(c, "healer1")]),
    "two nodes on one volume": lambda c: c["services"]["node3"].__setitem__(
        "volumes", ["node2-data:/data:rw"]),
    "no restart policy": lambda c: c["services"]["healer2"].pop("restart"),
    "healthcheck on the wrong port": lambda c: c["services"]["gateway2"]["healthcheck"].__setitem__(
        "test", ["CMD", "hs-healthcheck", "9999", "/health"]),
}


def self_test(cfg, nginx_conf, hs_bin):
    bad = 0
    for what, mutate in MUTATIONS.items():
        variant = copy.deepcopy(cfg)
        mutate(variant)
        if not run_checks(variant, nginx_conf, hs_bin):
            print(f"check_topology: FAIL self-test: {what} was not detected", file=sys.stderr)
            bad += 1
    return bad


def main():
    resolved, nginx_conf, hs_bin = sys.argv[1:4]
    cfg = cm.load(resolved)
    found = run_checks(cfg, nginx_conf, hs_bin)
    for e in found:
        print(f"check_topology: FAIL {e}", file=sys.stderr)
    if found or self_test(cfg, nginx_conf, hs_bin):
        return 1
    roles = cm.by_role(cfg)
    counts = ", ".join(f"{len(roles[r])} {r}" for r in cm.ROLES)
    print(f"check_topology: ok ({counts}); {len(MUTATIONS)} broken variants rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
