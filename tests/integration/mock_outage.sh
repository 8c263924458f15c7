#!/usr/bin/env bash
# mock-provider's outage (POST /outage): the whole mock goes down as a crashed provider looks
# from outside, then listens again on the same port with everything it counted kept.
#   - a request waiting on its latency when the outage begins ends unanswered (curl fails,
#     the mock counts it cancelled); a new connection during the outage is refused (curl 7);
#   - afterwards the same port answers; /stats still has the requests of before, says one
#     outage, and a message accepted before the outage and sent again after it is a duplicate;
#   - bad bodies are refused (400) and other methods get 405; SIGTERM during an outage stops
#     the mock with exit status 0.
# usage: mock_outage.sh MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
mock=$1 gen_ca=$2

mock_pid="" bg_pid=""
stop_all() {
  for p in $bg_pid $mock_pid; do kill -KILL "$p" 2>/dev/null || true; done
  keep_logs
  rm -rf "$T"
}
trap stop_all EXIT

"$gen_ca" "$T/ca" >/dev/null
TW_SID=AC0123456789abcdef0123456789abcdef
"$mock" --cert "$T/ca/server.crt" --key "$T/ca/server.key" --port 0 --port-file "$T/port" \
  --twilio-account "$TW_SID:tw" >"$T/mock.out" 2>"$T/mock.err" &
mock_pid=$!
for _ in $(seq 200); do [ -s "$T/port" ] && break; sleep 0.05; done
[ -s "$T/port" ] || { echo "FAIL: mock-provider did not start" >&2; exit 1; }
port=$(cat "$T/port")
base=https://127.0.0.1:$port
tw_url=$base/2010-04-01/Accounts/$TW_SID/Messages.json

# sms TO [CURL ARGS...]: one Twilio message; prints "<status> <curl exit status>"
sms() {
  local to=$1 out rc=0
  shift
  out=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/ca/ca.crt" -u "$TW_SID:tw" \
    --data-urlencode "To=$to" --data-urlencode "From=+5511300000000" \
    --data-urlencode "Body=Fatura FAT-1 vence em 10/12/2026" "$@" "$tw_url" 2>/dev/null) || rc=$?
  echo "${out:-000} $rc"
}
admin() { # admin METHOD PATH [BODY]: prints "<status> <body>"
  curl -sS --max-time 10 --cacert "$T/ca/ca.crt" -X "$1" ${3:+-d "$3"} -w ' %{http_code}' \
    "$base$2" 2>/dev/null | awk '{ s = $NF; $NF = ""; sub(/ $/, ""); print s, $0 }'
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
stat_of() { curl -sS --max-time 10 --cacert "$T/ca/ca.crt" "$base/stats" | jq -r "$1"; }
health_rc() {
  local rc=0
  curl -s -o /dev/null --max-time 2 --cacert "$T/ca/ca.crt" "$base/health" || rc=$?
  echo "$rc"
}

expect_eq "message before the outage" "201 0" "$(sms +5511987650001 --max-time 10)"
expect_eq "bad body" '400 {"error":"expected {\"seconds\": S} with S from 0.001 to 86400"}' \
  "$(admin POST /outage '{"seconds": 0}')"
expect_eq "unknown key" 400 "$(admin POST /outage '{"seconds": 1, "x": 1}' | cut -d' ' -f1)"
expect_eq "not JSON" 400 "$(admin POST /outage 'soon' | cut -d' ' -f1)"
expect_eq "GET /outage" 405 "$(admin GET /outage | cut -d' ' -f1)"
expect_eq "no outage yet" 0 "$(stat_of .outages)"

# A second message held 30 s by its latency is in flight when the outage begins.
expect_eq "latency set" 200 "$(admin POST /config '{"twilio": {"latency_ms": 30000}}' | cut -d' ' -f1)"
sms +5511987650002 --max-time 60 >"$T/held" &
bg_pid=$!
pending() { [ "$(stat_of .pending_replies)" = 1 ]; }
for _ in $(seq 200); do pending && break; sleep 0.05; done
expect_eq "second message waiting on its latency" 1 "$(stat_of .pending_replies)"

expect_eq "outage asked" '200 {"outage_ms":3000}' "$(admin POST /outage '{"seconds": 3}')"
t0=$(now_ms)
wait "$bg_pid" || true
bg_pid=""
read -r held_code held_rc <"$T/held"
expect_eq "the held request got no answer" 000 "$held_code"
expect_eq "the held request ended by the outage, not by its own timeout" true \
  "$([ $(($(now_ms) - t0)) -lt 30000 ] && echo true || echo false)"
echo "held request: curl exit $held_rc"
rc=$(health_rc)
expect_eq "a new connection during the outage is refused (curl exit 7)" 7 "$rc"
expect_eq "port file kept" "$port" "$(cat "$T/port")"

back() { [ "$(health_rc)" = 0 ]; }
for _ in $(seq 300); do back && break; sleep 0.1; done
took=$(($(now_ms) - t0))
echo "the mock answered again $took ms after the outage was asked"
expect_eq "answers again on the same port" 0 "$(health_rc)"
expect_eq "down at least the 3 s asked ($took ms)" true \
  "$([ "$took" -ge 2900 ] && echo true || echo false)"
curl -sS --max-time 10 --cacert "$T/ca/ca.crt" "$base/stats" >"$T/stats.json"
expect_eq "one outage" 1 "$(jq -r .outages "$T/stats.json")"
expect_eq "requests of before kept" 2 "$(jq -r .endpoints.twilio_messages.requests "$T/stats.json")"
expect_eq "the held reply counted cancelled" 1 \
  "$(jq -r .endpoints.twilio_messages.outcomes.cancelled "$T/stats.json")"
expect_eq "nothing pending" 0 "$(jq -r .pending_replies "$T/stats.json")"
expect_eq "latency back to 0" 200 "$(admin POST /config '{"twilio": {"latency_ms": 0}}' | cut -d' ' -f1)"

# Keys survive: the first message again is a duplicate; the second, never answered, is not.
expect_eq "first message again" "201 0" "$(sms +5511987650001 --max-time 10)"
expect_eq "second message again" "201 0" "$(sms +5511987650002 --max-time 10)"
curl -sS --max-time 10 --cacert "$T/ca/ca.crt" "$base/stats" >"$T/stats.json"
expect_eq "duplicates across the outage" "1 1 2" \
  "$(jq -r '.endpoints.twilio_messages | "\(.duplicates) \(.duplicates_accepted) \(.unique_keys)"' "$T/stats.json")"

# SIGTERM during an outage: a clean stop.
expect_eq "second outage asked" '200 {"outage_ms":60000}' "$(admin POST /outage '{"seconds": 60}')"
down() { [ "$(health_rc)" = 7 ]; }
for _ in $(seq 100); do down && break; sleep 0.05; done
expect_eq "down again" 7 "$(health_rc)"
kill -TERM "$mock_pid"
stop_rc=0
for _ in $(seq 200); do kill -0 "$mock_pid" 2>/dev/null || break; sleep 0.05; done
wait "$mock_pid" || stop_rc=$?
mock_pid=""
expect_eq "exit status after SIGTERM during an outage" 0 "$stop_rc"
expect_eq "port file removed" false "$([ -e "$T/port" ] && echo true || echo false)"

finish
