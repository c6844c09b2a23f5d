# bash completion for herd. Commands and options are read from `herd --help` and
# `herd COMMAND --help` when completing, so they are always those of the installed
# herd. Plain bash that zsh's bashcompinit also runs (no mapfile). Installed to
# share/bash-completion/completions/herd (cmake/install.cmake).
_herd_bash() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
  local herd="${COMP_WORDS[0]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    local cmds
    cmds="$("$herd" --help 2>/dev/null | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1}') help"
    COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
    return
  fi
  local cmd="${COMP_WORDS[1]}"
  if [ "$cmd" = help ]; then
    COMPREPLY=($(compgen -W "$("$herd" --help 2>/dev/null | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1}')" -- "$cur"))
    return
  fi
  case "$prev" in
    -m|--model|-o|--output|-f|--file|--messages|--tools|--stop-file|--history|-jf|--json-schema-file|--api-key-file|--taps-out|--logits-out|--data|--lora|--lora-init|--log-jsonl|--teacher|--teacher-cache|--student|--guard|--prompt-guard|--jsonl|--tokenizer|--kl-divergence-base|--prompts|--imatrix)
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur"))
      return ;;
  esac
  if [[ "$cur" == -* ]]; then
    local opts
    opts="$("$herd" "$cmd" --help 2>&1 | grep -oE -- '(^|[ ,])--?[a-zA-Z][-a-zA-Z0-9]*' | tr -d ' ,' | sort -u)"
    COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
    return
  fi
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _herd_bash herd
