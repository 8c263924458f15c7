#!/usr/bin/env bash
# Invoice documents given by URL may not reach the daemon's own network. Three HTTPS document
# servers run here (document_url_server): A on 127.0.0.1 and S on ::1, which tenant tim allows
# with document_url_allow_networks, and B on 127.0.0.2, the "internal" server nobody allows.
# Jobs of tenant tim fetch from A and S and are delivered; then every way towards what is not
# allowed ends in the DLQ, at the first attempt, with reason document_url_refused and a
# message that names the rule: loopback by address (IPv4, IPv6, IPv4-mapped) and by name
# (localhost) for a tenant without the opt-in, a redirect from A to B, a redirect loop, too
# many redirects, a host not in document_url_hosts. A refused connection is permanent too; a
# 503 is retried until max_attempts. Each server logs every request, so "nothing was fetched
# from the refused target" is counted: B is never asked anything, A and S only what was
# allowed. No attempt message carries an address, a port or what a server said.
# usage: delivery_document_url.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA DOC_SERVER
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 docsrv=$5
. "$(dirname "$0")/engine.sh"

start_mock
export CARTEIRO_SPOOL=$T/spool.db
"$gen" --count 1 --seed 71 --profile bank --pdf dir="$T/docs" --format jsonl --out "$T/bank.jsonl"
pdf=$(find "$T/docs" -name '*.pdf' | head -1)

# B's certificate is good for 127.0.0.2, so that only the rules, not TLS, keep it unfetched.
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ca/b.key" 2>/dev/null
openssl req -new -key "$T/ca/b.key" -subj "/CN=127.0.0.2" -out "$T/ca/b.csr"
printf 'subjectAltName = IP:127.0.0.2\nextendedKeyUsage = serverAuth\n' >"$T/ca/b.ext"
openssl x509 -req -in "$T/ca/b.csr" -CA "$T/ca/ca.crt" -CAkey "$T/ca/ca.key" -CAcreateserial \
  -CAserial "$T/ca/b.srl" -days 1 -extfile "$T/ca/b.ext" -out "$T/ca/b.crt" 2>/dev/null
cat "$T/ca/b.crt" "$T/ca/ca.crt" >"$T/ca/b-chain.crt"

# start_docsrv NAME ADDR [CERT KEY]: a document server on ADDR (any port), logging to
# $T/NAME.log; sets the NAME_pid and NAME_port variables.
doc_pids=()
start_docsrv() {
  local name=$1 addr=$2 cert=${3:-$T/ca/server-chain.crt} key=${4:-$T/ca/server.key}
  "$docsrv" --cert "$cert" --key "$key" --addr "$addr" --port 0 \
    --pdf "$pdf" --log "$T/$name.log" --max-seconds 240 >"$T/$name.port" 2>"$T/$name.err" &
  local pid=$!
  doc_pids+=("$pid")
  for _ in $(seq 100); do [ -s "$T/$name.port" ] && break; sleep 0.05; done
  [ -s "$T/$name.port" ] || { echo "FAIL: document server $name did not start" >&2; exit 1; }
  touch "$T/$name.log"
  printf -v "${name}_pid" %s "$pid"
  printf -v "${name}_port" %s "$(head -1 "$T/$name.port")"
}
stop_docsrvs() {
  local pid
  for pid in "${doc_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap 'stop_docsrvs; stop_all' EXIT
start_docsrv a 127.0.0.1
start_docsrv b 127.0.0.2 "$T/ca/b-chain.crt" "$T/ca/b.key"
start_docsrv s ::1
# A port on 127.0.0.1 where nothing listens: a server started and stopped.
start_docsrv gone 127.0.0.1
kill "$gone_pid"
wait "$gone_pid" 2>/dev/null || true

# tim: any host, and A's and S's networks; acme: one host name, A's network; oi: A by its
# address only; banco-x: no section, no rules: public addresses only.
MAX_ATTEMPTS=3 write_config "document_fetch_timeout = 10s
[tenant.tim]
document_url_allow_networks = 127.0.0.1/32, ::1/128
[tenant.acme]
document_url_hosts = docs.example.com
document_url_allow_networks = 127.0.0.1/32
[tenant.oi]
document_url_hosts = 127.0.0.1
document_url_allow_networks = 127.0.0.1/32"
"$ct" config check "$T/carteiro.ini" >/dev/null

base_job=$(sed -n 1p "$T/bank.jsonl")
# mkjob ID TENANT URL: the bank job by e-mail only, its document at URL.
mkjob() {
  jq -c --arg id "$1" --arg tenant "$2" --arg url "$3" \
    '.id = $id | .tenant = $tenant | .deliveries = [["email"]] |
     .invoice.document = {"url": $url, "password_policy": "card_last4"}' <<<"$base_job"
}
A=https://127.0.0.1:$a_port
S="https://[::1]:$s_port"
{
  mkjob ok-v4 tim "$A/ok.pdf"
  mkjob ok-v6 tim "$S/ok6.pdf"
  mkjob lo-v4 banco-x "$A/lo.pdf"
  mkjob lo-v6 banco-x "$S/lo6.pdf"
  mkjob lo-mapped banco-x "https://[::ffff:127.0.0.1]:$a_port/mapped.pdf"
  mkjob lo-name banco-x "https://localhost:$a_port/byname.pdf"
  mkjob redirect-private tim "$A/to?url=https%3A%2F%2F127.0.0.2%3A$b_port%2Fdoc.pdf"
  mkjob redirect-loop tim "$A/loop"
  mkjob redirect-many tim "$A/chain/9"
  mkjob unlisted acme "$A/unlisted.pdf"
  mkjob redirect-unlisted oi "$A/to?url=https%3A%2F%2Flocalhost%3A$a_port%2Fdoc.pdf"
  mkjob conn-refused tim "https://127.0.0.1:$gone_port/x.pdf"
  mkjob unavailable tim "$A/status/503"
} >"$T/jobs.jsonl"
"$ct" enqueue --quiet "$T/jobs.jsonl"
run_drain 120

expect_eq "delivered" 2 "$(report .delivered)"
expect_eq "dead" 11 "$(report .dead)"
expect_eq "e-mails sent" 2 "$(mock_stat .endpoints.sendgrid_mail.outcomes.ok)"
expect_eq "dead by reason" "document_fetch_failed=1 document_url_refused=9 max_attempts=1" \
  "$(spool_stat '[.dead_by_reason | to_entries[] | "\(.key)=\(.value)"] | sort | join(" ")')"

# refused ID MESSAGE: dead with document_url_refused after one attempt that says MESSAGE.
refused() {
  expect_eq "$1: reason" document_url_refused "$(job_field "$1" .reason)"
  expect_eq "$1: one attempt, not retried" 1 "$(job_field "$1" '.attempts | length')"
  expect_eq "$1: error code" document_url_refused "$(job_field "$1" '.attempts[-1].error_code')"
  expect_eq "$1: outcome" permanent "$(job_field "$1" '.attempts[-1].outcome')"
  expect_eq "$1: message" "$2" "$(job_field "$1" '.attempts[-1].message')"
}
refused lo-v4 "document URL refused: address is loopback"
refused lo-v6 "document URL refused: address is loopback"
refused lo-mapped "document URL refused: address is loopback"
refused lo-name "document URL refused: address is loopback"
refused redirect-private "document URL refused: redirect to a refused address (loopback)"
refused redirect-loop "document URL refused: redirect loop"
refused redirect-many "document URL refused: too many redirects"
refused unlisted "document URL refused: host not in document_url_hosts"
refused redirect-unlisted "document URL refused: redirect to a host not in document_url_hosts"
expect_eq "refused connection: reason" document_fetch_failed "$(job_field conn-refused .reason)"
expect_eq "refused connection: one attempt" 1 "$(job_field conn-refused '.attempts | length')"
expect_eq "refused connection: message" "document URL: connection refused or unreachable" \
  "$(job_field conn-refused '.attempts[-1].message')"
expect_eq "503: retried to the end" max_attempts "$(job_field unavailable .reason)"
expect_eq "503: every attempt" "3 document_fetch_failed" \
  "$(job_field unavailable '"\(.attempts | length) \(.attempts[-1].error_code)"')"
expect_eq "503: message" "the document URL answered HTTP 503" \
  "$(job_field unavailable '.attempts[-1].message')"

# What `carteiro dlq show` prints of the history names the rule, and nothing of where the URL
# pointed (the job record below it is the producer's own input, URL included).
expect_status "dlq show" 0 "$ct" dlq show redirect-private
expect_eq "dlq show: the rule" 1 \
  "$(grep -c 'document URL refused: redirect to a refused address (loopback)' "$T/out")"
"$ct" dlq list --json >"$T/dlq.json"
for id in $(jq -r '.[].id' "$T/dlq.json"); do
  "$ct" job show --json "$id" | jq -r '.attempts[].message' >>"$T/messages"
  "$ct" dlq show "$id" | sed '/^job record:/q' >>"$T/dlq-show"
done
expect_eq "attempt messages recorded" 13 "$(wc -l <"$T/messages")"
for f in "$T/messages" "$T/dlq-show"; do
  for leak in 127.0.0 "::1" ":$a_port" ":$b_port" ":$s_port" ":$gone_port" localhost \
    "Couldn't" "%PDF" "Not Found"; do
    expect_no_match "$(basename "$f") names no address, port or server text ($leak)" "$f" "$leak"
  done
done

# Who was asked what: B never even connected to; A and S exactly the allowed requests.
count() { grep -c -- "$2" "$T/$1.log" || true; }
expect_eq "B (127.0.0.2) was never connected to" 0 "$(wc -l <"$T/b.log")"
expect_eq "A: the allowed document" 1 "$(count a 'GET /ok.pdf$')"
expect_eq "S: the allowed document over IPv6" 1 "$(count s 'GET /ok6.pdf$')"
for p in /lo.pdf /mapped.pdf /byname.pdf /unlisted.pdf; do
  expect_eq "A: nothing fetched for $p" 0 "$(count a "GET $p")"
done
expect_eq "S: nothing fetched for /lo6.pdf" 0 "$(count s 'GET /lo6.pdf')"
expect_eq "A: the redirects asked once each" 2 "$(count a 'GET /to?')"
expect_eq "A: the loop asked once" 1 "$(count a 'GET /loop$')"
expect_eq "A: the chain asked 6 times (the URL and 5 redirects)" 6 "$(count a 'GET /chain/')"
expect_eq "A: the 503 asked once per attempt" 3 "$(count a 'GET /status/503$')"
expect_eq "A: nothing else" 13 "$(count a '^GET ')"
expect_eq "A: one connection a request, none for the refused" 13 "$(count a '^accept$')"
expect_eq "S: nothing else" 1 "$(count s '^GET ')"
expect_eq "S: one connection" 1 "$(count s '^accept$')"

finish
