"""The consistency checker's own rules, on hand-made histories (no cluster): a checker that
cannot see a stale read or a mixed body proves nothing when it reports zero anomalies."""
import checker as ck


def history(*muts):
    """A checker with t0 = 0 and the given mutations [(wid, kind, start, end, status, empty)]
    on key "k"."""
    c = ck.Checker([], n_keys=1, seed=1)
    c.keys = ["k"]
    c.muts = {"k": []}
    c.t0 = 0.0
    for wid, kind, start, end, status, empty in muts:
        m = ck.Mut("k", wid, kind, start, empty=empty)
        m.end, m.status = end, status
        c.muts["k"].append(m)
        c.writes[wid] = m
    return c


def check(c, outcome, start, end, wid=None, empty=False):
    c.anomalies = []
    c.check_read(ck.Read("k", start, end, outcome, wid=wid, empty=empty))
    return [a["kind"] for a in c.anomalies]


def test_read_of_latest_acknowledged_write_passes():
    c = history((1, "put", 1, 2, "ok", False), (2, "put", 3, 4, "ok", False))
    assert check(c, "value", 5, 6, wid=2) == []


def test_read_of_overwritten_value_is_stale():
    c = history((1, "put", 1, 2, "ok", False), (2, "put", 3, 4, "ok", False))
    assert check(c, "value", 5, 6, wid=1) == ["stale_read"]


def test_value_of_write_in_flight_or_concurrent_passes():
    c = history((1, "put", 1, 2, "ok", False), (2, "put", 3, 10, "ok", False),
                (3, "put", 4, None, "pending", False))
    assert check(c, "value", 5, 6, wid=1) == []   # 2 not acknowledged when the read started
    assert check(c, "value", 5, 6, wid=2) == []
    assert check(c, "value", 5, 6, wid=3) == []


def test_indeterminate_write_never_counts_as_acknowledged():
    c = history((1, "put", 1, 2, "indeterminate", False), (2, "put", 3, 4, "ok", False))
    assert check(c, "value", 5, 6, wid=1) == []   # may have committed after 2
    c = history((1, "put", 1, 2, "ok", False), (2, "put", 3, 4, "indeterminate", False))
    assert check(c, "value", 5, 6, wid=1) == []
    assert check(c, "absent", 5, 6) == ["stale_read"]


def test_value_from_the_future_and_rejected_writes_are_anomalies():
    c = history((1, "put", 7, 8, "ok", False), (2, "put", 1, 2, "rejected", False))
    assert check(c, "value", 5, 6, wid=1) == ["read_from_future"]
    assert check(c, "value", 5, 6, wid=2) == ["read_of_rejected_write"]


def test_absent_after_acknowledged_write_is_a_lost_write():
    c = history((1, "put", 1, 2, "ok", False))
    assert check(c, "absent", 0.5, 0.7) == []     # before the write: initial state
    assert check(c, "absent", 1.5, 3) == []       # concurrent with it
    assert check(c, "absent", 3, 4) == ["stale_read"]


def test_deletes_are_mutations_too():
    c = history((1, "put", 1, 2, "ok", False), (2, "del", 3, 4, "ok", False))
    assert check(c, "absent", 5, 6) == []
    assert check(c, "value", 5, 6, wid=1) == ["stale_read"]
    assert check(c, "value", 3.5, 6, wid=1) == []


def test_empty_values_match_any_empty_write():
    c = history((1, "put", 1, 2, "ok", True), (2, "put", 3, 4, "ok", False),
                (3, "put", 5, 6, "ok", True))
    assert check(c, "value", 7, 8, empty=True) == []
    assert check(c, "value", 4.5, 4.8, empty=True) == ["stale_read"]


def test_binary_values_detect_mixes_and_truncation():
    a = ck.make_binary("k", 1, 5000)
    b = ck.make_binary("k", 2, 5000)
    assert ck.decode_binary("k", a) == 1
    assert ck.decode_binary("k", b"") is None
    for bad in (a[:3000] + b[3000:], a[:-1], a[:-1] + bytes([a[-1] ^ 1]), b"plain"):
        try:
            ck.decode_binary("k", bad)
        except ValueError:
            continue
        raise AssertionError("a mixed/corrupt body decoded")
    try:
        ck.decode_binary("other", a)
    except ValueError:
        pass
    else:
        raise AssertionError("a body of another key decoded")


def test_json_values_detect_hot_and_cold_of_different_versions():
    v1, cold1 = ck.make_json("k", 1, 3000)
    v2, _ = ck.make_json("k", 2, 3000)
    v3, _ = ck.make_json("k", 3, 0, cold=cold1)  # pure hot update of v1
    assert ck.decode_json("k", v1)[0] == 1
    assert ck.decode_json("k", v3)[0] == 3
    import json
    d1 = json.loads(v1)
    d2 = json.loads(v2)
    mixed = dict(d2)
    for hot in ("like_count", "view_count", "update_count"):
        mixed[hot] = d1[hot]  # hot part of v1 over the cold part of v2
    for bad in (json.dumps(mixed).encode(), v1.replace(b'"pad":"', b'"pad":"0'), b"[1]"):
        try:
            ck.decode_json("k", bad)
        except ValueError:
            continue
        raise AssertionError("a mixed/corrupt document decoded")
