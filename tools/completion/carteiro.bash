# bash completion for carteiro(1).
#
# The commands and their options are not listed here: they are read at TAB time from the
# carteiro being completed (`carteiro --help`, `carteiro COMMAND --help`), the same text the
# man page is made from, so completion knows every command and option of the installed
# version and nothing it does not have.
#   carteiro <TAB>              run config enqueue spool job dlq status, --help --version
#   carteiro dlq <TAB>          list show stats replay purge export import
#   carteiro dlq replay --<TAB> that subcommand's options
#   --spool, --config, FILE...  file names (--spool also directories); --format pbs|jsonl;
#   --channel whatsapp|sms|email

# _carteiro_forms CMD: the command lines `CMD --help` lists ("run", "dlq list", ...).
_carteiro_forms() {
  "$1" --help 2>/dev/null |
    sed -n '/^commands:$/,/^$/p' | sed -nE 's/^  ([a-z]+( [a-z]+)?)  +.*/\1/p'
}

# _carteiro_options CMD FORM...: "--option ARG" or "--option", one a line, from FORM's --help.
_carteiro_options() {
  local cmd=$1
  shift
  "$cmd" "$@" --help 2>/dev/null |
    sed -n '/^options:$/,/^$/p' | sed -nE 's/^  (--[a-z][a-z-]*)( [^ ]+)?( {2,}.*|$)/\1\2/p'
}

_carteiro() {
  local cur prev words cword
  _init_completion -s || return
  local cmd=${words[0]}
  # the program being completed; a name not found on PATH falls back to carteiro
  type -P "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || cmd=carteiro

  # the form typed so far: the first one or two words that are not options
  local forms form="" i w
  forms=$(_carteiro_forms "$cmd")
  local typed=()
  for ((i = 1; i < cword; i++)); do
    w=${words[i]}
    [[ $w == -* ]] && break
    typed+=("$w")
    [ ${#typed[@]} -eq 2 ] && break
  done
  local first=${typed[0]:-} second=${typed[1]:-}
  if [ -n "$first" ] && [ -n "$second" ] && grep -qx "$first $second" <<<"$forms"; then
    form="$first $second"
  elif [ -n "$first" ] && grep -qx "$first" <<<"$forms"; then
    form=$first
  fi

  # the first word: a command, or a top-level option
  if [ "$cword" -eq 1 ]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "$(_carteiro_options "$cmd" | cut -d' ' -f1)" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "$(cut -d' ' -f1 <<<"$forms" | sort -u)" -- "$cur"))
    fi
    return
  fi
  # the second word of a two-word command (dlq list, spool stats, ...)
  if [ -z "$form" ] && [ "$cword" -eq 2 ]; then
    COMPREPLY=($(compgen -W "$(sed -n "s/^$first //p" <<<"$forms")" -- "$cur"))
    return
  fi
  [ -n "$form" ] || return

  # the value of the option before the cursor
  local opts arg
  # shellcheck disable=SC2086 # the form is one or two words
  opts=$(_carteiro_options "$cmd" $form)
  if [[ $prev == --* ]]; then
    arg=$(awk -v o="$prev" '$1 == o { print $2 }' <<<"$opts")
    if [ -n "$arg" ]; then
      case $prev in
        --spool) _filedir ;;
        --format) COMPREPLY=($(compgen -W "pbs jsonl" -- "$cur")) ;;
        --channel) COMPREPLY=($(compgen -W "whatsapp sms email" -- "$cur")) ;;
        *)
          case $arg in
            *FILE* | *PATH*) _filedir ;;
          esac
          ;;
      esac
      return
    fi
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(cut -d' ' -f1 <<<"$opts")" -- "$cur"))
    return
  fi
  # operands that are files: enqueue FILE..., config check FILE, dlq export/import FILE
  case $form in
    enqueue | "config check" | "dlq export" | "dlq import") _filedir ;;
  esac
} && complete -F _carteiro carteiro
