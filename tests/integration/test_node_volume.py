"""The node with --small-blob-store volume (docs/node.md, "Volume store"): the store-agnostic
API tests of test_node.py run again against it, then what is particular to volumes: blobs
survive restarts, a torn tail is cut at restart with every acknowledged blob kept, a flipped
byte is ECORRUPT (quarantined) on GET and found by the scrub, large blobs stay files, and the
listing merges both stores."""
import glob
import os

import pytest

from harness import Node, wait_until
import test_node
from test_node import blob_files, crc_hex, files_under, stats

# The API tests that do not look at blob files on disk: collected here again with the
# volume-store node fixture below.
for _name in ["test_put_get_head_delete_round_trip",
              "test_put_without_crc_header_is_accepted_and_empty_blob_works",
              "test_idempotent_retry_succeeds_and_different_content_conflicts",
              "test_crc_mismatch_is_refused_and_stores_nothing",
              "test_listing_pages_cover_every_blob_exactly_once",
              "test_stats_counters_move"]:
    globals()[_name] = getattr(test_node, _name)

VOLUME = ["--small-blob-store", "volume"]


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path), extra=["--max-blob-size", "1MiB"] + VOLUME)
    yield n
    assert n.stop() == 0, n.proc.read_log()[-3000:]


def volumes(node):
    return sorted(glob.glob(os.path.join(node.data_dir, "volumes", "*.vol")))


def listed(node):
    return [b["id"] for b in node.session().get(node.url + "/v1/blobs").json()["blobs"]]


def needle_payload_offset(path, blob_id):
    """File offset of the payload of blob_id's needle (magic "HSN1", id at +24)."""
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    while at < len(data):
        if data[at:at + 4] == b"HSN1" and data[at + 24:at + 24 + len(blob_id)] == blob_id.encode():
            return at + 28 + len(blob_id)
        at += 8
    raise AssertionError(f"no needle for {blob_id}")


def flip_byte(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x01]))


def test_small_blobs_go_to_volumes_large_to_files_and_both_list_after_restart(node):
    s = node.session()
    small = {f"0a{i:02x}": os.urandom(1000 + i) for i in range(20)}
    big = os.urandom(200 << 10)
    for blob_id, data in small.items():
        assert s.put(node.blob_url(blob_id), data=data,
                     headers={"X-HS-CRC32C": crc_hex(data)}).status_code == 201
    assert s.put(node.blob_url("0a05.b16"), data=big).status_code == 201
    assert [os.path.basename(p) for p in blob_files(node)] == ["0a05.b16"]
    assert len(volumes(node)) == 1
    node.stop()
    node.start()
    s = node.session()
    for blob_id, data in small.items():
        r = s.get(node.blob_url(blob_id))
        assert r.status_code == 200 and r.content == data
        assert r.headers["X-HS-CRC32C"] == crc_hex(data)
    assert s.get(node.blob_url("0a05.b16")).content == big
    assert listed(node) == sorted(list(small) + ["0a05.b16"])
    # ranged reads of a needle stay inside it
    r = s.get(node.blob_url("0a03"), headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == small["0a03"][10:20]
    r = s.get(node.blob_url("0a03"), headers={"Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == small["0a03"][-5:]
    assert s.get(node.blob_url("0a03"), headers={"Range": "bytes=5000-"}).status_code == 416
    st = stats(node)
    assert st["blobs"] == 21
    assert st["payload_bytes"] == sum(map(len, small.values())) + len(big)
    # deletes (one and many) survive a restart too
    assert s.delete(node.blob_url("0a00")).status_code == 204
    r = s.post(node.url + "/v1/blobs/delete", data="0a01\n0a02\n0a05.b16\n0fff\n")
    assert r.json() == {"deleted": 3, "missing": 1, "failed": []}, r.text
    node.stop()
    node.start()
    assert listed(node) == sorted(set(small) - {"0a00", "0a01", "0a02"})


def test_torn_tail_is_cut_at_restart_and_acknowledged_blobs_survive(node):
    s = node.session()
    blobs = {f"7e{i:02x}": os.urandom(700) for i in range(10)}
    for blob_id, data in blobs.items():
        assert s.put(node.blob_url(blob_id), data=data).status_code == 201
    node.stop()
    [path] = volumes(node)
    good = os.path.getsize(path)
    with open(path, "rb") as f:
        half = f.read(400)  # the start of a valid needle ...
    with open(path, "ab") as f:
        f.write(half + b"\0" * 300)  # ... torn off, then what an extended file reads as
    node.start()
    assert os.path.getsize(path) == good
    assert "evt=blob_volume_tail_truncated" in node.proc.read_log()
    s = node.session()
    for blob_id, data in blobs.items():
        assert s.get(node.blob_url(blob_id)).content == data
    assert listed(node) == sorted(blobs)
    assert s.put(node.blob_url("7eff"), data=b"after").status_code == 201
    node.stop()
    node.start()
    assert node.session().get(node.blob_url("7eff")).content == b"after"


def test_flipped_byte_is_ecorrupt_quarantined_and_skipped(node):
    s = node.session()
    assert s.put(node.blob_url("0bad.7"), data=b"precious bytes " * 100).status_code == 201
    assert s.put(node.blob_url("0900d"), data=b"fine").status_code == 201
    [path] = volumes(node)
    flip_byte(path, needle_payload_offset(path, "0bad.7") + 10)
    r = s.get(node.blob_url("0bad.7"))
    assert r.status_code == 500 and r.json()["error"] == "ECORRUPT"
    assert s.get(node.blob_url("0bad.7")).status_code == 404
    q = files_under(os.path.join(node.data_dir, "quarantine"))
    assert len(q) == 1 and "0bad.7" in q[0]
    st = stats(node)
    assert st["blobs"] == 1 and st["quarantined"] == 1 and st["payload_bytes"] == 4
    assert listed(node) == ["0900d"]
    node.stop()
    node.start()  # the rebuild skips the damaged needle, keeps the one after it
    assert listed(node) == ["0900d"]
    assert node.session().get(node.blob_url("0900d")).content == b"fine"


def test_scrub_finds_a_flipped_byte_in_a_volume(tmp_path):
    n = Node(str(tmp_path), extra=["--scrub-interval", "1s", "--scrub-rate", "64MiB"] + VOLUME)
    try:
        s = n.session()
        blobs = {f"5c0b.{i}": os.urandom(3000 + i) for i in range(5)}
        for blob_id, data in blobs.items():
            assert s.put(n.blob_url(blob_id), data=data).status_code == 201
        wait_until(lambda: stats(n)["scrub"]["cycles_completed"] >= 1, timeout=15,
                   what="a first clean scrub cycle")
        assert stats(n)["scrub"]["verified_blobs"] >= 5
        [path] = volumes(n)
        flip_byte(path, needle_payload_offset(path, "5c0b.3") + 100)
        wait_until(lambda: stats(n)["scrub"]["quarantined"] == 1, timeout=15,
                   what="the scrub to quarantine the corrupt needle")
        assert stats(n)["blobs"] == 4
        assert listed(n) == sorted(set(blobs) - {"5c0b.3"})
        assert s.get(n.blob_url("5c0b.3")).status_code == 404
    finally:
        assert n.stop() == 0, n.proc.read_log()[-3000:]


def test_files_written_before_stay_readable_with_the_option_on(tmp_path):
    n = Node(str(tmp_path), extra=["--small-blob-store", "files"])
    try:
        s = n.session()
        assert s.put(n.blob_url("01d"), data=b"old").status_code == 201
        n.stop()
        n.extra = VOLUME
        n.start()
        s = n.session()
        assert s.get(n.blob_url("01d")).content == b"old"
        assert s.put(n.blob_url("02e"), data=b"new").status_code == 201
        assert s.put(n.blob_url("01d"), data=b"other").status_code == 409
        assert listed(n) == ["01d", "02e"]
        n.stop()
        n.extra = ["--small-blob-store", "files"]  # off again: the volume is still read
        n.start()
        assert n.session().get(n.blob_url("02e")).content == b"new"
        assert listed(n) == ["01d", "02e"]
    finally:
        assert n.stop() == 0, n.proc.read_log()[-3000:]


def metrics(node):
    text = node.session().get(node.url + "/metrics").text
    return {line.split()[0]: int(line.split()[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def test_compaction_reclaims_deleted_space_on_demand_and_in_the_background(tmp_path):
    n = Node(str(tmp_path), extra=VOLUME + ["--volume-size", "1MiB", "--compact-interval", "0"])
    try:
        s = n.session()
        blobs = {f"0c{i:03x}": os.urandom(8 << 10) for i in range(300)}
        for blob_id, data in blobs.items():
            assert s.put(n.blob_url(blob_id), data=data).status_code == 201
        gone = [b for i, b in enumerate(sorted(blobs)) if i % 4 != 0]
        assert s.post(n.url + "/v1/blobs/delete", data="\n".join(gone)).status_code == 200
        m = metrics(n)
        assert m["hs_node_volume_files"] >= 3
        assert m["hs_node_volume_reclaimable_bytes"] > m["hs_node_volume_bytes"] // 3
        assert m["hs_node_compacted_volumes_total"] == 0
        assert s.post(n.url + "/v1/compact?min_dead_percent=101").status_code == 400
        # the default threshold (50 %): every sealed volume is 3/4 dead
        r = s.post(n.url + "/v1/compact")
        assert r.status_code == 200, r.text
        assert r.json()["volumes"] >= 2
        after = metrics(n)
        assert after["hs_node_compacted_volumes_total"] == r.json()["volumes"]
        assert after["hs_node_compaction_reclaimed_bytes_total"] > 0
        assert after["hs_node_volume_bytes"] < m["hs_node_volume_bytes"]
        assert after["hs_node_volume_live_bytes"] == m["hs_node_volume_live_bytes"]
        assert stats(n)["volumes"]["reclaimed_bytes"] == \
            after["hs_node_compaction_reclaimed_bytes_total"]
        live = {b: d for b, d in blobs.items() if b not in gone}
        for blob_id, data in live.items():
            assert s.get(n.blob_url(blob_id)).content == data
        assert listed(n) == sorted(live)
        # In the background: delete the rest, restart with a short interval, wait.
        assert s.post(n.url + "/v1/blobs/delete", data="\n".join(sorted(live)[:-1])).status_code \
            == 200
        for i in range(150):  # seal the volume that holds the copies
            assert s.put(n.blob_url(f"0d{i:03x}"), data=os.urandom(8 << 10)).status_code == 201
        n.stop()
        n.extra = VOLUME + ["--volume-size", "1MiB", "--compact-interval", "200ms"]
        n.start()
        wait_until(lambda: metrics(n)["hs_node_compacted_volumes_total"] >= 1, timeout=30,
                   what="a background compaction")
        last = sorted(live)[-1]
        assert n.session().get(n.blob_url(last)).content == live[last]
    finally:
        assert n.stop() == 0, n.proc.read_log()[-3000:]


def test_a_file_store_data_dir_keeps_working_under_the_volume_default(tmp_path):
    """A data dir the file store wrote (the default before the volume store became it): started
    with the default, its blob files are read, listed and deleted (one by one and in a batch),
    and new small blobs go to a volume; all of it holds after another restart."""
    n = Node(str(tmp_path), extra=["--small-blob-store", "files"])
    try:
        s = n.session()
        old = {f"0f{i:02x}": os.urandom(1000 + i) for i in range(5)}
        old["0fb16"] = os.urandom(100 << 10)
        for blob_id, data in old.items():
            assert s.put(n.blob_url(blob_id), data=data).status_code == 201
        assert len(blob_files(n)) == 6 and not volumes(n)
        n.stop()
        n.extra = []  # the default
        n.start()
        s = n.session()
        for blob_id, data in old.items():
            r = s.get(n.blob_url(blob_id))
            assert r.status_code == 200 and r.content == data
        assert listed(n) == sorted(old)
        assert s.put(n.blob_url("1e0"), data=b"new").status_code == 201
        assert len(volumes(n)) == 1 and len(blob_files(n)) == 6  # new small blobs: a volume
        assert s.delete(n.blob_url("0f00")).status_code == 204
        assert s.delete(n.blob_url("0fb16")).status_code == 204
        r = s.post(n.url + "/v1/blobs/delete", data="0f01\n1e0\n")
        assert r.status_code == 200, r.text
        assert len(blob_files(n)) == 3
        for gone in ("0f00", "0fb16", "0f01", "1e0"):
            assert s.get(n.blob_url(gone)).status_code == 404
        left = ["0f02", "0f03", "0f04"]
        assert listed(n) == left
        n.stop()
        n.start()
        assert listed(n) == left
        assert stats(n)["blobs"] == 3
        for blob_id in left:
            assert n.session().get(n.blob_url(blob_id)).content == old[blob_id]
    finally:
        assert n.stop() == 0, n.proc.read_log()[-3000:]
