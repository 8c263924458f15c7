#!/usr/bin/env bash
# Quiet hours: a tenant's jobs are not sent while the recipient's local clock is inside the
# tenant's quiet window; they wait in the spool, due when the window ends, with no attempt
# counted. Other tenants' jobs are not held.
# usage: delivery_quiet.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

start_mock
write_config
# A one-hour window around "now" in each recipient's zone would differ by zone; put every
# telco recipient in Sao Paulo and make the window cover the present there.
now_local=$(TZ=America/Sao_Paulo date +%H:%M)
start=$(TZ=America/Sao_Paulo date -d '-1 hour' +%H:%M)
end=$(TZ=America/Sao_Paulo date -d '+1 hour' +%H:%M)
cat >>"$T/carteiro.ini" <<INI

[tenant.tim]
quiet_hours = $start-$end
time_zone = America/Sao_Paulo
INI
export CARTEIRO_SPOOL=$T/spool.db
"$gen" --count 20 --seed 31 --profile telco --format jsonl --out - |
  jq -c '.recipient.time_zone = "America/Sao_Paulo"' >"$T/telco.jsonl"
"$gen" --count 10 --seed 32 --profile bank --start-id 500 --format jsonl --out "$T/bank.jsonl"
"$ct" enqueue --quiet "$T/telco.jsonl" "$T/bank.jsonl"

"$ct" run --config "$T/carteiro.ini" >"$T/run.out" 2>"$T/run.log" &
ct_pid=$!
deadline=$((SECONDS + 30))
while [ "$("$ct" spool stats --json | jq -r .delivered)" != 10 ] && [ $SECONDS -lt $deadline ]; do
  sleep 0.2
done
sleep 1 # give any wrongly released telco job time to reach the mock
kill -TERM "$ct_pid"
rc=0
wait "$ct_pid" || rc=$?
ct_pid=""
expect_eq "run exit status" 0 "$rc"
expect_eq "bank jobs delivered during tim's quiet hours" 10 "$("$ct" spool stats --json | jq -r .delivered)"
expect_eq "no WhatsApp message in quiet hours (local time $now_local)" 0 \
  "$(mock_stat .endpoints.whatsapp_messages.requests)"
expect_eq "telco jobs wait" 20 "$("$ct" spool stats --json | jq -r .ready)"
id=$(sed -n 1p "$T/telco.jsonl" | jq -r .id)
due=$("$ct" job show --json "$id" | jq -r .due_at)
# Due when the window ends: the next $end in Sao Paulo, as UTC.
want=$(TZ=America/Sao_Paulo date -u -d "TZ=\"America/Sao_Paulo\" $(TZ=America/Sao_Paulo date -d '+1 hour' '+%Y-%m-%d') $end" +%Y-%m-%dT%H:%M:00.000Z)
expect_eq "due when the quiet window ends" "$want" "$due"
expect_eq "no attempt counted for waiting" 0 "$("$ct" job show --json "$id" | jq '.attempts | length')"

finish
