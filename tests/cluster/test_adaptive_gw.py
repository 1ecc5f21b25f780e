"""Adaptive hot fields, gateway side, against one real local cluster (6 nodes, 2 gateways):
changed-field detection on PUT through the manifest's field digests (config/manifest-fields),
PATCH change sets, projection reads (one hot replica vs a full read, proven with the nodes'
GET counters), /read/KEY?fields=, GET /v1/admin/field-stats (auth and content), a layout record
written straight to etcd changing the hot set of its collection only, and the per-collection
lines of /metrics.

Run: HS_BUILD_DIR=$PWD/build /usr/bin/python3 -m pytest -q -p no:cacheprovider \
         tests/cluster/test_adaptive_gw.py
"""
import json

import pytest
import requests

from harness import wait_until

META = "/hybridstore/v1/meta/"
CONFIG = "/hybridstore/v1/config/"
LAYOUT = "/hybridstore/v1/layout/"
JSON = {"Content-Type": "application/json"}
MERGE = {"Content-Type": "application/merge-patch+json"}


def manifest(cluster, key):
    raw = cluster.etcd_range(META + key).get(META + key)
    assert raw is not None, f"no manifest for {key}"
    return json.loads(raw)


def put(gw, key, body, strategy="field_hybrid"):
    r = requests.put(f"{gw}/v1/objects/{key}?strategy={strategy}", data=body.encode(),
                     headers=JSON, timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()


def stats(cluster, gw):
    r = requests.get(f"{gw}/v1/admin/field-stats",
                     headers={"Authorization": "Bearer " + cluster.secret}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def coll_of(snapshot, name):
    for c in snapshot["colls"]:
        if c["c"] == name:
            return c
    return None


def change_sets(c):
    """{tuple(names): count} of a collection's change sets."""
    return {tuple(names): n for names, n, _err, _more in c["cs"]}


def field(c, name):
    """[name, count, err, present, changed, bytes] of a field, or None."""
    for f in c["f"]:
        if f[0] == name:
            return f
    return None


@pytest.fixture(scope="module")
def gws(cluster):
    """Both gateways' URLs, once both write field digests (config/manifest-fields = on)."""
    urls = [p["url"] for p in cluster.processes("gateway")]
    cluster.etcd_put(CONFIG + "manifest-fields", "on")
    for i, gw in enumerate(urls):
        probe = f"probe{i}/doc"

        def has_fdig():
            put(gw, probe, '{"like_count": 1, "t": "x"}')
            return "fdig" in manifest(cluster, probe)
        wait_until(has_fdig, timeout=20, what=f"gateway {i} to write field digests")
    return urls


def test_manifest_fields_off_writes_version_1(cluster):
    """Before the flag (module order: this runs before the fixture turns it on, on its own
    collection) a field_hybrid manifest is still version 1 without fdig."""
    gw = cluster.processes("gateway")[0]["url"]
    assert not cluster.etcd_range(CONFIG + "manifest-fields"), "manifest-fields already on"
    put(gw, "v1doc/a", '{"like_count": 1, "title": "x"}')
    m = manifest(cluster, "v1doc/a")
    assert m["v"] == 1 and "fdig" not in m


def test_put_detects_changed_fields_and_ignores_reordering(cluster, gws):
    gw = gws[0]
    key = "cd:1"
    put(gw, key, '{"like_count": 1, "title": "hello", "body": {"a": [1, 2]}}')
    m = manifest(cluster, key)
    assert m["v"] == 2 and m["fdig"]
    # the same values, members reordered and whitespace changed: nothing changed
    put(gw, key, '{ "body" : {"a":[1,2]},"title":"hello",   "like_count":1 }')
    # one cold field changed, one hot field changed
    put(gw, key, '{"like_count": 2, "title": "bye", "body": {"a": [1, 2]}}')
    # a field dropped
    put(gw, key, '{"like_count": 2, "title": "bye"}')
    c = coll_of(stats(cluster, gw), "cd:")
    assert c is not None
    assert c["w"] == 4 and c["p"] == 4 and c["k"] == 3  # the create's changes are unknown
    cs = change_sets(c)
    assert cs.get(()) == 1, cs                      # reordered: no change
    assert cs.get(("like_count", "title")) == 1, cs
    assert cs.get(("body",)) == 1, cs               # the dropped field
    assert field(c, "title")[4] == 1 and field(c, "like_count")[4] == 1
    assert field(c, "body")[4] == 1
    assert field(c, "title")[3] == 4                # present in every PUT
    # per-collection totals: one pure hot update (the reordered PUT), the others cold
    assert c["t"][1] >= 1 and c["t"][2] >= 2


def test_patch_change_set_is_the_patch_keys(cluster, gws):
    gw = gws[0]
    key = "pc:1"
    put(gw, key, '{"like_count": 1, "view_count": 2, "title": "t"}')
    r = requests.patch(f"{gw}/v1/objects/{key}", data=b'{"view_count": 3, "like_count": 4}',
                       headers=MERGE, timeout=30)
    assert r.status_code == 200 and r.json()["pure_hot_update"] is True, r.text
    # the hot patch wrote digests of the patched values: the same values PUT change nothing
    put(gw, key, '{"view_count": 3, "like_count": 4, "title": "t"}')
    assert change_sets(coll_of(stats(cluster, gw), "pc:")).get(()) == 1
    r = requests.patch(f"{gw}/v1/objects/{key}", data=b'{"title": "u"}', headers=MERGE,
                       timeout=30)
    assert r.status_code == 200 and r.json()["pure_hot_update"] is False, r.text
    c = coll_of(stats(cluster, gw), "pc:")
    cs = change_sets(c)
    assert cs.get(("like_count", "view_count")) == 1, cs
    assert cs.get(("title",)) == 1, cs
    assert c["p"] == 2 and c["w"] == 4
    # so did the read-modify-write of the cold patch
    assert "fdig" in manifest(cluster, key)
    put(gw, key, '{"like_count": 4, "view_count": 3, "title": "u"}')
    cs = change_sets(coll_of(stats(cluster, gw), "pc:"))
    assert cs.get(()) == 2, cs


def node_gets(cluster):
    """{node id: GET count} from every node's /v1/stats."""
    out = {}
    for p in cluster.processes("node"):
        r = requests.get(p["url"] + "/v1/stats",
                         headers={"Authorization": "Bearer " + cluster.secret}, timeout=5)
        r.raise_for_status()
        s = r.json()
        out[s["node_id"]] = s["ops"]["gets"]
    return out


def test_projection_of_hot_fields_reads_no_ec_shard(cluster, gws):
    gw = gws[0]
    key = "pr:1"
    put(gw, key, '{"title": "%s", "like_count": 7, "view_count": 9, "n": null}' % ("x" * 5000))
    m = manifest(cluster, key)
    hot_nodes = {b["node"] for s in m["hot"]["segs"] for b in s["blobs"]}
    cold_only = {b["node"] for s in m["cold"]["segs"] for b in s["blobs"]} - hot_nodes
    assert cold_only, "want nodes that hold only cold shards"
    before = node_gets(cluster)
    for _ in range(5):
        r = requests.get(f"{gw}/v1/objects/{key}?fields=view_count,like_count,absent", timeout=10)
        assert r.status_code == 200, r.text
        assert r.headers["X-HS-Projection"] == "hot"
        assert r.headers["Content-Type"].startswith("application/json")
        assert r.content == b'{"like_count":7,"view_count":9}'  # document order, absent omitted
    after = node_gets(cluster)
    assert all(after[n] == before[n] for n in cold_only), (before, after)
    # a cold field: the whole object is read, shards included
    r = requests.get(f"{gw}/v1/objects/{key}?fields=like_count,title", timeout=10)
    assert r.status_code == 200 and r.headers["X-HS-Projection"] == "full"
    assert r.json() == {"title": "x" * 5000, "like_count": 7}
    final = node_gets(cluster)
    assert sum(final[n] - after[n] for n in cold_only) > 0
    c = coll_of(stats(cluster, gw), "pr:")
    assert c["pr"] == 6 and c["t"][5] == 5 and c["t"][6] == 1
    rs = {tuple(names): n for names, n, _e, _m in c["rs"]}
    assert rs.get(("absent", "like_count", "view_count")) == 5, rs


def test_projection_of_other_objects_and_errors(cluster, gws):
    gw = gws[0]
    put(gw, "po:json", '{"a": 1, "b": [2], "c": "3"}', strategy="replication")
    r = requests.get(f"{gw}/v1/objects/po:json?fields=c,a", timeout=10)
    assert r.status_code == 200 and r.headers["X-HS-Projection"] == "full"
    assert r.content == b'{"a":1,"c":"3"}'
    r = requests.put(f"{gw}/v1/objects/po:bin", data=b"\x00\x01binary",
                     headers={"Content-Type": "application/octet-stream"}, timeout=10)
    assert r.status_code in (200, 201)
    r = requests.get(f"{gw}/v1/objects/po:bin?fields=a", timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "EINVAL"
    assert requests.get(f"{gw}/v1/objects/po:json?fields=", timeout=10).status_code == 400
    assert requests.get(f"{gw}/v1/objects/po:json?fields=a,,b", timeout=10).status_code == 400
    assert requests.get(f"{gw}/v1/objects/po:none?fields=a", timeout=10).status_code == 404
    r = requests.get(f"{gw}/v1/objects/po:json?fields=a", headers={"Range": "bytes=0-1"},
                     timeout=10)
    assert r.status_code == 400


def test_reference_read_takes_fields(cluster, gws):
    gw = gws[0]
    put(gw, "ref:1", '{"title": "t", "like_count": 3}')
    r = requests.get(f"{gw}/read/ref:1?fields=like_count", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"like_count": 3} and r.headers["X-HS-Projection"] == "hot"
    r = requests.get(f"{gw}/read/ref:nope?fields=like_count", timeout=10)
    assert r.status_code == 404 and "detail" in r.json()
    r = requests.get(f"{gw}/read/ref:1", timeout=10)
    assert r.json() == {"title": "t", "like_count": 3}  # without fields: the whole object


def test_admin_field_stats_needs_the_secret(cluster, gws):
    gw = gws[1]
    assert requests.get(f"{gw}/v1/admin/field-stats", timeout=10).status_code == 401
    r = requests.get(f"{gw}/v1/admin/field-stats", headers={"Authorization": "Bearer nope"},
                     timeout=10)
    assert r.status_code == 401
    put(gw, "adm:1", '{"like_count": 1}')
    s1 = stats(cluster, gw)
    assert s1["v"] == 2 and s1["gw"] and s1["boot"] and s1["limits"] == [256, 64, 32, 8192]
    s2 = stats(cluster, gw)
    assert s2["boot"] == s1["boot"] and s2["seq"] > s1["seq"]
    assert coll_of(s2, "adm:")["w"] == 1
    # the other gateway saw none of it
    assert coll_of(stats(cluster, gws[0]), "adm:") is None


def test_healer_epoch_halves_a_paced_collection(cluster, gws):
    """POST /v1/admin/field-stats/<coll>?epoch=K (the healer's pacing, design.md section 10):
    needs the secret; an unpaced collection takes the epoch without halving, a paced one is
    halved by the difference, a stale or repeated epoch changes nothing."""
    gw = gws[0]
    auth = {"Authorization": "Bearer " + cluster.secret}
    for i in range(40):
        put(gw, f"pace:{i}", '{"like_count": %d}' % i)
    c = coll_of(stats(cluster, gw), "pace:")
    # creates are no evidence: they do not pace the fading
    assert c["w"] == 40 and c["sw"] == 0 and "h" not in c, c
    for i in range(40):
        put(gw, f"pace:{i}", '{"like_count": %d}' % (i + 1))  # overwrites: known changes
    c = coll_of(stats(cluster, gw), "pace:")
    assert c["w"] == 80 and c["sw"] == 40 and "h" not in c, c

    def epoch(k, headers=auth):
        return requests.post(f"{gw}/v1/admin/field-stats/pace:?epoch={k}", headers=headers,
                             timeout=10)
    assert epoch(3, headers={}).status_code == 401
    assert epoch("x").status_code == 400
    r = epoch(3)
    assert r.status_code == 200 and r.json() == {"tracked": True}, r.text
    c = coll_of(stats(cluster, gw), "pace:")
    assert c["h"] == 3 and c["w"] == 80, c  # unpaced: its counts are its own, kept
    assert epoch(5).status_code == 200
    c = coll_of(stats(cluster, gw), "pace:")
    # halved twice in each of the gateway's 8 stripes (each rounds down: 80 / 4 - 8 at least)
    assert c["h"] == 5 and 12 <= c["w"] <= 20 and c["sw"] == 0, c
    w = c["w"]
    assert epoch(4).status_code == 200 and epoch(5).status_code == 200
    assert coll_of(stats(cluster, gw), "pace:")["w"] == w
    # and it counts on from there
    put(gw, "pace:1", '{"like_count": 99}')
    c = coll_of(stats(cluster, gw), "pace:")
    assert c["h"] == 5 and c["w"] == w + 1 and c["sw"] == 1, c
    r = requests.post(f"{gw}/v1/admin/field-stats/nope:?epoch=1", headers=auth, timeout=10)
    assert r.status_code == 200 and r.json() == {"tracked": False}


def layout_record(coll, hot, epoch=1):
    return json.dumps({"v": 1, "coll": coll, "epoch": epoch, "mode": "static", "hot": hot,
                       "pin_hot": [], "pin_cold": [], "decided_ms": 1, "reason": "test",
                       "pending": [], "pending_n": 0, "pending_ms": 0, "pending_gain": 0,
                       "round_ms": 0, "round_writes": 0}, separators=(",", ":"))


def order(cluster, key):
    return manifest(cluster, key)["order"]


def test_layout_record_changes_the_hot_set_of_its_collection_only(cluster, gws):
    gw = gws[0]
    doc = '{"title": "t", "like_count": 1, "score": 5}'
    put(gw, "lay:1", doc)
    assert order(cluster, "lay:1") == ["ctitle", "hlike_count", "cscore"]
    cluster.etcd_put(LAYOUT + "lay:", layout_record("lay:", ["score", "title"], epoch=3))

    def applied():
        put(gw, "lay:2", doc)
        return order(cluster, "lay:2") == ["htitle", "clike_count", "hscore"]
    wait_until(applied, timeout=20, what="the layout record to apply")
    put(gw, "other:1", doc)
    assert order(cluster, "other:1") == ["ctitle", "hlike_count", "cscore"]
    # an object written before keeps reading through its own manifest
    assert requests.get(f"{gw}/v1/objects/lay:1", timeout=10).json() == json.loads(doc)
    r = requests.get(f"{gw}/v1/objects/lay:1?fields=like_count", timeout=10)
    assert r.headers["X-HS-Projection"] == "hot"
    r = requests.get(f"{gw}/v1/objects/lay:2?fields=like_count", timeout=10)
    assert r.headers["X-HS-Projection"] == "full"
    c = coll_of(stats(cluster, gw), "lay:")
    assert c["t"][9] == 3  # the layout epoch in use
    # the record removed: the collection falls back to the cluster default
    cluster.etcd_post("/v3/kv/deleterange", {"key": __import__("base64").b64encode(
        (LAYOUT + "lay:").encode()).decode()})

    def reverted():
        put(gw, "lay:3", doc)
        return order(cluster, "lay:3") == ["ctitle", "hlike_count", "cscore"]
    wait_until(reverted, timeout=20, what="the default hot set to return")


def test_projection_of_a_missed_promotion_relays_out_the_object(cluster, gws):
    """An object written before its collection's layout promoted a field keeps it cold; the
    first projection of that field reads the whole object, and the gateway then rewrites the
    object to the layout (same ETag and content), so the next one reads one hot replica. A
    projection of a field the layout has cold rewrites nothing."""
    gw = gws[1]
    doc = '{"title": "%s", "like_count": 1, "score": 5}' % ("t" * 3000)
    cluster.etcd_put(LAYOUT + "mp:", layout_record("mp:", ["like_count"], epoch=1))

    def first_applied():
        put(gw, "mp:probe", doc)
        return order(cluster, "mp:probe") == ["ctitle", "hlike_count", "cscore"]
    wait_until(first_applied, timeout=20, what="the first layout record to apply")
    etag = put(gw, "mp:1", doc)["etag"]
    assert order(cluster, "mp:1") == ["ctitle", "hlike_count", "cscore"]
    cluster.etcd_put(LAYOUT + "mp:", layout_record("mp:", ["like_count", "score"], epoch=2))

    def promoted():
        put(gw, "mp:probe", doc)
        return order(cluster, "mp:probe") == ["ctitle", "hlike_count", "hscore"]
    wait_until(promoted, timeout=20, what="the promotion to apply")
    ver = manifest(cluster, "mp:1")["ver"]
    # a field the layout has cold: full, nothing rewritten
    r = requests.get(f"{gw}/v1/objects/mp:1?fields=title", timeout=10)
    assert r.status_code == 200 and r.headers["X-HS-Projection"] == "full"
    assert manifest(cluster, "mp:1")["ver"] == ver
    # the promoted field: full this once, then the object has the layout
    r = requests.get(f"{gw}/v1/objects/mp:1?fields=score", timeout=10)
    assert r.status_code == 200 and r.headers["X-HS-Projection"] == "full"
    assert r.content == b'{"score":5}'
    m = manifest(cluster, "mp:1")
    assert m["order"] == ["ctitle", "hlike_count", "hscore"] and m["ver"] == ver + 1, m
    r = requests.get(f"{gw}/v1/objects/mp:1?fields=score,like_count", timeout=10)
    assert r.status_code == 200 and r.headers["X-HS-Projection"] == "hot"
    assert r.content == b'{"like_count":1,"score":5}'
    full = requests.get(f"{gw}/v1/objects/mp:1", timeout=10)
    assert full.json() == json.loads(doc) and full.headers["ETag"].strip('"') == etag
    metrics = requests.get(f"{gw}/metrics", timeout=10).text
    assert "hybridstore_gateway_projection_relayouts_total 1" in metrics, metrics[:2000]


def test_collection_rule_is_a_cluster_setting(cluster, gws):
    gw = gws[1]
    cluster.etcd_put(CONFIG + "collection-separators", "/")
    cluster.etcd_put(CONFIG + "collection-depth", "2")
    try:
        def counted():
            put(gw, "a/b/c:1", '{"like_count": 1}')
            return coll_of(stats(cluster, gw), "a/b/") is not None
        wait_until(counted, timeout=20, what="the collection rule to apply")
    finally:
        for k in ("collection-separators", "collection-depth"):
            cluster.etcd_post("/v3/kv/deleterange", {"key": __import__("base64").b64encode(
                (CONFIG + k).encode()).decode()})


def test_metrics_have_per_collection_lines(cluster, gws):
    gw = gws[0]
    put(gw, "met:1", '{"like_count": 1, "title": "a"}')
    put(gw, "met:1", '{"like_count": 2, "title": "a"}')  # pure hot
    requests.get(f"{gw}/v1/objects/met:1?fields=like_count", timeout=10)
    text = requests.get(f"{gw}/metrics", timeout=10).text
    for line in ('hybridstore_gateway_collection_updates_total{collection="met:",kind="pure_hot"} 1',
                 'hybridstore_gateway_collection_updates_total{collection="met:",kind="cold"} 1',
                 'hybridstore_gateway_collection_projections_total{collection="met:",served="hot"} 1',
                 'hybridstore_gateway_collection_layout_epoch{collection="met:"} 0'):
        assert line in text, line
    assert 'hybridstore_gateway_collection_bytes_written_total{collection="met:",part="hot"}' in text
    def value(line_start):
        return int(next(ln for ln in text.splitlines() if ln.startswith(line_start)).split()[-1])
    pred = value('hybridstore_gateway_collection_update_bytes_total{collection="met:",'
                 'kind="predicted"}')
    meas = value('hybridstore_gateway_collection_update_bytes_total{collection="met:",'
                 'kind="measured"}')
    assert 0 < pred <= meas  # EC shards are padded: never less than the model
    assert "hybridstore_gateway_projections_hot_total" in text


def test_layout_records_present_at_start_apply(cluster, gws):
    """A gateway that starts while records exist uses them (the view's first load), not only
    records that change after it started."""
    cluster.etcd_put(LAYOUT + "pre:", layout_record("pre:", ["score"], epoch=2))
    wait_until(lambda: put(gws[0], "pre:0", '{"title": "t", "score": 5}') and
               order(cluster, "pre:0") == ["ctitle", "hscore"], timeout=20,
               what="the record to apply on a running gateway")
    gw = [p for p in cluster.processes("gateway") if p["url"] == gws[1]][0]
    cluster.kill(gw["name"])
    cluster.respawn(gw["name"])
    wait_until(lambda: requests.get(f"{gws[1]}/v1/health", timeout=2).status_code == 200,
               timeout=30, what="the gateway to come back")

    def applied():
        put(gws[1], "pre:1", '{"title": "t", "like_count": 1, "score": 5}')
        return order(cluster, "pre:1") == ["ctitle", "clike_count", "hscore"]
    wait_until(applied, timeout=20, what="the restarted gateway to use the record")


def test_field_stats_off_counts_nothing(tmp_path):
    """--no-field-stats (HS_GATEWAY_FIELD_STATS=off, for measuring their cost): writes and
    projections still work; the admin route says 404 and /metrics has no collection lines."""
    from cluster import start_with_env
    c = start_with_env(tmp_path, {"HS_GATEWAY_FIELD_STATS": "off"}, nodes=6, gateways=1)
    try:
        gw = c.processes("gateway")[0]["url"]
        put(gw, "off:1", '{"like_count": 1, "title": "t"}')
        r = requests.get(f"{gw}/v1/objects/off:1?fields=like_count", timeout=10)
        assert r.status_code == 200 and r.headers["X-HS-Projection"] == "hot"
        r = requests.get(f"{gw}/v1/admin/field-stats",
                         headers={"Authorization": "Bearer " + c.secret}, timeout=10)
        assert r.status_code == 404 and r.json()["error"] == "ENOENT"
        text = requests.get(f"{gw}/metrics", timeout=10).text
        assert "hybridstore_gateway_collection_" not in text
        assert "hybridstore_gateway_projections_hot_total 1" in text
    finally:
        c.stop()
