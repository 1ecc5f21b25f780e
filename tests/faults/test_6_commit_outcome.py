"""Scenario 6: the commit's answer is lost. A gateway whose commit transaction gets no answer
(etcd's leader dies with the request in flight) does not know whether the new version landed.
It fences the commit by deleting its write-ahead record and reads the key again; only a fence
that deleted the record proves the commit did not land, and only then may the gateway delete
the blobs it stored. Every other outcome leaves them to the healer and GC, because they may be
the blobs of a committed version.

Build-time fault points of the gateway (armed with HS_FAULT in one extra gateway only):
- gateway.commit_reply_lost:fail  etcd applies the commit, the answer is lost;
- gateway.commit_lost:fail        the commit never reaches etcd;
- gateway.fence_unavailable:fail  the fence (and every later record delete) gets no answer;
- gateway.before_fence:sleep=MS   a pause before the fence, for a racing writer.

Checked for each: what the client is told, that the object reads back as the version that is
really current, that every blob its manifest names is on its node, and that nothing is left
behind once the healer and GC have run."""
import json
import threading

import pytest

import faultlib as fl

ENV = {"HS_HEALER_GC_GRACE": "1s"}
STRATEGIES = [("v1", "ec"), ("v1", "field_hybrid"), ("v1", "replication")]


@pytest.fixture(scope="module")
def env(tmp_path_factory, hs_bin):  # hs_bin: a clear failure when the build is missing
    c = fl.start_cluster(tmp_path_factory.mktemp("faults-commit"), env=ENV, nodes=6,
                         gateways=2, healers=1)
    st = type("State", (), {})()
    st.c = c
    st.urls = fl.gateway_urls(c)
    yield st
    c.stop()


def missing_blobs(c, key):
    """The (blob id, node id) pairs the current manifest of key names that their node lacks."""
    m = fl.manifests(c)[key]
    lists = fl.listings(c)
    return [(b["id"], b["node"]) for _, _, b in fl.manifest_blobs(m)
            if b["id"] not in lists.get(b["node"], {})]


def settle(env, objects):
    """Every object reads back as expected and nothing is left behind: no WAL record, no orphan
    blob (GC grace 1 s), full redundancy."""
    c = env.c
    fl.wait_until(lambda: not fl.txn_records(c), timeout=60, interval=0.3,
                  what="no write-ahead record left")
    fl.wait_until(lambda: not fl.orphans(c), timeout=60, interval=0.5, what="no orphan blob")
    fl.wait_full_redundancy(c, timeout=60, keys=list(objects))
    assert not fl.unreadable(env.urls, objects, rounds=2)


def replace_through_fault(env, name, fault, key, api, strategy, sizes=(150000, 250000)):
    """Writes version 1 of key through a healthy gateway, then PUTs version 2 through a new
    gateway armed with fault. Returns (old body, new body, status, answer text, the armed
    gateway's Proc: the caller kills it)."""
    old, ctype = fl.object_body(api, strategy, key, 1, sizes[0])
    assert fl.write_object(fl.Gw(env.urls[0]), api, strategy, key, old, ctype) in (200, 201)
    new, _ = fl.object_body(api, strategy, key, 2, sizes[1])
    proc, url = fl.start_gateway(env.c, name, env={"HS_FAULT": fault})
    try:
        r = fl.Gw(url, timeout=60).put(key, new, strategy, ctype)
        return old, new, r.status_code, r.text, proc
    except BaseException:
        proc.kill()
        raise


@pytest.mark.parametrize("api,strategy", STRATEGIES)
def test_6a_landed_commit_with_lost_answer_and_no_fence_keeps_its_blobs(env, api, strategy):
    """etcd applied the commit, its answer and the fence's were lost: the client hears 503
    (the write may have been applied), and the version that landed stays whole."""
    c = env.c
    key = f"s6a/{strategy}"
    _, new, code, text, proc = replace_through_fault(
        env, f"gateway-6a-{strategy}",
        "gateway.commit_reply_lost:fail,gateway.fence_unavailable:fail", key, api, strategy)
    try:
        assert code == 503, f"{code} {text}"
        assert "may have been applied" in text, text
        # the commit landed: the new version is current and every blob of it is stored
        m = fl.manifests(c)[key]
        assert m["size"] == len(new)
        assert not missing_blobs(c, key), "blobs of the committed version were deleted"
        fl.wait_until(lambda: "commit_outcome_unknown" in proc.read_log(), timeout=10,
                      what="the gateway to log the unknown outcome")
    finally:
        proc.kill()
    settle(env, {key: (api, new)})


@pytest.mark.parametrize("api,strategy", STRATEGIES)
def test_6b_landed_commit_with_lost_answer_is_resolved_as_written(env, api, strategy):
    """The answer was lost but the fence works: the gateway finds its version current and
    acknowledges the write."""
    c = env.c
    key = f"s6b/{strategy}"
    _, new, code, text, proc = replace_through_fault(
        env, f"gateway-6b-{strategy}", "gateway.commit_reply_lost:fail", key, api, strategy)
    proc.kill()
    assert code in (200, 201), f"{code} {text}"
    assert fl.manifests(c)[key]["size"] == len(new)
    settle(env, {key: (api, new)})


@pytest.mark.parametrize("api,strategy", STRATEGIES)
def test_6c_lost_commit_is_fenced_and_cleaned_up(env, api, strategy):
    """The commit never reached etcd: the fence deletes the record, so the gateway knows
    nothing was written, says so, and deletes its blobs at once; the old version stays."""
    c = env.c
    key = f"s6c/{strategy}"
    old, _, code, text, proc = replace_through_fault(
        env, f"gateway-6c-{strategy}", "gateway.commit_lost:fail", key, api, strategy)
    try:
        assert code == 503, f"{code} {text}"
        assert "nothing was written" in text, text
        assert fl.manifests(c)[key]["size"] == len(old)
        # cleaned up by the gateway itself: no record, no blob of the failed write
        assert not [r for r in fl.txn_records(c).values() if r["key"] == key]
        assert not fl.orphans(c)
        assert "commit_outcome_unknown" not in proc.read_log()
    finally:
        proc.kill()
    settle(env, {key: (api, old)})


def test_6d_landed_commit_replaced_by_a_patch_before_the_fence_keeps_shared_blobs(env):
    """The commit landed, its answer was lost, and before the gateway fenced it another gateway
    PATCHed a hot field: the new version shares the cold part of the one that landed. The
    fence finds the record gone and the key holding someone else's version; the blobs it
    stored are that version's cold part now and must survive."""
    c = env.c
    key = "s6d/field_hybrid"
    gw = fl.Gw(env.urls[0])
    old, ctype = fl.object_body("v1", "field_hybrid", key, 1, 100000)
    assert fl.write_object(gw, "v1", "field_hybrid", key, old, ctype) in (200, 201)
    new, _ = fl.object_body("v1", "field_hybrid", key, 2, 200000)
    proc, url = fl.start_gateway(c, "gateway-6d",
                                 env={"HS_FAULT": "gateway.commit_reply_lost:fail,"
                                                  "gateway.before_fence:sleep=4000"})
    result = {}

    def send():
        r = fl.Gw(url, timeout=60).put(key, new, "field_hybrid", ctype)
        result["code"], result["text"] = r.status_code, r.text
    t = threading.Thread(target=send, daemon=True)
    try:
        t.start()
        # the faulty gateway's version lands, then it pauses before its fence
        fl.wait_until(lambda: fl.manifests(c)[key]["size"] == len(new), timeout=30,
                      interval=0.05, what="the faulty gateway's commit to land")
        r = gw.s.patch(f"{gw.url}/v1/objects/{fl.qkey(key)}", data=b'{"like_count":777}',
                       headers={"Content-Type": "application/merge-patch+json"}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json().get("pure_hot_update") is True, r.text
        t.join(60)
        assert not t.is_alive()
        assert result["code"] == 503, result
    finally:
        proc.kill()
    expect = json.loads(new)
    expect["like_count"] = 777
    assert not missing_blobs(c, key), "the patched version lost blobs it shares"
    settle(env, {})
    # the object is still the patched document, cold part included, through every gateway
    for u in env.urls:
        status, body = fl.read_object(fl.Gw(u), "v1", key)
        assert status == 200, status
        assert json.loads(body) == expect
