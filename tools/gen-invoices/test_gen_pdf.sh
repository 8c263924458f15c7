#!/bin/sh
# gen-invoices --pdf end to end: every PDF of a run is a valid one-page PDF (qpdf --check) of a
# realistic size, and its text (pdftotext) says exactly what the job's JSON says: invoice
# number, amount "R$ ...", due date dd/mm/yyyy, customer name, boleto line as printed, PIX
# code; its line items add up to the amount. Inline records carry the same bytes as the files
# of dir mode; output is reproducible and job K's PDF does not depend on --count or
# --start-id; --pdf leaves the rest of each record alone; carteiro enqueue accepts inline
# records and stores the bytes unchanged.
# usage: test_gen_pdf.sh GEN_INVOICES CHECK_INVOICES CARTEIRO
set -eu
gen=$1 check=$2 ct=$3
for tool in qpdf pdftotext pdfinfo jq sha256sum base64; do
  command -v $tool >/dev/null || { echo "test_gen_pdf: $tool not found (tools/setup)" >&2; exit 1; }
done
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "test_gen_pdf: $*" >&2; exit 1; }
# expect_eq WHAT EXPECTED ACTUAL
expect_eq() { [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"; }
sha() { sha256sum | cut -d' ' -f1; }
# The PDF a JSON job carries inline (standard input), decoded and hashed.
inline_sha() { jq -r "$1" | base64 -d | sha; }
files_in() { find "$@" -type f | wc -l | tr -d ' '; }
n=40

# pdf none (the default) writes jobs without a document; dir mode writes the same jobs with
# document.path set, and the files.
"$gen" --count $n --seed 42 --format jsonl --out "$d/plain.jsonl"
"$gen" --count $n --seed 42 --format jsonl --out "$d/none.jsonl" --pdf none
"$gen" --count $n --seed 42 --format jsonl --out "$d/dir.jsonl" --pdf dir="$d/pdfs"
cmp -s "$d/plain.jsonl" "$d/none.jsonl" || fail "--pdf none changed the records"
expect_eq "no document without --pdf" 0 "$(jq -s '[.[] | select(.invoice.document != null)] | length' "$d/none.jsonl")"
jq -c 'del(.invoice.document)' "$d/dir.jsonl" >"$d/dir-nodoc.jsonl"
cmp -s "$d/plain.jsonl" "$d/dir-nodoc.jsonl" || fail "--pdf dir changed more than the document"
"$check" "$d/dir.jsonl" $n
expect_eq "PDF files written" $n "$(files_in "$d/pdfs" -name '*.pdf')"
expect_eq "files other than PDFs" 0 "$(files_in "$d/pdfs" ! -name '*.pdf')"

# The run covers both kinds of bill, both kinds of slip, with and without PIX.
expect_eq "telco jobs" 14 "$(grep -c '"tenant":"tim"' "$d/dir.jsonl")"
expect_eq "bank jobs" 26 "$(grep -c '"tenant":"banco-x"' "$d/dir.jsonl")"
expect_eq "utility slips" 4 "$(grep -c '"barcode_line":"8' "$d/dir.jsonl")"
expect_eq "jobs with PIX" 19 "$(grep -c '"pix_code"' "$d/dir.jsonl")"

# cents -> "R$ 1.234,56"
brl() {
  awk -v c="$1" 'BEGIN { r = int(c / 100); s = sprintf("%d", r); o = "";
    while (length(s) > 3) { o = "." substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
    printf "R$ %s%s,%02d\n", s, o, c % 100 }'
}
expect_eq "brl 1234,56" 'R$ 1.234,56' "$(brl 123456)"
expect_eq "brl 0,05" 'R$ 0,05' "$(brl 5)"
expect_eq "brl 1.000.000,00" 'R$ 1.000.000,00' "$(brl 100000000)"

# zbarimg (Debian zbar-tools) reads the printed bar code back, where it is installed.
zbar=
if command -v zbarimg >/dev/null && command -v pdftoppm >/dev/null; then
  zbar=yes
else
  echo "test_gen_pdf: zbarimg or pdftoppm not found: bar codes are not decoded" >&2
fi

# Every record's PDF, checked against the record. What each page must show is worked out for
# all records by one awk, and each PDF's text is read by one awk: a process costs tens of
# milliseconds on a loaded machine, and there are 40 PDFs.
#   amount:   cents as "R$ 1.234,56" (as brl above);
#   dmy:      the due date as dd/mm/yyyy;
#   grouped:  the boleto line as printed: 5.5 5.6 5.6 1 14 (bank) or 4 x 11-1 (utility);
#   bars:     the 44 digits of the bar code the line encodes: bank slips reorder the fields
#             (bank and currency, general check digit, factor and amount, free field); utility
#             slips drop the check digit of each block.
# A line of another length is left as it is, and then fails its checks.
min=999999999 max=0 items_seen=
jq -r '[.id, .invoice.document.path, .invoice.number, (.invoice.amount_cents | tostring),
        .invoice.due_date, .invoice.barcode_line, .recipient.name, (.invoice.pix_code // "-")]
       | join("\t")' "$d/dir.jsonl" >"$d/fields.tsv"
awk -F'\t' -v OFS='\t' '
  function brl(c,   r, s, o) {
    r = int(c / 100); s = sprintf("%d", r); o = ""
    while (length(s) > 3) { o = "." substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
    return sprintf("R$ %s%s,%02d", s, o, c % 100)
  }
  function grouped(l) {
    if (l ~ /^8/)
      return length(l) != 48 ? l : substr(l, 1, 11) "-" substr(l, 12, 1) " " substr(l, 13, 11) "-" \
        substr(l, 24, 1) " " substr(l, 25, 11) "-" substr(l, 36, 1) " " substr(l, 37, 11) "-" substr(l, 48, 1)
    return length(l) != 47 ? l : substr(l, 1, 5) "." substr(l, 6, 5) " " substr(l, 11, 5) "." \
      substr(l, 16, 6) " " substr(l, 22, 5) "." substr(l, 27, 6) " " substr(l, 33, 1) " " substr(l, 34, 14)
  }
  function bars(l) {
    if (l ~ /^8/)
      return length(l) != 48 ? l : substr(l, 1, 11) substr(l, 13, 11) substr(l, 25, 11) substr(l, 37, 11)
    return length(l) != 47 ? l : substr(l, 1, 4) substr(l, 33, 1) substr(l, 34, 14) substr(l, 5, 5) \
      substr(l, 11, 10) substr(l, 22, 10)
  }
  { split($5, ymd, "-")
    print $0, brl($4), ymd[3] "/" ymd[2] "/" ymd[1], grouped($6), bars($6) }' \
  "$d/fields.tsv" >"$d/expect.tsv"
tab=$(printf '\t')
while IFS=$tab read -r id path number cents due line name pix amount dmy g bars; do
  f="$d/pdfs/$path"
  [ -f "$f" ] || fail "$id: no file at document.path $path"
  read -r mode size <<STAT
$(stat -c '%a %s' "$f")
STAT
  expect_eq "$id: file mode" 600 "$mode"
  if [ "$size" -lt 10240 ] || [ "$size" -gt 102400 ]; then
    fail "$id: $size bytes, expected 10-100 kB"
  fi
  if [ "$size" -lt "$min" ]; then min=$size; fi
  if [ "$size" -gt "$max" ]; then max=$size; fi
  qpdf --check "$f" >"$d/qpdf.out" 2>&1 ||
    { cat "$d/qpdf.out" >&2; fail "$id: qpdf --check failed"; }
  pdfinfo "$f" >"$d/info"
  pages= title=
  while IFS= read -r l; do
    case $l in
    Pages:*) pages=${l#Pages:} ;;
    Title:*) title=${l#Title:} ;;
    esac
  done <"$d/info"
  pages=${pages#"${pages%%[! ]*}"} title=${title#"${title%%[! ]*}"} # without the padding
  expect_eq "$id: pages" 1 "$pages"
  expect_eq "$id: title" "Fatura $number" "$title"
  IFS= read -r header <"$f" || true
  expect_eq "$id: header" "%PDF-1.3" "$(printf '%.8s' "$header")"
  pdftotext -enc UTF-8 "$f" "$d/text"
  # Whole lines, each in its place on the page: the number in the summary box and the slip,
  # the amount in the box, the items' total and the slip, the due date in the box and the
  # slip. The PIX code is wrapped at 54 characters a line: the printable lines of up to 54
  # characters from the one starting 000201 and the five after it, put back together, begin
  # with the code.
  read -r n_number n_amount n_dmy n_name n_g pix_text <<TEXT
$(number=$number amount=$amount dmy=$dmy name=$name g=$g pix=$pix awk '
    $0 == ENVIRON["number"] { c1++ }
    $0 == ENVIRON["amount"] { c2++ }
    $0 == ENVIRON["dmy"] { c3++ }
    $0 == ENVIRON["name"] { c4++ }
    $0 == ENVIRON["g"] { c5++ }
    /^000201/ { left = 6 }
    left > 0 { left--; if (length($0) >= 1 && length($0) <= 54 && $0 !~ /[^ -~]/) pix = pix $0 }
    END { printf "%d %d %d %d %d %s\n", c1, c2, c3, c4, c5, substr(pix, 1, length(ENVIRON["pix"])) }' \
    "$d/text")
TEXT
  expect_eq "$id: lines '$number'" 2 "$n_number"
  expect_eq "$id: lines '$amount'" 3 "$n_amount"
  expect_eq "$id: lines '$dmy'" 2 "$n_dmy"
  expect_eq "$id: lines '$name'" 1 "$n_name"
  expect_eq "$id: lines '$g'" 1 "$n_g"
  if [ "$pix" != "-" ]; then
    expect_eq "$id: PIX code" "$pix" "$pix_text"
  fi
  if [ -n "$zbar" ]; then
    # 300 dpi, cropped to the bar code at the foot of the slip.
    pdftoppm -r 300 -x 120 -y 3150 -W 1330 -H 250 -png -singlefile "$f" "$d/bars"
    expect_eq "$id: bar code" "$bars" \
      "$(zbarimg -q --raw -Sdisable -Si25.enable "$d/bars.png" 2>/dev/null)"
  fi
  # The line items (the table alone, cropped) add up to the amount; the last row is the total.
  # At 72 dpi a pixel is a point: x 36-336, y 180-295 from the top is the table, title to total.
  pdftotext -enc UTF-8 -layout -r 72 -x 36 -y 180 -W 300 -H 115 "$f" "$d/items"
  read -r nitems sum total <<ITEMS
$(awk '{ while (match($0, /R\$ [0-9.]*,[0-9][0-9]/)) {
           v = substr($0, RSTART + 3, RLENGTH - 3); gsub(/[.,]/, "", v); a[++n] = v
           $0 = substr($0, RSTART + RLENGTH) } }
       END { s = 0; for (i = 1; i < n; i++) s += a[i]; print n - 1, s, a[n] }' "$d/items")
ITEMS
  if [ "$nitems" -lt 3 ] || [ "$nitems" -gt 6 ]; then
    fail "$id: $nitems line items, expected 3 to 6"
  fi
  items_seen="$items_seen $nitems"
  expect_eq "$id: sum of line items" "$cents" "$sum"
  expect_eq "$id: items total" "$cents" "$total"
done <"$d/expect.tsv"
for k in 3 4 5 6; do
  case "$items_seen " in *" $k "*) ;; *) fail "no PDF with $k line items:$items_seen" ;; esac
done
echo "test_gen_pdf: $n PDFs valid, $min to $max bytes"

# A PDF names its own job only: job 1's number is nowhere in job 2's PDF.
n1=$(sed -n 1p "$d/fields.tsv" | cut -f3)
p2=$(sed -n 2p "$d/fields.tsv" | cut -f2)
! pdftotext "$d/pdfs/$p2" - | grep -Fq "$n1" || fail "job 2's PDF shows job 1's number"

# Inline: the same bytes as the files, and otherwise the same records.
"$gen" --count $n --seed 42 --format jsonl --out "$d/inline.jsonl" --pdf inline
"$gen" --count $n --seed 42 --format pbs --zstd --out "$d/inline.pbs.zst" --pdf inline
"$check" "$d/inline.jsonl" $n
"$check" "$d/inline.pbs.zst" $n "$d/inline.jsonl"
jq -c 'del(.invoice.document.path)' "$d/dir.jsonl" >"$d/a"
jq -c 'del(.invoice.document.inline_pdf)' "$d/inline.jsonl" >"$d/b"
cmp -s "$d/a" "$d/b" || fail "--pdf inline changed more than the document source"
expect_eq "inline records with a path" 0 \
  "$(jq -c 'select(.invoice.document.path)' "$d/inline.jsonl" | wc -l | tr -d ' ')"
i=0
while IFS=$tab read -r id path rest; do
  i=$((i + 1))
  expect_eq "$id: inline PDF sha256" "$(sha <"$d/pdfs/$path")" \
    "$(sed -n "${i}p" "$d/inline.jsonl" | inline_sha .invoice.document.inline_pdf)"
done <"$d/fields.tsv"

# Reproducible: same seed, same bytes; job K's PDF whatever --count and --start-id.
"$gen" --count $n --seed 42 --format jsonl --out "$d/again.jsonl" --pdf dir="$d/pdfs2"
"$gen" --count $n --seed 42 --format jsonl --out "$d/inline2.jsonl" --pdf inline
cmp -s "$d/inline.jsonl" "$d/inline2.jsonl" || fail "same seed, different inline records"
"$gen" --count 5 --seed 42 --start-id 21 --format jsonl --out "$d/part.jsonl" --pdf dir="$d/part"
while IFS=$tab read -r id path rest; do
  cmp -s "$d/pdfs/$path" "$d/pdfs2/$path" || fail "$id: same seed, different PDF"
done <"$d/fields.tsv"
sed -n 21,25p "$d/fields.tsv" >"$d/fields-part.tsv"
while IFS=$tab read -r id path rest; do
  cmp -s "$d/pdfs/$path" "$d/part/$path" || fail "$id: PDF differs with --start-id 21 --count 5"
done <"$d/fields-part.tsv"
expect_eq "files of the partial run" 5 "$(files_in "$d/part")"
"$gen" --count 1 --seed 43 --format jsonl --out "$d/other.jsonl" --pdf dir="$d/pdfs3"
p1=$(sed -n 1p "$d/fields.tsv" | cut -f2)
! cmp -s "$d/pdfs/$p1" "$d/pdfs3/$(jq -r .invoice.document.path "$d/other.jsonl")" ||
  fail "different seeds, same PDF"

# carteiro enqueue validates and stores inline records; the spool keeps the bytes.
# enqueue_all SPOOL FILE: every record of FILE enqueued, none rejected.
enqueue_all() {
  CARTEIRO_SPOOL=$1 "$ct" enqueue "$2" >"$d/out" 2>&1 || { cat "$d/out" >&2; fail "enqueue $2"; }
  grep -Fxq "$2: $n records: $n enqueued, 0 duplicates, 0 rejected" "$d/out" ||
    { cat "$d/out" >&2; fail "enqueue $2: unexpected summary"; }
}
enqueue_all "$d/spool.db" "$d/inline.jsonl"
enqueue_all "$d/spool2.db" "$d/inline.pbs.zst"
for k in 1 2 3; do
  id=$(sed -n "${k}p" "$d/fields.tsv" | cut -f1)
  path=$(sed -n "${k}p" "$d/fields.tsv" | cut -f2)
  for spool in spool.db spool2.db; do
    expect_eq "$id: PDF sha256 in $spool" "$(sha <"$d/pdfs/$path")" \
      "$(CARTEIRO_SPOOL="$d/$spool" "$ct" job show "$id" --json --reveal |
        inline_sha .job.invoice.document.inline_pdf)"
  done
done

# Usage and I/O errors.
for arg in "--pdf bogus" "--pdf dir=" "--pdf" "--pdf inline,dir=x"; do
  st=0
  # shellcheck disable=SC2086
  "$gen" --count 1 --out "$d/x.jsonl" $arg 2>/dev/null || st=$?
  expect_eq "'$arg' exit status" 64 "$st"
done
st=0
"$gen" --count 1 --out "$d/x.jsonl" --pdf dir="$d/plain.jsonl/sub" 2>"$d/err" || st=$?
expect_eq "PDF directory under a file: exit status" 74 "$st"
grep -q "^gen-invoices: $d/plain.jsonl/sub/faturas/.*\.pdf: " "$d/err" ||
  fail "no file name in: $(cat "$d/err")"
"$gen" --help | grep -q -- '--pdf none|inline|dir=DIR' || fail "--help does not show --pdf"
echo "test_gen_pdf: ok"
