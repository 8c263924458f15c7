#!/usr/bin/env bash
# The spool's disk fills up while carteiro delivers (issue 11, item 3 and a bullet of item 6),
# on a real 8 MiB tmpfs this test mounts:
#
#   CLI:      `carteiro enqueue --json` stops at the full disk with exit 74, a clear message,
#             "complete": false and "error": "spool disk full"; every job it acknowledged is
#             stored.
#   daemon:   outcomes that cannot be committed go to the outcome journal: /readyz answers 503
#             saying why, carteiro_spool_commit_failures_total > 0, no new jobs are taken (the
#             mock sees no new requests once nothing is in flight), the API answers 503 +
#             Retry-After and the daemon stays alive.
#   SIGTERM:  it exits 0 within shutdown_grace + 5 s (a liveness bound, not a speed test).
#   restart:  with the disk still full nothing is sent; once there is room again (files
#             removed, the volume grown), the journal is recorded before any take, every acknowledged job is delivered, and no message is
#             sent twice beyond the requests cut off unanswered at the stop (the report's
#             `unanswered` counters); PRAGMA integrity_check is ok.
#
# Mounting needs root (CAP_SYS_ADMIN); without it the test says so and is skipped (77).
# usage: spool_diskfull.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

disk=$T/disk
mkdir -p "$disk"
if ! mount -t tmpfs -o size=8m,mode=0700 tmpfs "$disk" 2>"$T/mount.err"; then
  echo "SKIP: cannot mount a tmpfs for the full-disk test (needs root): $(cat "$T/mount.err")"
  rm -rf "$T"
  trap - EXIT
  exit 77
fi
# Unmount before engine.sh's stop_all removes $T (a full tmpfs is no place for logs).
# Only our two children are waited for: a bare `wait` would also wait for the tee that keeps
# this test's own output (lib.sh), which ends only when the test does.
unmount_disk() {
  for pid in $ct_pid $mock_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if mountpoint -q "$disk"; then umount "$disk" || umount -l "$disk"; fi
  stop_all
}
trap unmount_disk EXIT

export MAX_INFLIGHT=200 SHUTDOWN_GRACE=5s LOG_LEVEL=info
# every lease may have to settle into the journal: max_inflight + gap_wait_max of them (a small
# gap_wait_max keeps the reservation inside the 8 MiB disk)
gap_wait_max=100
grace_s=5
stop_margin_s=5
start_mock --latency "whatsapp=60" --latency "twilio=60" --latency "sendgrid=60" \
  --records 100000
printf 'ingest-token-synthetic\n' >"$T/http.token"
write_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token
min_free_disk_mb = 0
gap_wait_max = $gap_wait_max"
sed -i "s#^spool = .*#spool = $disk/spool.db#" "$T/carteiro.ini"
export CARTEIRO_SPOOL=$disk/spool.db

count=3000
"$gen" --count "$count" --seed 21 --profile mixed --format jsonl --out "$T/jobs.jsonl"
"$gen" --count 20000 --seed 22 --start-id 100000 --profile mixed --format jsonl --out "$T/fill.jsonl"
"$ct" enqueue --quiet "$T/jobs.jsonl"

code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 10 "$@"; }
metric() { code "$api/metrics" >/dev/null; awk -v m="$1" '$1 == m { print $2 }' "$T/body"; }
# start_api: starts carteiro in the background and waits for its HTTP port ($api).
start_api() {
  start_ct --report
  listening() { grep -q 'http: listening on 127.0.0.1:' "$T/run.log"; }
  wait_until 20 listening || { fail "no 'http: listening' line"; sed 's/^/  run: /' "$T/run.log" >&2; }
  api=http://127.0.0.1:$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
}
sqlite_count() { sqlite3 "file:$disk/spool.db?mode=ro" "$1"; }

# ---- 1. the daemon delivers; the disk fills under it ---------------------------------------------
start_api
some_answered() { [ "$(mock_stat .total.ok)" -ge 400 ]; }
wait_until 60 some_answered || fail "the mock did not answer 400 messages within 60 s"
expect_eq "ready while the disk has room" 200 "$(code "$api/readyz")"

# `carteiro enqueue` fills the disk, as a billing cycle imported at the wrong moment would: its
# 20,000 jobs need more than the 8 MiB. The daemon writes to the same disk meanwhile (its WAL
# grows by up to ~4 MiB between checkpoints), so no room is handed out to a plain file first:
# the enqueue then always finds room for its first transactions, and --batch 100 keeps those
# small enough to commit before the disk is full.
expect_status "enqueue onto a full disk: exit 74" 74 "$ct" enqueue --json --batch 100 "$T/fill.jsonl"
jq -c '.files[0] | del(.errors, .duplicate_ids)' "$T/out"
filled=$(jq -r '.files[0].enqueued' "$T/out")
expect_eq "enqueue --json: complete" false "$(jq -r '.files[0].complete' "$T/out")"
expect_eq "enqueue --json: the file's error" "spool disk full" "$(jq -r '.files[0].error' "$T/out")"
expect_eq "enqueue --json: the command's error" "spool disk full" "$(jq -r '.error' "$T/out")"
expect_eq "enqueue --json: stored some, not all ($filled)" true \
  "$([ "$filled" -gt 0 ] && [ "$filled" -lt 20000 ] && echo true || echo false)"
expect_eq "enqueue: the message names the cause" 1 \
  "$(grep -c "^carteiro enqueue: spool $disk/spool.db: no space left on device; $filled jobs of $T/fill.jsonl were stored before this" "$T/err")"
expect_eq "every job enqueue acknowledged is stored" "$filled" \
  "$(sqlite_count "select count(*) from job where id >= 'inv-00100000'")"
# Whatever room is left goes too.
dd if=/dev/zero of="$disk/filler2" bs=4k status=none 2>/dev/null || true
expect_eq "the disk is full" 0 "$(df --output=avail -k "$disk" | tail -1 | tr -d ' ')"

failing() { [ "$(code "$api/readyz")" = 503 ] && [ "$(metric carteiro_spool_commits_failing)" = 1 ]; }
wait_until 60 failing || fail "readyz did not turn 503 with commits failing within 60 s"
code "$api/readyz" >/dev/null
expect_eq "readyz says why" "spool cannot commit outcomes (disk full or failing); taking no new jobs" "$(cat "$T/body")"
commit_failures=$(metric carteiro_spool_commit_failures_total)
expect_eq "commit failures counted ($commit_failures)" true \
  "$([ "${commit_failures:-0}" -gt 0 ] && echo true || echo false)"
journaled=$(metric carteiro_spool_journal_outcomes)
echo "commits failing: $commit_failures failures, $journaled outcomes in the journal ($(metric carteiro_spool_journal_used_bytes) bytes of $(metric carteiro_spool_journal_capacity_bytes))"
expect_eq "journal capacity: (max_inflight + gap_wait_max) x 2 KiB" $(((MAX_INFLIGHT + gap_wait_max) * 2048)) "$(metric carteiro_spool_journal_capacity_bytes)"

# Nothing new is taken: once the jobs in flight are done, the mock hears nothing more.
idle() { [ "$(metric carteiro_inflight_jobs)" = 0 ]; }
wait_until 60 idle || fail "jobs still in flight 60 s after commits began to fail"
requests=$(mock_stat .total.requests)
sleep 2
expect_eq "no request while commits fail" "$requests" "$(mock_stat .total.requests)"

# The API: 503 + Retry-After, nothing stored, and the daemon alive.
jq -s -c '.[0:2] | map(.id |= "api-" + .)' "$T/jobs.jsonl" >"$T/api.json"
status=$(curl -s -D "$T/headers" -o "$T/body" -w '%{http_code}' --max-time 10 -X POST \
  -H "Authorization: Bearer ingest-token-synthetic" -H 'content-type: application/json' \
  --data-binary @"$T/api.json" "$api/v1/jobs")
expect_eq "API on a full disk: 503" 503 "$status"
expect_eq "API on a full disk: Retry-After" 1 "$(grep -ci '^retry-after: [0-9]' "$T/headers")"
expect_eq "API on a full disk: daemon alive" 200 "$(code "$api/healthz")"
expect_eq "API on a full disk: nothing stored" 0 "$(sqlite_count "select count(*) from job where id like 'api-%'")"

# ---- 2. SIGTERM ends within the grace, whatever the disk does -------------------------------------
t0=$(now_ms)
stop_ct $((grace_s + stop_margin_s + 20))
took=$(($(now_ms) - t0))
echo "SIGTERM on a full disk: exit $ct_status after $took ms"
expect_eq "SIGTERM on a full disk: exit status" 0 "$ct_status"
expect_eq "SIGTERM on a full disk: exited within shutdown_grace + ${stop_margin_s}s ($took ms)" true \
  "$([ "$took" -le $(((grace_s + stop_margin_s) * 1000)) ] && echo true || echo false)"
cp "$T/run.out" "$T/report1.json"
unanswered=$(jq -r '[.unanswered[]] | add' "$T/report1.json")
delivered1=$(jq -r .delivered "$T/report1.json")
grep -h 'outcome journal\|cannot be committed\|could not be recorded' "$T/run.log" | cut -c1-220 >&2 || true

# ---- 3. restart with the disk still full: nothing is sent -----------------------------------------
requests=$(mock_stat .total.requests)
start_ct --report
# It either cannot open the spool at all (and says so) or opens it, cannot record the journal
# and takes nothing; either way, not a single request.
up_or_gone() { grep -q 'http: listening on' "$T/run.log" || ! kill -0 "$ct_pid" 2>/dev/null; }
wait_until 20 up_or_gone || true
sleep 2
expect_eq "restart on a full disk: no request" "$requests" "$(mock_stat .total.requests)"
if kill -0 "$ct_pid" 2>/dev/null; then
  api=http://127.0.0.1:$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
  expect_eq "restart on a full disk: not ready" 503 "$(code "$api/readyz")"
  t0=$(now_ms)
  stop_ct $((grace_s + stop_margin_s + 20))
  took=$(($(now_ms) - t0))
  expect_eq "restart on a full disk: SIGTERM exit status" 0 "$ct_status"
  expect_eq "restart on a full disk: exited within shutdown_grace + ${stop_margin_s}s ($took ms)" true \
    "$([ "$took" -le $(((grace_s + stop_margin_s) * 1000)) ] && echo true || echo false)"
else
  stop_ct 1
  echo "restart on a full disk: carteiro exited $ct_status: $(grep -m1 '"error"' "$T/run.log" | cut -c1-200)"
  expect_eq "restart on a full disk: refused to start" true "$([ "$ct_status" != 0 ] && echo true || echo false)"
fi
expect_eq "restart on a full disk: no request at all" "$requests" "$(mock_stat .total.requests)"

# ---- 4. space again: the journal first, then everything is delivered, nothing sent twice ------------
# The spool's own files fill most of the disk by now, so the operator's fix is both: the
# stray files go and the volume grows.
rm -f "$disk/filler" "$disk/filler2"
mount -o remount,size=32m "$disk"
run_drain 120
expect_eq "the journal is recorded at start" 1 "$(grep -c 'recorded [0-9]* outcomes from the outcome journal' "$T/run.log")"
total=$((count + filled))
expect_eq "delivered in all (first run $delivered1 + drain)" "$total" "$(spool_stat .delivered)"
expect_eq "none dead" 0 "$(spool_stat .dead)"
expect_eq "none left" 0 "$(spool_stat .ready)"
expect_eq "every acknowledged job stored, once" "$total" "$(sqlite_count "select count(*) from job")"
dups=$(mock_stat .total.duplicates)
echo "messages sent twice: $dups; requests cut off unanswered at the stop: $unanswered"
expect_eq "messages sent twice ($dups) <= unanswered at the stop ($unanswered)" true \
  "$([ "$dups" -le "$unanswered" ] && echo true || echo false)"
expect_eq "integrity_check" ok "$(sqlite3 "$disk/spool.db" 'PRAGMA integrity_check')"

# ---- 5. the API alone on a full disk: 503 + Retry-After, every 202 stored, the daemon alive ---------
# Jobs due tomorrow, so that nothing is delivered and only ingest writes. Batches go in until
# the disk refuses one.
start_api
dd if=/dev/zero of="$disk/filler" bs=1M status=none 2>/dev/null || true
due=$(($(now_ms) + 86400000))
accepted=0 status=202 batches=0
while [ "$status" = 202 ] && [ "$batches" -lt 200 ]; do
  jq -s -c --argjson t "$due" --arg b "$batches" \
    'map(.id |= "api-\($b)-" + . | .not_before_ms = $t)' "$T/jobs.jsonl" >"$T/api.json"
  status=$(curl -s -D "$T/headers" -o "$T/body" -w '%{http_code}' --max-time 30 -X POST \
    -H "Authorization: Bearer ingest-token-synthetic" -H 'content-type: application/json' \
    --data-binary @"$T/api.json" "$api/v1/jobs")
  if [ "$status" = 202 ]; then accepted=$((accepted + $(jq -r .accepted "$T/body"))); fi
  batches=$((batches + 1))
done
echo "API on a full disk: $accepted jobs accepted in $((batches - 1)) batches, then $status: $(head -c 200 "$T/body")"
expect_eq "API on a full disk: refused with 503" 503 "$status"
expect_eq "API on a full disk: with Retry-After" 1 "$(grep -ci '^retry-after: [0-9]' "$T/headers")"
expect_eq "API on a full disk: alive" 200 "$(code "$api/healthz")"
expect_eq "API on a full disk: every accepted job stored" "$accepted" \
  "$(sqlite_count "select count(*) from job where id like 'api-%'")"
stop_ct $((grace_s + stop_margin_s + 20))
expect_eq "API on a full disk: SIGTERM exit status" 0 "$ct_status"
expect_eq "integrity_check after the API filled the disk" ok "$(sqlite3 "file:$disk/spool.db?mode=ro" 'PRAGMA integrity_check')"

finish
