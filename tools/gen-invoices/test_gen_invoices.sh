#!/bin/sh
# gen-invoices end to end: 10,000 jobs in each of the four formats all read back, decode,
# normalize and validate (check-invoices); the formats hold the same jobs; output is
# reproducible; job K of a seed does not depend on --count or --start-id; options work.
# usage: test_gen_invoices.sh GEN_INVOICES CHECK_INVOICES
set -eu
gen=$1 check=$2
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "test_gen_invoices: $*" >&2; exit 1; }
n=10000

"$gen" --count $n --seed 42 --format pbs --out "$d/a.pbs"
"$gen" --count $n --seed 42 --format jsonl --out "$d/a.jsonl"
"$gen" --count $n --seed 42 --format pbs --zstd --out "$d/a.pbs.zst"
"$gen" --count $n --seed 42 --zstd --out "$d/a.jsonl.zst" # format from the name
"$check" "$d/a.pbs" $n "$d/a.jsonl"
"$check" "$d/a.pbs.zst" $n "$d/a.pbs"
"$check" "$d/a.jsonl.zst" $n "$d/a.jsonl"
[ "$(stat -c %a "$d/a.pbs")" = 600 ] || fail "output is not mode 0600"

# Reproducible, and seed-dependent.
"$gen" --count $n --seed 42 --format pbs --out "$d/b.pbs"
cmp -s "$d/a.pbs" "$d/b.pbs" || fail "same seed, different output"
"$gen" --count $n --seed 43 --format pbs --out "$d/c.pbs"
! cmp -s "$d/a.pbs" "$d/c.pbs" || fail "different seeds, same output"

# Job K is the same job whatever else is generated.
"$gen" --count 10 --seed 42 --start-id 51 --format jsonl --out "$d/part.jsonl"
sed -n 51,60p "$d/a.jsonl" | cmp -s - "$d/part.jsonl" || fail "jobs 51..60 differ"

# Both case shapes are there, and the profiles pick one.
grep -q '"deliveries":\[{"channels":\["whatsapp","sms"\]}\]' "$d/a.jsonl" || fail "no telco job"
grep -q '"deliveries":\[{"channels":\["email"\]},{"channels":\["sms"\]}\]' "$d/a.jsonl" ||
  fail "no bank job"
grep -q '"barcode_line":"8' "$d/a.jsonl" || fail "no utility slip"
grep -q '"pix_code"' "$d/a.jsonl" || fail "no PIX code"
"$gen" --count 1000 --seed 7 --profile telco --format jsonl --out "$d/t.jsonl"
"$check" "$d/t.jsonl" 1000
[ "$(grep -c '"channels":\["whatsapp","sms"\]' "$d/t.jsonl")" = 1000 ] || fail "telco profile"
"$gen" --count 1000 --seed 8 --profile bank --format jsonl --out "$d/k.jsonl"
"$check" "$d/k.jsonl" 1000
[ "$(grep -c '"deliveries":\[{"channels":\["email"\]},{"channels":\["sms"\]}\]' "$d/k.jsonl")" = 1000 ] || fail "bank profile"
# With a document, the profile's password policy comes along.
"$gen" --count 50 --seed 7 --profile telco --pdf inline --format jsonl --out "$d/tp.jsonl"
[ "$(grep -c '"password_policy":"cpf_first4"' "$d/tp.jsonl")" = 50 ] || fail "telco password policy"
"$gen" --count 50 --seed 8 --profile bank --pdf inline --format jsonl --out "$d/kp.jsonl"
[ "$(grep -c '"password_policy":"card_last4"' "$d/kp.jsonl")" = 50 ] || fail "bank password policy"
[ "$(grep -c '@example\.\(com\|org\|net\)"' "$d/k.jsonl")" = 1000 ] || fail "e-mail domains"

# --channels and --tenant override the profile; several --channels mix.
"$gen" --count 1000 --seed 9 --profile telco --tenant acme_1 --channels sms,whatsapp \
  --channels email+whatsapp,sms --format jsonl --out "$d/o.jsonl"
"$check" "$d/o.jsonl" 1000
[ "$(grep -c '"tenant":"acme_1"' "$d/o.jsonl")" = 1000 ] || fail "--tenant"
grep -q '"deliveries":\[{"channels":\["sms","whatsapp"\]}\]' "$d/o.jsonl" || fail "--channels 1"
grep -q '"deliveries":\[{"channels":\["email"\]},{"channels":\["whatsapp","sms"\]}\]' \
  "$d/o.jsonl" || fail "--channels 2"

# --base-date moves the due dates; standard output works.
"$gen" --count 50 --seed 1 --base-date 2027-02-20 --format jsonl --out - >"$d/s.jsonl"
"$check" "$d/s.jsonl" 50
grep -q '"due_date":"2027-03-' "$d/s.jsonl" || fail "--base-date"

# Usage errors exit 64.
for args in "--count 1" "--out x" "--count x --out x" "--count 1 --out x --format xml" \
  "--count 1 --out x --channels fax" "--count 1 --out x --channels sms,sms" \
  "--count 1 --out x --tenant Bad" "--count 1 --out x --base-date 2026-02-30" \
  "--count 1 --out x --profile gov" "--count 1 --out x --bogus" "--count 1 --out x extra"; do
  st=0
  # shellcheck disable=SC2086
  "$gen" $args 2>/dev/null || st=$?
  [ "$st" = 64 ] || fail "'$args' exited $st, expected 64"
done
"$gen" --help | grep -q '^usage: gen-invoices' || fail "--help"
echo "test_gen_invoices: ok"
