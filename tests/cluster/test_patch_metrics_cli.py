"""PATCH (hot-only fast path and full read-modify-write), /metrics, /v1/status, the admin config
route, the command-line client (put/get/rm/ls/stat/status/config, exit codes) and a short
`hybridstore bench` in every mode, against one real local cluster (6 nodes, 2 gateways).

Run: HS_BUILD_DIR=/work/main/build-gwc /usr/bin/python3 -m pytest -q -p no:cacheprovider \
         tests/cluster/test_patch_metrics_cli.py
"""
import base64
import json
import os
import re
import subprocess
import threading

import pytest
import requests

from harness import HS_BIN

META = "/hybridstore/v1/meta/"
TXN = "/hybridstore/v1/txn/"
REPAIR = "/hybridstore/v1/repair/"
MERGE = {"Content-Type": "application/merge-patch+json"}
DEFAULT_HOT = "like_count,view_count,inventory_count,update_count"


@pytest.fixture(scope="module")
def gw(cluster):
    return cluster.processes("gateway")[0]["url"]


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def manifest(cluster, key):
    kvs = cluster.etcd_range(META + key)
    raw = kvs.get(META + key)
    assert raw is not None, f"no manifest for {key}"
    return json.loads(raw)


def blob_ids(part):
    return [(b["id"], b["node"]) for s in part["segs"] for b in s["blobs"]]


def etcd_delete(cluster, key):
    cluster.etcd_post("/v3/kv/deleterange", {"key": b64(key)})


def doc(like=1, title="t", payload_kib=64):
    # whitespace and a huge integer: both must survive byte for byte
    return ('{"title": "%s",  "like_count": %d, "big": 123456789012345678901234567890, '
            '"view_count": 7, "payload": "%s"}' % (title, like, "p" * (payload_kib * 1024)))


def put_hybrid(gw, key, body):
    r = requests.put(f"{gw}/v1/objects/{key}?strategy=field_hybrid", data=body.encode(),
                     headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()


# ---- PATCH ---------------------------------------------------------------------------------

def test_patch_of_hot_fields_rewrites_only_the_hot_part(cluster, gw):
    put_hybrid(gw, "patch/hot", doc())
    before = manifest(cluster, "patch/hot")
    assert before["strategy"] == "field_hybrid" and "cold" in before
    r = requests.patch(f"{gw}/v1/objects/patch/hot", data=b'{"like_count": 42}', headers=MERGE,
                       timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["strategy"] == "field_hybrid" and body["pure_hot_update"] is True
    assert body["version"] == before["ver"] + 1
    assert r.headers["ETag"] == '"%s"' % body["etag"]
    after = manifest(cluster, "patch/hot")
    assert blob_ids(after["cold"]) == blob_ids(before["cold"])  # cold blobs reused as they are
    assert after["cold_hash"] == before["cold_hash"]
    assert not set(blob_ids(after["hot"])) & set(blob_ids(before["hot"]))  # new hot blobs
    got = requests.get(f"{gw}/v1/objects/patch/hot", timeout=30)
    assert got.status_code == 200
    parsed = json.loads(got.content)
    assert parsed["like_count"] == 42 and parsed["view_count"] == 7
    assert b"123456789012345678901234567890" in got.content
    assert parsed["payload"] == "p" * 65536 and parsed["title"] == "t"
    assert int(got.headers["Content-Length"]) == len(got.content)
    assert got.headers["ETag"] == r.headers["ETag"]


def test_patch_of_hot_fields_records_the_merged_size(cluster, gw):
    # the manifest's size is the merged document's length (hot members, a comma, cold members)
    put_hybrid(gw, "patch/size", doc())
    r = requests.patch(f"{gw}/v1/objects/patch/size", data=b'{"like_count": 4242}', headers=MERGE,
                       timeout=30)
    assert r.status_code == 200 and r.json()["pure_hot_update"] is True, r.text
    got = requests.get(f"{gw}/v1/objects/patch/size", timeout=30)
    assert got.status_code == 200
    assert manifest(cluster, "patch/size")["size"] == len(got.content)
    assert r.json()["size"] == len(got.content)


def test_patch_adding_and_deleting_hot_fields_stays_hot(cluster, gw):
    put_hybrid(gw, "patch/hot2", doc())
    before = manifest(cluster, "patch/hot2")
    r = requests.patch(f"{gw}/v1/objects/patch/hot2",
                       data=b'{"view_count": null, "inventory_count": 3}', headers=MERGE,
                       timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["pure_hot_update"] is True
    after = manifest(cluster, "patch/hot2")
    assert blob_ids(after["cold"]) == blob_ids(before["cold"])
    parsed = json.loads(requests.get(f"{gw}/v1/objects/patch/hot2", timeout=30).content)
    assert "view_count" not in parsed and parsed["inventory_count"] == 3


def test_patch_touching_a_cold_field_rewrites_the_cold_part(cluster, gw):
    put_hybrid(gw, "patch/cold", doc())
    before = manifest(cluster, "patch/cold")
    r = requests.patch(f"{gw}/v1/objects/patch/cold",
                       data=b'{"title": "new", "like_count": 9, "extra": {"a": [1, 2]}}',
                       headers=MERGE, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["pure_hot_update"] is False
    after = manifest(cluster, "patch/cold")
    assert after["strategy"] == "field_hybrid"
    assert after["cold_hash"] != before["cold_hash"]
    assert not set(blob_ids(after["cold"])) & set(blob_ids(before["cold"]))
    got = requests.get(f"{gw}/v1/objects/patch/cold", timeout=30)
    parsed = json.loads(got.content)
    assert parsed["title"] == "new" and parsed["like_count"] == 9
    assert parsed["extra"] == {"a": [1, 2]} and parsed["payload"] == "p" * 65536
    assert b"123456789012345678901234567890" in got.content


def test_patch_of_a_replicated_json_object_keeps_its_strategy(cluster, gw):
    r = requests.put(f"{gw}/v1/objects/patch/repl?strategy=replication",
                     data=b'{"a": 1, "b": {"c": 2, "d": 3}}',
                     headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 201, r.text
    r = requests.patch(f"{gw}/v1/objects/patch/repl", data=b'{"b": {"c": null, "e": 5}}',
                       headers=MERGE, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["strategy"] == "replication"
    assert json.loads(requests.get(f"{gw}/v1/objects/patch/repl", timeout=30).content) == \
        {"a": 1, "b": {"d": 3, "e": 5}}


def test_concurrent_patches_of_different_hot_fields_lose_no_update(cluster, gw):
    put_hybrid(gw, "patch/race", doc(payload_kib=1))
    fields = ["like_count", "view_count", "inventory_count", "update_count"]
    last, bad = {}, []

    def patcher(field):
        s = requests.Session()
        for i in range(1, 16):
            r = s.patch(f"{gw}/v1/objects/patch/race", data=json.dumps({field: i}).encode(),
                        headers=MERGE, timeout=30)
            if r.status_code == 200:
                last[field] = i
            elif r.status_code != 409:  # 409: lost the race too often; anything else is a bug
                bad.append(r.text)

    threads = [threading.Thread(target=patcher, args=(f,)) for f in fields]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad and len(last) == 4, bad
    final = json.loads(requests.get(f"{gw}/v1/objects/patch/race", timeout=30).content)
    # a patch computed from a stale hot part would have put back another field's old value
    assert {f: final[f] for f in fields} == last
    assert final["payload"] == "p" * 1024


def test_patch_errors_415_404_412_400(cluster, gw):
    put_hybrid(gw, "patch/err", doc(payload_kib=1))
    url = f"{gw}/v1/objects/patch/err"
    r = requests.patch(url, data=b'{"like_count": 1}', headers={"Content-Type":
                                                                "application/json"}, timeout=30)
    assert r.status_code == 415 and r.json()["error"] == "EUNSUPPORTED"
    r = requests.patch(f"{gw}/v1/objects/patch/absent", data=b'{"like_count": 1}',
                       headers=MERGE, timeout=30)
    assert r.status_code == 404 and r.json()["error"] == "ENOENT"
    r = requests.patch(url, data=b'{"like_count": 1}', headers=dict(MERGE, **{"If-Match":
                                                                             '"nope"'}),
                       timeout=30)
    assert r.status_code == 412 and r.json()["error"] == "EPRECONDITION"
    etag = requests.head(url, timeout=30).headers["ETag"]
    r = requests.patch(url, data=b'{"like_count": 2}', headers=dict(MERGE, **{"If-Match": etag}),
                       timeout=30)
    assert r.status_code == 200, r.text
    r = requests.patch(url, data=b'{"like_count": 3}', headers=dict(MERGE, **{"If-Match": etag}),
                       timeout=30)
    assert r.status_code == 412  # the old ETag no longer matches
    r = requests.patch(url, data=b'{"like_count": }', headers=MERGE, timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "EINVAL"
    # a binary object cannot be patched
    requests.put(f"{gw}/v1/objects/patch/bin", data=b"\x00\x01binary", timeout=30)
    r = requests.patch(f"{gw}/v1/objects/patch/bin", data=b'{"a": 1}', headers=MERGE,
                       timeout=30)
    assert r.status_code == 415, r.text


# ---- /metrics ------------------------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    """{(name, frozenset(labels)): value}; asserts the 0.0.4 text format line by line."""
    out, typed = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            typed[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, f"bad sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or base in typed, f"sample before its TYPE: {line!r}"
        assert m.group(1).startswith("hybridstore_gateway_")
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(samples, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_metrics_count_requests_and_parse_as_prometheus_text(cluster, gw):
    r = requests.get(f"{gw}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    before = parse_prometheus(r.text)
    for i in range(3):
        requests.put(f"{gw}/v1/objects/metrics/{i}", data=b"x" * 1000, timeout=30)
    requests.get(f"{gw}/v1/objects/metrics/absent", timeout=30)
    put_hybrid(gw, "metrics/doc", doc(payload_kib=1))
    requests.patch(f"{gw}/v1/objects/metrics/doc", data=b'{"like_count": 5}', headers=MERGE,
                   timeout=30)
    after = parse_prometheus(requests.get(f"{gw}/metrics", timeout=10).text)
    name = "hybridstore_gateway_requests_total"
    assert metric(after, name, method="PUT", route="/v1/objects/") - \
        metric(before, name, method="PUT", route="/v1/objects/") == 4
    assert metric(after, name, method="GET", route="/v1/objects/", status="404") - \
        metric(before, name, method="GET", route="/v1/objects/", status="404") == 1
    assert metric(after, name, method="PATCH", status="200") - \
        metric(before, name, method="PATCH", status="200") == 1
    assert metric(after, "hybridstore_gateway_request_body_bytes_total", method="PUT",
                  route="/v1/objects/") - metric(before,
                                                 "hybridstore_gateway_request_body_bytes_total",
                                                 method="PUT", route="/v1/objects/") >= 3000
    assert metric(after, "hybridstore_gateway_pure_hot_updates_total") > \
        metric(before, "hybridstore_gateway_pure_hot_updates_total")
    # histogram: cumulative buckets, +Inf equals _count
    buckets = sorted(((float(dict(ls)["le"]), v) for (n, ls), v in after.items()
                      if n == "hybridstore_gateway_request_duration_seconds_bucket" and
                      dict(ls)["method"] == "PUT" and dict(ls)["route"] == "/v1/objects/"))
    assert buckets and all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    assert buckets[-1][0] == float("inf")
    assert buckets[-1][1] == metric(after, "hybridstore_gateway_request_duration_seconds_count",
                                    method="PUT", route="/v1/objects/")


# ---- /v1/status ----------------------------------------------------------------------------

def test_status_reports_nodes_and_backlogs(cluster, gw):
    s = requests.get(f"{gw}/v1/status", timeout=30).json()
    assert len(s["nodes"]) == 6 and all(n["live"] for n in s["nodes"])
    ids = {p["name"] for p in cluster.processes("node")}
    assert len(ids) == 6
    for n in s["nodes"]:
        assert n["url"].startswith("http://127.0.0.1:") and n["free_bytes"] > 0
        assert isinstance(n["blobs"], int) and "zone" in n
    assert s["storage"]["nodes_live"] == 6
    assert s["storage"]["blobs"] == sum(n["blobs"] for n in s["nodes"])
    wal, rep = s["wal_backlog"], s["repair_backlog"]
    assert isinstance(wal, int) and isinstance(rep, int)
    cluster.etcd_put(REPAIR + "status/fake", "{}")
    cluster.etcd_put(TXN + "00000000000000000000000000000000", "{}")
    try:
        s2 = requests.get(f"{gw}/v1/status", timeout=30).json()
        assert s2["repair_backlog"] == rep + 1 and s2["wal_backlog"] == wal + 1
    finally:
        etcd_delete(cluster, REPAIR + "status/fake")
        etcd_delete(cluster, TXN + "00000000000000000000000000000000")


# ---- admin config --------------------------------------------------------------------------

def test_admin_config_needs_the_secret_and_changes_the_split(cluster, gw):
    url = f"{gw}/v1/admin/config/hot-fields"
    assert requests.put(url, data=b"score", timeout=10).status_code == 401
    auth = {"Authorization": "Bearer " + cluster.secret}
    assert requests.put(url, data=b"score", headers={"Authorization": "Bearer x"},
                        timeout=10).status_code == 401
    assert requests.put(f"{gw}/v1/admin/config/nope", data=b"a", headers=auth,
                        timeout=10).status_code == 404
    assert requests.put(url, data=b"a,,b", headers=auth, timeout=10).status_code == 400
    assert requests.put(url, data=b'["a", 1]', headers=auth, timeout=10).status_code == 400
    try:
        r = requests.put(url, data=b'["score", "like_count"]', headers=auth, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["value"] == "score,like_count"
        r = requests.put(url, data=b" score , like_count ", headers=auth, timeout=10)
        assert r.status_code == 200 and r.json()["value"] == "score,like_count"
        put_hybrid(gw, "config/doc", '{"score": 1, "view_count": 2, "body": "x"}')
        order = manifest(cluster, "config/doc")["order"]
        assert order == ["hscore", "cview_count", "cbody"]
    finally:
        r = requests.put(url, data=DEFAULT_HOT.encode(), headers=auth, timeout=10)
        assert r.status_code == 200


# ---- the CLI -------------------------------------------------------------------------------

def cli(gw, *args, stdin=None, env=None):
    e = dict(os.environ, HYBRIDSTORE_URL=gw)
    e.pop("HS_SECRET_FILE", None)
    if env:
        e.update(env)
    return subprocess.run([HS_BIN, *args], input=stdin, capture_output=True, env=e, timeout=60)


def test_cli_put_get_rm_with_files_stdin_and_exit_codes(cluster, gw, tmp_path):
    src = tmp_path / "in.bin"
    data = os.urandom(10 * 1024 * 1024 + 123)  # several segments, streamed both ways
    src.write_bytes(data)
    r = cli(gw, "put", "cli/big", str(src))
    assert r.returncode == 0, r.stderr
    assert b"created 'cli/big'" in r.stdout and b"ec" in r.stdout
    out = tmp_path / "out.bin"
    r = cli(gw, "get", "cli/big", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == data and not (tmp_path / "out.bin.part").exists()
    r = cli(gw, "put", "cli/small", "-", "--strategy", "replication",
            "--content-type", "text/plain", stdin=b"hello from stdin")
    assert r.returncode == 0, r.stderr
    r = cli(gw, "get", "cli/small")
    assert r.returncode == 0 and r.stdout == b"hello from stdin"
    assert requests.get(f"{gw}/v1/objects/cli/small", timeout=10).headers["Content-Type"] \
        == "text/plain"
    r = cli(gw, "put", "cli/small", "-", stdin=b"again")  # no FILE argument means stdin too
    assert r.returncode == 0 and b"replaced" in r.stdout
    r = cli(gw, "put", "cli/small", "-", "--if-match", "wrong", stdin=b"x")
    assert r.returncode == 4, r.stderr
    r = cli(gw, "get", "cli/absent", "-o", str(tmp_path / "absent"))
    assert r.returncode == 3 and b"404" in r.stderr
    assert not (tmp_path / "absent").exists() and not (tmp_path / "absent.part").exists()
    assert cli(gw, "rm", "cli/small").returncode == 0
    assert cli(gw, "rm", "cli/small").returncode == 3
    assert cli(gw, "put").returncode == 2
    assert cli(gw, "put", "k", "--strategy", "bogus", stdin=b"x").returncode == 2
    assert cli(gw, "get", "k", "--no-such-flag").returncode == 2
    assert cli(gw, "put", "cli/x", str(tmp_path / "missing")).returncode == 2
    r = cli("http://127.0.0.1:1", "get", "cli/big")
    assert r.returncode == 1 and r.stderr
    r = cli(gw, "put", "--help")
    assert r.returncode == 0 and b"exit codes" in r.stdout


def test_cli_ls_pages_through_every_key(cluster, gw):
    keys = [f"cli-ls/k{i:02d}" for i in range(7)]
    for k in keys:
        requests.put(f"{gw}/v1/objects/{k}", data=k.encode(), timeout=10)
    requests.put(f"{gw}/v1/objects/cli-lsx", data=b"other prefix", timeout=10)
    r = cli(gw, "ls", "cli-ls/", "--page-size", "2")
    assert r.returncode == 0, r.stderr
    listed = [line.split()[-1] for line in r.stdout.decode().splitlines()]
    assert listed == keys
    r = cli(gw, "ls", "cli-ls/", "--json", "--page-size", "3")
    rows = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [o["key"] for o in rows] == keys and all(o["size"] == len(o["key"]) for o in rows)


def test_cli_stat_status_and_config(cluster, gw, tmp_path):
    put_hybrid(gw, "cli/doc", doc(payload_kib=4))
    r = cli(gw, "stat", "cli/doc")
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    m = manifest(cluster, "cli/doc")
    assert "field_hybrid" in text
    for bid, node in blob_ids(m["hot"]) + blob_ids(m["cold"]):
        assert bid in text and node in text
    r = cli(gw, "stat", "cli/doc", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)
    assert cli(gw, "stat", "cli/absent").returncode == 3
    r = cli(gw, "status")
    assert r.returncode == 0, r.stderr
    assert "6 of 6 live" in r.stdout.decode() and "repair backlog" in r.stdout.decode()
    r = cli(gw, "status", "--json")
    assert len(json.loads(r.stdout)["nodes"]) == 6
    secret_file = cluster.info["secret_file"]
    r = cli(gw, "config", "set", "hot-fields", "like_count,view_count",
            "--secret-file", str(tmp_path / "none"))
    assert r.returncode == 2
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-secret\n")
    r = cli(gw, "config", "set", "hot-fields", "like_count", env={"HS_SECRET_FILE": str(wrong)})
    assert r.returncode == 1 and b"401" in r.stderr
    try:
        r = cli(gw, "config", "set", "hot-fields", "like_count,score",
                env={"HS_SECRET_FILE": secret_file})
        assert r.returncode == 0, r.stderr
        assert b"like_count,score" in r.stdout
        assert requests.get(f"{gw}/v1/status", timeout=10).json()["hot_fields"] == \
            "like_count,score"
    finally:
        r = cli(gw, "config", "set", "hot-fields", DEFAULT_HOT, "--secret-file", secret_file)
        assert r.returncode == 0, r.stderr
    assert cli(gw, "config", "get").returncode == 2


# ---- bench ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--mode", "write", "--api", "ref", "--strategy", "replication"],
    ["--mode", "read", "--api", "ref", "--strategy", "ec"],
    ["--mode", "write", "--api", "v1", "--strategy", "field_hybrid"],
    ["--mode", "hot-update", "--api", "ref"],
    ["--mode", "patch", "--api", "v1"],
    ["--mode", "mixed", "--api", "v1", "--strategy", "auto"],
])
def test_bench_mode_prints_one_json_line(cluster, gw, args):
    r = subprocess.run([HS_BIN, "bench", "--url", gw, "--size", "2KiB", "--concurrency", "2",
                        "--duration", "700ms", "--keys", "16", *args],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 1
    res = json.loads(lines[0])
    assert res["ops"] > 0 and res["errors"] == 0, res
    assert res["mode"] == args[1] and res["p50_ms"] > 0 and res["ops_per_s"] > 0


def test_bench_cluster_dir_reports_cpu_per_role_and_medians(cluster):
    # --cluster-dir: the URL (nginx) and every role's pids come from cluster.json; --repeat 3
    # prints one line per run, then one of medians
    r = subprocess.run([HS_BIN, "bench", "--cluster-dir", cluster.dir, "--size", "1KiB",
                        "--concurrency", "2", "--duration", "700ms", "--keys", "8", "--prefill",
                        "--repeat", "3", "--mode", "write", "--strategy", "replication"],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert [x["rep"] for x in lines] == ["1", "2", "3", "median"]
    for x in lines:
        cpu = x["cpu_ms_per_op"]
        assert set(cpu) == {"etcd", "node", "gateway", "healer", "nginx", "total"}
        assert x["ops"] > 0 and x["errors"] == 0, x
    runs = lines[:3]
    for x in runs:
        cpu = x["cpu_ms_per_op"]
        assert cpu["node"] > 0 and cpu["gateway"] > 0 and cpu["etcd"] > 0, x
        assert abs(cpu["total"] - sum(v for k, v in cpu.items() if k != "total")) < 0.01
    med = lines[3]
    assert med["ops_per_s"] == sorted(x["ops_per_s"] for x in runs)[1]
    assert med["cpu_ms_per_op"]["node"] == sorted(x["cpu_ms_per_op"]["node"] for x in runs)[1]
    # a directory without cluster.json is a usage error, not a crash
    r = subprocess.run([HS_BIN, "bench", "--cluster-dir", "/nonexistent-dir", "--duration",
                        "200ms"], capture_output=True, timeout=60)
    assert r.returncode == 2 and b"cluster.json" in r.stderr
