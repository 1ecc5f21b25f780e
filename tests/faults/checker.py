#!/usr/bin/python3
"""A consistency checker for hybridstore (scenario 8 of tests/faults/README.md), usable as a library and as a script.

Several client threads write, overwrite, read and delete random keys through the gateways —
all three strategies, sizes from 0 to ~2 MiB, the reference API (/write, /read, /delete) and
the native API (/v1/objects) — while faults are injected. Every operation is recorded with its
start and end time (one monotonic clock) and its outcome. Every value is self-describing, so a
body mixed from two versions, truncated or corrupted is detected without the registry:

- binary objects (native PUT): b"HSCHK " + {"key","w","n","sha"} + b"\\n" + n random bytes whose
  SHA-256 is sha (an empty object is the one value that describes nothing: it matches any
  empty write of the key);
- JSON objects (reference /write, native PUT of application/json): cold fields "key", "cw" (the
  write that made this cold content) and "pad"; hot fields "like_count" = the write id,
  "view_count", and "update_count" = a 48-bit digest of every other field. A pure hot update
  reuses the previous cold fields, so a hot part of one version merged with the cold part of
  another fails the digest.

The rule a read must satisfy (per key, a read/write register): a read R = [rs, re] may return
the value of write W (or "absent" for a delete or the initial state) only if W started before re
and no acknowledged write or delete M both started after W was acknowledged and was itself
acknowledged before rs. A write that failed with a 5xx or a transport error is indeterminate (it
may have committed): it counts as acknowledged never, i.e. as still in flight. A value of a
write that was refused with a 4xx is an anomaly. Reads are checked during the run (those that
ended a second ago) and at the end, after a final read of every key.

Script use, against a running cluster (e.g. `make run`), optionally injecting faults:
    checker.py --url http://127.0.0.1:8300,http://127.0.0.1:8301 --duration 60
    checker.py --cluster-dir ./data --duration 60 --faults node,flip,etcd
prints the report as one JSON line and exits 1 when there is an anomaly."""
import argparse
import hashlib
import json
import os
import random
import socket
import sys
import urllib.parse
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
for _p in (HERE, os.path.join(HERE, "..", "integration")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from faultlib import Gw  # noqa: E402

INF = float("inf")
STRATEGIES = ("replication", "ec", "field_hybrid")
FAMILIES = ("ref", "bin", "njson")  # reference API JSON, native binary, native JSON
MIB = 1 << 20


def sha(data):
    return hashlib.sha256(data).hexdigest()


def digest48(pairs):
    """48 bits of the SHA-256 of the pairs in key order (field order is checked separately:
    against the write's recorded content)."""
    return int(sha(json.dumps(sorted(pairs), separators=(",", ":")).encode())[:12], 16)


def trickle(body, seconds):
    """The body as a generator (a chunked upload) spread over `seconds`."""
    pieces = 8
    step = max(1, -(-len(body) // pieces))
    for off in range(0, max(len(body), 1), step):
        yield body[off:off + step]
        time.sleep(seconds / pieces)


def pick_size(rng):
    """0 to ~2 MiB, skewed small (most objects are small; some span two EC stripes)."""
    r = rng.random()
    if r < 0.08:
        return 0
    if r < 0.5:
        return rng.randint(1, 4096)
    if r < 0.8:
        return rng.randint(4097, 256 * 1024)
    return rng.randint(256 * 1024, 2 * MIB + 4096)


# ---- self-describing values ---------------------------------------------------------------------

def make_binary(key, wid, size):
    if size == 0:
        return b""
    head_len = len(b'HSCHK {"key":"","w":,"n":,"sha":""}\n') + len(key) + 80
    rest = os.urandom(max(0, size - head_len))
    head = json.dumps({"key": key, "w": wid, "n": len(rest), "sha": sha(rest)},
                      separators=(",", ":")).encode()
    return b"HSCHK " + head + b"\n" + rest


def decode_binary(key, body):
    """The write id a binary body claims, or raises ValueError on any inconsistency. None for
    the empty body."""
    if not body:
        return None
    if not body.startswith(b"HSCHK "):
        raise ValueError(f"no HSCHK header (len {len(body)}, starts {body[:16]!r})")
    nl = body.index(b"\n")
    head = json.loads(body[6:nl])
    rest = body[nl + 1:]
    if head["key"] != key:
        raise ValueError(f"body of key {head['key']!r}")
    if len(rest) != head["n"]:
        raise ValueError(f"w={head['w']}: {len(rest)} bytes after the header, want {head['n']}")
    if sha(rest) != head["sha"]:
        raise ValueError(f"w={head['w']}: payload digest mismatch (mixed or corrupt)")
    return head["w"]


def make_json(key, wid, size, cold=None):
    """(bytes, cold pairs). cold: the cold pairs to reuse (a pure hot update)."""
    if cold is None:
        pad = os.urandom(max(0, size - 160) // 2).hex()
        cold = [["key", key], ["cw", wid], ["pad", pad]]
    view = wid * 7 % 1000003
    body_pairs = [cold[0], ["like_count", wid], cold[1], ["view_count", view]] + cold[2:]
    pairs = body_pairs + [["update_count", digest48(body_pairs)]]
    text = "{" + ",".join(json.dumps(k) + ":" + json.dumps(v) for k, v in pairs) + "}"
    return text.encode(), cold


class Pairs(list):
    """A decoded JSON object as its [key, value] pairs in document order."""

    def __init__(self, pairs):
        super().__init__([k, v] for k, v in pairs)


def decode_json(key, body):
    """(write id, ordered pairs) of a JSON body, or raises ValueError."""
    pairs = json.loads(body, object_pairs_hook=Pairs)
    if not isinstance(pairs, Pairs):
        raise ValueError("not a JSON object")
    d = dict(pairs)
    if d.get("key") != key:
        raise ValueError(f"body of key {d.get('key')!r}")
    rest = [[k, v] for k, v in pairs if k != "update_count"]
    if d.get("update_count") != digest48(rest):
        raise ValueError(f"w={d.get('like_count')} cw={d.get('cw')}: digest mismatch "
                         "(hot and cold of different versions, or corrupt)")
    return d["like_count"], pairs


# ---- the history -------------------------------------------------------------------------------

class Mut:
    """One write or delete: status pending (in flight), ok, indeterminate (5xx/transport error:
    may or may not have taken effect) or rejected (4xx: did not take effect)."""
    __slots__ = ("key", "wid", "kind", "start", "end", "status", "digest", "empty", "info")

    def __init__(self, key, wid, kind, start, digest=None, empty=False, info=""):
        self.key, self.wid, self.kind, self.start = key, wid, kind, start
        self.end, self.status, self.digest, self.empty, self.info = None, "pending", digest, \
            empty, info

    def end_eff(self):
        return self.end if self.status == "ok" else INF


class Read:
    __slots__ = ("key", "start", "end", "outcome", "wid", "empty", "api", "checked")

    def __init__(self, key, start, end, outcome, wid=None, empty=False, api=""):
        self.key, self.start, self.end, self.outcome = key, start, end, outcome
        self.wid, self.empty, self.api, self.checked = wid, empty, api, False


class Checker:
    """Runs the client threads and checks their history (see the module docstring)."""

    def __init__(self, urls, n_threads=4, n_keys=24, seed=None, prefix=None, max_size=None,
                 log=None, slow=0.0, flood=False):
        self.urls = list(urls)
        self.n_threads = n_threads
        self.seed = seed if seed is not None else random.randrange(1 << 30)
        rng = random.Random(self.seed)
        self.prefix = prefix or f"chk{rng.randrange(1 << 24):06x}"
        self.keys = [f"{self.prefix}/k{i:03d}" for i in range(n_keys)]
        self.family = {k: FAMILIES[i % len(FAMILIES)] for i, k in enumerate(self.keys)}
        self.max_size = max_size
        self.slow = slow    # fraction of binary writes whose body trickles in over 1-4 s
        self.flood = flood  # a thread of abusive connections (huge declared lengths, half headers)
        self.log = log or (lambda msg: None)
        self.lock = threading.Lock()
        self.muts = {k: [] for k in self.keys}
        self.writes = {}
        self.reads = []
        self.next_wid = 1
        self.anomalies = []
        self.faults = []
        self.counts = {n: 0 for n in ("write_ok", "write_indeterminate", "write_rejected",
                                      "delete_ok", "delete_indeterminate", "delete_rejected",
                                      "read_value", "read_absent", "read_error",
                                      "read_truncated", "hot_updates", "reads_checked",
                                      "slow_writes", "flood_connections")}
        self.bytes_written = 0
        self.stop_flag = threading.Event()
        self.threads = []
        self.t0 = None
        self.t_end = None
        self.status_by_code = {}

    # ---- bookkeeping ----

    def now(self):
        return time.monotonic()

    def note_fault(self, name, heal=False):
        """Records an injected fault (or, with heal, a recovery step such as a restart)."""
        with self.lock:
            entry = {"t": round(self.now() - (self.t0 or self.now()), 2), "fault": name}
            if heal:
                entry["heal"] = True
            self.faults.append(entry)
        self.log(f"{'heal' if heal else 'fault'}: {name}")

    def anomaly(self, kind, **detail):
        with self.lock:
            self.anomalies.append(dict(kind=kind, **detail))
        self.log(f"ANOMALY {kind} {detail}")

    def begin_mut(self, key, kind, digest=None, empty=False, info=""):
        with self.lock:
            wid = self.next_wid
            self.next_wid += 1
            m = Mut(key, wid, kind, self.now(), digest, empty, info)
            self.muts[key].append(m)
            self.writes[wid] = m
        return m

    def end_mut(self, m, status, code):
        t = self.now()
        with self.lock:
            m.end, m.status = t, status
            self.counts[f"{'write' if m.kind == 'put' else 'delete'}_{status}"] += 1
            self.status_by_code[str(code)] = self.status_by_code.get(str(code), 0) + 1

    @staticmethod
    def classify(code):
        if code is None or code >= 500 or code in (408, 429):
            return "indeterminate"
        return "rejected" if code >= 400 else "ok"

    # ---- operations ----

    def do_write(self, gw, rng, key, last_cold):
        fam = self.family[key]
        size = pick_size(rng)
        if self.max_size is not None:
            size = min(size, self.max_size)
        hot_update = fam != "bin" and key in last_cold and rng.random() < 0.3
        strategy = "field_hybrid" if hot_update else rng.choice(STRATEGIES)
        if fam == "bin":
            strategy = rng.choice(("replication", "ec", "auto"))
        elif fam == "njson" and not hot_update and rng.random() < 0.2:
            strategy = "auto"
        m = self.begin_mut(key, "put", info=f"{fam}/{strategy}")
        if fam == "bin":
            body = make_binary(key, m.wid, size)
            m.digest, m.empty = sha(body), not body
        else:
            body, cold = make_json(key, m.wid, size, last_cold.get(key) if hot_update else None)
            m.digest = sha(json.dumps(decode_json(key, body)[1]).encode())  # as read back
            last_cold[key] = cold
        code = None
        slow = fam == "bin" and rng.random() < self.slow
        if slow:
            body = trickle(body, rng.uniform(1.0, 4.0))
        try:
            if fam == "ref":
                code = gw.ref_write(key, body, strategy).status_code
            elif fam == "bin":
                code = gw.put(key, body, None if strategy == "auto" else strategy).status_code
            else:
                code = gw.put(key, body, None if strategy == "auto" else strategy,
                              "application/json").status_code
        except requests.RequestException:
            code = None
        status = self.classify(code)
        self.end_mut(m, status, code)
        if status == "ok":
            with self.lock:
                self.bytes_written += size if slow else len(body)
                if hot_update:
                    self.counts["hot_updates"] += 1
                if slow:
                    self.counts["slow_writes"] += 1

    def do_delete(self, gw, rng, key):
        m = self.begin_mut(key, "del")
        code = None
        try:
            if self.family[key] == "ref" and rng.random() < 0.7:
                code = gw.ref_delete(key).status_code
            else:
                code = gw.delete(key).status_code
                if code == 404:
                    code = 204  # absent before: the delete's effect (absent) holds
        except requests.RequestException:
            code = None
        self.end_mut(m, self.classify(code), code)

    def do_read(self, gw, rng, key):
        fam = self.family[key]
        api = "ref" if fam == "ref" and rng.random() < 0.6 else "v1"
        if fam == "njson" and rng.random() < 0.3:
            api = "ref"
        start = self.now()
        try:
            r = gw.ref_read(key) if api == "ref" else gw.get(key)
            code, body, clen = r.status_code, r.content, r.headers.get("Content-Length")
        except requests.RequestException:
            code, body, clen = None, b"", None
        end = self.now()
        if code == 200 and clen is not None and int(clen) != len(body):
            with self.lock:
                self.counts["read_truncated"] += 1  # the client sees the cut: not a value
            code = None
        if code == 404:
            rd = Read(key, start, end, "absent", api=api)
        elif code == 200:
            try:
                if fam == "bin":
                    wid = decode_binary(key, body)
                    digest = sha(body)
                else:
                    wid, pairs = decode_json(key, body)
                    digest = sha(json.dumps(pairs).encode())
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                self.anomaly("corrupt_or_mixed", key=key, api=api, error=str(exc)[:200])
                return
            rd = Read(key, start, end, "value", wid=wid, empty=(wid is None), api=api)
            if wid is not None:
                with self.lock:
                    w = self.writes.get(wid)
                if w is None or w.key != key or w.kind != "put":
                    self.anomaly("unknown_write", key=key, wid=wid, api=api)
                    return
                if w.digest != digest:
                    self.anomaly("content_mismatch", key=key, wid=wid, api=api)
                    return
        else:
            with self.lock:
                self.counts["read_error"] += 1
            return
        with self.lock:
            self.counts["read_value" if rd.outcome == "value" else "read_absent"] += 1
            self.reads.append(rd)

    def worker(self, idx):
        rng = random.Random(self.seed * 1000 + idx)
        gws = [Gw(u) for u in self.urls]
        last_cold = {}
        while not self.stop_flag.is_set():
            gw = rng.choice(gws)
            key = rng.choice(self.keys)
            r = rng.random()
            if r < 0.45:
                self.do_write(gw, rng, key, last_cold)
            elif r < 0.88:
                self.do_read(gw, rng, key)
            else:
                self.do_delete(gw, rng, key)
                last_cold.pop(key, None)

    def flooder(self):
        """Abusive clients mixed into the run: connections that declare a 12 GB body and send one
        byte, and connections that never finish their headers; held a second, then dropped.
        Bounded: at most 16 sockets at a time, until the run stops."""
        rng = random.Random(self.seed ^ 0xF100D)
        while not self.stop_flag.is_set():
            socks = []
            for i in range(16):
                u = urllib.parse.urlsplit(rng.choice(self.urls))
                try:
                    s = socket.create_connection((u.hostname, u.port), timeout=2)
                    if i % 2 == 0:
                        s.sendall((f"PUT /v1/objects/{self.prefix}-flood/{i}?strategy=ec "
                                   "HTTP/1.1\r\nHost: x\r\nContent-Length: 12582912000\r\n"
                                   "Content-Type: application/octet-stream\r\n\r\nx").encode())
                    else:
                        s.sendall(b"GET /v1/objects/x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    socks.append(s)
                except OSError:
                    pass
            with self.lock:
                self.counts["flood_connections"] += len(socks)
            self.stop_flag.wait(1.0)
            for s in socks:
                s.close()

    # ---- checking ----

    def check_read(self, rd):
        """Checks one read against the history (call with self.lock held)."""
        muts = self.muts[rd.key]
        latest = -INF  # the latest start of a mutation acknowledged before the read started
        for m in muts:
            if m.status == "ok" and m.end < rd.start and m.start > latest:
                latest = m.start
        if rd.outcome == "absent":
            cands = [m for m in muts if m.kind == "del"]
            initial_ok = latest == -INF
        else:
            initial_ok = False
            if rd.empty:
                cands = [m for m in muts if m.kind == "put" and m.empty]
            else:
                cands = [self.writes[rd.wid]]
        live = [m for m in cands if m.status != "rejected"]
        if initial_ok or any(m.start < rd.end and m.end_eff() >= latest for m in live):
            return
        what = "absent" if rd.outcome == "absent" else ("empty" if rd.empty else rd.wid)
        if cands and not live:
            kind = "read_of_rejected_write"
        elif live and all(m.start >= rd.end for m in live):
            kind = "read_from_future"
        else:
            kind = "stale_read"  # an acknowledged write or delete was lost or overtaken
        self.anomalies.append({"kind": kind, "key": rd.key, "read": what, "api": rd.api,
                               "read_start": round(rd.start - self.t0, 3),
                               "read_end": round(rd.end - self.t0, 3),
                               "latest_acked_start": round(latest - self.t0, 3)})
        self.log(f"ANOMALY {kind} key={rd.key} read={what}")

    def check_pending(self, older_than):
        """Checks reads that ended more than older_than seconds ago."""
        limit = self.now() - older_than
        with self.lock:
            for rd in self.reads:
                if not rd.checked and rd.end < limit:
                    self.check_read(rd)
                    rd.checked = True
                    self.counts["reads_checked"] += 1

    def verifier(self):
        while not self.stop_flag.wait(2.0):
            self.check_pending(1.0)

    # ---- lifecycle ----

    def start(self):
        self.t0 = self.now()
        self.threads = [threading.Thread(target=self.worker, args=(i,), daemon=True)
                        for i in range(self.n_threads)]
        self.threads.append(threading.Thread(target=self.verifier, daemon=True))
        if self.flood:
            self.threads.append(threading.Thread(target=self.flooder, daemon=True))
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(120)
        self.t_end = self.now()

    def final_verify(self, tries=20):
        """Reads every key once more (retrying errors for a while) and checks every read: an
        acknowledged write lost at the end shows up as a stale read here."""
        gws = [Gw(u) for u in self.urls]
        rng = random.Random(self.seed)
        for key in self.keys:
            for attempt in range(tries):
                before = len(self.reads)
                self.do_read(gws[attempt % len(gws)], rng, key)
                if len(self.reads) > before or self.anomalies_for(key):
                    break
                time.sleep(0.5)
            else:
                self.anomaly("unreadable_at_end", key=key)
        self.check_pending(-1.0)

    def anomalies_for(self, key):
        with self.lock:
            return [a for a in self.anomalies if a.get("key") == key]

    def report(self):
        with self.lock:
            kinds = {}
            for a in self.anomalies:
                kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
            return {
                "checker": "hybridstore-consistency",
                "seed": self.seed,
                "duration_s": round((self.t_end or self.now()) - self.t0, 1),
                "threads": self.n_threads,
                "keys": len(self.keys),
                "ops": sum(v for k, v in self.counts.items()
                           if k not in ("reads_checked", "hot_updates", "read_truncated",
                                        "slow_writes", "flood_connections")),
                "counts": dict(self.counts),
                "http_status": dict(sorted(self.status_by_code.items())),
                "bytes_written": self.bytes_written,
                "faults_injected": len([f for f in self.faults if not f.get("heal")]),
                "faults": self.faults,
                "anomalies": len(self.anomalies),
                "anomaly_kinds": kinds,
                "anomaly_samples": self.anomalies[:10],
            }


def run(urls, duration, n_threads=4, n_keys=24, schedule=(), seed=None, log=None, slow=0.0,
        flood=False):
    """Runs the checker for duration seconds; schedule: [(t seconds, name, callable)] faults
    injected at t (each callable gets the checker); slow: fraction of binary writes trickled
    over 1-4 s; flood: abusive connections alongside. Returns the report (final check done)."""
    chk = Checker(urls, n_threads, n_keys, seed, log=log, slow=slow, flood=flood).start()
    try:
        for t, name, fn in sorted(schedule, key=lambda x: x[0]):
            delay = chk.t0 + t - chk.now()
            if delay > 0:
                time.sleep(delay)
            fn(chk)
            chk.note_fault(name, heal=name.startswith("restart"))
        delay = chk.t0 + duration - chk.now()
        if delay > 0:
            time.sleep(delay)
    finally:
        chk.stop()
    chk.final_verify()
    return chk.report()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="gateway URLs, comma-separated")
    ap.add_argument("--cluster-dir", help="a running `hybridstore cluster` dir (gateways from "
                    "its cluster.json; needed for --faults)")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--keys", type=int, default=24)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--faults", default="", help="comma-separated: node, flip, etcd "
                    "(scenarios 1, 4, 7; spread over the run)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    log = (lambda m: print(m, file=sys.stderr)) if args.verbose else None
    schedule, urls = [], []
    if args.cluster_dir:
        from cluster import HsCluster
        from faultlib import gateway_urls
        import faultinject
        c = HsCluster.attach(args.cluster_dir)
        urls = gateway_urls(c)
        inj = faultinject.Injector(c)
        schedule = inj.schedule([f for f in args.faults.split(",") if f], args.duration)
    if args.url:
        urls = args.url.split(",")
    if not urls:
        ap.error("--url or --cluster-dir is required")
    rep = run(urls, args.duration, args.threads, args.keys, schedule, args.seed, log)
    if args.cluster_dir:
        inj.heal()
        left = inj.restarted_pids()
        if left:  # the launcher does not know them: they keep the cluster whole until stopped
            print(f"checker: restarted outside the launcher (stop by PID): {left}",
                  file=sys.stderr)
    print(json.dumps(rep, separators=(",", ":")))
    return 1 if rep["anomalies"] else 0


if __name__ == "__main__":
    sys.exit(main())
