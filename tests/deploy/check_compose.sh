#!/bin/sh
# check_compose.sh - validates deploy/ without a Docker engine (there is none on our machines):
#   1. docker-compose 1.29 (v1) accepts deploy/docker-compose.yaml (`config -q`), and rejects a copy
#      that uses a compose-spec-only key, which shows the check guards the v1.29 subset;
#   2. the resolved file has the reference topology and only flags the binaries know
#      (check_topology.py, which also proves it rejects ten broken variants);
#   3. `nginx -t` accepts deploy/nginx.conf with the gateway names and paths made local;
#   4. the compose argv of every process runs on 127.0.0.1 and passes the compose healthchecks
#      (boot_topology.py: 3 etcd, 6 nodes, and gateways/healers/nginx once the binary has them).
#
# usage: tests/deploy/check_compose.sh        (HS_BUILD_DIR=<meson build dir>, default ./build)
# Installs nothing. Needs docker-compose, nginx, etcd, python3-yaml and a built hybridstore.
# Exit 0 if everything passed, 1 otherwise.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tests/deploy"
HS_BIN="$(cd "${HS_BUILD_DIR:-$ROOT/build}" 2>/dev/null && pwd)/hybridstore" || HS_BIN=""
PYTHON=${PYTHON:-/usr/bin/python3}
COMPOSE_FILE_PATH="$ROOT/deploy/docker-compose.yaml"

die() {
    echo "check_compose: FAIL $*" >&2
    exit 1
}

if ! command -v docker-compose >/dev/null 2>&1; then
    echo "check_compose: docker-compose is not installed. As root run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends docker-compose" >&2
    exit 1
fi
for tool in nginx etcd; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/deps.sh installs it)"
done
if [ -z "$HS_BIN" ] || [ ! -x "$HS_BIN" ]; then
    die "no hybridstore binary: build first or set HS_BUILD_DIR"
fi

# What is checked must not depend on the caller's environment (these change the resolved file;
# step 1 sets HS_CLUSTER_SECRET_FILE to a secret of its own).
unset HS_CLUSTER_SECRET_FILE HS_ETCD_TOKEN HS_TAG COMPOSE_FILE COMPOSE_PROJECT_NAME \
    COMPOSE_PATH_SEPARATOR DOCKER_HOST 2>/dev/null || true
export PYTHONDONTWRITEBYTECODE=1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hs-check-compose.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

# ---- 1. docker-compose v1.29 validation ---------------------------------------------------------
# The compose file has no default secret (the example once shipped is public): without
# HS_CLUSTER_SECRET_FILE it must refuse, with it (a fresh random secret) it must validate.
if docker-compose -f "$COMPOSE_FILE_PATH" config -q >"$TMP/nosecret.out" 2>&1; then
    die "docker-compose accepted the file without HS_CLUSTER_SECRET_FILE (a default secret?)"
fi
grep -q 'HS_CLUSTER_SECRET_FILE' "$TMP/nosecret.out" ||
    die "no HS_CLUSTER_SECRET_FILE error without it: $(cat "$TMP/nosecret.out")"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/cluster_secret"
chmod 0600 "$TMP/cluster_secret"
export HS_CLUSTER_SECRET_FILE="$TMP/cluster_secret"
docker-compose -f "$COMPOSE_FILE_PATH" config -q || die "docker-compose config -q rejected the file"
sed 's/^\(\( *\)start_period: 20s\)$/\1\n\2start_interval: 1s/' "$COMPOSE_FILE_PATH" \
    >"$TMP/newer.yaml"
grep -q 'start_interval' "$TMP/newer.yaml" || die "could not build the start_interval variant"
if docker-compose -f "$TMP/newer.yaml" --project-directory "$ROOT/deploy" config -q \
    >"$TMP/newer.out" 2>&1; then
    die "docker-compose accepted healthcheck.start_interval: it is not the v1.29 validator"
fi
grep -q 'start_interval' "$TMP/newer.out" ||
    die "the start_interval variant failed for another reason: $(cat "$TMP/newer.out")"
echo "check_compose: docker-compose config -q: ok (and rejects healthcheck.start_interval)"

# ---- 2. Dockerfiles: every COPY source exists in its build context ------------------------------
# (deploy/Dockerfile: the repository root, and BuildKit sends only what Dockerfile.dockerignore
# re-includes; etcd/nginx.Dockerfile: deploy/). A renamed source file fails here, not in a build.
check_copies() { # DOCKERFILE CONTEXT [DOCKERIGNORE]
    awk '$1 == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) print $i }' "$1" >"$TMP/copies"
    [ -s "$TMP/copies" ] || die "$1: no COPY found"
    while IFS= read -r src; do
        [ -e "$2/$src" ] || die "$1: COPY source $src is not in the context $2"
        if [ -n "${3:-}" ] && ! grep -qx "!${src%/}" "$3"; then
            die "$1: COPY source $src is excluded by $3"
        fi
    done <"$TMP/copies"
}
check_copies "$ROOT/deploy/Dockerfile" "$ROOT" "$ROOT/deploy/Dockerfile.dockerignore"
check_copies "$ROOT/deploy/etcd.Dockerfile" "$ROOT/deploy"
check_copies "$ROOT/deploy/nginx.Dockerfile" "$ROOT/deploy"
echo "check_compose: Dockerfile COPY sources: ok"

# ---- 3. topology --------------------------------------------------------------------------------
docker-compose -f "$COMPOSE_FILE_PATH" config >"$TMP/resolved.yaml"
"$PYTHON" "$HERE/check_topology.py" "$TMP/resolved.yaml" "$ROOT/deploy/nginx.conf" "$HS_BIN" ||
    die "topology"

# ---- 4. nginx -t --------------------------------------------------------------------------------
# nginx -t resolves upstream names, so the gateways become loopback ports (nothing needs to listen
# there for -t), the writable paths move into the temp dir and the listener onto 127.0.0.1.
mkdir -p "$TMP/nginx"
sed -e "s#/var/cache/nginx#$TMP/nginx#g" \
    -e 's#gateway\([0-9][0-9]*\):8080#127.0.0.1:1808\1#g' \
    -e 's#gateway\([0-9][0-9]*\):9000#127.0.0.1:1900\1#g' \
    -e 's#listen 8000;#listen 127.0.0.1:18000;#' \
    "$ROOT/deploy/nginx.conf" >"$TMP/nginx.conf"
if grep -q -e 'gateway[0-9]' -e '/var/cache/nginx' "$TMP/nginx.conf"; then
    die "nginx.conf: names or paths the substitution does not cover"
fi
nginx -t -p "$TMP/nginx" -c "$TMP/nginx.conf" >"$TMP/nginx-t.out" 2>&1 ||
    die "nginx -t: $(cat "$TMP/nginx-t.out")"
grep -q 'syntax is ok' "$TMP/nginx-t.out" || die "nginx -t: $(cat "$TMP/nginx-t.out")"
echo "check_compose: nginx -t deploy/nginx.conf: ok"

# ---- 5. the compose command lines, run on loopback ----------------------------------------------
"$PYTHON" "$HERE/boot_topology.py" "$TMP/resolved.yaml" "$HS_BIN" "$ROOT/deploy/hs-healthcheck.sh" \
    "$ROOT/deploy/nginx.conf" || die "boot"

echo "check_compose: all deploy checks passed"
