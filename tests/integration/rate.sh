# Measuring one WhatsApp account's rate at the mock, for the tests where several nodes share it
# (cluster_rate.sh, jetstream_rate.sh). Sourced after lib.sh and engine.sh; expects $rate (the
# account's configured rate) and $records (the mock's --records, at least the messages sent).
#
# The bound: each of n nodes sends at R / n with a burst of max(1, B / n), so any one second
# holds at most R + max(B, n) (see delivery_rate.sh for why R + B is exact for one sender, and
# src/dispatch/share.h for the share). Both tests use a burst of R / 10 and at most 3 nodes.
burst=$(((rate + 9) / 10))
bound=$((rate + (burst > 3 ? burst : 3))) # R + max(B, n), n = 3 nodes at most

# peak_window FILE: where the busiest one-second window starts (ms after the first message)
# and how many it holds, for the reader of a failure.
peak_window() {
  jq -r '. as $t | reduce range(0; length) as $i ({lo: 0, best: 0, at: 0};
           .lo = ([.lo, $i] | min) | until($t[$i] - $t[.lo] < 1000; .lo += 1)
           | if $i - .lo + 1 > .best then .best = $i - .lo + 1 | .at = $t[.lo] - $t[0] else . end)
         | "\(.best) messages from \(.at) ms"' "$1"
}

# wa_records: the arrival times (ms) of the WhatsApp messages the mock accepted, sorted.
wa_records() {
  mock_get "/received?endpoint=whatsapp_messages&limit=$records" |
    jq '[.records[] | select(.outcome == "ok") | .at_ms] | sort'
}

# rate_between FROM_MS TO_MS FILE: accepted messages per second between two times.
rate_between() {
  jq --argjson a "$1" --argjson b "$2" \
    '[.[] | select(. >= $a and . < $b)] | length as $n | ($n * 1000 / ($b - $a) * 10 | round) / 10' "$3"
}

# per_second FILE: the count of each whole second from the first message, for the reader.
per_second() {
  jq -c '(.[0]) as $t0 | group_by(((. - $t0) / 1000) | floor) | map(length)' "$1"
}

# peak: the mock's largest count of the account's accepted messages in one second (a sliding
# window of 1 s in 10 ms steps) since its counters were last reset.
peak() { mock_stat ".endpoints.whatsapp_messages.accounts[\"$WA_PHONE_ID\"].peak_rps_accepted"; }
pct() { awk -v t="$1" -v r="$rate" 'BEGIN { printf "%.1f", 100 * t / r }'; }
at_least_85() { awk -v t="$1" -v r="$rate" 'BEGIN { print (t >= 0.85 * r ? "true" : "false") }'; }
within_bound() { if [ "$1" -le "$bound" ]; then echo true; else echo false; fi; }
