"""A node with --small-blob-store volume killed after a PUT's needle joined the group commit's
batch and before the batch was written and synced (fault point blob.volume_before_sync): the PUT
is never acknowledged, nothing of it is in the volume or reads back after a restart, and every
blob acknowledged before it survives; and a node killed at each of compaction's fault points.
Needs the fault build (make test-faults)."""
import glob
import os

import pytest
import requests

from cluster import patched_environ
from harness import Node

VOLUME = ["--small-blob-store", "volume"]


def volume_bytes(node):
    return sum(os.path.getsize(p)
               for p in glob.glob(os.path.join(node.data_dir, "volumes", "*.vol")))


def test_put_killed_before_the_group_commit_is_never_acknowledged_and_leaves_nothing(tmp_path):
    node = Node(str(tmp_path), name="crash", extra=VOLUME)
    acked = {f"ac4e.{i}": os.urandom(1024) for i in range(10)}
    try:
        s = node.session()
        for blob_id, data in acked.items():
            assert s.put(node.blob_url(blob_id), data=data, timeout=10).status_code == 201
        node.stop()
        before = volume_bytes(node)
        assert before > 0
        with patched_environ({"HS_FAULT": "blob.volume_before_sync"}):
            node.start()
        with pytest.raises(requests.ConnectionError):
            node.session().put(node.blob_url("c4a5.1"), data=os.urandom(1024), timeout=30)
        assert node.proc.popen.wait(10) == -9, "the fault point should have SIGKILLed the node"
        assert volume_bytes(node) == before  # the needle never reached the file
        node.start()  # without the fault
        s = node.session()
        assert s.get(node.blob_url("c4a5.1"), timeout=10).status_code == 404
        assert s.head(node.blob_url("c4a5.1"), timeout=10).status_code == 404
        listing = s.get(f"{node.url}/v1/blobs", timeout=10)
        assert listing.status_code == 200
        assert [b["id"] for b in listing.json()["blobs"]] == sorted(acked)
        for blob_id, data in acked.items():
            assert s.get(node.blob_url(blob_id), timeout=10).content == data
        # the same id can then be written for real
        assert s.put(node.blob_url("c4a5.1"), data=b"after", timeout=10).status_code == 201
        assert s.get(node.blob_url("c4a5.1"), timeout=10).content == b"after"
    finally:
        node.stop()


def put_all(s, node, blobs):
    for blob_id, data in blobs.items():
        assert s.put(node.blob_url(blob_id), data=data, timeout=30).status_code == 201


def check_blobs(node, live, deleted):
    s = node.session()
    for blob_id, data in live.items():
        r = s.get(node.blob_url(blob_id), timeout=30)
        assert r.status_code == 200 and r.content == data, blob_id
    for blob_id in deleted:
        assert s.get(node.blob_url(blob_id), timeout=30).status_code == 404, blob_id
    listing = s.get(f"{node.url}/v1/blobs", timeout=30)
    assert listing.status_code == 200
    assert [b["id"] for b in listing.json()["blobs"]] == sorted(live)
    stats = s.get(f"{node.url}/v1/stats", timeout=30).json()
    assert stats["blobs"] == len(live)
    assert stats["payload_bytes"] == sum(len(d) for d in live.values())


@pytest.mark.parametrize("point", ["blob.compact_copying", "blob.compact_before_unlink",
                                   "blob.compact_after_unlink"])
def test_node_killed_during_compaction_keeps_every_acknowledged_blob_once(tmp_path, point):
    """SIGKILL while compaction copies a volume's live needles (some index entries switched,
    some not), after every copy is durable but before the old volume is unlinked, and right
    after the unlink: after a restart every acknowledged live blob reads back (once in the
    listing and the counters) and every deleted one stays deleted; compacting again then
    finishes the job."""
    extra = VOLUME + ["--volume-size", "1MiB", "--compact-interval", "0"]
    node = Node(str(tmp_path), name="compact", extra=extra)
    # 16 KiB blobs: ~63 per 1 MiB volume, so a third deleted leaves more live bytes in each
    # sealed volume than one compaction chunk (256 KiB): the first fault point is mid-volume.
    blobs = {f"c0.{i:04d}": os.urandom(16 << 10) for i in range(200)}
    deleted = [b for i, b in enumerate(sorted(blobs)) if i % 3 == 1]
    live = {b: d for b, d in blobs.items() if b not in deleted}
    try:
        s = node.session()
        put_all(s, node, blobs)
        r = s.post(f"{node.url}/v1/blobs/delete", data="\n".join(deleted), timeout=30)
        assert r.status_code == 200
        node.stop()
        before = volume_bytes(node)
        assert len(glob.glob(os.path.join(node.data_dir, "volumes", "*.vol"))) >= 3
        with patched_environ({"HS_FAULT": point}):
            node.start()
        with pytest.raises(requests.ConnectionError):
            node.session().post(f"{node.url}/v1/compact?min_dead_percent=0", timeout=60)
        assert node.proc.popen.wait(10) == -9, "the fault point should have SIGKILLed the node"
        node.start()  # without the fault
        check_blobs(node, live, deleted)
        # A blob deleted now stays deleted whichever copy of it the restart found.
        gone = sorted(live)[0]
        assert node.session().delete(node.blob_url(gone), timeout=30).status_code == 204
        deleted.append(gone)
        del live[gone]
        r = node.session().post(f"{node.url}/v1/compact?min_dead_percent=0", timeout=60)
        assert r.status_code == 200, r.text
        check_blobs(node, live, deleted)
        node.stop()
        assert volume_bytes(node) < before
        node.start()
        check_blobs(node, live, deleted)
    finally:
        node.stop()
