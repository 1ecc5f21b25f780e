"""The faults the consistency checker injects into a running cluster (tests/faults/README.md scenarios 1, 4
and 7): SIGKILL storage nodes one after the other, flip bytes in a replica and in an EC data shard
on disk, SIGKILL the etcd raft leader. heal() undoes what is still broken (restarts killed nodes
and etcd members) so the final check runs against a whole cluster."""
import random
import signal
import threading

import faultlib as fl


class Injector:
    def __init__(self, c, seed=None):
        self.c = c
        self.rng = random.Random(seed)
        self.nodes = fl.NodeCtl(c)
        self.killed_nodes = []
        self.killed_etcd = []
        self.etcd_procs = {}  # name -> Proc of members we restarted
        self.flipped = []  # (kind, object key, node name, blob id)
        self.lock = threading.Lock()

    # ---- scenario 1: nodes ----

    def running_nodes(self):
        return [p["name"] for p in self.c.processes("node")
                if p["name"] not in self.killed_nodes and
                (p["status"] == "running" or p["name"] in self.nodes.procs)]

    def kill_node(self, _chk=None):
        name = self.rng.choice(self.running_nodes())
        self.nodes.kill(name)
        self.killed_nodes.append(name)
        return name

    def restart_nodes(self, _chk=None):
        for name in self.killed_nodes:
            self.nodes.start(name)
        self.killed_nodes = []

    # ---- scenario 4: flipped bytes ----

    def flip_candidates(self):
        """[(kind, key, node name, blob)] of payload-bearing blobs on running nodes: replicas
        (replication data, field_hybrid hot), EC data shards (index < k, read on every GET) and
        EC parity shards (read only by degraded reads: found by the nodes' scrub)."""
        names = fl.node_names_by_id(self.c)
        running = set(self.running_nodes())
        out = []
        for key, m in fl.manifests(self.c).items():
            for part in ("data", "hot", "cold"):
                p = m.get(part)
                if not p:
                    continue
                for seg in p["segs"]:
                    for i, b in enumerate(seg["blobs"]):
                        name = names.get(b["node"])
                        if name not in running or b["len"] == 0:
                            continue
                        if "replicas" in p:
                            out.append(("replica", key, name, b))
                        else:
                            out.append(("shard" if i < p["k"] else "parity", key, name, b))
        return out

    def flip(self, _chk=None, kinds=("replica", "shard")):
        """Flips one byte in one blob of each kind; returns [(kind, key, node, blob id)]."""
        cands = self.flip_candidates()
        self.rng.shuffle(cands)
        done = []
        for kind in kinds:
            for k, key, name, b in cands:
                if k != kind:
                    continue
                try:
                    fl.flip_payload_byte(self.c.proc(name)["data_dir"], b["id"])
                except OSError:
                    continue  # overwritten or deleted meanwhile: take another
                done.append((kind, key, name, b["id"]))
                break
        with self.lock:
            self.flipped += done
        return done

    # ---- scenario 7: etcd leader ----

    def kill_etcd_leader(self, _chk=None):
        name = fl.etcd_leader_name(self.c)
        mine = self.etcd_procs.get(name)
        if mine is not None and mine.alive():  # a member we restarted earlier
            mine.signal(signal.SIGKILL)
            mine.popen.wait(10)
        else:
            self.c.kill(name)
        self.killed_etcd.append(name)
        return name

    def restart_etcd(self, _chk=None):
        for name in self.killed_etcd:
            self.restart_etcd_member(name)
        self.killed_etcd = []

    def restart_etcd_member(self, name):
        """Starts an exited etcd member again (same data dir: it rejoins) and waits for it."""
        mine = self.etcd_procs.get(name)
        if self.c.proc(name)["status"] == "exited" and not (mine and mine.alive()):
            self.etcd_procs[name] = self.c.respawn(name)  # c.stop() stops it
        ep = self.c.proc(name)["url"]
        fl.wait_until(lambda: fl.requests.get(ep + "/health", timeout=1).json()
                      .get("health") == "true", timeout=30, what=f"{name} back")

    # ---- a schedule for the checker ----

    def schedule(self, faults, duration):
        """[(t, name, fn)] spreading the named faults (node, flip, etcd) over duration s."""
        out = []
        if "flip" in faults:
            out += [(0.1 * duration, "flip_replica_and_shard", self.flip),
                    (0.55 * duration, "flip_replica_and_shard", self.flip)]
        if "node" in faults:
            out += [(0.15 * duration, "sigkill_node", self.kill_node),
                    (0.3 * duration, "sigkill_second_node", self.kill_node),
                    (0.7 * duration, "restart_killed_nodes", self.restart_nodes)]
        if "etcd" in faults:
            out += [(0.42 * duration, "sigkill_etcd_leader", self.kill_etcd_leader),
                    (0.6 * duration, "restart_etcd_member", self.restart_etcd)]
        return out

    def heal(self):
        if self.killed_etcd:
            self.restart_etcd()
        if self.killed_nodes:
            self.restart_nodes()

    def restarted_pids(self):
        """{name: pid} of the processes we (re)started outside the launcher."""
        out = {n: p.pid for n, p in self.nodes.procs.items() if p.alive()}
        out.update({" ".join(p.args[:2]): p.pid for p in self.c.respawned if p.alive()})
        return out

    def close(self):
        self.nodes.stop_all()
