#!/usr/bin/env bash
# The WhatsApp recipient gap waited out without an in-flight slot (gap_wait in src/worker/task.h).
#
#  1. With max_inflight = 4, jobs between their two WhatsApp messages give back their slot:
#     more than 4 jobs are at once between their first and second message (a job holding its
#     slot for the gap allows at most 4), and still no recipient gets its second message
#     sooner than recipient_gap after the first. With gap_wait_max = 0 (the slot kept for the
#     gap) at most 4 are, which is what phase 1 would see without the feature.
#  2. A restart while every job waits out its gap: SIGTERM puts them back with their progress,
#     the next run sends only the second messages (no first message twice), each no sooner
#     than the gap after the first.
#
# Times come from the mock's records (at_ms, when it received each message); carteiro counts
# the gap from when it saw the first message accepted, which is later, so "second - first >=
# gap" holds whatever the machine's load. Nothing asserts a speed.
# usage: delivery_gap.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"
export CARTEIRO_SPOOL=$T/spool.db

# gap_report GAP_MS: from the mock's WhatsApp messages accepted, one line
# "MESSAGES RECIPIENTS TWO_EACH TOO_EARLY MAX_OPEN": recipients with exactly two messages,
# second messages sooner than GAP_MS after the first, and the most recipients at once between
# their first and second message.
gap_report() {
  mock_received 0 >"$T/received.json"
  jq -r --argjson gap "$1" '
    [.records[] | select(.endpoint == "whatsapp_messages" and .outcome == "ok")] as $m
    | ($m | group_by(.recipient) | map(sort_by(.at_ms))) as $by
    | ($by | map(select(length == 2))) as $two
    | ([$two[] | select(.[1].at_ms - .[0].at_ms < $gap)] | length) as $early
    | ([$two[] | {t: .[0].at_ms, d: 1}, {t: .[1].at_ms, d: -1}]
       | sort_by(.t, .d) | reduce .[] as $e ({n: 0, max: 0};
           .n += $e.d | .max = ([.max, .n] | max)) | .max) as $open
    | "\($m | length) \($by | length) \($two | length) \($early) \($open)"' "$T/received.json"
}

# ---- 1. the slot is given back for the gap --------------------------------------------------
n=24
"$gen" --count $n --seed 91 --profile telco --channels whatsapp --format jsonl --out "$T/wa.jsonl"
start_mock
MAX_INFLIGHT=4 TAKE_BATCH=4 WA_GAP=3s write_config "gap_wait_max = 100"
"$ct" enqueue --quiet "$T/wa.jsonl"
run_drain 120
expect_eq "phase 1: delivered" $n "$(report .delivered)"
read -r msgs recips two early open <<<"$(gap_report 3000)"
expect_eq "phase 1: WhatsApp messages accepted" $((2 * n)) "$msgs"
expect_eq "phase 1: recipients with exactly two messages" "$n $n" "$recips $two"
expect_eq "phase 1: second messages sooner than the gap" 0 "$early"
if [ "$open" -le 4 ]; then
  fail "phase 1: at most $open jobs were between their two messages at once (max_inflight 4): the gap held their slots"
fi
echo "phase 1: up to $open jobs between their two messages at once, max_inflight 4"

# The same with gap_wait_max = 0: the gap holds the slot, so never more than max_inflight.
n0=8
"$gen" --count $n0 --seed 92 --start-id 101 --profile telco --channels whatsapp --format jsonl \
  --out "$T/wa0.jsonl"
stop_mock
start_mock
rm -f "$T"/spool.db*
MAX_INFLIGHT=4 TAKE_BATCH=4 WA_GAP=1s write_config "gap_wait_max = 0"
"$ct" enqueue --quiet "$T/wa0.jsonl"
run_drain 120
expect_eq "gap_wait_max 0: delivered" $n0 "$(report .delivered)"
read -r msgs recips two early open <<<"$(gap_report 1000)"
expect_eq "gap_wait_max 0: messages, two each, none early" "$((2 * n0)) $n0 0" "$msgs $two $early"
if [ "$open" -gt 4 ]; then
  fail "gap_wait_max 0: $open jobs between their two messages at once, over max_inflight 4"
fi

# ---- 2. a restart while the jobs wait out their gap ------------------------------------------
n2=10 gap_s=8
"$gen" --count $n2 --seed 93 --start-id 201 --profile telco --channels whatsapp --format jsonl \
  --out "$T/wa2.jsonl"
stop_mock
start_mock
rm -f "$T"/spool.db*
MAX_INFLIGHT=20 WA_GAP=${gap_s}s write_config "gap_wait_max = 100"
"$ct" enqueue --quiet "$T/wa2.jsonl"
start_ct
firsts() { [ "$(mock_stat '.endpoints.whatsapp_messages.outcomes.ok // 0')" -ge $n2 ]; }
wait_until 60 firsts || fail "phase 2: the first messages did not all arrive within 60 s"
stop_ct
expect_eq "phase 2: SIGTERM during the gap exits 0" 0 "$ct_status"
expect_eq "phase 2: only first messages before the restart" $n2 \
  "$(mock_stat '.endpoints.whatsapp_messages.outcomes.ok // 0')"
expect_eq "phase 2: every job back in the spool, ready" $n2 "$(spool_stat .ready)"
id=$(jq -r .id "$T/wa2.jsonl" | head -1)
expect_eq "phase 2: its progress is in the spool (one WhatsApp part)" 1 \
  "$(job_field "$id" '[(.receipt.parts // [])[] | select(.channel == "whatsapp")] | length')"
run_drain 120
expect_eq "phase 2: delivered after the restart" $n2 "$(report .delivered)"
read -r msgs recips two early open <<<"$(gap_report $((gap_s * 1000)))"
expect_eq "phase 2: no first message sent twice" $((2 * n2)) "$msgs"
expect_eq "phase 2: recipients with exactly two messages" "$n2 $n2" "$recips $two"
expect_eq "phase 2: second messages sooner than the gap" 0 "$early"

finish
