#!/usr/bin/python3
"""bench_fill.py - does the store slow down as it fills? (docs/benchmarks.md "As the store fills")

Starts a cluster with `hybridstore cluster`'s defaults (one etcd, 6 nodes with fsync always,
3 gateways behind nginx, 2 healers) in --dir, fills it with 1 KiB replicated objects through
nginx (`hybridstore bench --mode write --keys N`, each key written once, concurrency 16) and at
every milestone (object count read from etcd) pauses the fill (SIGSTOP) and measures, on the
quiet cluster:

  - the 1 KiB overwrite rate of 200 keys, alternating with a second, empty cluster started for
    the comparison (--pairs runs of --duration each; the ratio full/empty per pair);
  - the etcd DB size (etcd's own metric) and the RSS of every process by role;
  - a full listing (`hybridstore ls` through nginx, 1000 keys per page): time and keys;
  - a full audit: the leading healer's next audit sweep started after the listing, over every
    manifest and every node's listing (the healers run with --audit-budget 1s, so a sweep runs
    unthrottled): its duration and object and blob counts from its audit_sweep_done line.

One JSON line per milestone, then a markdown table. The fill time between milestones is
reported too (it includes the measurements' pauses only where said).

    /usr/bin/python3 tools/bench_fill.py BUILD_DIR [--objects 1000000]
        [--milestones 100000,1000000] [--dir DIR] [--pairs 3] [--duration 5s]
"""
import argparse
import calendar
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

ROLES = ["etcd", "node", "gateway", "healer", "nginx"]
META = "/hybridstore/v1/meta/"


def count_objects(c):
    """Manifests in etcd (a count-only range over meta/)."""
    from cluster import b64, prefix_end
    out = c.etcd_post("/v3/kv/range", {"key": b64(META), "range_end": b64(prefix_end(META)),
                                      "count_only": True})
    return int(out.get("count", 0))


def etcd_db_bytes(c):
    text = requests.get(c.etcd_endpoints[0] + "/metrics", timeout=10).text
    m = re.search(r"^etcd_mvcc_db_total_size_in_bytes (\S+)$", text, re.M)
    return int(float(m.group(1))) if m else None


def rss_by_role(c):
    """{role: [RSS MiB of each process]}; nginx = master and workers."""
    out = {}
    for p in c.info["processes"]:
        pids = [p["pid"]]
        if p["role"] == "nginx":
            try:
                kids = subprocess.run(["pgrep", "-P", str(p["pid"])], capture_output=True,
                                      text=True).stdout.split()
                pids += [int(k) for k in kids]
            except OSError:
                pass
        for pid in pids:
            try:
                with open(f"/proc/{pid}/status", encoding="ascii") as f:
                    kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            except (OSError, AttributeError):
                continue
            out.setdefault(p["role"], []).append(round(kb / 1024, 1))
    return out


def rate(hs_bin, c, duration):
    """One 1 KiB overwrite run of 200 keys (c=8): ops/s."""
    r = subprocess.run([hs_bin, "bench", "--url", c.url, "--mode", "write", "--keys", "200",
                        "--prefill", "--duration", duration, "--size", "1KiB"],
                       capture_output=True, text=True, timeout=600)
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    return lines[-1]["ops_per_s"] if lines else None


def listing(hs_bin, c):
    t0 = time.monotonic()
    r = subprocess.run([hs_bin, "ls", "--url", c.url], capture_output=True, text=True,
                       timeout=7200)
    took = time.monotonic() - t0
    return took, (r.stdout.count("\n") if r.returncode == 0 else None)


def leading_healer_log(c):
    for p in c.processes("healer"):
        try:
            text = requests.get(p["url"] + "/metrics", timeout=5).text
        except requests.RequestException:
            continue
        if re.search(r"^hybridstore_healer_is_leader 1", text, re.M):
            return p["log"]
    return None


def audit_after(c, since_wall, timeout):
    """(ms, objects, blobs) of the first audit_sweep_done of the leader logged after a sweep
    that STARTED after since_wall (the done line's time minus its ms)."""
    deadline = time.monotonic() + timeout
    pat = re.compile(r"^ts=(\S+) .*evt=audit_sweep_done objects=(\d+) blobs_listed=(\d+) "
                     r".* ms=(\d+)", re.M)
    while time.monotonic() < deadline:
        log = leading_healer_log(c)
        if log:
            with open(log, encoding="utf-8", errors="replace") as f:
                for ts, objs, blobs, ms in pat.findall(f.read()):
                    done = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + \
                        float("0" + ts[19:-1])
                    if done - int(ms) / 1000.0 >= since_wall:
                        return int(ms), int(objs), int(blobs)
        time.sleep(2)
    return None, None, None


def measure(hs_bin, c, empty, n, a, fill_s):
    print(f"# milestone {n}: measuring", file=sys.stderr, flush=True)
    pairs = []
    for i in range(a.pairs):  # alternate which cluster goes first
        order = [(c, "full"), (empty, "empty")] if i % 2 == 0 else [(empty, "empty"), (c, "full")]
        got = {name: rate(hs_bin, cl, a.duration) for cl, name in order}
        pairs.append(got)
    ratios = sorted(p["full"] / p["empty"] for p in pairs if p["full"] and p["empty"])
    ls_s, ls_keys = listing(hs_bin, c)
    # a sweep that starts after the listing: nothing else of ours runs while it is timed
    audit_ms, audit_objs, audit_blobs = audit_after(c, time.time(), timeout=a.audit_timeout)
    return {
        "objects": n, "fill_s": round(fill_s, 1),
        "rate_pairs": pairs, "rate_ratio_median": ratios[len(ratios) // 2] if ratios else None,
        "etcd_db_bytes": etcd_db_bytes(c), "rss_mib": rss_by_role(c),
        "listing_s": round(ls_s, 2), "listing_keys": ls_keys,
        "audit_ms": audit_ms, "audit_objects": audit_objs, "audit_blobs": audit_blobs,
        "load": os.getloadavg(), "utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build_dir")
    ap.add_argument("--objects", type=int, default=1000000)
    ap.add_argument("--milestones", default="100000,1000000")
    ap.add_argument("--dir", help="cluster directory (default: a temp dir, removed)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--concurrency", default="16")
    ap.add_argument("--audit-timeout", type=float, default=3600)
    a = ap.parse_args()
    build = os.path.abspath(a.build_dir)
    hs_bin = os.path.join(build, "hybridstore")
    os.environ["HS_BUILD_DIR"] = build
    from cluster import HsCluster, patched_environ  # noqa: E402 (needs HS_BUILD_DIR first)
    milestones = sorted(int(x) for x in a.milestones.split(","))
    tmp = tempfile.TemporaryDirectory(prefix="hs-fill-")
    top = a.dir or tmp.name
    env = {"HS_HEALER_AUDIT_BUDGET": "1s"}  # audit sweeps unthrottled: their time is the work
    with patched_environ(env):
        c = HsCluster(os.path.join(top, "full"), nodes=6, gateways=3, healers=2)
        c.start()
        empty = HsCluster(os.path.join(top, "empty"), nodes=6, gateways=3, healers=2)
        empty.start()
    results = []
    fill = None
    try:
        fill = subprocess.Popen([hs_bin, "bench", "--url", c.url, "--mode", "write", "--keys",
                                 str(a.objects), "--concurrency", a.concurrency, "--duration",
                                 "24h", "--size", "1KiB"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        paused_s = 0.0
        for n in milestones:
            while count_objects(c) < n:
                if fill.poll() is not None:
                    raise SystemExit(f"the fill stopped: exit {fill.returncode}")
                # a count walks every manifest in etcd: not so often that it slows the fill
                time.sleep(10)
            fill.send_signal(signal.SIGSTOP)
            fill_s = time.monotonic() - t0 - paused_s
            t_pause = time.monotonic()
            r = measure(hs_bin, c, empty, count_objects(c), a, fill_s)
            results.append(r)
            print(json.dumps(r), flush=True)
            paused_s += time.monotonic() - t_pause
            fill.send_signal(signal.SIGCONT)
        fill.send_signal(signal.SIGTERM)
        fill.wait(60)
    finally:
        if fill and fill.poll() is None:
            fill.kill()
        empty.stop()
        c.stop()
        tmp.cleanup()
    print("| objects | fill s | overwrite rate full/empty (median) | etcd DB MB | listing s "
          "| audit s (objects, blobs) | RSS MiB etcd / node max / gateway max / healer max |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        rss = r["rss_mib"]
        print("| %d | %.0f | %s | %.0f | %.1f | %s (%s, %s) | %s / %s / %s / %s |" % (
            r["objects"], r["fill_s"],
            "%.2f" % r["rate_ratio_median"] if r["rate_ratio_median"] else "-",
            (r["etcd_db_bytes"] or 0) / 1e6, r["listing_s"],
            "%.1f" % (r["audit_ms"] / 1000) if r["audit_ms"] else "-", r["audit_objects"],
            r["audit_blobs"], max(rss.get("etcd", [0])), max(rss.get("node", [0])),
            max(rss.get("gateway", [0])), max(rss.get("healer", [0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
