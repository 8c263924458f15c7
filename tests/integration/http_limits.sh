#!/usr/bin/env bash
# The HTTP API of a running daemon against what an attacker sends, at the default 32 MiB
# body limit: every bad or missing bearer token is 401 on every /v1 route; a 34 MiB body
# (with a Content-Length, or chunked) and zstd bombs (512 MiB of zeros in 16 KiB, and a frame
# asking for a 2 GiB window) are 413 with a JSON error, and five rounds of them leave the
# daemon's resident memory where one round left it; with many idle connections held open
# (slowloris: partial headers, or headers and a trickle of body) /healthz still answers and
# a job is still accepted.
# usage: http_limits.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA SANITIZED(0|1)
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 sanitized=${5:-0}
. "$(dirname "$0")/engine.sh"
command -v python3 >/dev/null || { echo "http_limits.sh: needs python3" >&2; exit 1; }

start_mock
printf 'limits-token-synthetic\n' >"$T/http.token"
chmod 600 "$T/http.token"
write_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token
log_level = info"
export CARTEIRO_SPOOL=$T/spool.db
start_ct
listening() { grep -q 'http: listening on 127.0.0.1:' "$T/run.log"; }
wait_until 10 listening || { fail "no 'http: listening' line"; sed 's/^/  run: /' "$T/run.log" >&2; }
port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
api=http://127.0.0.1:$port
token=limits-token-synthetic
code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 30 "$@" || true; }
"$gen" --count 1 --seed 91 --profile bank --format jsonl --out "$T/job.json"

# ---- tokens ----------------------------------------------------------------------------------
bad_headers=("" "Authorization: Bearer" "Authorization: Basic $token" "Authorization: $token"
  "Authorization: Bearer ${token}x" "Authorization: Bearer ${token%?}" "Authorization: Bearer  $token"
  "Authorization: Bearer $(tr a-z A-Z <<<"$token")")
for h in "${bad_headers[@]}"; do
  args=(); [ -n "$h" ] && args=(-H "$h")
  got="$(code "${args[@]}" -H 'content-type: application/json' --data-binary @"$T/job.json" "$api/v1/jobs")"
  got="$got $(code "${args[@]}" "$api/v1/jobs/inv-00000001") $(code "${args[@]}" "$api/v1/status")"
  expect_eq "401 everywhere for [${h:-no header}]" "401 401 401" "$got"
done
expect_eq "401 says why" "missing or wrong bearer token" "$(jq -r .error "$T/body")"
expect_eq "nothing stored without the token" 0 "$(sqlite3 "$CARTEIRO_SPOOL" 'select count(*) from job')"

# ---- bodies over the limit ---------------------------------------------------------------
head -c $((34 << 20)) /dev/zero | tr '\0' ' ' >"$T/big.json"
head -c $((512 << 20)) /dev/zero | zstd -q -3 >"$T/bomb.zst"
head -c $((64 << 20)) /dev/zero | zstd -q -3 --long=31 >"$T/wide.zst"
expect_eq "the bomb is small" 1 "$(($(stat -c %s "$T/bomb.zst") < 64 * 1024))"
auth=(-H "Authorization: Bearer $token" -H 'content-type: application/json')
one_round() {
  local a b c d
  a=$(code "${auth[@]}" --data-binary @"$T/big.json" "$api/v1/jobs")
  [ "$a" = 413 ] && [ "$(jq -r .error "$T/body")" = "body larger than the limit" ] || a="$a:$(head -c 200 "$T/body")"
  b=$(code "${auth[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big.json" "$api/v1/jobs")
  # h2o may close the connection while curl still sends: then curl reports no status
  [ "$b" = 413 ] || [ "$b" = 000 ] && b=413
  c=$(code "${auth[@]}" -H 'Content-Encoding: zstd' --data-binary @"$T/bomb.zst" "$api/v1/jobs")
  [ "$c" = 413 ] && [ "$(jq -r .error "$T/body")" = "decompressed body larger than the limit" ] || c="$c:$(head -c 200 "$T/body")"
  d=$(code "${auth[@]}" -H 'Content-Encoding: zstd' --data-binary @"$T/wide.zst" "$api/v1/jobs")
  [ "$d" = 413 ] || d="$d:$(head -c 200 "$T/body")"
  echo "$a $b $c $d"
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$ct_pid/status"; }
expect_eq "first round: 413 for each" "413 413 413 413" "$(one_round)"
expect_eq "413 from h2o is JSON" "application/json" \
  "$(curl -s -o /dev/null -w '%{content_type}' --max-time 30 "${auth[@]}" --data-binary @"$T/big.json" "$api/v1/jobs")"
rss0=$(rss_kb)
for i in $(seq 5); do
  got=$(one_round)
  [ "$got" = "413 413 413 413" ] || fail "round $i: $got"
done
rss1=$(rss_kb)
echo "  resident memory after one round ${rss0} KiB, after five more ${rss1} KiB"
if [ "$sanitized" = 0 ]; then
  # jemalloc keeps freed pages a while; what must not happen is growth with every round
  expect_eq "no memory growth over five rounds (${rss0} -> ${rss1} KiB)" true \
    "$([ $((rss1 - rss0)) -lt $((16 * 1024)) ] && echo true || echo false)"
fi
expect_eq "still nothing stored" 0 "$(sqlite3 "$CARTEIRO_SPOOL" 'select count(*) from job')"

# ---- slowloris -----------------------------------------------------------------------------
# Idle connections, as many as the file limit leaves room for (at most 1000): half stop in
# the middle of the headers, half announce a large body and send a byte of it. While they
# are all open, /healthz answers and a job is accepted.
limit=$(ulimit -n)
conns=$(( limit > 1300 ? 1000 : limit - 300 ))
python3 - "$port" "$conns" "$T/slow.ready" "$T/slow.done" >"$T/slow.out" 2>&1 <<'PY' &
import socket, sys, time, os
port, n, ready, done = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if i % 2 == 0:
        s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bea")
    else:
        s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000000\r\n\r\n{")
    socks.append(s)
open(ready, "w").write(str(len(socks)))
deadline = time.time() + 60
while not os.path.exists(done) and time.time() < deadline:
    time.sleep(0.05)
# how many the daemon kept open all along (a closed one reads as end of file)
alive = 0
for s in socks:
    s.setblocking(False)
    try:
        alive += s.recv(1) == b"" and 0 or 1
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print("opened", len(socks), "still open", alive)
PY
slow_pid=$!
slow_ready() { [ -s "$T/slow.ready" ]; }
wait_until 60 slow_ready || fail "the idle connections were not all opened: $(cat "$T/slow.out")"
expect_eq "idle connections opened" "$conns" "$(cat "$T/slow.ready" 2>/dev/null)"
expect_eq "healthz answers beside $conns idle connections" "200 ok" \
  "$(curl -s --max-time 10 -w '%{http_code}' -o "$T/hz" "$api/healthz") $(cat "$T/hz")"
expect_eq "a job is accepted beside them" 202 \
  "$(code -H "Authorization: Bearer $token" -H 'content-type: application/json' --data-binary @"$T/job.json" "$api/v1/jobs")"
touch "$T/slow.done"
wait "$slow_pid" || true
sed 's/^/  slowloris: /' "$T/slow.out"

stop_ct 20
expect_eq "exit status on SIGTERM" 0 "$ct_status"
finish
