#!/bin/sh
# deps.sh - make sure the Debian packages hybridstore needs are installed.
# As root: installs what is missing (apt-get). Otherwise: prints the command and fails.
set -eu
PKGS="gcc clang meson ninja-build pkg-config git ca-certificates libisal-dev libmicrohttpd-dev
libjansson-dev libcmocka-dev libcurl4-openssl-dev libxxhash-dev etcd-server etcd-client
nginx-light python3 python3-pytest python3-requests python3-yaml docker-compose clang-format
libclang-rt-14-dev curl procps libssl-dev libexpat1-dev awscli python3-boto3 rclone s3cmd
libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler"
missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "hybridstore needs these Debian packages:$missing" >&2
  echo "run as root: apt-get update && apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
