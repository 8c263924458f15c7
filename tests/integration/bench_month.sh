#!/usr/bin/env bash
# carteiro-bench month on a scaled sample: it runs the real daemon against the mock, and every
# job is accounted for. Per cycle and in total: delivered + dead == enqueued, nothing lost, and
# the mock saw exactly the delivered jobs; the result document has the schema's required
# fields (bench/SCHEMA.md), passes the report's check, and its HTML report has its four charts
# and a deadline line per cycle.
# usage: bench_month.sh CARTEIRO_BENCH GEN_TEST_CA [SCALE]
# SCALE defaults to 0.005: 6 cycles of 2,000 invoices, 36 s windows, about 25 s on an idle
# 2-core machine (the accounting is the same at any scale; a larger sample only takes longer).
# The sanitizer build passes a smaller one (see tests/integration/CMakeLists.txt).
. "$(dirname "$0")/lib.sh"
bench=$1 gen_ca=$2 scale=${3:-0.005}
echo "scale $scale"

"$bench" month --scale "$scale" --limit-requests 5000 --gen-ca "$gen_ca" --quiet \
  --out "$T/month.json" --html "$T/month.html" >"$T/summary.txt" 2>"$T/bench.err" || {
  fail "carteiro-bench month exited $?"
  sed 's/^/  bench: /' "$T/bench.err" >&2
}
r() { jq -r "$1" "$T/month.json"; }

want=$(awk -v s="$scale" 'BEGIN { printf "%d", 400000 * s + 0.5 }')
expect_eq "schema" "carteiro-bench/1" "$(r .schema)"
expect_eq "kind" "month" "$(r .kind)"
expect_eq "scale" "$scale" "$(r .scale)"
expect_eq "full month" 2400000 "$(r .full_month_invoices)"
expect_eq "cycles" 6 "$(r '.cycles | length')"
expect_eq "total enqueued" $((want * 6)) "$(r .totals.enqueued)"
for i in 0 1 2 3 4 5; do
  expect_eq "cycle $i invoices" "$want" "$(r ".cycles[$i].invoices")"
  expect_eq "cycle $i delivered + dead" "$want" "$(r ".cycles[$i] | .delivered + .dead")"
  expect_eq "cycle $i lost" 0 "$(r ".cycles[$i].lost")"
  expect_eq "cycle $i mock saw the delivered jobs" "$(r ".cycles[$i].delivered")" \
    "$(r ".cycles[$i].mock_unique")"
  expect_eq "cycle $i window" true "$(r ".cycles[$i] | (.deadline_s - .start_s - .window_s) as \$d | \$d * \$d < 1e-6")"
done
expect_eq "total delivered + dead" "$(r .totals.enqueued)" "$(r '.totals | .delivered + .dead')"
expect_eq "total lost" 0 "$(r .totals.lost)"
expect_eq "mock saw every delivered job" "$(r .totals.delivered)" "$(r .totals.mock_unique)"
expect_eq "cycles add up" "$(r .totals.delivered)" "$(r '[.cycles[].delivered] | add')"
# The error mix really happened: 0.5 % of recipients refused (dead, no fallback), 5xx and 429
# retried.
expect_eq "some dead letters" true "$(r '.totals.dead > 0')"
expect_eq "some retries" true "$(r '.totals.retries > 0')"

# The schema's required fields, with their types.
expect_eq "required fields" true "$(r '
  (.created | type == "string") and (.commit | type == "string") and
  (.command | startswith("carteiro-bench month")) and
  (.host | (.cpus | type == "number") and (.mem_bytes | type == "number") and (.kernel | type == "string")) and
  (.profile | (.latency_ms | has("fixed") or (has("p50") and has("p99"))) and
     (.errors | has("transient") and has("rate_limited") and has("permanent")) and
     (.channels | type == "array") and (.pdf | type == "boolean") and (.rates | type == "array") and
     (.knobs | has("workers") and has("max_inflight") and has("provider_concurrency") and has("connections"))) and
  all(.cycles[]; has("index") and has("invoices") and has("start_s") and has("window_s") and
     has("deadline_s") and has("enqueued_s") and has("drained_s") and has("drain_s") and
     has("window_met") and has("delivered") and has("dead") and has("retries") and
     (.latency_ms | has("p50") and has("p90") and has("p99") and has("max")) and
     has("deliveries_per_s")) and
  (.series | (.t_s | length) as $n | $n > 0 and (.inflight | length) == $n and
     (.retries_per_s | length) == $n and (.dead_total | length) == $n and
     all(.deliveries_per_s[]; length == $n)) and
  (.totals | has("enqueued") and has("delivered") and has("dead") and has("lost") and
     has("mock_unique") and has("retries") and has("wall_s") and has("deliveries_per_s") and
     has("cpu_us_per_delivery") and has("peak_rss_bytes")) and
  (.limit | .tool == "h2load" and .requests == 5000 and .requests_per_s > 0 and
     has("ours_per_s") and has("fraction")) and
  (.capacity | has("sustained_per_s") and (.fits | type == "boolean") and has("needed_percent") and
     has("bottleneck") and (.sentence | startswith("At this profile one instance sustains")))')"
expect_eq "latencies ordered" true \
  "$(r 'all(.cycles[].latency_ms; .p50 <= .p90 and .p90 <= .p99 and .p99 <= .max)')"

# The report: the run printed its terminal summary, ending on the capacity sentence; the saved
# document renders the same through `report`, and its HTML has the month's four charts
# (throughput with the deadlines, latency, in flight, retries) and one deadline per cycle.
expect_eq "summary ends on the capacity sentence" "$(r .capacity.sentence)" \
  "$(tail -n 1 "$T/summary.txt")"
met=$(r '[.cycles[] | select(.window_met)] | length')
expect_eq "summary's windows line" 1 "$(grep -c "^windows:  $met of 6 met" "$T/summary.txt")"
expect_status "report checks the run's document clean" 0 "$bench" report "$T/month.json" \
  --html "$T/again.html"
expect_eq "report prints what the run printed" "$(cat "$T/summary.txt")" "$(cat "$T/out")"
expect_eq "report's HTML is the run's" "$(sha256sum <"$T/month.html")" \
  "$(sha256sum <"$T/again.html")"
count() { grep -oF -- "$1" "$T/month.html" | wc -l; }
expect_eq "HTML charts" 4 "$(count '<svg ')"
expect_eq "HTML charts closed" 4 "$(count '</svg>')"
expect_eq "HTML deadline lines" 6 "$(count '<line class="deadline')"
for i in 0 1 2 3 4 5; do
  expect_eq "HTML cycle $i deadline label" 1 "$(count ">cycle $i deadline</text>")"
done
expect_eq "HTML missed deadlines drawn as such" \
  "$(r '[.cycles[] | select(.window_met | not)] | length')" "$(count '<line class="deadline missed"')"
expect_eq "HTML carries the capacity sentence" 1 \
  "$(count "$(r .capacity.sentence)")"
expect_eq "HTML self-contained" 0 "$(count '<script')"
# The bottleneck. This sample (2,000 SMS a cycle, max_inflight 2,000: every job of a cycle in
# flight at once) is not held back by the in-flight cap; whatever else it names, it is not that.
if [ "$(r .capacity.bottleneck)" = "in-flight cap" ]; then
  fail "a run under the in-flight cap named it as its bottleneck"
fi
# A run the cap holds back and that meets its window all the same (400 SMS at 200 ms with 10 in
# flight: 50/s, about 8 s in a 28.8 s window) names it: the run meets its window, and its
# summary and HTML say what held it back.
"$bench" month --scale 0.001 --cycles 1 --window-hours 8 --no-limit --max-inflight 10 \
  --latency 200 --gen-ca "$gen_ca" --quiet --out "$T/cap.json" --html "$T/cap.html" \
  >"$T/cap.txt" 2>"$T/cap.err" || {
  fail "carteiro-bench month (cap-bound) exited $?"
  sed 's/^/  bench: /' "$T/cap.err" >&2
}
c() { jq -r "$1" "$T/cap.json"; }
expect_eq "cap-bound run: delivered + dead" 400 "$(c '.totals | .delivered + .dead')"
expect_eq "cap-bound run: fits" true "$(c .capacity.fits)"
expect_eq "cap-bound run: bottleneck" "in-flight cap" "$(c .capacity.bottleneck)"
expect_eq "cap-bound run: the sentence says so" true \
  "$(c '.capacity.sentence | endswith("; what held it back: in-flight cap.")')"
expect_eq "cap-bound run: summary's capacity line" 1 \
  "$(grep -c '^capacity: fits; .*; bottleneck: in-flight cap (max_inflight 10)$' "$T/cap.txt")"
expect_eq "cap-bound run: HTML" 1 \
  "$(grep -c 'bottleneck: in-flight cap (max_inflight 10)\.</p>' "$T/cap.html")"

# A document the report cannot read is refused with the field's name, and nothing is drawn.
jq 'del(.cycles[2].drain_s)' "$T/month.json" >"$T/bad.json"
expect_status "report refuses a bad document" 65 "$bench" report "$T/bad.json" --html "$T/bad.html"
expect_eq "report names the field" "carteiro-bench: $T/bad.json: cycles[2].drain_s: missing" \
  "$(cat "$T/err")"
expect_eq "no HTML for a bad document" false "$([ -e "$T/bad.html" ] && echo true || echo false)"
finish
