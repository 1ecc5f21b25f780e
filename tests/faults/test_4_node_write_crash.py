"""A storage node killed between writing a blob and making it durable (fault point
blob.before_sync, before the fdatasync and the rename into objects/): the PUT is never
acknowledged, and after a restart nothing of it reads as a blob - no GET, no listing entry, no
temp file left behind. Small blobs (collected in memory, one pwrite at commit) and streamed ones
(over 64 KiB) alike. Needs the fault build (make test-faults)."""
import os

import pytest
import requests

from cluster import patched_environ
from harness import Node


def files_under(root):
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.join(d, n) for n in names]
    return out


@pytest.mark.parametrize("size", [1024, 100 * 1024])
def test_put_killed_before_sync_is_never_acknowledged_and_leaves_no_blob(tmp_path, size):
    with patched_environ({"HS_FAULT": "blob.before_sync"}):
        # the file store's write path (the volume store has its own test file)
        node = Node(str(tmp_path), name="crash", extra=["--small-blob-store", "files"])
    blob_id = "c4a5.%d" % size
    try:
        with pytest.raises(requests.ConnectionError):
            node.session().put(node.blob_url(blob_id), data=os.urandom(size), timeout=30)
        assert node.proc.popen.wait(10) == -9, "the fault point should have SIGKILLed the node"
        objects = os.path.join(node.data_dir, "objects")
        assert not [f for f in files_under(objects) if f.endswith(blob_id)]
        # the written-but-unsynced temp file is what the crash left behind ...
        assert files_under(os.path.join(node.data_dir, "tmp"))
        node.start()  # ... and a restart (without the fault) removes it
        s = node.session()
        assert s.get(node.blob_url(blob_id), timeout=10).status_code == 404
        assert s.head(node.blob_url(blob_id), timeout=10).status_code == 404
        listing = s.get(f"{node.url}/v1/blobs", timeout=10)
        assert listing.status_code == 200 and blob_id not in listing.text
        assert files_under(os.path.join(node.data_dir, "tmp")) == []
        # the same id can then be written for real
        assert s.put(node.blob_url(blob_id), data=b"after", timeout=10).status_code == 201
        assert s.get(node.blob_url(blob_id), timeout=10).content == b"after"
    finally:
        node.stop()
