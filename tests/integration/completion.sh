#!/usr/bin/env bash
# bash completion (tools/completion/carteiro.bash), driven as bash-completion drives it:
# COMP_WORDS/COMP_CWORD set, the function called, COMPREPLY read. It must offer exactly the
# commands `carteiro --help` lists, the subcommands of dlq, spool, job and config, exactly
# each command's options as its --help lists them, file names for --spool, --config and file
# operands, and the fixed values of --format and --channel.
# usage: completion.sh CARTEIRO SOURCE_DIR
. "$(dirname "$0")/lib.sh"
ct=$(readlink -f "$1") src=$(readlink -f "$2")
bc=/usr/share/bash-completion/bash_completion
[ -r "$bc" ] || { echo "FAIL: $bc not found (Debian: bash-completion; tools/setup installs it)" >&2; exit 1; }

# complete WORDS...: what TAB offers after WORDS (the last word is the one being completed;
# "" for a new word), sorted, on one line.
complete_words() {
  (cd "$T/files" && bash --norc --noprofile -c '
    . "$1"; . "$2"; shift 2
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _carteiro "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}"' _ "$bc" "$src/tools/completion/carteiro.bash" "$ct" "$@") |
    sort | xargs
}
mkdir -p "$T/files/spools" "$T/files/etc"
touch "$T/files/spool-a.db" "$T/files/spool-b.db" "$T/files/jobs.jsonl" "$T/files/etc/carteiro.ini"

"$ct" --help | sed -n '/^commands:$/,/^$/p' | sed -nE 's/^  ([a-z]+( [a-z]+)?)  +.*/\1/p' >"$T/forms"
expect_eq "commands" "$(cut -d' ' -f1 "$T/forms" | sort -u | xargs)" "$(complete_words "")"
expect_eq "commands starting with d" "dlq" "$(complete_words d)"
expect_eq "top-level options" "--help --version" "$(complete_words -)"
for first in $(cut -d' ' -f1 "$T/forms" | sort -u); do
  subs=$(sed -n "s/^$first //p" "$T/forms" | sort | xargs)
  [ -n "$subs" ] || continue
  expect_eq "subcommands of $first" "$subs" "$(complete_words "$first" "")"
done
# Every command line: exactly the options of its --help.
while read -r form; do
  # shellcheck disable=SC2086 # the form is one or two words
  want=$("$ct" $form --help | sed -n '/^options:$/,/^$/p' | sed -nE 's/^  (--[a-z][a-z-]*).*/\1/p' | sort | xargs)
  # shellcheck disable=SC2086
  expect_eq "options of $form" "$want" "$(complete_words $form --)"
done <"$T/forms"
expect_eq "dlq replay has no --reveal" "--rate --reason" "$(complete_words dlq replay --r)"

# Values.
expect_eq "--spool: spool files and directories" "spool-a.db spool-b.db spools" \
  "$(complete_words enqueue --spool sp)"
expect_eq "dlq list --spool: files" "spool-a.db spool-b.db spools" "$(complete_words dlq list --spool sp)"
expect_eq "run --config: files" "etc" "$(complete_words run --config e)"
expect_eq "run --config in a directory" "etc/carteiro.ini" "$(complete_words run --config etc/)"
expect_eq "config check FILE" "etc/carteiro.ini" "$(complete_words config check etc/c)"
expect_eq "enqueue FILE" "jobs.jsonl" "$(complete_words enqueue j)"
expect_eq "enqueue --format" "jsonl" "$(complete_words enqueue --format j)"
expect_eq "dlq list --channel" "email sms whatsapp" "$(complete_words dlq list --channel "")"
expect_eq "status --url: no file names" "" "$(complete_words status --url sp)"
expect_eq "dlq list --reason: no file names" "" "$(complete_words dlq list --reason sp)"
expect_eq "job show ID: no file names" "" "$(complete_words job show sp)"
expect_eq "unknown command: nothing" "" "$(complete_words frobnicate --)"
finish
