"""Reads the output of `docker-compose config` (the resolved compose file) into roles and flags.

Shared by check_topology.py (structure) and boot_topology.py (runs the command lines on
loopback). Works on the *resolved* file, so YAML anchors, merges and ${VAR:-default} are already
expanded exactly as docker-compose 1.29 expands them.
"""
import yaml

HS_IMAGE = "hybridstore:"
ETCD_IMAGE = "hybridstore-etcd:"
NGINX_IMAGE = "hybridstore-nginx:"
ROLES = ("nginx", "etcd", "gateway", "node", "healer")


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def role_of(svc):
    """nginx/etcd by image; a hybridstore daemon by its subcommand (the first argument)."""
    image = svc.get("image", "")
    if image.startswith(NGINX_IMAGE):
        return "nginx"
    if image.startswith(ETCD_IMAGE):
        return "etcd"
    if image.startswith(HS_IMAGE):
        cmd = svc.get("command") or []
        return cmd[0] if cmd else "?"
    return "?"


def by_role(cfg):
    """{role: [service name, ...]} with names sorted, for every role in ROLES."""
    out = {r: [] for r in ROLES}
    for name, svc in (cfg.get("services") or {}).items():
        out.setdefault(role_of(svc), []).append(name)
    for names in out.values():
        names.sort()
    return out


def flags(args):
    """['--a=1', '--b', '2'] -> [('--a', '1'), ('--b', '2')] in order. Every flag the compose
    file uses takes a value, so a bare flag consumes the next argument."""
    out = []
    i = 0
    while i < len(args):
        a = str(args[i])
        if not a.startswith("--"):
            raise ValueError(f"stray argument {a!r} in {args!r}")
        if "=" in a:
            k, v = a.split("=", 1)
            out.append((k, v))
            i += 1
        else:
            if i + 1 >= len(args):
                raise ValueError(f"flag {a} has no value in {args!r}")
            out.append((a, str(args[i + 1])))
            i += 2
    return out


def flag_map(args):
    """Like flags() but as a dict; a repeated flag is an error (the last one would silently win)."""
    out = {}
    for k, v in flags(args):
        if k in out:
            raise ValueError(f"flag {k} given twice in {args!r}")
        out[k] = v
    return out


def daemon_flags(svc):
    """The flags of a hybridstore daemon: its command without the subcommand."""
    return flag_map((svc.get("command") or [])[1:])


def volume_targets(svc):
    """{target path: source} of a service's volumes, in the resolved 'src:dst:mode' form."""
    out = {}
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out[v["target"]] = v.get("source")
        else:
            parts = str(v).split(":")
            out[parts[1]] = parts[0]
    return out


def health_port(svc):
    """The port a `hs-healthcheck PORT PATH [EXPECT]` healthcheck probes, or None."""
    test = (svc.get("healthcheck") or {}).get("test") or []
    if len(test) >= 4 and test[0] == "CMD" and test[1] == "hs-healthcheck":
        return int(test[2])
    return None
