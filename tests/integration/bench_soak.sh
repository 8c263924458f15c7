#!/usr/bin/env bash
# bench/soak.sh in miniature, to keep the harness honest (the soak itself is a benchmark, with
# its figures in bench/RESULTS.md). About 50 s on an idle machine:
#   1. 28 s with a 4 s provider outage at 2 s and a kill -9 at 10 s: exit 0, every criterion
#      true, and the summary's account adds up: every acknowledged job delivered, the mock saw
#      each once (unique keys) and had one outage, two lives (killed, stopped), RSS judged in
#      the last life, the duplicate bound = the lives' unanswered + one max_inflight,
#      integrity ok;
#   2. a run that must fail: a tenth of the recipients refused for good (the mock's reject), so
#      jobs go dead: exit 1, the `dead` criterion false with the reason named, RSS not judged
#      (--rss-window 0: null), every other criterion true, nothing lost.
# The backlog is small (600 READY jobs, batches of 300) so that each drain takes seconds;
# the outage is far shorter than the attempts' backoff, so it dead-letters nothing even where
# breaker probes count as attempts.
# usage: bench_soak.sh BUILD_DIR (the one holding bin/carteiro, bin/mock-provider, ...)
. "$(dirname "$0")/lib.sh"
build=$1
soak=$(dirname "$0")/../../bench/soak.sh

rc=0
# 40 jobs in flight at 100 ms: at most 400 deliveries a second against 1,000 offered, so the
# daemon is busy (RSS is judged between busy samples) and the high-water mark of 600 READY
# jobs answers 503 to the producer. The last life runs about 18 s: its RSS windows (2 s of
# warm-up, then 6 s; the last 6 s) need 14 s, with room for a late kill, and each window
# holds several samples even when a loaded machine stretches a 1 s sample to 3 s.
bash "$soak" --build "$build" --duration 28 --rate 1000 --batch 300 --prefill 600 \
  --backlog 600 --max-inflight 40 --latency 100 --kill-every 10 --outage-at 2 --outage 4 \
  --provider-set 'breaker_cooldown = 1s' --warmup 2 --rss-window 6 --rss-growth 50 --sample 1 \
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
  "$(r ".jobs.acknowledged > 600 and (.jobs.acknowledged - 600) % 300 == 0")"
expect_eq "run 1: the high-water mark refused batches" true "$(r '.run.ingest_refusals["503"] > 0')"
expect_eq "run 1: busy most of the time" true "$(r '.run.busy_samples_pct >= 50')"
expect_eq "run 1: delivered" "$acked" "$(r .jobs.delivered)"
expect_eq "run 1: lost, dead, ready" "0 0 0" "$(r '"\(.jobs.lost) \(.jobs.dead) \(.jobs.ready)"')"
expect_eq "run 1: the mock saw each job once" "$acked" "$(r .mock.unique_keys)"
expect_eq "run 1: one outage" 1 "$(r .mock.outages)"
# times are whole seconds from the start, as late as a loaded machine makes them, never early
expect_eq "run 1: outage from 2 s on, for 4 s" true \
  "$(r '.run.outage_from_s >= 2 and .run.outage_to_s - .run.outage_from_s == 4')"
expect_eq "run 1: kills" 1 "$(r .run.kills)"
expect_eq "run 1: lives" "killed stopped" "$(r '[.lives[].how] | join(" ")')"
expect_eq "run 1: the kill came at 10 s or later" true "$(r '.lives[0].end_s >= 10')"
expect_eq "run 1: RSS judged in the last life, within 50 %" true \
  "$(r '.lives[-1].rss_growth_pct != null and .lives[-1].rss_growth_pct <= 50')"
expect_eq "run 1: the bound is the lives' unanswered + max_inflight" \
  "$(r '[.lives[].unanswered] | add + 40')" "$(r .duplicates.bound)"
expect_eq "run 1: duplicates accepted within it" true \
  "$(r '.duplicates.duplicates_accepted <= .duplicates.bound')"
expect_eq "run 1: integrity" ok "$(r .integrity)"
expect_eq "run 1: stop status" 0 "$(r .run.stop_status)"
expect_eq "run 1: the human summary" "PASS: true" "$(tail -1 "$T/pass.log")"

rc=0
bash "$soak" --build "$build" --duration 5 --rate 1000 --batch 300 --prefill 600 \
  --backlog 600 --max-inflight 40 --latency 100 --kill-every 0 --outage 0 --rss-window 0 \
  --sample 1 --reject 0.1 --drain-timeout 120 --out "$T/fail.json" \
  >/dev/null 2>"$T/fail.log" || rc=$?
expect_eq "run 2: exit status" 1 "$rc"
f() { jq -r "$1" "$T/fail.json"; }
expect_eq "run 2: criteria" '{"lost":true,"dead":false,"duplicates":true,"rss":null,"integrity":true,"crashes":true,"seen":true}' \
  "$(f '.criteria | tojson')"
expect_eq "run 2: pass" false "$(f .pass)"
expect_eq "run 2: some dead" true "$(f '.jobs.dead > 0')"
expect_eq "run 2: delivered + dead = acknowledged, none lost" "$(f .jobs.acknowledged) 0" \
  "$(f '"\(.jobs.delivered + .jobs.dead) \(.jobs.lost)"')"
expect_eq "run 2: the reason" "$(f .jobs.dead)" "$(f '.dead_by_reason.permanent_failure')"
expect_eq "run 2: the human summary" "PASS: false" "$(tail -1 "$T/fail.log")"

finish
