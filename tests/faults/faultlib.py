"""Helpers for the fault-injection scenarios: starting a cluster with short timings, reading the
cluster's state straight from etcd and the nodes (manifests, WAL records, listings), checking
redundancy blob by blob, breaking things (SIGKILL, wiped disks, flipped bytes) and talking to the
gateways through both APIs.

Nothing here trusts the gateway's own view: manifests come from etcd's JSON gateway, blob
presence from each node's paged listing (GET /v1/blobs), file paths from the blob store layout of
include/hs/blob.h."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse

import requests

from cluster import HsCluster, b64, patched_environ, prefix_end, unb64
from harness import HS_BIN, Proc, blob_location, free_port, wait_until

ROOT = "/hybridstore/v1/"
META = ROOT + "meta/"
TXN = ROOT + "txn/"
REPAIR = ROOT + "repair/"
NODES = ROOT + "nodes/"
GATEWAYS = ROOT + "gateways/"

# Short timings for every daemon a test cluster starts (the launcher passes its environment to
# its children; every daemon ignores, with a warning, variables it has no option for).
FAST_ENV = {
    # A SIGKILLed node leaves placement within the node lease. Leases of a few seconds expire
    # on their own here: on this shared 2-core VM etcd answers nothing for 3-7 s at times (slow
    # fsync; every keepalive times out, logged as etcd_lease_lost since_ok_ms=4100 with 4 s),
    # and then every node drops out of placement at once.
    "HS_NODE_LEASE_TTL": "8s",
    "HS_GATEWAY_LEASE_TTL": "10s",    # the fault gateway of scenario 5 uses 2 s (its flag)
    "HS_GATEWAY_NODE_TIMEOUT": "5s",
    "HS_GATEWAY_THREADS": "16",
    "HS_HEALER_LEASE_TTL": "3s",      # standby takes over within ~3 s
    "HS_HEALER_PASS_INTERVAL": "200ms",
    "HS_HEALER_AUDIT_INTERVAL": "1s",
    "HS_HEALER_GC_INTERVAL": "1s",     # GC at most every gc-grace/10 or 1 s
    "HS_HEALER_NODE_TIMEOUT": "5s",
    "HS_HEALER_RETIRE_GRACE": "2s",    # replaced blobs swept soon: orphans() stays strict
}


def start_cluster(tmpdir, env=None, **kw):
    """An HsCluster started with FAST_ENV plus env in its (and its children's) environment."""
    full = dict(FAST_ENV)
    full.update(env or {})
    c = HsCluster(str(tmpdir), **kw)
    c.fault_env = full  # what restarted processes get too (NodeCtl.start, start_gateway)
    with patched_environ(full):
        c.start()
    return c


def gateway_urls(c):
    return [p["url"] for p in c.processes("gateway") if p["status"] == "running"]


# ---- etcd ----------------------------------------------------------------------------------------

def etcd_post(c, path, body, timeout=5):
    """POST to the first etcd member that answers (members may be down on purpose)."""
    last = None
    for ep in c.etcd_endpoints:
        try:
            r = requests.post(ep + path, json=body, timeout=timeout)
            r.raise_for_status()
            return r.json()
        except requests.RequestException as exc:
            last = exc
    raise AssertionError(f"no etcd member answered {path}: {last}")


def etcd_range(c, prefix, revision=None):
    """({key: (value bytes, mod_revision)}, header revision) for every key under prefix."""
    body = {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}
    if revision:
        body["revision"] = str(revision)
    out = etcd_post(c, "/v3/kv/range", body)
    kvs = {unb64(kv["key"]).decode(): (unb64(kv.get("value", "")), int(kv["mod_revision"]))
           for kv in out.get("kvs", [])}
    return kvs, int(out["header"]["revision"])


def manifests(c, revision=None):
    """{object key: manifest dict} from meta/."""
    kvs, _ = etcd_range(c, META, revision)
    return {k[len(META):]: json.loads(v) for k, (v, _) in kvs.items()}


def txn_records(c, revision=None):
    """{txn id: record} with "blobs" = every (blob, node) the record names, as dicts {"id",
    "node"} (format version 2 derives them from the txn id, its nodes and segment counts)."""
    kvs, _ = etcd_range(c, TXN, revision)
    out = {}
    for k, (v, _) in kvs.items():
        rec = json.loads(v)
        if rec.get("v") == 2:
            rec["blobs"] = [{"id": f"{rec['txn']}.{p['part']:x}.{seg:x}.{i:x}",
                             "node": rec["nodes"][i]}
                            for p in rec["parts"] for seg in range(p["segs"])
                            for i in range(min(p["width"], len(rec["nodes"])))]
        out[k[len(TXN):]] = rec
    return out


def repair_marks(c):
    kvs, _ = etcd_range(c, REPAIR)
    return sorted(k[len(REPAIR):] for k in kvs)


def live_nodes(c):
    """{node id: url} of the registrations under nodes/."""
    kvs, _ = etcd_range(c, NODES)
    return {k[len(NODES):]: json.loads(v)["url"] for k, (v, _) in kvs.items()}


def live_gateways(c):
    kvs, _ = etcd_range(c, GATEWAYS)
    return sorted(k[len(GATEWAYS):] for k in kvs)


def node_id_of(c, name):
    """A node's id from <data_dir>/node-id (also while it is down)."""
    with open(os.path.join(c.proc(name)["data_dir"], "node-id"), encoding="ascii") as f:
        return f.read().strip()


def node_names_by_id(c):
    return {node_id_of(c, p["name"]): p["name"] for p in c.processes("node")}


def manifest_blobs(m):
    """[(part name, segment index, blob dict)] for every blob a manifest references."""
    out = []
    for part in ("data", "hot", "cold"):
        p = m.get(part)
        if not p:
            continue
        for si, seg in enumerate(p["segs"]):
            for b in seg["blobs"]:
                out.append((part, si, b))
    return out


# ---- nodes ---------------------------------------------------------------------------------------

def node_session(c):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {c.secret}"
    return s


def node_listing(c, url, session=None):
    """{blob id: (size, crc)} of one node, paged as the healer does."""
    s = session or node_session(c)
    out, after = {}, ""
    while True:
        r = s.get(f"{url}/v1/blobs", params={"after": after, "limit": 10000}, timeout=10)
        r.raise_for_status()
        page = r.json()
        for b in page["blobs"]:
            out[b["id"]] = (b["size"], b["crc32c"])
        after = page.get("next_after")
        if not after:
            return out


def listings(c, nodes=None):
    """{node id: listing} for every live node (or the given {id: url})."""
    s = node_session(c)
    return {nid: node_listing(c, url, s) for nid, url in (nodes or live_nodes(c)).items()}


def node_stats(c, url):
    r = node_session(c).get(f"{url}/v1/stats", timeout=5)
    r.raise_for_status()
    return r.json()


def redundancy_problems(c, keys=None):
    """Every way the stored objects fall short of full redundancy, as readable strings; [] when
    each segment of each manifest has all its blobs (replicas, or k+m shards) on distinct live
    nodes, each present in that node's listing with the manifest's length and CRC."""
    nodes = live_nodes(c)
    lists = listings(c, nodes)
    problems = []
    for key, m in sorted(manifests(c).items()):
        if keys is not None and key not in keys:
            continue
        for part in ("data", "hot", "cold"):
            p = m.get(part)
            if not p:
                continue
            want = p["replicas"] if "replicas" in p else p["k"] + p["m"]
            for si, seg in enumerate(p["segs"]):
                where = f"{key} {part}.seg{si}"
                if len(seg["blobs"]) != want:
                    problems.append(f"{where}: {len(seg['blobs'])} blobs, want {want}")
                seen = [b["node"] for b in seg["blobs"]]
                if len(set(seen)) != len(seen):
                    problems.append(f"{where}: two blobs on one node {seen}")
                for b in seg["blobs"]:
                    if b["node"] not in nodes:
                        problems.append(f"{where}: {b['id']} on node {b['node']} (not live)")
                        continue
                    got = lists[b["node"]].get(b["id"])
                    if got is None:
                        problems.append(f"{where}: {b['id']} missing on {b['node']}")
                    elif got != (b["len"], b["crc"]):
                        problems.append(f"{where}: {b['id']} on {b['node']} is {got}, "
                                        f"manifest says {(b['len'], b['crc'])}")
    return problems


def wait_full_redundancy(c, timeout, keys=None, what="full redundancy"):
    """Waits until redundancy_problems() is empty; the assertion message shows what is left."""
    deadline = time.monotonic() + timeout
    problems = ["not checked"]
    while time.monotonic() < deadline:
        try:
            problems = redundancy_problems(c, keys)
        except (requests.RequestException, AssertionError, KeyError, ValueError) as exc:
            problems = [f"check failed: {exc}"]
        if not problems:
            return
        time.sleep(0.5)
    raise AssertionError(f"no {what} after {timeout}s; {len(problems)} problems, first: "
                         f"{problems[:8]}")


def stat_blobs(url, key):
    """{(blob id, node id): (len, crc, node url)} as `hybridstore stat --json` shows them."""
    out = subprocess.run([HS_BIN, "stat", "--json", "--url", url, "--timeout", "10s", key],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"hybridstore stat {key}: {out.returncode} {out.stderr}"
    m = json.loads(out.stdout)
    return {(b["id"], b["node"]): (b["len"], b["crc"], b.get("url"))
            for _, _, b in manifest_blobs(m)}


def orphans(c):
    """(blob id, node id) on live nodes that no manifest and no WAL record references (retired
    blobs count as orphans until the sweeper has deleted them: the grace here is 2 s)."""
    lists = listings(c)
    refs = set()
    for m in manifests(c).values():
        refs.update((b["id"], b["node"]) for _, _, b in manifest_blobs(m))
    txn_ids = set(txn_records(c))
    out = []
    for nid, blobs in lists.items():
        for bid in blobs:
            if (bid, nid) not in refs and bid.split(".")[0] not in txn_ids:
                out.append((bid, nid))
    return out


def flip_payload_byte(data_dir, blob_id, offset=None):
    """Flips one payload byte of a blob in place, in its blob file or its needle in a volume
    (harness.blob_location; FileNotFoundError when the node holds neither). Returns the file
    offset flipped."""
    loc = blob_location(data_dir, blob_id)
    if loc is None:
        raise FileNotFoundError(f"{blob_id} not on disk in {data_dir}")
    path, header, size = loc
    assert size > 0, f"{blob_id} has no payload to corrupt"
    pos = header + (size // 2 if offset is None else offset)
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0x5A]))
        f.flush()
        os.fsync(f.fileno())
    return pos


def quarantined_files(data_dir):
    q = os.path.join(data_dir, "quarantine")
    return sorted(os.listdir(q)) if os.path.isdir(q) else []


class NodeCtl:
    """Kills and restarts cluster nodes behind the launcher's back, keeping our own handle of
    respawned processes (the launcher never restarts anything)."""

    def __init__(self, c):
        self.c = c
        self.procs = {}  # name -> Proc we respawned

    def pid(self, name):
        if name in self.procs and self.procs[name].alive():
            return self.procs[name].pid
        return self.c.pid(name)

    def kill(self, name, sig=signal.SIGKILL):
        if name in self.procs and self.procs[name].alive():
            self.procs[name].signal(sig)
            self.procs[name].popen.wait(10)
            return
        self.c.kill(name, sig)

    def wipe(self, name):
        """A replaced disk: every blob, temp file and quarantined file goes; node-id stays."""
        d = self.c.proc(name)["data_dir"]
        for sub in ("objects", "volumes", "tmp", "quarantine"):
            shutil.rmtree(os.path.join(d, sub), ignore_errors=True)

    def start(self, name, env=None):
        """Starts a stopped node again from its recorded argv and waits for its health."""
        p = self.c.proc(name)
        full = dict(getattr(self.c, "fault_env", FAST_ENV))
        full.update(env or {})
        proc = Proc(p["argv"], p["log"], env=full)
        self.procs[name] = proc

        def healthy():
            assert proc.alive(), f"{name} exited at restart"
            return requests.get(p["url"] + "/v1/health", timeout=1).status_code == 200
        wait_until(healthy, timeout=20, what=f"{name} back up")
        return proc

    def stop_all(self):
        for proc in self.procs.values():
            proc.stop()


def wait_unregistered(c, node_id, timeout=15):
    wait_until(lambda: node_id not in live_nodes(c), timeout=timeout,
               what=f"node {node_id} to leave nodes/")


def wait_registered(c, node_id, timeout=15):
    wait_until(lambda: node_id in live_nodes(c), timeout=timeout,
               what=f"node {node_id} to register")


# ---- healers -------------------------------------------------------------------------------------

_METRIC = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)")


def metrics(url, timeout=2):
    """{metric name: value summed over labels} from a Prometheus text page."""
    r = requests.get(url + "/metrics", timeout=timeout)
    r.raise_for_status()
    out = {}
    for line in r.text.splitlines():
        m = _METRIC.match(line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out


def healer_metric(values, field):
    """A healer counter by its struct hs_healer_stats field name (src/healer/stats.c)."""
    name = "hybridstore_healer_" + field
    assert name in values, f"healer /metrics has no {name}"
    return values[name]


def is_leader(values):
    return healer_metric(values, "is_leader") == 1


def healer_sum(c, field):
    """A healer counter summed over the running healers."""
    total = 0
    for p in c.processes("healer"):
        if p["status"] == "running":
            total += healer_metric(metrics(p["url"]), field)
    return total


def leading_healer(c, timeout=15):
    """The cluster.json entry of the healer whose /metrics says it leads (waits for one)."""
    def find():
        leaders = []
        for p in c.processes("healer"):
            if p["status"] != "running":
                continue
            try:
                if is_leader(metrics(p["url"])):
                    leaders.append(p)
            except requests.RequestException:
                continue
        assert len(leaders) <= 1, f"two healers lead at once: {[p['name'] for p in leaders]}"
        return leaders[0] if leaders else None
    return wait_until(find, timeout=timeout, interval=0.2, what="a leading healer")


# ---- etcd members --------------------------------------------------------------------------------

def etcd_leader_name(c, timeout=15):
    """Name (etcd0..2) of the raft leader among the members that answer (members restarted
    behind the launcher's back included)."""
    def find():
        for p in c.processes("etcd"):
            try:
                st = requests.post(p["url"] + "/v3/maintenance/status", json={},
                                   timeout=2).json()
            except requests.RequestException:
                continue
            if st.get("leader") and st["leader"] == st["header"]["member_id"]:
                return p["name"]
        return None
    return wait_until(find, timeout=timeout, interval=0.2, what="an etcd leader")


# ---- gateway clients -----------------------------------------------------------------------------

def qkey(key):
    return urllib.parse.quote(key, safe="")


class Gw:
    """Both APIs of one gateway over a kept-alive session (one Gw per thread)."""

    def __init__(self, url, timeout=30):
        self.url = url.rstrip("/")
        self.s = requests.Session()
        self.timeout = timeout

    def ref_write(self, key, doc_bytes, strategy):
        return self.s.post(f"{self.url}/write", params={"key": key, "strategy": strategy},
                           data=doc_bytes, headers={"Content-Type": "application/json"},
                           timeout=self.timeout)

    def ref_read(self, key):
        return self.s.get(f"{self.url}/read/{qkey(key)}", timeout=self.timeout)

    def ref_delete(self, key):
        return self.s.delete(f"{self.url}/delete/{qkey(key)}", timeout=self.timeout)

    def put(self, key, body, strategy=None, ctype="application/octet-stream"):
        params = {"strategy": strategy} if strategy else None
        return self.s.put(f"{self.url}/v1/objects/{qkey(key)}", params=params, data=body,
                          headers={"Content-Type": ctype}, timeout=self.timeout)

    def get(self, key):
        return self.s.get(f"{self.url}/v1/objects/{qkey(key)}", timeout=self.timeout)

    def delete(self, key):
        return self.s.delete(f"{self.url}/v1/objects/{qkey(key)}", timeout=self.timeout)

    def manifest(self, key):
        return self.s.get(f"{self.url}/v1/manifests/{qkey(key)}", timeout=self.timeout)


def start_gateway(c, log_name, env=None, extra=()):
    """One more gateway of cluster c (same binary, etcd and secret as the launcher's) on a free
    port, as a Proc we own; env (e.g. HS_FAULT) only for it. Returns (Proc, url)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [HS_BIN, "gateway", "--listen", f"127.0.0.1:{port}", "--etcd", c.info["etcd"],
            "--secret-file", c.info["secret_file"]] + list(extra)
    full = dict(getattr(c, "fault_env", FAST_ENV))
    full.update(env or {})
    proc = Proc(argv, os.path.join(c.dir, "logs", f"{log_name}.log"), env=full)

    def healthy():
        assert proc.alive(), f"{log_name} exited:\n{proc.read_log()[-2000:]}"
        return requests.get(url + "/health", timeout=1).status_code == 200
    wait_until(healthy, timeout=20, what=f"{log_name} health")
    return proc, url


# ---- a write load of every strategy through both APIs -------------------------------------------

WRITE_KINDS = [("ref", "replication"), ("ref", "ec"), ("ref", "field_hybrid"),
               ("v1", "replication"), ("v1", "ec"), ("v1", "field_hybrid")]


def object_body(api, strategy, key, seq, size):
    """(body bytes, content type) of a self-describing test object: JSON for the reference API
    and for field_hybrid, bytes otherwise."""
    if api == "ref" or strategy == "field_hybrid":
        pad = os.urandom(max(0, size - 120) // 2).hex()
        doc = {"key": key, "like_count": seq, "pad": pad, "view_count": seq * 3, "seq": seq}
        return json.dumps(doc, separators=(",", ":")).encode(), "application/json"
    head = f"{key} {seq}\n".encode()
    return head + os.urandom(max(0, size - len(head))), "application/octet-stream"


def same_content(api, expect, got):
    """JSON compares as documents in field order; bytes exactly."""
    if api == "ref" or expect[:1] == b"{":
        try:
            return (json.loads(got, object_pairs_hook=list) ==
                    json.loads(expect, object_pairs_hook=list))
        except ValueError:
            return False
    return got == expect


def write_object(gw, api, strategy, key, body, ctype, why=None):
    """The HTTP status of one write (None on a transport error); why (a dict), if given, gets
    the answer's body or the error of a failed write under key."""
    try:
        if api == "ref":
            r = gw.ref_write(key, body, strategy)
        else:
            r = gw.put(key, body, strategy, ctype)
    except requests.RequestException as exc:
        if why is not None:
            why[key] = f"transport: {exc}"[:300]
        return None
    if why is not None and r.status_code not in (200, 201):
        why[key] = f"{r.status_code} {r.text[:300]}"
    return r.status_code


def read_object(gw, api, key):
    """(status, body); status None on a transport error or a body cut short."""
    try:
        r = gw.ref_read(key) if api == "ref" else gw.get(key)
    except requests.RequestException:
        return None, b""
    clen = r.headers.get("Content-Length")
    if clen is not None and int(clen) != len(r.content):
        return None, r.content
    return r.status_code, r.content


def pick_load_size(rng):
    r = rng.random()
    if r < 0.6:
        return rng.randint(1, 16 * 1024)
    if r < 0.9:
        return rng.randint(16 * 1024, 256 * 1024)
    return rng.randint(256 * 1024, 1300 * 1024)


class WriteLoad:
    """Threads writing new keys through the given gateways, cycling through every strategy and
    both APIs (pause: seconds between two writes of a thread, bounding the data written).
    acked: {key: (api, body)} of acknowledged writes; log: every attempt as
    (start, end, key, api, strategy, status)."""

    def __init__(self, urls, prefix, threads=3, seed=1, pause=0.0):
        self.urls, self.prefix, self.n = list(urls), prefix, threads
        self.seed, self.pause = seed, pause
        self.acked = {}
        self.why = {}  # key -> answer of a failed write
        self.log = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = []

    def worker(self, idx):
        rng = random.Random(self.seed * 100 + idx)
        gws = [Gw(u) for u in self.urls]
        seq = 0
        while not self.stop_flag.is_set():
            api, strategy = WRITE_KINDS[(seq + idx) % len(WRITE_KINDS)]
            key = f"{self.prefix}/t{idx}/o{seq:05d}"
            body, ctype = object_body(api, strategy, key, seq, pick_load_size(rng))
            t0 = time.monotonic()
            code = write_object(gws[seq % len(gws)], api, strategy, key, body, ctype, self.why)
            t1 = time.monotonic()
            with self.lock:
                self.log.append((t0, t1, key, api, strategy, code))
                if code in (200, 201):
                    self.acked[key] = (api, body)
            seq += 1
            if self.pause:
                self.stop_flag.wait(self.pause)

    def start(self):
        self.threads = [threading.Thread(target=self.worker, args=(i,), daemon=True)
                        for i in range(self.n)]
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(120)

    def attempts(self, since=0.0, until=float("inf")):
        """Attempts that started in [since, until)."""
        with self.lock:
            return [a for a in self.log if since <= a[0] < until]


def unreadable(urls, objects, rounds=1):
    """[(key, status)] of objects that do not read back exactly, each read through every
    gateway in turn and through its own API (and the other one for JSON)."""
    gws = [Gw(u) for u in urls]
    bad = []
    for r in range(rounds):
        for i, (key, (api, body)) in enumerate(sorted(objects.items())):
            read_api = api if (i + r) % 2 == 0 or body[:1] != b"{" else \
                ("v1" if api == "ref" else "ref")
            code, got = read_object(gws[(i + r) % len(gws)], read_api, key)
            if code != 200 or not same_content(api, body, got):
                bad.append((key, read_api, code))
    return bad
