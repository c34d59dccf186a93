# shellcheck shell=bash
# Sourced by the recipes: waiting for an inotifywait started on a descriptor to be watching.
#
#   exec {events_fd}< <(exec inotifywait -m -e create --format 'event %e %f' -- "$dir" 2>&1)
#   await_watch "$events_fd" "$dir"    # returns once events can no longer be missed

# await_watch FD DIR: reads FD until inotifywait says "Watches established." (10 s at most); ends
# the script with a message naming DIR when it does not. Nothing read before that is an event.
await_watch() {
  local fd=$1 dir=$2 line=
  while read -r -t 10 -u "$fd" line; do
    [[ $line == "Watches established." ]] && return 0
  done
  echo "${0##*/}: cannot watch $dir: $line" >&2
  exit 1
}
