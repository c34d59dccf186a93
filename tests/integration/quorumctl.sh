#!/usr/bin/env bash
# quorumctl (docs/quorumctl.md): every command and every documented exit code, on one standalone
# daemon and its mount. What goes through the mount is checked against what the shell tools see;
# a failed command must change nothing.
source "$(dirname "$0")/lib.sh"
# quorumctl reads data from stdin when it is no terminal: give it an empty one.
exec </dev/null

QC=$(dirname "$QUORUMFS_BIN")/quorumctl
[[ -x $QC ]] || fatal "no quorumctl beside $QUORUMFS_BIN"
export QC

must_start_node a
M=$(mnt_of a)
W=$M/ctl
mkdir "$W" || fatal "mkdir $W failed"

# expect_exit WHAT CODE CMD: the shell command line CMD exits with CODE (RUN_OUTPUT keeps what it said).
expect_exit() {
  local what=$1 code=$2
  run_shell "$3"
  if ((RUN_STATUS == code)); then
    pass "$what"
  else
    fail "$what: '$3' exited $RUN_STATUS, expected $code: $(printable "$RUN_OUTPUT")"
  fi
}

# expect_gone_within WHAT PATH: PATH disappears within 10 s.
expect_gone_within() {
  if wait_for 10 test ! -e "$2"; then pass "$1"; else fail "$1: $2 still there after 10 s"; fi
}

# --- --help on every command, usage errors exit 1
for command in create get set delete stat ls "acl get" "acl set" sync wait multi status dump restore; do
  expect_exit "quorumctl $command --help" 0 "\$QC $command --help | grep -q Usage"
done
expect_exit "no command: usage" 1 "\$QC"
expect_exit "create without a path: usage" 1 "\$QC create"
expect_exit "wait --until nonsense: usage" 1 "\$QC wait --until never '$W/x'"
expect_exit "set --version -5: usage" 1 "\$QC set --version -5 '$W/x' d"
expect_exit "-- CMD without create -e: usage" 1 "\$QC get '$W/x' -- true"

# --- not in a quorumfs mount: 7
expect_exit "a path outside any quorumfs mount" 7 "\$QC get /etc/hostname"
expect_match "...says why" "not inside a quorumfs mount" "$RUN_OUTPUT"
expect_exit "--mount that is no quorumfs mount" 7 "\$QC --mount /etc get /hostname"

# --- create, get, set, delete through the mount
expect_exit "create with data" 0 "\$QC create '$W/f' hello"
expect_eq "create prints the path" "$W/f" "$RUN_OUTPUT"
expect_content "$W/f" hello
expect_exit "get" 0 "\$QC get '$W/f'"
expect_eq "get prints the data" hello "$RUN_OUTPUT"
expect_exit "create from stdin" 0 "printf 'from stdin' | \$QC create '$W/g'"
expect_content "$W/g" "from stdin"
expect_exit "create of an existing node: 4" 4 "\$QC create '$W/f' other"
expect_content "$W/f" hello
expect_exit "create in a missing directory: 2" 2 "\$QC create '$W/none/f' x"
expect_exit "get of a missing node: 2" 2 "\$QC get '$W/missing'"
expect_match "...with the reason" "No such file or directory" "$RUN_OUTPUT"
expect_exit "-q: no message" 2 "\$QC -q get '$W/missing'"
expect_eq "...nothing said" "" "$RUN_OUTPUT"
expect_exit "create -d with data" 0 "\$QC create -d '$W/dir' dirdata"
expect_eq "a directory" dir "$([[ -d $W/dir ]] && echo dir)"
expect_exit "get of a directory: its user.zk.data" 0 "\$QC get '$W/dir'"
expect_eq "directory data" dirdata "$RUN_OUTPUT"
expect_exit "create -d -s: usage" 1 "\$QC create -d -s '$W/dir2'"
expect_exit "--mount M and a znode path" 0 "\$QC --mount '$M' get /ctl/f"
expect_eq "...reads the same node" hello "$RUN_OUTPUT"
expect_exit "relative path from inside the mount" 0 "cd '$W' && \$QC get f"
expect_eq "...reads the same node" hello "$RUN_OUTPUT"

mkdir -m 1755 "$W/queue"
expect_exit "create -s" 0 "\$QC create -s '$W/queue/job-' payload"
expect_match "create -s prints the real name" "^$W/queue/job-[0-9]{10}$" "$RUN_OUTPUT"
expect_content "$RUN_OUTPUT" payload
expect_exit "create -s --mount prints the znode path" 0 "\$QC --mount '$M' create -s /ctl/queue/job- x"
expect_match "...a znode path" "^/ctl/queue/job-[0-9]{10}$" "$RUN_OUTPUT"

version0=$(xattr "$W/f" user.zk.version)
expect_exit "set" 0 "\$QC set '$W/f' world"
expect_content "$W/f" world
expect_eq "set is one setData" "$((version0 + 1))" "$(xattr "$W/f" user.zk.version)"
expect_exit "set from stdin" 0 "printf piped | \$QC set '$W/f'"
expect_content "$W/f" piped
expect_exit "set of a directory's data" 0 "\$QC set '$W/dir' newdir"
expect_eq "...user.zk.data" newdir "$(xattr "$W/dir" user.zk.data)"
expect_exit "set past the data limit (EFBIG): 9" 9 "head -c 1100000 /dev/zero | \$QC set '$W/f'"
expect_match "...says why" "File too large" "$RUN_OUTPUT"
expect_content "$W/f" piped
expect_exit "set of a missing node: 2" 2 "\$QC set '$W/missing' x"
expect_absent "$W/missing"

: >"$W/dir/child"
expect_exit "delete of a non-empty directory: 8" 8 "\$QC delete '$W/dir'"
expect_exists "$W/dir/child"
expect_exit "delete of a file" 0 "\$QC delete '$W/dir/child'"
expect_absent "$W/dir/child"
expect_exit "delete of an empty directory" 0 "\$QC delete '$W/dir'"
expect_absent "$W/dir"
expect_exit "delete of a missing node: 2" 2 "\$QC delete '$W/dir'"

# --- stat, ls, acl, sync
expect_exit "stat" 0 "\$QC stat '$W/f'"
expect_match "stat: path" "(^|$(printf '\n'))path=/ctl/f" "$RUN_OUTPUT"
expect_match "stat: version" "version=$((version0 + 2))" "$RUN_OUTPUT"
expect_match "stat: dataLength" "dataLength=5" "$RUN_OUTPUT"
expect_match "stat: mode" "mode=0644" "$RUN_OUTPUT"
expect_match "stat: type" "type=file" "$RUN_OUTPUT"
expect_exit "stat of a missing node: 2" 2 "\$QC stat '$W/missing'"

mkdir -p "$W/tree/b"
: >"$W/tree/a"
: >"$W/tree/b/c"
expect_exit "ls" 0 "\$QC ls '$W/tree'"
expect_eq "ls lists names" "a|b" "$(printable "$RUN_OUTPUT")"
expect_exit "ls -R" 0 "\$QC --mount '$M' ls -R /ctl/tree"
expect_eq "ls -R lists paths, depth first" "/ctl/tree/a|/ctl/tree/b|/ctl/tree/b/c" "$(printable "$RUN_OUTPUT")"
expect_exit "ls of a missing directory: 2" 2 "\$QC ls '$W/none'"

expect_exit "acl get" 0 "\$QC acl get '$W/f'"
expect_eq "acl get prints the ACL" "world:anyone:cdrwa" "$RUN_OUTPUT"
expect_exit "acl set" 0 "\$QC acl set '$W/f' 'uid:0:cdrwa,world:anyone:r'"
expect_eq "...what getfattr shows" "uid:0:cdrwa,world:anyone:r" "$(xattr "$W/f" user.zk.acl)"
expect_exit "acl set of bad text: 1" 1 "\$QC acl set '$W/f' 'nonsense'"
expect_eq "...ACL unchanged" "uid:0:cdrwa,world:anyone:r" "$(xattr "$W/f" user.zk.acl)"
chmod 666 "$W/f"
expect_exit "nobody: set where the ACL refuses WRITE: 5" 5 "runuser -u nobody -- \$QC set '$W/f' x"
expect_content "$W/f" piped
expect_exit "nobody: acl set without ADMIN: 5" 5 "runuser -u nobody -- \$QC acl set '$W/f' world:anyone:cdrwa"
expect_exit "sync" 0 "\$QC sync '$W/f'"
expect_exit "sync of a missing node: 2" 2 "\$QC sync '$W/missing'"

# --- wait
expect_exit "wait --timeout for a node that never comes: 6" 6 "\$QC wait --timeout 0.5 '$W/never'"
expect_match "...says it timed out" "timed out" "$RUN_OUTPUT"
started=$SECONDS
(sleep 0.5; : >"$W/later") &
expect_exit "wait --until exists" 0 "\$QC wait --timeout 20 '$W/later'"
expect_true "...returned well before its timeout (a loaded machine: 10 s)" test $((SECONDS - started)) -le 10
(sleep 0.5; rm "$W/later") &
expect_exit "wait --until gone" 0 "\$QC wait --until gone --timeout 20 '$W/later'"
expect_absent "$W/later"
: >"$W/watched"
(sleep 0.5; write_once "$W/watched" changed) &
expect_exit "wait --until change" 0 "\$QC wait --until change --timeout 20 '$W/watched'"
expect_content "$W/watched" changed
(sleep 0.5; : >"$W/tree/new-child") &
expect_exit "wait --until change of a directory: a child is created" 0 "\$QC wait --until change --timeout 20 '$W/tree'"
expect_exists "$W/tree/new-child"
expect_exit "wait --until change: nothing changes: 6" 6 "\$QC wait --until change --timeout 0.5 '$W/watched'"
expect_exit "wait --until change of a missing node: 2" 2 "\$QC wait --until change --timeout 1 '$W/missing'"

# --- create -e: the node lives as long as quorumctl
"$QC" create -e "$W/eph" held >"$TEST_TMP/eph.out" 2>&1 &
holder=$!
track_pid "$holder"
wait_for 10 test -e "$W/eph" || fail "create -e: $W/eph did not appear"
expect_content "$W/eph" held
expect_eq "create -e prints the path" "$W/eph" "$(cat "$TEST_TMP/eph.out")"
kill -TERM "$holder"
wait_pid_exit "$holder" 10 || fail "create -e did not exit on SIGTERM"
expect_eq "create -e exits 0 on SIGTERM" 0 "${WAITED_STATUS:-}"
expect_gone_within "...and its node is gone" "$W/eph"
"$QC" create -e "$W/eph" >/dev/null 2>&1 &
holder=$!
track_pid "$holder"
wait_for 10 test -e "$W/eph" || fail "create -e: $W/eph did not appear"
kill -KILL "$holder"
wait_pid_exit "$holder" 10 2>/dev/null || true
expect_gone_within "create -e killed with SIGKILL: its node is gone" "$W/eph"
"$QC" create -e "$W/eph" -- sleep 60 >/dev/null 2>&1 &
holder=$!
track_pid "$holder"
wait_for 10 test -e "$W/eph" || fail "create -e -- sleep: $W/eph did not appear"
kill -TERM "$holder"
wait_pid_exit "$holder" 10 || fail "create -e -- sleep 60 did not pass SIGTERM on to sleep"
expect_eq "create -e -- CMD: a SIGTERM goes to CMD, which dies of it" 143 "${WAITED_STATUS:-}"
expect_gone_within "...and the node is gone" "$W/eph"
expect_exit "create -e -- CMD: exits with CMD's status, the node there meanwhile" 3 \
  "\$QC create -e '$W/eph' -- sh -c 'test -e \"$W/eph\" && exit 3'"
expect_absent "$W/eph"
mkdir -m 1755 "$W/election"
expect_exit "create -e -s -- CMD: the real name printed before CMD runs" 0 \
  "\$QC create -e -s '$W/election/n-' -- true"
expect_match "...the sequential name" "^$W/election/n-[0-9]{10}$" "$RUN_OUTPUT"
expect_eq "...and gone after" "" "$(ls "$W/election")"

# --- the mount's POSIX checks apply as for shell tools
echo root-only >"$W/private"
chmod 644 "$W/private"
expect_exit "nobody: set on a 0644 root file: 5" 5 "runuser -u nobody -- \$QC set '$W/private' x"
expect_content "$W/private" root-only
expect_exit "nobody: create in a 0755 root directory: 5" 5 "runuser -u nobody -- \$QC create '$W/mine' x"
expect_absent "$W/mine"

# --- the control socket: compare-and-set, versioned delete
expect_eq "the mount publishes the control socket" "@quorumfs-$(pid_of a)" "$(xattr "$M" user.quorumfs.control)"
"$QC" create "$W/cas" v0 >/dev/null
v=$(xattr "$W/cas" user.zk.version)
expect_exit "set --version at the node's version" 0 "\$QC set --version $v '$W/cas' v1"
expect_content "$W/cas" v1
expect_eq "...one setData" "$((v + 1))" "$(xattr "$W/cas" user.zk.version)"
mzxid=$(xattr "$W/cas" user.zk.mzxid)
expect_exit "set --version at a stale version: 3" 3 "\$QC set --version $v '$W/cas' v2"
expect_match "...says why" "version mismatch \(BadVersion\): nothing written" "$RUN_OUTPUT"
expect_content "$W/cas" v1
expect_eq "...version unchanged" "$((v + 1))" "$(xattr "$W/cas" user.zk.version)"
expect_eq "...mzxid unchanged" "$mzxid" "$(xattr "$W/cas" user.zk.mzxid)"
expect_exit "set --version -1: any version" 0 "printf v3 | \$QC set --version -1 '$W/cas'"
expect_content "$W/cas" v3
expect_exit "set --version of a missing node: 2" 2 "\$QC set --version 0 '$W/missing' x"
expect_absent "$W/missing"
v=$(xattr "$W/cas" user.zk.version)
expect_exit "delete --version at a stale version: 3" 3 "\$QC delete --version $((v - 1)) '$W/cas'"
expect_exists "$W/cas"
expect_exit "delete --version at the node's version" 0 "\$QC --mount '$M' delete --version $v /ctl/cas"
expect_absent "$W/cas"
mkdir "$W/full" && : >"$W/full/x"
expect_exit "delete --version of a non-empty directory: 8" 8 "\$QC delete --version 0 '$W/full'"
expect_exists "$W/full/x"
# A quorumctl in another PID namespace cannot see that the socket's peer is the daemon that
# published the name (SO_PEERCRED gives pid 0 there), as with a squatter: it refuses.
expect_exit "a socket whose peer is not the published pid: 7" 7 \
  "unshare --pid --fork \$QC set --version -1 '$W/full/x' y"
expect_match "...refused, saying why" "not to the daemon \(pid $(pid_of a)\): refused" "$RUN_OUTPUT"
expect_eq "...nothing written" "" "$(cat "$W/full/x")"
expect_exit "set --version with --mount on no quorumfs mount: 7" 7 "\$QC --mount /etc set --version 0 /hostname x"

# --- a write through the socket is answered once the mount shows it (caches dropped, echo made):
# the caller reads it back at once, as after a write through the mount
bad=""
for i in $(seq 1 20); do
  "$QC" create "$W/rb$i" a >/dev/null
  cat "$W/rb$i" >/dev/null  # its name, attributes and pages now cached by the kernel
  v=$(xattr "$W/rb$i" user.zk.version)
  "$QC" set --version "$v" "$W/rb$i" b || bad+=" set-failed$i"
  [[ $(cat "$W/rb$i") == b ]] || bad+=" stale-data$i"
  "$QC" delete --version "$((v + 1))" "$W/rb$i" || bad+=" delete-failed$i"
  [[ -e $W/rb$i ]] && bad+=" still-there$i"
done
expect_eq "20 set --version and delete --version read back at once on the mount" "" "$bad"

# --- multi: all or nothing
"$QC" create "$W/mf" one >/dev/null
vf=$(xattr "$W/mf" user.zk.version)
# (each op sees the ones before it: the check comes after the set's new version)
expect_exit "multi of create, set and check" 0 \
  "\$QC multi 'create $W/m1 \"first node\"' 'set $W/mf two $vf' 'check $W/mf $((vf + 1))'"
expect_eq "multi prints the created paths" "$W/m1" "$RUN_OUTPUT"
expect_content "$W/m1" "first node"
expect_content "$W/mf" two
expect_eq "...created with the caller's owner and mode 0644" "0:0 644" "$(stat -c '%u:%g %a' "$W/m1")"
vf=$(xattr "$W/mf" user.zk.version)
mzxid=$(xattr "$W/mf" user.zk.mzxid)
expect_exit "multi whose check fails: 3" 3 "\$QC multi 'create $W/m2 x' 'set $W/mf three' 'check $W/mf $((vf + 5))'"
expect_match "...names the failing op" "op 3 'check" "$RUN_OUTPUT"
expect_absent "$W/m2"
expect_content "$W/mf" two
expect_eq "...version unchanged" "$vf" "$(xattr "$W/mf" user.zk.version)"
expect_eq "...mzxid unchanged" "$mzxid" "$(xattr "$W/mf" user.zk.mzxid)"
expect_exit "multi that deletes a missing node: 2" 2 "\$QC multi 'set $W/mf four' 'delete $W/none'"
expect_content "$W/mf" two
expect_exit "multi that creates an existing node: 4" 4 "\$QC multi 'set $W/mf four' 'create $W/m1'"
expect_content "$W/mf" two
expect_exit "multi from stdin" 0 "printf '# a comment\ncreate %s/m3 a\n\ndelete %s/m1\n' '$W' '$W' | \$QC multi"
expect_exists "$W/m3"
expect_absent "$W/m1"
expect_exit "multi with --mount prints znode paths" 0 "\$QC --mount '$M' multi 'create /ctl/m4 z'"
expect_eq "...a znode path" /ctl/m4 "$RUN_OUTPUT"
expect_exit "multi with a bad op: 1" 1 "\$QC multi 'frob $W/mf'"
expect_exit "multi with an unclosed quote: 1" 1 "\$QC multi \"set $W/mf 'x\""
expect_exit "multi with nothing: 1" 1 "\$QC multi"
expect_content "$W/mf" two

# --- the socket keeps the mount's permissions (POSIX and ACL) for a non-root caller
vp=$(xattr "$W/private" user.zk.version)
expect_errno "runuser -u nobody -- bash -c 'write_once \"$W/private\" x'" "Permission denied"
expect_exit "nobody: set --version on a 0644 root file, as the mount refuses: 5" 5 \
  "runuser -u nobody -- \$QC set --version $vp '$W/private' x"
expect_match "...not permitted" "Permission denied" "$RUN_OUTPUT"
expect_content "$W/private" root-only
expect_eq "...version unchanged" "$vp" "$(xattr "$W/private" user.zk.version)"
expect_exit "nobody: delete --version in a 0755 root directory: 5" 5 \
  "runuser -u nobody -- \$QC delete --version $vp '$W/private'"
expect_exists "$W/private"
expect_exit "nobody: multi with a refused op: 5, nothing done" 5 \
  "runuser -u nobody -- \$QC multi 'set $W/mf x' 'set $W/private x'"
expect_content "$W/mf" two
mkdir -m 700 "$W/closed"
echo inside >"$W/closed/f"
chmod 666 "$W/closed/f"
expect_exit "nobody: set --version behind a 0700 directory: 5" 5 "runuser -u nobody -- \$QC set --version -1 '$W/closed/f' x"
expect_content "$W/closed/f" inside
echo open >"$W/open"
chmod 666 "$W/open"
expect_exit "nobody: set --version on a 0666 file with an open ACL" 0 "runuser -u nobody -- \$QC set --version -1 '$W/open' nobody"
expect_content "$W/open" nobody
setfattr -n user.zk.acl -v 'uid:0:cdrwa,world:anyone:r' "$W/open"
expect_errno "runuser -u nobody -- bash -c 'write_once \"$W/open\" x'" "Permission denied"
expect_exit "nobody: set --version where the ACL refuses WRITE, as the mount does: 5" 5 \
  "runuser -u nobody -- \$QC set --version -1 '$W/open' x"
expect_content "$W/open" nobody
setfattr -n user.zk.acl -v 'uid:65534:rw,world:anyone:r' "$W/open"
expect_exit "nobody: set --version where uid:65534 grants WRITE" 0 "runuser -u nobody -- \$QC set --version -1 '$W/open' mine"
expect_content "$W/open" mine

# --- a raw ZooKeeper client of the control socket, for what quorumctl itself never sends
cat >"$TEST_TMP/raw.py" <<'PY'
# raw.py CONTROL WHAT ARGS...: prints the reply's err (a failed multi: its first op's)
import os, socket, struct, sys
def zstr(x):
    x = x.encode() if isinstance(x, str) else x
    return struct.pack(">i", len(x)) + x
def readn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError
        b += c
    return b
def frame(s):
    return readn(s, struct.unpack(">i", readn(s, 4))[0])
def send(s, body):
    s.sendall(struct.pack(">i", len(body)) + body)
def connect(s):
    send(s, struct.pack(">iqiq", 0, 0, 0, 0) + zstr(b"\0" * 16) + b"\0")
    frame(s)
def call(s, op, body):
    send(s, struct.pack(">ii", 1, op) + body)
    r = frame(s)
    err = struct.unpack(">i", r[12:16])[0]
    if op == 14 and err == 0 and struct.unpack(">i", r[16:20])[0] == -1:  # a multi's first op failed
        err = struct.unpack(">i", r[25:29])[0]
    return err
address = "\0" + sys.argv[1][1:]
what = sys.argv[2]
s = socket.socket(socket.AF_UNIX)
if what == "forked-getdata":  # a child connects and exits; this process uses its connection
    child = os.fork()
    if child == 0:
        s.connect(address); os._exit(0)
    os.waitpid(child, 0)
    connect(s)
    print(call(s, 4, zstr(sys.argv[3]) + b"\0"))
elif what == "create-world-acl":  # a multi create naming world:anyone:cdrwa
    s.connect(address); connect(s)
    create = zstr(sys.argv[3]) + zstr(b"x") + struct.pack(">i", 1) + struct.pack(">i", 31) + zstr("world") + zstr("anyone") + struct.pack(">i", 0)
    print(call(s, 14, struct.pack(">i?i", 1, False, -1) + create + struct.pack(">i?i", -1, True, -1)))
elif what == "ping":
    s.connect(address); connect(s)
    send(s, struct.pack(">ii", -2, 11))
    r = frame(s)
    print(struct.unpack(">i", r[12:16])[0])
PY
control=$(xattr "$M" user.quorumfs.control)

# The caller's groups are the ones it connected with (SO_PEERGROUPS), also after it exited:
# a 0604 root:5000 file is not readable by a member of group 5000 (its group bits say no).
echo group-secret >"$W/g5000"
chgrp 5000 "$W/g5000" && chmod 604 "$W/g5000"
expect_errno "setpriv --reuid=65534 --regid=65534 --groups=5000 cat '$W/g5000'" "Permission denied"
run_shell "setpriv --reuid=65534 --regid=65534 --groups=5000 /usr/bin/python3 '$TEST_TMP/raw.py' '$control' forked-getdata /ctl/g5000"
expect_eq "a group member's connection made by a child that exited: NoAuth, as the mount" "-102" "$RUN_OUTPUT"

# A ping names no node: answered.
run_shell "setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 '$TEST_TMP/raw.py' '$control' ping"
expect_eq "nobody's ping is answered (err 0)" "0" "$RUN_OUTPUT"

# A create takes its parent's creation flags and ACL, as on the mount.
mkdir -m 1777 "$W/sq"
expect_exit "multi create in a sticky directory: sequential, as on the mount" 0 "\$QC multi 'create $W/sq/job- j'"
expect_eq "...the printed path has the suffix" "$W/sq/job-0000000000" "$RUN_OUTPUT"
expect_content "$W/sq/job-0000000000" j
expect_absent "$W/sq/job-"
mkdir -m 2777 "$W/sg"
expect_exit "multi create in a set-gid directory (its files are ephemeral): refused, 9" 9 "\$QC multi 'create $W/sg/m1 x'"
expect_match "...BadArguments" "BadArguments" "$RUN_OUTPUT"
expect_listing "$W/sg" ""
mkdir -m 777 "$W/acl"
setfattr -n user.zk.acl -v 'uid:65534:cdrw,world:anyone:r' "$W/acl"
run_shell "setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 '$TEST_TMP/raw.py' '$control' create-world-acl /ctl/acl/f"
expect_eq "nobody: a raw multi create naming world:anyone:cdrwa is done" "0" "$RUN_OUTPUT"
expect_eq "...with its parent's ACL, not the one named" "$(xattr "$W/acl" user.zk.acl)" "$(xattr "$W/acl/f" user.zk.acl)"
expect_exit "quorumctl multi create in that directory" 0 "\$QC multi 'create $W/acl/g x'"
expect_eq "...takes its parent's ACL too" "$(xattr "$W/acl" user.zk.acl)" "$(xattr "$W/acl/g" user.zk.acl)"

# A sticky directory's data (user.zk.data) is its owner's to write, as the kernel says for user.* xattrs.
mkdir -m 1777 "$W/stickydata"
expect_errno "setpriv --reuid=65534 --regid=65534 --clear-groups setfattr -n user.zk.data -v x '$W/stickydata'" \
  "Operation not permitted"
expect_exit "nobody: set --version on root's sticky directory: 5" 5 \
  "setpriv --reuid=65534 --regid=65534 --clear-groups \$QC set --version -1 '$W/stickydata' x"
expect_eq "...nothing written" "" "$(xattr "$W/stickydata" user.zk.data)"

# Data past the daemon's --data-max-bytes (1 MiB here) is refused by quorumctl before it sends
# anything: EFBIG, exit 9, as the mount's write.
"$QC" create "$W/toolarge" small >/dev/null
expect_exit "set --version of 1100000 bytes: EFBIG, 9" 9 "head -c 1100000 /dev/zero | \$QC set --version -1 '$W/toolarge'"
expect_match "...File too large (EFBIG), nothing sent" "EFBIG.*at most 1048576.*nothing sent" "$RUN_OUTPUT"
expect_exit "a multi op of 3 MB: EFBIG, 9" 9 \
  "{ printf 'set $W/toolarge '; head -c 3000000 /dev/zero | tr '\\0' a; echo; } | \$QC multi"
expect_match "...names the op" "op 1: File too large \(EFBIG\)" "$RUN_OUTPUT"
expect_content "$W/toolarge" small
# A request past the frame limit (four ops of 900 kB, each within the data limit): the daemon
# closes the socket while quorumctl still writes; quorumctl says so (exit 7), it does not die of
# SIGPIPE (141).
expect_exit "a multi of 3.6 MB: the daemon closes, exit 7 (not SIGPIPE)" 7 \
  "for i in 1 2 3 4; do printf 'set $W/toolarge '; head -c 900000 /dev/zero | tr '\\0' a; echo; done | \$QC multi"
expect_match "...saying the daemon closed" "closed" "$RUN_OUTPUT"
expect_content "$W/toolarge" small

# --- the control socket's limits: 16 connections per uid (root's not counted)
cat >"$TEST_TMP/hold.py" <<'PY'
import socket, sys
address = "\0" + sys.argv[1][1:]
held = []
for _ in range(16):
    s = socket.socket(socket.AF_UNIX)
    s.connect(address)
    held.append(s)
extra = socket.socket(socket.AF_UNIX)
extra.connect(address)
extra.settimeout(5)
try:
    print("17th closed" if extra.recv(1) == b"" else "17th answered")
except socket.timeout:
    print("17th kept")
held[0].sendall(b"ruok")
print(held[0].recv(16).decode())
PY
run_shell "runuser -u nobody -- /usr/bin/python3 '$TEST_TMP/hold.py' '$control'"
expect_eq "a uid's 17th connection is closed, its first 16 served" "17th closed|imok" "$(printable "$RUN_OUTPUT")"
expect_exit "...root is not counted" 0 "\$QC status '$M'"
expect_exit "...and the uid's slots come back when they close" 0 "runuser -u nobody -- \$QC status '$M'"

# --- status
expect_exit "status MOUNT" 0 "\$QC status '$M'"
status_output=$RUN_OUTPUT
expect_match "status: mount" "mount=$M" "$status_output"
expect_match "status: role" "role=standalone" "$status_output"
expect_match "status: state" "state=synced" "$status_output"
expect_match "status: serverId" "serverId=1" "$status_output"
expect_match "status: lastZxid" "lastZxid=0x[0-9a-f]+" "$status_output"
expect_match "status: epoch" "epoch=[0-9]+" "$status_output"
expect_match "status: sessions" "sessions=[0-9]+" "$status_output"
expect_match "status: znodes" "znodes=[0-9]+" "$status_output"
expect_exit "status from inside the mount" 0 "cd '$W' && \$QC status"
expect_exit "status --raw" 0 "\$QC status --raw '$M'"
expect_match "status --raw: mntr" "zk_server_state	standalone" "$RUN_OUTPUT"
expect_exit "status outside any mount: 7" 7 "cd / && \$QC status"

# --- dump and restore: data, ACL, mode, owner, mtime round-trip; ephemerals left out
S=$W/src
mkdir -m 750 "$S"
"$QC" create "$S/a" hello >/dev/null
chmod 640 "$S/a"
chown 65534:65534 "$S/a"
setfattr -n user.zk.acl -v 'uid:65534:cdrwa,world:anyone:r' "$S/a"
touch -m -d '2001-02-03 04:05:06.123456789' "$S/a"
"$QC" create -d "$S/d" dirdata >/dev/null
printf '\000\001\377bin\n' | "$QC" create "$S/d/bin" >/dev/null
mkdir -m 1755 "$S/q"
"$QC" create -s "$S/q/job-" x >/dev/null
expect_exit "dump while an ephemeral is held" 0 \
  "\$QC create -e '$S/eph' -- \$QC dump -o '$TEST_TMP/src.jsonl' '$S' 2>'$TEST_TMP/dump.err'"
expect_eq "dump: no progress bar when stderr is no terminal" "" "$(cat "$TEST_TMP/dump.err")"
expect_eq "dump: the header" '{"quorumctl_dump":1,"root":"/ctl/src"}' "$(head -n 1 "$TEST_TMP/src.jsonl")"
expect_eq "dump: one line per node but the ephemeral" 7 "$(wc -l <"$TEST_TMP/src.jsonl")"
expect_eq "dump: the ephemeral left out" 0 "$(grep -c '"path":"eph"' "$TEST_TMP/src.jsonl")"
# (the ephemeral's create and delete moved src's mtime since: a new dump to compare with)
"$QC" dump -o "$TEST_TMP/src-again.jsonl" "$S"
expect_exit "dump to stdout, with a znode path" 0 "\$QC --mount '$M' dump /ctl/src | cmp - '$TEST_TMP/src-again.jsonl'"
expect_exit "dump of a missing node: 2" 2 "\$QC dump '$W/none'"

expect_exit "restore into a new subtree" 0 "\$QC restore -i '$TEST_TMP/src.jsonl' '$W/dst'"
D=$W/dst
expect_eq "restored tree" "$(cd "$S" && find . | sort | grep -v eph)" "$(cd "$D" && find . | sort)"
expect_content "$D/a" hello
expect_eq "restored ACL" 'uid:65534:cdrwa,world:anyone:r' "$(xattr "$D/a" user.zk.acl)"
expect_eq "restored owner, mode, mtime" "$(stat -c '%u:%g %a %y' "$S/a")" "$(stat -c '%u:%g %a %y' "$D/a")"
expect_eq "restored directory mode" "750" "$(stat -c '%a' "$D")"
expect_eq "restored sticky directory" "1755" "$(stat -c '%a' "$D/q")"
expect_eq "restored directory data" dirdata "$(xattr "$D/d" user.zk.data)"
expect_eq "restored binary data" "$(od -An -tx1 "$S/d/bin")" "$(od -An -tx1 "$D/d/bin")"
job=$(ls "$S/q")
expect_exists "$D/q/$job"
expect_eq "restored directory mtime" "$(stat -c '%y' "$S/d")" "$(stat -c '%y' "$D/d")"
expect_exit "dump of the copy equals the dump of the original but for the root" 0 \
  "diff <(tail -n +2 '$TEST_TMP/src.jsonl') <(\$QC dump '$D' | tail -n +2)"

before=$(cd "$D" && find . | sort)
write_once "$D/a" changed
expect_exit "restore over existing nodes: 4" 4 "\$QC restore -i '$TEST_TMP/src.jsonl' '$W/dst'"
expect_content "$D/a" changed
expect_eq "...nothing else changed" "$before" "$(cd "$D" && find . | sort)"
expect_exit "restore --force overwrites" 0 "\$QC restore --force '$W/dst' <'$TEST_TMP/src.jsonl'"
expect_content "$D/a" hello
expect_exit "restore of garbage: 1" 1 "echo garbage | \$QC restore '$W/dst2'"
expect_absent "$W/dst2"
expect_exit "restore of a path that climbs out: 1" 1 \
  "{ head -n 2 '$TEST_TMP/src.jsonl'; echo '{\"path\":\"../escape\",\"type\":\"file\",\"data\":\"\",\"acl\":\"world:anyone:cdrwa\",\"mode\":\"0644\",\"uid\":0,\"gid\":0,\"mtime_ns\":0}'; } | \$QC restore '$W/dst3'"
expect_absent "$W/dst3"
expect_absent "$W/escape"
if command -v script >/dev/null; then
  script -qec "\"$QC\" dump -o /dev/null \"$S\"" /dev/null >"$TEST_TMP/tty.out" 2>&1
  expect_match "dump on a terminal draws a progress bar" "dump \[#+\] 6/6 nodes" "$(tr '\r' '\n' <"$TEST_TMP/tty.out")"
fi

# --- bash completion (tools/quorumctl/quorumctl.bash-completion)
completion=$(dirname "$0")/../../tools/quorumctl/quorumctl.bash-completion
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _quorumctl; echo "${COMPREPLY[*]}"' \
    _ "$completion" "$@"
}
expect_eq "completion: commands" "wait" "$(complete_words quorumctl wa)"
expect_eq "completion: --until" "exists gone change" "$(complete_words quorumctl wait --until '')"
expect_eq "completion: acl get|set" "get set --help" "$(complete_words quorumctl --mount "$M" acl '')"
expect_eq "completion: create's options" "--ephemeral" "$(complete_words quorumctl create --e)"
expect_eq "completion: paths" "$W/queue" "$(complete_words quorumctl ls "$W/que")"

finish
