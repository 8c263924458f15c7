#!/usr/bin/env bash
# bench/soak.sh in miniature, to keep the harness honest (the soak itself is a benchmark, with
# its figures in bench/RESULTS.md):
#   1. 50 s with a 5 s provider outage at 3 s and a kill -9 at 25 s: exit 0, every criterion
#      true, and the summary's account adds up: every acknowledged job delivered, the mock saw
#      each once (unique keys) and had one outage, two lives (killed, stopped), the duplicate
#      bound = the lives' unanswered + one max_inflight, integrity ok;
#   2. a run that must fail: a tenth of the recipients refused for good (the mock's reject), so
#      jobs go dead: exit 1, the `dead` criterion false with the reason named, every other
#      criterion true, nothing lost.
# usage: bench_soak.sh BUILD_DIR (the one holding bin/carteiro, bin/mock-provider, ...)
. "$(dirname "$0")/lib.sh"
build=$1
soak=$(dirname "$0")/../../bench/soak.sh

rc=0
# 40 jobs in flight at 100 ms: at most 400 deliveries a second against 1,000 offered, so the
# daemon is busy (RSS is judged between busy samples) and the high-water mark of 3,000 READY
# jobs answers 503 to the producer.
bash "$soak" --build "$build" --duration 50 --rate 1000 --prefill 2000 --backlog 3000 \
  --max-inflight 40 --latency 100 --kill-every 25 --outage-at 3 --outage 5 \
  --provider-set 'breaker_cooldown = 1s' --warmup 8 --rss-window 6 --rss-growth 50 --sample 2 \
  --drain-timeout 120 --out "$T/pass.json" >"$T/pass.stdout" 2>"$T/pass.log" || rc=$?
expect_eq "run 1: exit status" 0 "$rc"
[ "$rc" = 0 ] || tail -20 "$T/pass.log" >&2
r() { jq -r "$1" "$T/pass.json"; }
expect_eq "run 1: stdout is the summary" "$(jq -c . "$T/pass.json")" "$(jq -c . "$T/pass.stdout")"
expect_eq "run 1: criteria" '{"lost":true,"dead":true,"duplicates":true,"rss":true,"integrity":true,"crashes":true,"seen":true}' \
  "$(r '.criteria | tojson')"
expect_eq "run 1: pass" true "$(r .pass)"
acked=$(r .jobs.acknowledged)
expect_eq "run 1: prefill and batches acknowledged (more than the prefill)" true \
  "$(r ".jobs.acknowledged > 2000 and (.jobs.acknowledged - 2000) % 500 == 0")"
expect_eq "run 1: the high-water mark refused batches" true "$(r '.run.ingest_refusals["503"] > 0')"
expect_eq "run 1: busy most of the time" true "$(r '.run.busy_samples_pct >= 50')"
expect_eq "run 1: delivered" "$acked" "$(r .jobs.delivered)"
expect_eq "run 1: lost, dead, ready" "0 0 0" "$(r '"\(.jobs.lost) \(.jobs.dead) \(.jobs.ready)"')"
expect_eq "run 1: the mock saw each job once" "$acked" "$(r .mock.unique_keys)"
expect_eq "run 1: one outage" 1 "$(r .mock.outages)"
# times are whole seconds from the start, as late as a loaded machine makes them, never early
expect_eq "run 1: outage from 3 s on, for 5 s" true \
  "$(r '.run.outage_from_s >= 3 and .run.outage_to_s - .run.outage_from_s == 5')"
expect_eq "run 1: kills" 1 "$(r .run.kills)"
expect_eq "run 1: lives" "killed stopped" "$(r '[.lives[].how] | join(" ")')"
expect_eq "run 1: the kill came at 25 s or later" true "$(r '.lives[0].end_s >= 25')"
expect_eq "run 1: RSS judged in both lives" true "$(r '[.lives[].rss_growth_pct] | all(. != null)')"
expect_eq "run 1: the bound is the lives' unanswered + max_inflight" \
  "$(r '[.lives[].unanswered] | add + 40')" "$(r .duplicates.bound)"
expect_eq "run 1: duplicates accepted within it" true \
  "$(r '.duplicates.duplicates_accepted <= .duplicates.bound')"
expect_eq "run 1: integrity" ok "$(r .integrity)"
expect_eq "run 1: stop status" 0 "$(r .run.stop_status)"
expect_eq "run 1: the human summary" "PASS: true" "$(tail -1 "$T/pass.log")"

rc=0
bash "$soak" --build "$build" --duration 12 --rate 1000 --prefill 2000 --backlog 3000 \
  --max-inflight 40 --latency 100 --kill-every 0 --outage 0 --warmup 2 --rss-window 3 \
  --rss-growth 1000 --sample 2 --reject 0.1 --drain-timeout 120 --out "$T/fail.json" \
  >/dev/null 2>"$T/fail.log" || rc=$?
expect_eq "run 2: exit status" 1 "$rc"
f() { jq -r "$1" "$T/fail.json"; }
expect_eq "run 2: criteria" '{"lost":true,"dead":false,"duplicates":true,"rss":true,"integrity":true,"crashes":true,"seen":true}' \
  "$(f '.criteria | tojson')"
expect_eq "run 2: pass" false "$(f .pass)"
expect_eq "run 2: some dead" true "$(f '.jobs.dead > 0')"
expect_eq "run 2: delivered + dead = acknowledged, none lost" "$(f .jobs.acknowledged) 0" \
  "$(f '"\(.jobs.delivered + .jobs.dead) \(.jobs.lost)"')"
expect_eq "run 2: the reason" "$(f .jobs.dead)" "$(f '.dead_by_reason.permanent_failure')"
expect_eq "run 2: the human summary" "PASS: false" "$(tail -1 "$T/fail.log")"

finish
