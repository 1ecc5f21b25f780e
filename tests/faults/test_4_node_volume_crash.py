"""A node with --small-blob-store volume killed after a PUT's needle joined the group commit's
batch and before the batch was written and synced (fault point blob.volume_before_sync): the PUT
is never acknowledged, nothing of it is in the volume or reads back after a restart, and every
blob acknowledged before it survives. Needs the fault build (make test-faults)."""
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
