# Shared shell functions of the farm's commands. Every value from the stack
# configuration arrives in an environment variable; none is part of this text.
set -eu

# write_file PATH CONTENT replaces PATH in one rename, so commands running side by side
# never read a half-written file.
write_file() {
  mkdir -p "$(dirname "$1")"
  tmp="$1.tmp.$$"
  printf '%s' "$2" > "$tmp"
  mv -f "$tmp" "$1"
}

log() {
  printf '%s\n' "$*" >&2
}
