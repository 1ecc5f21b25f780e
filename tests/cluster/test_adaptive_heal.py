"""Adaptive hot fields, the healer's side, against one real cluster (6 nodes, 2 gateways, 2
healers with a 1 s layout round): the re-layout endpoint (content and ETag unchanged, a stale
revision refused, a concurrent client write always wins), layout records decided from the
gateways' statistics, pins and static mode through the CLI, the healer's background re-layout
after a demotion and after a promotion, and a healer fail-over that keeps the record and its
hysteresis state.

Run: HS_BUILD_DIR=$PWD/build /usr/bin/python3 -m pytest -q -p no:cacheprovider \
         tests/cluster/test_adaptive_heal.py
"""
import json
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from cluster import start_with_env
from harness import HS_BIN, wait_until

META = "/hybridstore/v1/meta/"
LAYOUT = "/hybridstore/v1/layout/"
CONFIG = "/hybridstore/v1/config/"
JSON_CT = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    env = {"HS_HEALER_PASS_INTERVAL": "300ms", "HS_HEALER_LAYOUT_INTERVAL": "1s",
           "HS_HEALER_LAYOUT_MIN_CHANGE": "0s", "HS_HEALER_LAYOUT_MIN_WRITES": "40",
           "HS_HEALER_RELAYOUT_RATE": "50"}
    c = start_with_env(str(tmp_path_factory.mktemp("adaptheal")), env, nodes=6, gateways=2,
                       healers=2)
    # per-field digests in manifests: a PUT's changed fields are known (the upgrade flag)
    c.etcd_put(CONFIG + "manifest-fields", "on")
    yield c
    c.stop()


def gws(c):
    return [p["url"] for p in c.processes("gateway")]


def auth(c):
    return {"Authorization": "Bearer " + c.secret}


def put(gw, key, body, **params):
    r = requests.put(f"{gw}/v1/objects/{key}", params={"strategy": "field_hybrid", **params},
                     data=body.encode(), headers=JSON_CT, timeout=30)
    assert r.status_code in (200, 201), r.text
    return r


def manifest(gw, key):
    r = requests.get(f"{gw}/v1/manifests/{key}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def hot_of(m):
    return sorted(e[1:] for e in m["order"] if e[0] == "h")


def set_hot_fields(c, csv):
    r = requests.put(f"{gws(c)[0]}/v1/admin/config/hot-fields", data=csv, headers=auth(c),
                     timeout=10)
    assert r.status_code == 200, r.text
    # every gateway has seen the setting once /v1/status shows it
    want = sorted(x for x in csv.split(",") if x)

    def seen():
        return all(sorted(x for x in requests.get(f"{g}/v1/status", timeout=5).json()
                          .get("hot_fields", "").split(",") if x) == want for g in gws(c))
    wait_until(seen, timeout=20, what="hot-fields setting on every gateway")


def relayout(c, gw, key, rev):
    return requests.post(f"{gw}/v1/admin/relayout/{key}", params={"rev": rev}, headers=auth(c),
                         timeout=30)


def layout_record(c, coll):
    raw = c.etcd_range(LAYOUT + coll).get(LAYOUT + coll)
    return json.loads(raw) if raw else None


def doc(score, title="t", pad=2048):
    return ('{"title": "%s",  "like_count": %d, "score": %d, "big": 12345678901234567890123,'
            ' "bio": "%s"}' % (title, score, score * 3, "b" * pad))


# ---- re-layout --------------------------------------------------------------------------------


def test_relayout_needs_the_secret_and_a_revision(cl):
    gw = gws(cl)[0]
    put(gw, "rl:auth", doc(1))
    r = requests.post(f"{gw}/v1/admin/relayout/rl:auth", params={"rev": 1}, timeout=10)
    assert r.status_code == 401
    r = requests.post(f"{gw}/v1/admin/relayout/rl:auth", headers=auth(cl), timeout=10)
    assert r.status_code == 400
    r = relayout(cl, gw, "rl:absent", 5)
    assert r.status_code == 404


def test_relayout_rewrites_without_changing_content_or_etag(cl):
    gw = gws(cl)[0]
    set_hot_fields(cl, "like_count,view_count")
    body = doc(7, title="keep me")
    put(gw, "rl:1", body)
    g0 = requests.get(f"{gw}/v1/objects/rl:1", timeout=10)
    m0 = manifest(gw, "rl:1")
    assert hot_of(m0) == ["like_count"]
    # nothing to do while the layout is the same
    r = relayout(cl, gw, "rl:1", m0["mod_revision"])
    assert r.status_code == 200 and r.json()["outcome"] == "current", r.text
    # like_count demoted, score promoted: the object is re-split
    set_hot_fields(cl, "score")
    st = subprocess.run([HS_BIN, "stat", "rl:1", "--url", gw, "--etcd", cl.etcd],
                        capture_output=True, text=True, timeout=30)
    assert st.returncode == 0 and "like_count HOT" in st.stdout and "OLDER" in st.stdout, st.stdout
    r = relayout(cl, gw, "rl:1", m0["mod_revision"])
    assert r.status_code == 200 and r.json()["outcome"] == "rewritten", r.text
    m1 = manifest(gw, "rl:1")
    assert hot_of(m1) == ["score"]
    st = subprocess.run([HS_BIN, "stat", "rl:1", "--url", gw, "--etcd", cl.etcd],
                        capture_output=True, text=True, timeout=30)
    assert "score HOT" in st.stdout and "like_count cold" in st.stdout, st.stdout
    assert "layout       current" in st.stdout, st.stdout
    assert m1["etag"] == m0["etag"] and m1["ver"] == m0["ver"] + 1
    assert m1["ctime_ms"] == m0["ctime_ms"]
    g1 = requests.get(f"{gw}/v1/objects/rl:1", timeout=10)
    assert g1.content == g0.content  # byte for byte what a GET returned before
    assert json.loads(g1.content) == json.loads(body)
    assert g1.headers["ETag"] == g0.headers["ETag"]
    # the old revision is stale now: refused, nothing written
    r = relayout(cl, gw, "rl:1", m0["mod_revision"])
    assert r.status_code == 409, r.text
    assert manifest(gw, "rl:1")["mod_revision"] == m1["mod_revision"]
    set_hot_fields(cl, "like_count,view_count,inventory_count,update_count")


def test_relayout_loses_to_a_concurrent_client_write(cl):
    gw, gw2 = gws(cl)[:2]
    put(gw, "rl:race", doc(0))
    last = {}
    stop = threading.Event()
    outcomes = []

    def client():
        for i in range(1, 41):
            r = put(gw, "rl:race", doc(i, title=f"client {i}"))
            last.update(body=doc(i, title=f"client {i}"), etag=r.headers["ETag"])
        stop.set()

    def healer_like():
        flip = 0
        while not stop.is_set():
            m = manifest(gw2, "rl:race")
            flip += 1
            set_hot_fields(cl, "score" if flip % 2 else "like_count")
            r = relayout(cl, gw2, "rl:race", m["mod_revision"])
            outcomes.append(r.status_code)
            assert r.status_code in (200, 409, 412), r.text

    t1, t2 = threading.Thread(target=client), threading.Thread(target=healer_like)
    t2.start()
    t1.start()
    t1.join(120)
    t2.join(120)
    g = requests.get(f"{gw}/v1/objects/rl:race", timeout=10)
    assert json.loads(g.content) == json.loads(last["body"])  # the client's last write stays
    assert g.headers["ETag"] == last["etag"]
    assert outcomes, "no re-layout was attempted"
    print("re-layout answers during the race:", {s: outcomes.count(s) for s in set(outcomes)})
    set_hot_fields(cl, "like_count,view_count,inventory_count,update_count")


# ---- decisions from the gateways' statistics ----------------------------------------------------


def stats_served(c):
    r = requests.get(f"{gws(c)[0]}/v1/admin/field-stats", headers=auth(c), timeout=10)
    return r.status_code == 200


def write_workload(c, coll, n, start=0):
    """score changes on every write, bio (2 KiB) never: the default hot set has neither."""
    for i in range(start, start + n):
        gw = gws(c)[i % 2]
        put(gw, f"{coll}{i % 10}", doc(i))


def test_workload_gets_a_layout_record(cl):
    assert stats_served(cl), "gateways do not serve /v1/admin/field-stats"
    write_workload(cl, "acct:", 200)

    def decided():
        rec = layout_record(cl, "acct:")
        return rec and rec["epoch"] >= 1 and "score" in rec["hot"]
    wait_until(decided, timeout=60, what="a layout record for acct: with score hot")
    rec = layout_record(cl, "acct:")
    assert "bio" not in rec["hot"]
    assert rec["mode"] == "adaptive" and "replaces" in rec["reason"]


def cli(c, *args):
    return subprocess.run([HS_BIN, *args, "--etcd", c.etcd], capture_output=True,
                          text=True, timeout=60)


def test_pins_and_static_mode_are_respected(cl):
    assert stats_served(cl), "gateways do not serve /v1/admin/field-stats"
    gw = gws(cl)[0]
    r = cli(cl, "layout", "pin", "pin:", "--hot", "bio", "--cold", "score")
    assert r.returncode == 0, r.stderr
    rec = layout_record(cl, "pin:")
    assert rec["pin_hot"] == ["bio"] and rec["pin_cold"] == ["score"] and rec["epoch"] == 0
    # gateways split with the pins (score changes on every write, yet stays cold)
    wait_until(lambda: (put(gw, "pin:probe", doc(1)) and
                        "bio" in hot_of(manifest(gw, "pin:probe"))), timeout=20,
               what="gateways splitting with the pins")
    write_workload(cl, "pin:", 200)
    time.sleep(3)  # decision rounds
    rec = layout_record(cl, "pin:")
    assert "score" not in rec["hot"] and (rec["epoch"] == 0 or "bio" in rec["hot"])
    m = manifest(gw, "pin:3")
    assert "bio" in hot_of(m) and "score" not in hot_of(m)
    show = cli(cl, "layout", "show", "pin:", "--secret-file", cl.info["secret_file"])
    assert show.returncode == 0, show.stderr
    assert "bio HOT" in show.stdout and "score cold" in show.stdout, show.stdout
    # static freezes what is in force; releasing the cold pin then changes nothing
    r = cli(cl, "layout", "pin", "pin:", "--mode", "static")
    assert r.returncode == 0, r.stderr
    frozen = layout_record(cl, "pin:")
    assert frozen["mode"] == "static" and frozen["epoch"] >= 1 and "bio" in frozen["hot"]
    assert cli(cl, "layout", "pin", "pin:", "--cold", "none").returncode == 0
    write_workload(cl, "pin:", 100, start=200)
    time.sleep(3)
    now = layout_record(cl, "pin:")
    assert now["hot"] == frozen["hot"] and now["epoch"] == frozen["epoch"]
    # adaptive again: score, changed on every write, is promoted by the healer
    assert cli(cl, "layout", "pin", "pin:", "--mode", "adaptive").returncode == 0
    write_workload(cl, "pin:", 100, start=300)
    wait_until(lambda: "score" in layout_record(cl, "pin:")["hot"], timeout=60,
               what="score promoted once the collection is adaptive again")
    assert "bio" in layout_record(cl, "pin:")["hot"]


def test_healer_relayouts_objects_after_a_demotion(cl):
    gw = gws(cl)[0]
    assert cli(cl, "layout", "pin", "dm:", "--hot", "bio").returncode == 0
    keys = [f"dm:{i}" for i in range(12)]

    def all_hot():
        for k in keys:
            put(gw, k, doc(5, title=k))
        return all("bio" in hot_of(manifest(gw, k)) for k in keys)
    wait_until(all_hot, timeout=20, what="objects written with bio hot")
    before = {k: (manifest(gw, k), requests.get(f"{gw}/v1/objects/{k}", timeout=10)) for k in keys}
    # bio demoted: the healer's background re-layout moves it to the cold part of every object
    assert cli(cl, "layout", "pin", "dm:", "--hot", "none", "--cold", "bio").returncode == 0
    wait_until(lambda: all("bio" not in hot_of(manifest(gw, k)) for k in keys), timeout=60,
               what="the healer re-laying out every dm: object")
    for k in keys:
        m0, g0 = before[k]
        m1 = manifest(gw, k)
        g1 = requests.get(f"{gw}/v1/objects/{k}", timeout=10)
        assert m1["etag"] == m0["etag"] and g1.content == g0.content
        assert m1["ver"] == m0["ver"] + 1
    leader = leader_of(cl)
    text = requests.get(cl.proc(leader)["url"] + "/metrics", timeout=5).text
    done = [int(l.split()[-1]) for l in text.splitlines()
            if l.startswith("hybridstore_healer_relayout_objects ")]
    assert done and done[0] >= len(keys), text


def scans(c, with_bio):
    """The healers' relayout_scan_done lines of pr: for a hot set with or without bio."""
    logs = os.path.join(c.dir, "logs")
    text = "".join(open(os.path.join(logs, f), errors="replace").read()
                   for f in os.listdir(logs) if f.startswith("healer"))
    return [ln for ln in text.splitlines() if "evt=relayout_scan_done coll='pr:'" in ln and
            ("bio" in ln.split("hot='")[1].split("'")[0]) == with_bio]


def test_healer_relayouts_objects_after_a_promotion(cl):
    """An object written while bio was cold, never written again, gets bio hot once the layout
    promotes it: the healer rewrites it (no demotion involved), so a projection of bio reads only
    the hot part; content and ETag stay."""
    gw = gws(cl)[0]
    # static: the healer's own decisions stay out of it, only the pins change the hot set
    assert cli(cl, "layout", "pin", "pr:", "--hot", "title", "--cold", "bio", "--mode",
               "static").returncode == 0
    keys = [f"pr:{i}" for i in range(12)]

    def all_cold():
        for k in keys:
            put(gw, k, doc(5, title=k))
        return all("bio" not in hot_of(manifest(gw, k)) and "title" in hot_of(manifest(gw, k))
                   for k in keys)
    wait_until(all_cold, timeout=20, what="objects written with bio cold")
    before = {k: (manifest(gw, k), requests.get(f"{gw}/v1/objects/{k}", timeout=10)) for k in keys}
    r = requests.get(f"{gw}/v1/objects/{keys[0]}?fields=bio", timeout=10)
    assert r.status_code == 200 and r.headers["X-HS-Projection"] == "full"
    wait_until(lambda: any("scan=demotions" in ln for ln in scans(cl, False)), timeout=60,
               what="the demotion scan of pr:'s first layout")
    # bio promoted, nothing demoted: only the promotion scan can move bio to the hot part
    assert cli(cl, "layout", "pin", "pr:", "--hot", "title,bio", "--cold", "").returncode == 0
    wait_until(lambda: all("bio" in hot_of(manifest(gw, k)) for k in keys), timeout=60,
               what="the healer re-laying out every pr: object")
    # a layout that only adds hot fields after a finished demotion scan skips straight to the
    # promotion scan (no object can hold a field it has cold)
    wait_until(lambda: any("scan=promotions" in ln for ln in scans(cl, True)), timeout=60,
               what="the promotion scan of pr: to finish")
    assert not any("scan=demotions" in ln for ln in scans(cl, True)), scans(cl, True)
    for k in keys:
        m0, g0 = before[k]
        m1 = manifest(gw, k)
        g1 = requests.get(f"{gw}/v1/objects/{k}", timeout=10)
        assert m1["etag"] == m0["etag"] and g1.content == g0.content
        assert m1["ver"] == m0["ver"] + 1
        r = requests.get(f"{gw}/v1/objects/{k}?fields=bio", timeout=10)
        assert r.status_code == 200 and r.headers["X-HS-Projection"] == "hot"
        assert r.json() == {"bio": json.loads(g0.content)["bio"]}


def leader_of(c):
    for p in c.processes("healer"):
        try:
            if requests.get(p["url"] + "/health", timeout=3).json().get("leader"):
                return p["name"]
        except requests.RequestException:
            pass
    return None


def test_failover_keeps_the_record_and_its_hysteresis(cl):
    assert stats_served(cl), "gateways do not serve /v1/admin/field-stats"
    write_workload(cl, "fo:", 200)
    wait_until(lambda: (layout_record(cl, "fo:") or {}).get("epoch", 0) >= 1, timeout=60,
               what="a layout record for fo:")
    before = layout_record(cl, "fo:")
    leader = leader_of(cl)
    assert leader
    cl.kill(leader, signal.SIGKILL)
    wait_until(lambda: leader_of(cl) not in (None, leader), timeout=30, what="a new leader")
    write_workload(cl, "fo:", 60, start=200)
    time.sleep(3)
    after = layout_record(cl, "fo:")
    # the new leader continues from the record: same decision, no flap back to the default
    assert after["epoch"] == before["epoch"] and after["hot"] == before["hot"]
    assert after["decided_ms"] == before["decided_ms"]
    cl.respawn(leader)
