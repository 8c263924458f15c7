# Shared set-up for the delivery engine's tests: a test CA, the mock providers over TLS on
# 127.0.0.1, a carteiro configuration pointing at them, and helpers to run and inspect both.
# Sourced after lib.sh; expects $ct, $gen, $mock and $gen_ca to be set.

WA_TOKEN=wa-test-token
WA_PHONE_ID=1234567890
TW_SID=AC0123456789abcdef0123456789abcdef
TW_TOKEN=tw-test-token
SG_KEY=SG.test-key

mock_pid=""
ct_pid=""
stop_all() {
  for pid in $ct_pid $mock_pid; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  keep_logs
  rm -rf "$T"
}
trap stop_all EXIT

# start_mock [MOCK OPTIONS...]: starts the mock with every provider's credentials.
start_mock() {
  [ -d "$T/ca" ] || "$gen_ca" "$T/ca" >/dev/null
  rm -f "$T/port"
  keep_log "$T/mock.out" "$T/mock.err"
  "$mock" --cert "$T/ca/server.crt" --key "$T/ca/server.key" --port 0 --port-file "$T/port" \
    --seed 7 --whatsapp-token "$WA_TOKEN" --twilio-account "$TW_SID:$TW_TOKEN" \
    --sendgrid-key "$SG_KEY" -q "$@" >"$T/mock.out" 2>"$T/mock.err" &
  mock_pid=$!
  for _ in $(seq 200); do
    [ -s "$T/port" ] && break
    kill -0 "$mock_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ ! -s "$T/port" ]; then
    echo "FAIL: mock-provider did not start" >&2
    sed 's/^/  mock: /' "$T/mock.err" >&2
    exit 1
  fi
  base=https://127.0.0.1:$(cat "$T/port")
}

stop_mock() {
  kill -TERM "$mock_pid" 2>/dev/null || true
  wait "$mock_pid" 2>/dev/null || true
  mock_pid=""
}

mock_get() { curl -sS --max-time 10 --cacert "$T/ca/ca.crt" "$base$1"; }
mock_post() { curl -sS --max-time 10 --cacert "$T/ca/ca.crt" -X POST -d "$2" "$base$1"; }
mock_stat() { mock_get /stats | jq -r "$1"; }

# write_config [EXTRA INI LINES FOR [carteiro]]: a configuration for the running mock. The
# secrets come from files, as in production.
write_config() {
  printf '%s\n' "$WA_TOKEN" >"$T/wa.secret"
  printf '%s\n' "$TW_TOKEN" >"$T/tw.secret"
  printf '%s\n' "$SG_KEY" >"$T/sg.secret"
  chmod 600 "$T/wa.secret" "$T/tw.secret" "$T/sg.secret" # as README "Secrets" asks
  cat >"$T/carteiro.ini" <<INI
[carteiro]
spool = $T/spool.db
workers = 2
max_inflight = ${MAX_INFLIGHT:-500}
take_batch = ${TAKE_BATCH:-200}
backoff_base = ${BACKOFF_BASE:-20ms}
backoff_cap = ${BACKOFF_CAP:-500ms}
max_attempts = ${MAX_ATTEMPTS:-20}
shutdown_grace = ${SHUTDOWN_GRACE:-5s}
request_timeout = ${REQUEST_TIMEOUT:-10s}
ca_file = $T/ca/ca.crt
log_level = ${LOG_LEVEL:-warn}
${1:-}

[provider.wa-tim]
kind = whatsapp
tenants = tim
base_url = $base/v24.0
account = $WA_PHONE_ID
secret_file = $T/wa.secret
rate = ${WA_RATE:-0}
burst = ${WA_BURST:-0}
max_concurrency = ${WA_CONCURRENCY:-400}
recipient_gap = ${WA_GAP:-0s}
breaker_failures = ${BREAKER_FAILURES:-1000}
breaker_cooldown = 200ms

[provider.sms]
kind = sms
tenants = *
base_url = $base
account = $TW_SID
sender = +5511300000000
secret_file = $T/tw.secret
rate = ${SMS_RATE:-0}
max_concurrency = ${SMS_CONCURRENCY:-400}
breaker_failures = ${BREAKER_FAILURES:-1000}
breaker_cooldown = 200ms

[provider.email]
kind = email
tenants = *
base_url = $base
sender = faturas@banco-x.example.com
sender_name = Banco X
secret_file = $T/sg.secret
rate = ${EMAIL_RATE:-0}
max_concurrency = ${EMAIL_CONCURRENCY:-400}
breaker_failures = ${BREAKER_FAILURES:-1000}
breaker_cooldown = 200ms
INI
}

# messages_expected FILE.jsonl: how many messages the jobs in FILE make, per endpoint, as
# "whatsapp sms email": a telco job is 2 WhatsApp messages (the invoice, then the barcode),
# a bank job one e-mail and one SMS.
messages_expected() {
  jq -r '[.deliveries[] | (.channels // .)[0]] | join(",")' "$1" |
    awk '{ n = split($0, ch, ","); for (i = 1; i <= n; i++) { if (ch[i] == "whatsapp") w += 2; if (ch[i] == "sms") s++; if (ch[i] == "email") e++ } }
         END { printf "%d %d %d\n", w, s, e }'
}

# run_drain [TIMEOUT_S]: runs carteiro until the spool is drained; the JSON report goes to
# $T/report.json, the log to $T/run.log.
run_drain() {
  local limit=${1:-120} rc=0
  keep_log "$T/run.log"
  timeout "$limit" "$ct" run --config "$T/carteiro.ini" --drain --report >"$T/report.json" \
    2>"$T/run.log" || rc=$?
  if [ "$rc" != 0 ]; then
    fail "carteiro run --drain exited $rc"
    tail -n 20 "$T/run.log" | sed 's/^/  run: /' >&2
  fi
}
report() { jq -r "$1" "$T/report.json"; }

# ---- delivery_fallback / delivery_auth / delivery_window helpers -------------------------------
# carteiro in the background (not --drain), jobs' records, and bounded waits.

# start_ct [RUN OPTIONS...]: starts `carteiro run` in the background on $T/carteiro.ini; its
# PID is $ct_pid (stop_all kills it if the test dies), its stdout $T/run.out, its log
# $T/run.log.
start_ct() {
  keep_log "$T/run.log"
  "$ct" run --config "$T/carteiro.ini" "$@" >"$T/run.out" 2>"$T/run.log" &
  ct_pid=$!
}

# wait_ct SECONDS: waits at most SECONDS for $ct_pid to exit by itself (--drain); sets
# $ct_status like stop_ct, killing it on timeout.
wait_ct() {
  local limit=$(( $(date +%s) + $1 ))
  while kill -0 "$ct_pid" 2>/dev/null && [ "$(date +%s)" -lt "$limit" ]; do sleep 0.05; done
  stop_ct 0
}

# stop_ct [GRACE_S]: SIGTERM to $ct_pid, then waits at most GRACE_S seconds (default 15) for it
# to exit; sets $ct_status to its exit status ("timeout" if it did not exit, and then it is
# killed). Not to be called in a subshell: only this shell can wait for its child.
stop_ct() {
  local limit=$(( $(date +%s) + ${1:-15} ))
  ct_status=0
  kill -0 "$ct_pid" 2>/dev/null && kill -TERM "$ct_pid" 2>/dev/null
  while kill -0 "$ct_pid" 2>/dev/null && [ "$(date +%s)" -lt "$limit" ]; do sleep 0.05; done
  if kill -0 "$ct_pid" 2>/dev/null; then
    kill -KILL "$ct_pid" 2>/dev/null || true
    wait "$ct_pid" 2>/dev/null || true
    ct_status=timeout
  else
    wait "$ct_pid" || ct_status=$?
  fi
  ct_pid=""
}

# wait_until SECONDS COMMAND...: runs COMMAND every 100 ms until it succeeds or SECONDS pass;
# returns COMMAND's last status.
wait_until() {
  local limit=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
  shift
  while ! "$@"; do
    [ $(( $(date +%s%N) / 1000000 )) -ge "$limit" ] && return 1
    sleep 0.1
  done
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

spool_stat() { "$ct" spool stats --json | jq -r "$1"; }

# job_field ID JQ: a field of `carteiro job show --json ID`.
job_field() { "$ct" job show --json "$1" | jq -r "$2"; }

# attempt_trail ID: the job's attempts as "channel:outcome:error_code" joined by commas.
attempt_trail() {
  job_field "$1" '[.attempts[] | "\(.channel):\(.outcome):\(.error_code)"] | join(",")'
}

# receipt_parts ID: the job's receipt parts as "channel/provider" joined by commas.
receipt_parts() {
  job_field "$1" '[(.receipt.parts // [])[] | "\(.channel)/\(.provider)"] | join(",")'
}

# received_recipients ENDPOINT OUTCOME: sorted recipients of the mock's records with that
# outcome, one a line (records are few in these tests: one page of the ring).
received_recipients() {
  mock_get "/received?endpoint=$1&limit=4096" |
    jq -r --arg o "$2" '.records[] | select(.outcome == $o) | .recipient' | sort
}
# ---- end of delivery_fallback / delivery_auth / delivery_window helpers ------------------------
