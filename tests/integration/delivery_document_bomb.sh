#!/usr/bin/env bash
# PDF bombs given to the daemon, as in the adversarial run: a 2 MB PDF whose page is 2 GiB of
# zeros in Flate, as the document (by path, password policy card_last4) of eight jobs at once,
# among three ordinary bank invoices. Each bomb job is dead-lettered at its first attempt with
# document_too_large and the rule it broke, nothing of it reaches a provider, the invoices
# are delivered, and carteiro's peak resident size (VmHWM, polled while it runs) stays under a
# bound that one buffered bomb alone would break (the run took 4.27 GB before).
# usage: delivery_document_bomb.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"
for tool in python3 jq; do
  command -v $tool >/dev/null || { echo "delivery_document_bomb.sh: needs $tool" >&2; exit 1; }
done
# The sanitizers' shadow memory and quarantine make their RSS larger, not unbounded.
bound_mb=256
if grep -qE 'lib(a|ub|t)san' <<<"$(ldd "$ct")"; then bound_mb=1024; fi

# The bomb: a 16 MiB chunk of zeros deflated once with a full flush (byte-aligned, no
# reference back) and repeated 128 times, with the zlib header and the Adler-32 of 2 GiB of
# zeros (s1 = 1, s2 = n mod 65521).
mkdir -p "$T/docs"
python3 - "$T/docs/bomb.pdf" <<'PY'
import sys, zlib
n = 128 * (16 << 20)
c = zlib.compressobj(9, zlib.DEFLATED, -15)
piece = c.compress(bytes(16 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
adler = ((n % 65521) << 16) | 1
data = b"\x78\x9c" + piece * 128 + b"\x03\x00" + adler.to_bytes(4, "big")
objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"]
out, offs = b"%PDF-1.4\n", []
for i, o in enumerate(objs):
    offs.append(len(out))
    out += b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n"
xref = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
out += b"".join(b"%010d 00000 n \n" % o for o in offs)
out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
open(sys.argv[1], "wb").write(out)
PY
bomb_bytes=$(stat -c %s "$T/docs/bomb.pdf")
echo "bomb.pdf: $bomb_bytes bytes"
expect_eq "the bomb weighs about 2 MB" true "$([ "$bomb_bytes" -lt 3000000 ] && echo true || echo false)"

start_mock
write_config "document_root = $T/docs"
export CARTEIRO_SPOOL=$T/spool.db
"$gen" --count 3 --seed 71 --profile bank --pdf dir="$T/docs" --format jsonl --out "$T/bank.jsonl"
base_job=$(sed -n 1p "$T/bank.jsonl")
{
  cat "$T/bank.jsonl"
  for i in 1 2 3 4 5 6 7 8; do
    jq -c --arg id "bomb-$i" '.id = $id | .invoice.document = {"path": "bomb.pdf", "password_policy": "card_last4"}' <<<"$base_job"
  done
} >"$T/jobs.jsonl"
"$ct" enqueue --quiet "$T/jobs.jsonl"

vm_hwm_kb() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status" 2>/dev/null; }
start_ct --drain --report
hwm=0
limit=$(($(date +%s) + 120))
while kill -0 "$ct_pid" 2>/dev/null && [ "$(date +%s)" -lt "$limit" ]; do
  h=$(vm_hwm_kb "$ct_pid" || true)
  [ -n "$h" ] && hwm=$h
  sleep 0.05
done
wait_ct 5
expect_eq "carteiro run --drain exited by itself" 0 "$ct_status"
echo "carteiro peak RSS: $((hwm / 1024)) MB (bound $bound_mb MB)"
expect_eq "peak RSS under $bound_mb MB" true "$([ "$hwm" -gt 0 ] && [ "$hwm" -lt $((bound_mb * 1024)) ] && echo true || echo false)"

expect_eq "invoices delivered" 3 "$(jq -r .delivered "$T/run.out")"
expect_eq "bombs dead" 8 "$(spool_stat .dead)"
expect_eq "dead by reason" '{"document_too_large":8}' "$("$ct" spool stats --json | jq -c .dead_by_reason)"
for i in 1 2 3 4 5 6 7 8; do
  expect_eq "bomb-$i: reason" document_too_large "$(job_field "bomb-$i" .reason)"
  expect_eq "bomb-$i: one attempt, not retried" \
    "email:permanent:document_too_large" "$(attempt_trail "bomb-$i")"
  expect_eq "bomb-$i: the rule it broke" "stream 4 0 decodes to more than 67108864 bytes" \
    "$(job_field "bomb-$i" '.attempts[0].message')"
done
expect_eq "e-mails sent: the invoices only" 3 "$(mock_stat .endpoints.sendgrid_mail.outcomes.ok)"
expect_eq "SMS sent: the invoices only" 3 "$(mock_stat '.endpoints.twilio_messages.requests')"
finish
