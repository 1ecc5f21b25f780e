#!/bin/bash
# hs-healthcheck.sh - container health probe, installed as /usr/local/bin/hs-healthcheck in the
# hybridstore, etcd and nginx images and called by the compose healthchecks.
#
#   hs-healthcheck PORT PATH [EXPECT]
#
# Sends `GET PATH` to 127.0.0.1:PORT and exits 0 only if the status is 200 and, when EXPECT is
# given, some line of the response contains EXPECT (etcd answers 200 with {"health":"false"} in
# some states, so its probe must look at the body). Exits 1 otherwise.
#
# Why bash and /dev/tcp rather than curl: every image is built from debian:bookworm-slim, which has
# bash but no curl binary, and the runtime images should hold only what the service needs. Bash
# opens no connection with a timeout of its own; the compose healthcheck's `timeout` kills a probe
# that hangs (for example against a SIGSTOPped process whose kernel still accepts connections).
set -u

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: hs-healthcheck PORT PATH [EXPECT]" >&2
    exit 2
fi
port=$1
path=$2
expect=${3:-}

exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || exit 1
# HTTP/1.0 + Connection: close: the server ends the response by closing, so reading to EOF is safe.
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$path" "$port" >&3

IFS= read -r -t 5 status <&3 || exit 1
case $status in
    "HTTP/1."[01]" 200"*) ;;
    *) exit 1 ;;
esac
[ -z "$expect" ] && exit 0

# The last line of a body usually has no newline: read then fails but still fills `line`.
while IFS= read -r -t 5 line || [ -n "$line" ]; do
    case $line in
        *"$expect"*) exit 0 ;;
    esac
    line=
done <&3
exit 1
