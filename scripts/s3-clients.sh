#!/bin/sh
# s3-clients.sh DIR - make sure the real S3 clients the tests drive are installed: Debian's awscli,
# python3-boto3, rclone and s3cmd (scripts/deps.sh installs those) and the newest
# @aws-sdk/client-s3 from npm with its @aws-sdk/lib-storage (multipart uploads of streams of
# unknown length), installed under DIR/node_modules (no version pinned: the point is to test the
# SDK's current defaults). Re-installs from npm at most once a day.
set -eu
dir=${1:?usage: s3-clients.sh DIR}
mkdir -p "$dir"
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "s3-clients: npm is missing; run as root: apt-get install -y npm" >&2
    exit 1
  fi
  echo "s3-clients: installing npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
stamp="$dir/node_modules/@aws-sdk/client-s3/package.json"
if [ -f "$stamp" ] && [ -f "$dir/node_modules/@aws-sdk/lib-storage/package.json" ] &&
  [ -z "$(find "$stamp" -mtime +0 2>/dev/null)" ]; then
  exit 0
fi
echo "s3-clients: npm install @aws-sdk/client-s3 @aws-sdk/lib-storage into $dir" >&2
npm install --no-audit --no-fund --no-save --loglevel=error --prefix "$dir" \
  @aws-sdk/client-s3 @aws-sdk/lib-storage >/dev/null
touch "$stamp"
