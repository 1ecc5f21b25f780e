#!/bin/sh
# bench_s3_profile.sh DIR [bench s3 options...] - where an S3 request's gateway CPU goes: runs
# `hybridstore bench s3 --cluster-dir DIR` while `perf record` samples every gateway of the
# cluster in DIR, then prints the benchmark's summary lines, the CPU share per library (DSO) and
# the share of the S3-specific work: MD5 / SHA-256 / HMAC (OpenSSL libcrypto: the ETag, the
# signed payload, SigV4), CRC32 (ISA-L: flexible checksums), XML (expat).
# Needs perf (Debian: linux-perf) and root or perf_event_paranoid <= 1. HS_BIN overrides the
# binary (default build/hybridstore).
set -eu
dir=${1:?usage: bench_s3_profile.sh CLUSTER_DIR [bench s3 options]}
shift
bin=${HS_BIN:-build/hybridstore}
out=$(mktemp -d)
pids=$(python3 -c "import json,sys; print(','.join(str(p['pid']) for p in json.load(open(sys.argv[1]))['processes'] if p['role'] == 'gateway' and p.get('status', 'running') == 'running'))" "$dir/cluster.json")
perf record -q -F 499 -g -p "$pids" -o "$out/perf.data" >/dev/null 2>&1 &
perf_pid=$!
sleep 1
"$bin" bench s3 --cluster-dir "$dir" "$@" >"$out/bench.jsonl"
kill -INT "$perf_pid"
wait "$perf_pid" || true
grep '"summary"' "$out/bench.jsonl"
echo "--- gateway CPU by library"
perf report -q -i "$out/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -12
echo "--- S3-specific work (share of all gateway samples; libcrypto is stripped, so by library)"
perf report -q -i "$out/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null >"$out/dso.txt"
for lib in 'libcrypto:MD5, SHA-256, HMAC (ETag, signed payload, SigV4)' \
  'libexpat:XML requests' 'libisal:CRC32C (every write) and S3 CRC32' \
  'hybridstore:the gateway itself'; do
  printf '%-50s %6.2f%%\n' "${lib#*:}" "$(grep "${lib%%:*}" "$out/dso.txt" | awk '{s += $1} END {print s + 0}')"
done
echo "(raw: $out)"
