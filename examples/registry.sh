#!/usr/bin/env bash
# Service registry and discovery, as Nacos naming: an instance registers an ephemeral file with its
# metadata as JSON in MOUNT/services/SERVICE (a set-gid directory) and holds it while it runs; the
# file disappears the moment its process stops or dies, on every host. Clients list the healthy
# instances, follow changes, and pick one at random in proportion to its weight.
#
#   $ examples/registry.sh /mnt/quorumfs register orders 10.0.0.1:8080 weight=1 &
#   registered /mnt/quorumfs/services/orders/10.0.0.1:8080
#   $ examples/registry.sh /mnt/quorumfs register orders 10.0.0.2:8080 weight=3 cluster=east &
#   $ examples/registry.sh /mnt/quorumfs register orders 10.0.0.3:8080 healthy=false &
#   $ cat /mnt/quorumfs/services/orders/10.0.0.2:8080
#   {"ip":"10.0.0.2","port":8080,"weight":3,"healthy":true,"cluster":"east","host":"web-2","pid":4243}
#   $ examples/registry.sh /mnt/quorumfs list orders              # healthy ones: NAME WEIGHT CLUSTER
#   10.0.0.1:8080 1 DEFAULT
#   10.0.0.2:8080 3 east
#   $ examples/registry.sh /mnt/quorumfs pick orders 4            # 4 picks, weight 1 : 3
#   10.0.0.2:8080
#   10.0.0.2:8080
#   10.0.0.1:8080
#   10.0.0.2:8080
#   $ examples/registry.sh /mnt/quorumfs watch orders &          # the healthy list at every change
#   --- 2 healthy
#   10.0.0.1:8080 1 DEFAULT
#   10.0.0.2:8080 3 east
#   $ kill -9 %1                                                  # 10.0.0.1 dies
#   --- 1 healthy
#   10.0.0.2:8080 3 east
#
# The instance's file is named IP:PORT (O_EXCL: one registration of an address per service); its
# JSON is written with one commit through the open node (docs/mount.md, "One commit per
# redirection"), so a reader never sees it half written. `healthy=false` registers an instance that
# is listed by `ls` but never picked (Nacos: disabled); `kill -USR1` marks a running instance
# unhealthy and `kill -USR2` healthy again, each one commit of its JSON (watchers see the
# change). A host that is lost takes its instances with it after the session timeout; the registry itself is the ensemble's tree and survives any minority
# of members lost. Weights are numbers >= 0 (as Nacos, 0 means "never picked").
set -u -o pipefail
# shellcheck source=lib/watch.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/watch.sh"
export LC_ALL=C

usage() {
  echo "usage: $0 MOUNT register SERVICE IP:PORT [weight=W] [cluster=C] [healthy=true|false]" >&2
  echo "                                  register until SIGTERM/SIGINT (or death)" >&2
  echo "       $0 MOUNT list SERVICE      healthy instances: NAME WEIGHT CLUSTER, one a line" >&2
  echo "       $0 MOUNT watch SERVICE     the healthy list at start and after every change" >&2
  echo "       $0 MOUNT pick SERVICE [N]  N (default 1) instances picked at random by weight" >&2
  exit 2
}

(($# >= 3)) || usage
mount=$1
command=$2
service=$3
[[ $service =~ ^[A-Za-z0-9._-]+$ && $service != . && $service != .. ]] ||
  { echo "${0##*/}: bad service name '$service'" >&2; exit 2; }
service_dir=$mount/services/$service

ensure_service_dir() {
  mkdir -p -- "$mount/services" || exit 1
  # The set-gid bit makes every file created inside ephemeral (docs/guarantees.md §4).
  mkdir -m 2755 -- "$service_dir" 2>/dev/null
  # (`mkdir -m` sets the bit with a chmod just after the mkdir: give a racing instance <= 5 s.)
  local tries
  for ((tries = 0; tries < 50; tries++)); do
    [[ -d $service_dir && -g $service_dir ]] && return 0
    sleep 0.1
  done
  echo "${0##*/}: $service_dir must be a directory with the set-gid bit (chmod g+s)" >&2
  exit 1
}

register() {
  local address=$1
  shift
  [[ $address =~ ^([^:/[:space:]]+):([0-9]{1,5})$ ]] || usage
  local ip=${BASH_REMATCH[1]} port=${BASH_REMATCH[2]}
  local weight=1 cluster=DEFAULT healthy=true option
  for option; do
    case $option in
      weight=*) weight=${option#weight=} ;;
      cluster=*) cluster=${option#cluster=} ;;
      healthy=true | healthy=false) healthy=${option#healthy=} ;;
      *) usage ;;
    esac
  done
  [[ $weight =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "${0##*/}: weight must be a number >= 0" >&2; exit 2; }
  # instance_json HEALTHY: the metadata, one line.
  instance_json() {
    jq -cn --arg ip "$ip" --argjson port "$port" --argjson weight "$weight" \
      --argjson healthy "$1" --arg cluster "$cluster" --arg host "$(hostname)" \
      --argjson pid $$ '{ip: $ip, port: $port, weight: $weight, healthy: $healthy,
        cluster: $cluster, host: $host, pid: $pid}'
  }
  local metadata
  metadata=$(instance_json "$healthy") || exit 1
  ensure_service_dir
  # Somewhere to block without a child process (a child would inherit the instance's descriptor
  # and keep it registered after we are gone): a pipe we hold both ends of never has data.
  local never_fd instance_fd
  exec {never_fd}<> <(:)
  set -o noclobber # O_EXCL: an address already registered fails (EEXIST), its holder untouched
  exec {instance_fd}>"$service_dir/$address" || exit 1
  set +o noclobber
  # echo runs on a copy of the descriptor: that copy's close commits the JSON, the node lives on.
  printf '%s\n' "$metadata" >&"$instance_fd" || exit 1
  echo "registered $service_dir/$address"
  # SIGUSR1 / SIGUSR2: mark the instance unhealthy / healthy. The new JSON replaces the old in ONE
  # commit: perl truncates and writes through a copy of the descriptor, whose close commits both
  # (docs/mount.md: ftruncate is part of the descriptor's commit at close).
  set_health() {
    metadata=$(instance_json "$1") &&
      perl -e 'open(my $f, ">&=", $ARGV[0]) or die "$!\n"; truncate($f, 0) or die "$!\n";
        seek($f, 0, 0); print $f "$ARGV[1]\n" or die "$!\n"; close($f) or die "$!\n"' \
        "$instance_fd" "$metadata" &&
      echo "healthy=$1"
  }
  trap 'set_health false' USR1
  trap 'set_health true' USR2
  trap 'exit 0' TERM INT
  # (a trapped signal ends the read: read again)
  while :; do read -r -u "$never_fd"; done
}

# healthy_instances: NAME WEIGHT CLUSTER for every healthy instance, sorted by name. A file not yet
# written (its instance is between the create and the commit of its JSON) or gone meanwhile is
# left out.
healthy_instances() {
  [[ -d $service_dir ]] || return 0
  local paths=("$service_dir"/*)
  [[ -e ${paths[0]} ]] || return 0
  # One jq for every file: a file gone meanwhile is an error jq reports and skips; one whose
  # JSON is not committed yet is empty, no input at all.
  jq -r 'select(.healthy == true) |
    "\(input_filename | sub(".*/"; "")) \(.weight) \(.cluster)"' "${paths[@]}" 2>/dev/null | sort
  return 0
}

pick() {
  local count=${1:-1}
  [[ $count =~ ^[1-9][0-9]*$ ]] || usage
  local instances
  instances=$(healthy_instances)
  [[ -n $instances ]] || { echo "${0##*/}: no healthy instance of $service" >&2; exit 1; }
  # Weighted random choice, COUNT times from one listing (the seed from /dev/urandom: awk's
  # default seed is the time in seconds; 3 bytes, as mawk folds larger seeds onto a few).
  awk -v count="$count" -v seed="$(od -An -N3 -tu4 /dev/urandom)" '
    { name[NR] = $1; weight[NR] = $2 + 0; total += weight[NR] }
    END {
      if (total <= 0) { print "no instance has a weight above 0" > "/dev/stderr"; exit 1 }
      srand(seed)
      for (i = 0; i < count; i++) {
        r = rand() * total
        for (n = 1; n < NR && r >= weight[n]; n++) r -= weight[n]
        while (weight[n] == 0) n--  # (rounding at the very end of the range)
        print name[n]
      }
    }' <<<"$instances"
}

watch_service() {
  ensure_service_dir
  local events_fd watcher_pid shown='' now
  # Creates, deletes, renames, and the commit of an instance's JSON (CLOSE_WRITE): any of them
  # may change the healthy list. The watch first, then the listing, so no change is missed.
  exec {events_fd}< <(exec inotifywait -m -e create -e delete -e close_write -e moved_to \
    -e moved_from --format 'event %e %f' -- "$service_dir" 2>&1)
  watcher_pid=$!
  trap 'kill "$watcher_pid" 2>/dev/null' EXIT
  trap 'exit 0' TERM INT
  await_watch "$events_fd" "$service_dir"
  local first=1 count drained
  while :; do
    now=$(healthy_instances)
    if ((first)) || [[ $now != "$shown" ]]; then
      first=0
      shown=$now
      count=0
      [[ -n $now ]] && count=$(wc -l <<<"$now")
      echo "--- $count healthy"
      [[ -n $now ]] && printf '%s\n' "$now"
    fi
    read -r -u "$events_fd" _ || break
    # (a burst of events is read at once, up to 1000: one listing after them)
    for ((drained = 0; drained < 1000; drained++)); do
      read -r -t 0.05 -u "$events_fd" _ || break
    done
  done
  echo "${0##*/}: the watch on $service_dir ended (unmounted?)" >&2
  exit 1
}

case $command in
  register) (($# >= 4)) || usage; shift 3; register "$@" ;;
  list) (($# == 3)) || usage; healthy_instances ;;
  pick) (($# <= 4)) || usage; pick "${4:-1}" ;;
  watch) (($# == 3)) || usage; watch_service ;;
  *) usage ;;
esac
