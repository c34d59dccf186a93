#!/usr/bin/python3
"""ZooKeeper clients for tests/integration/zk_client.sh: kazoo sessions and raw frames.

Each subcommand does its part against a member's client port and prints what it saw as
key=value lines (one value per line, no newlines in it); the bash test holds the expectations.
Everything is bounded in time: a subcommand never waits longer than its own limits.

  zkcheck.py basic HOST:PORT                  kazoo: crud, ephemeral, sequence, watches, multi, ACLs
  zkcheck.py move HOSTS READY GO [AFTER]      a session that moves when its member is killed
  zkcheck.py create HOST:PORT PATH DATA       (persistent)
  zkcheck.py stat HOST:PORT PATH              mzxid (hex) and version
  zkcheck.py watch HOST:PORT PATH READY       waits (<= 20 s) for one data event on PATH
  zkcheck.py hold HOST:PORT PATH READY GO     an ephemeral PATH until the file GO appears
  zkcheck.py set-watches HOST:PORT_A PORT_A PORT_B PATH READY GO   setWatches after a move
  zkcheck.py lock HOST:PORT_A HOST:PORT_B PATH   kazoo's Lock recipe from two members
  zkcheck.py curator-hold HOST:PORT DIR READY GO   a mutex node as Curator's, held until GO
  zkcheck.py raw-huge-first PORT              first four bytes: a length of 0x7fffffff
  zkcheck.py raw-huge-after PORT              a good connect, then a frame length of 0x7fffffff
  zkcheck.py raw-bad-connect PORT             a connect frame whose password overruns it
  zkcheck.py raw-unknown-op PORT              a good connect, then opcode 999
  zkcheck.py raw-no-read PORT PATH COUNT READY GO   COUNT getData of PATH, nothing read until GO
"""

import os
import socket
import struct
import sys
import threading
import time
import uuid

if os.environ.get("ZKCHECK_DEBUG"):
    import logging

    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(asctime)s %(message)s")

# Kazoo is imported lazily: the raw subcommands do without it.


def say(key, value):
    print(f"{key}={str(value).replace(chr(10), '|')}", flush=True)


def wait_file(path, timeout_s):
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def client(hosts, timeout_s=10.0, **kwargs):
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=hosts, timeout=timeout_s, randomize_hosts=False,
                     connection_retry=dict(max_tries=-1, delay=0.1, backoff=1, max_delay=0.2), **kwargs)
    zk.start(timeout=15)
    return zk


def error_name(error):
    return type(error).__name__


def result_name(result):
    """A multi's result: a path, True (check), or the class of a stat or an error."""
    return str(result) if isinstance(result, (str, bool)) else type(result).__name__


# ---------------------------------------------------------------------------------------------
def basic(hosts):
    from kazoo.exceptions import NoAuthError
    from kazoo.security import make_digest_acl

    # /kz, /kz/seq and /kz/tx are directories the test made on a mount: a node a client creates is a
    # file, which cannot have children yet (see zk_client.sh).
    zk = client(hosts)
    root = "/kz"

    # create / get / set / delete
    say("create", zk.create(f"{root}/node", b"v1"))
    data, stat = zk.get(f"{root}/node")
    say("get", data.decode())
    say("get_version", stat.version)
    stat = zk.set(f"{root}/node", b"v2")
    say("set_version", stat.version)
    say("get_after_set", zk.get(f"{root}/node")[0].decode())
    zk.delete(f"{root}/node")
    say("exists_after_delete", zk.exists(f"{root}/node"))
    say("exists_missing", zk.exists(f"{root}/never-created"))

    # ephemeral and sequence nodes
    zk.create(f"{root}/eph", b"e", ephemeral=True)
    owner = zk.exists(f"{root}/eph").ephemeralOwner
    say("ephemeral_owner_is_session", owner == zk.client_id[0])
    say("sequence_1", zk.create(f"{root}/seq/job-", b"", sequence=True))
    say("sequence_2", zk.create(f"{root}/seq/job-", b"", sequence=True))
    say("ephemeral_sequence", zk.create(f"{root}/seq/eph-", b"", ephemeral=True, sequence=True))

    # a one-shot data watch fires once for two sets
    zk.create(f"{root}/watched", b"0")
    data_events = []
    fired = threading.Event()

    def on_data(event):
        data_events.append(event)
        fired.set()

    zk.get(f"{root}/watched", watch=on_data)
    zk.set(f"{root}/watched", b"1")
    zk.set(f"{root}/watched", b"2")
    fired.wait(5)
    zk.sync(f"{root}/watched")
    time.sleep(0.5)  # a second (wrong) event would arrive by now
    say("data_watch_events", len(data_events))
    say("data_watch_type", data_events[0].type if data_events else "none")

    # a child watch
    child_events = []
    child_fired = threading.Event()

    def on_children(event):
        child_events.append(event)
        child_fired.set()

    zk.get_children(f"{root}/seq", watch=on_children)
    zk.create(f"{root}/seq/new-child", b"")
    child_fired.wait(5)
    say("child_watch", f"{child_events[0].type} {child_events[0].path}" if child_events else "none")

    # a transaction that commits, and one that fails as a whole
    tx_version = zk.exists(f"{root}/tx").version
    t = zk.transaction()
    t.create(f"{root}/tx/a", b"x")
    t.check(f"{root}/tx", tx_version)
    t.set_data(f"{root}/tx/a", b"y")
    results = t.commit()
    say("multi_results", " ".join(result_name(r) for r in results))
    say("multi_data", zk.get(f"{root}/tx/a")[0].decode())
    t = zk.transaction()
    t.create(f"{root}/tx/b", b"x")
    t.check(f"{root}/tx", tx_version + 99)
    t.set_data(f"{root}/tx/a", b"z")
    results = t.commit()
    say("multi_fail_results", " ".join(result_name(r) for r in results))
    say("multi_fail_created", zk.exists(f"{root}/tx/b") is not None)
    say("multi_fail_data", zk.get(f"{root}/tx/a")[0].decode())

    # get_children with include_data
    children, stat = zk.get_children(f"{root}/seq", include_data=True)
    say("children", " ".join(sorted(children)))
    say("children_stat_num", stat.numChildren)

    # digest auth and a digest ACL
    zk.add_auth("digest", "alice:secret")
    zk.create(f"{root}/private", b"for alice", acl=[make_digest_acl("alice", "secret", all=True)])
    say("auth_read", zk.get(f"{root}/private")[0].decode())
    other = client(hosts)
    try:
        other.get(f"{root}/private")
        say("noauth_read", "allowed")
    except NoAuthError as error:
        say("noauth_read", error_name(error))
    other.stop()
    other.close()

    zk.stop()
    zk.close()


# ---------------------------------------------------------------------------------------------
def move(hosts, ready, go, after=None):
    """Connects through `hosts` (in order), creates an ephemeral and a data watch, says ready and
    waits for GO (the test has killed the member it is connected to). With AFTER, waits 3 s (past
    the ensemble's sessionTimeout) before it lets the client try AFTER. Then reports whether it came
    back with the same session, where, and whether watches work after the move."""
    from kazoo.protocol.states import KazooState

    timeout_s = 8.0
    zk = client(hosts, timeout_s=timeout_s)
    states = []
    suspended_at = []
    connected_at = []
    reconnected = threading.Event()
    lost = threading.Event()

    def on_state(state):
        states.append(state)
        if state == KazooState.SUSPENDED and not suspended_at:
            suspended_at.append(time.monotonic())
        elif state == KazooState.CONNECTED and suspended_at:
            connected_at.append(time.monotonic())
            reconnected.set()
        elif state == KazooState.LOST:
            lost.set()

    zk.add_listener(on_state)
    session_before = zk.client_id[0]
    tag = f"{os.getpid()}"
    eph = zk.create(f"/move/eph-{tag}", b"", ephemeral=True)
    say("ephemeral", eph)
    watched = f"/move/watched-{tag}"
    zk.create(watched, b"0")
    events = []
    fired = threading.Event()

    def on_data(event):
        events.append(event)
        fired.set()

    zk.get(watched, watch=on_data)
    say("negotiated_timeout_ms", zk._session_timeout)
    say("session", hex(session_before))
    say("ready", "yes")
    with open(ready, "w") as f:
        f.write("ready\n")
    if not wait_file(go, 30):
        say("error", "no GO within 30 s")
        return
    if after:
        time.sleep(3.0)
        zk.set_hosts(after)
    ok = reconnected.wait(timeout_s + 5) and zk.connected
    say("reconnected", "yes" if ok else "no")
    if ok:
        say("disconnected_s", f"{connected_at[0] - suspended_at[0]:.1f}")
    say("states", " ".join(str(s) for s in states))
    say("lost", "yes" if lost.is_set() else "no")
    if not ok:
        zk.stop()
        zk.close()
        return
    say("session_same", zk.client_id[0] == session_before)
    try:
        peer = zk._connection._socket.getpeername()[1]
    except Exception as error:  # noqa: BLE001 - only informative
        peer = error_name(error)
    say("connected_port", peer)
    stat = zk.exists(eph)
    say("ephemeral_exists", stat is not None)
    say("ephemeral_owner_same", stat is not None and stat.ephemeralOwner == session_before)
    # kazoo 2.8 does not re-send its watches with setWatches: at the disconnection it fires each
    # with a NONE event and forgets it (set-watches tests the server's setWatches).
    say("old_watch_event", " ".join(str(e.type) for e in events) or "none")
    after_events = []
    after_fired = threading.Event()

    def on_data_after(event):
        after_events.append(event)
        after_fired.set()

    zk.get(watched, watch=on_data_after)
    zk.set(watched, b"1")
    after_fired.wait(5)
    say("watch_after_move", after_events[0].type if after_events else "none")
    zk.stop()
    zk.close()


# ---------------------------------------------------------------------------------------------
def create(hosts, path, data):
    zk = client(hosts)
    say("created", zk.create(path, data.encode()))
    zk.stop()
    zk.close()


def stat(hosts, path):
    zk = client(hosts)
    zk.sync(path)
    _, s = zk.get(path)
    say("mzxid", hex(s.mzxid))
    say("czxid", hex(s.czxid))
    say("version", s.version)
    say("dataLength", s.dataLength)
    zk.stop()
    zk.close()


def watch(hosts, path, ready):
    zk = client(hosts)
    events = []
    fired = threading.Event()

    def on_data(event):
        events.append(event)
        fired.set()

    zk.get(path, watch=on_data)
    with open(ready, "w") as f:
        f.write("ready\n")
    fired.wait(20)
    say("event", f"{events[0].type} {events[0].path}" if events else "none")
    if events:
        say("data", zk.get(path)[0].decode())
    zk.stop()
    zk.close()


def hold(hosts, path, ready, go):
    zk = client(hosts)
    say("created", zk.create(path, b"held", ephemeral=True))
    with open(ready, "w") as f:
        f.write("ready\n")
    wait_file(go, 60)
    zk.stop()  # closeSession: the ephemeral goes at once
    zk.close()
    say("closed", "yes")


def lock(hosts_a, hosts_b, path):
    """kazoo's Lock recipe from two members: exclusion, a non-blocking try, a handoff, and 2 x 20
    read-modify-write increments of a counter under the lock."""
    from kazoo.recipe.lock import Lock
    a, b = client(hosts_a), client(hosts_b)
    a.ensure_path(path + "-counter")
    a.set(path + "-counter", b"0")
    lock_a, lock_b = Lock(a, path, "a"), Lock(b, path, "b")
    lock_a.acquire()
    say("try_while_held", lock_b.acquire(blocking=False))
    got = threading.Event()

    def waiter():
        lock_b.acquire()
        got.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    say("waiter_got_it_while_held", got.is_set())
    lock_a.release()
    say("waiter_got_it_after_release", got.wait(10))
    thread.join(10)
    lock_b.release()

    def increments(zk, name):
        for _ in range(20):
            with Lock(zk, path, name):
                value, _ = zk.get(path + "-counter")
                zk.set(path + "-counter", str(int(value) + 1).encode())

    threads = [threading.Thread(target=increments, args=(zk, name)) for zk, name in ((a, "a"), (b, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    a.sync(path + "-counter")
    say("counter", a.get(path + "-counter")[0].decode())
    say("lock_nodes_left", len(a.get_children(path)))
    for zk in (a, b):
        zk.stop()
        zk.close()


def curator_sequence(name):
    """Curator's StandardLockInternalsDriver sorts a lock's children by what follows "lock-"."""
    index = name.rfind("lock-")
    return name[index + len("lock-"):] if index >= 0 else name


def curator_hold(hosts, lock_dir, ready, go):
    """Takes a mutex on lock_dir as Curator's InterProcessMutex does: an ephemeral-sequential
    "_c_<uuid>-lock-" node, holding once it has the lowest number. Says whether it held at once."""
    zk = client(hosts)
    node = zk.create(lock_dir + "/_c_" + uuid.uuid4().hex + "-lock-", b"", ephemeral=True, sequence=True)
    name = node.rsplit("/", 1)[1]
    children = sorted(zk.get_children(lock_dir), key=curator_sequence)
    say("node", name)
    say("held_at_once", children[0] == name)
    say("ahead", " ".join(children[:children.index(name)]))
    with open(ready, "w") as f:
        f.write("ready\n")
    wait_file(go, 60)
    zk.stop()
    zk.close()


# ---------------------------------------------------------------------------------------------
# Raw frames (ZooKeeper's jute encoding: big-endian ints, length-prefixed buffers).

def frame(body):
    return struct.pack(">i", len(body)) + body


def get_data_frame(xid, path):
    encoded = path.encode()
    return frame(struct.pack(">ii", xid, 4) + struct.pack(">i", len(encoded)) + encoded + b"\0")


def open_socket(port, receive_buffer=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    s.settimeout(5)
    s.connect(("127.0.0.1", int(port)))
    return s


def read_exactly(s, count):
    data = b""
    while len(data) < count:
        chunk = s.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def good_connect(s, session=0, password=b"\0" * 16, last_zxid=0):
    s.sendall(frame(struct.pack(">iqiq", 0, last_zxid, 10000, session) + struct.pack(">i", len(password))
                    + password + b"\0"))
    body = read_frame(s)
    _, timeout_ms, session = struct.unpack(">iiq", body[:16])
    password_length = struct.unpack(">i", body[16:20])[0]
    say("connected_session", hex(session))
    return session, body[20:20 + password_length], timeout_ms


def read_frame(s):
    length = struct.unpack(">i", read_exactly(s, 4))[0]
    return read_exactly(s, length)


def set_watches(hosts_a, port_a, port_b, path, ready, go):
    """A raw client: a data watch on PATH through member A; once A is gone (GO), the session
    resumes on B and re-sends the watch with setWatches (opcode 101, as the C and Java clients do
    on every reconnect); a change of PATH must then fire it on B."""
    zk = client(hosts_a)
    zk.create(path, b"0")
    zk.stop()
    zk.close()
    s = open_socket(port_a)
    session, password, _ = good_connect(s)
    encoded = path.encode()
    s.sendall(frame(struct.pack(">ii", 1, 4) + struct.pack(">i", len(encoded)) + encoded + b"\1"))
    xid, zxid, err = struct.unpack(">iqi", read_frame(s)[:16])
    say("get_err", err)
    with open(ready, "w") as f:
        f.write("ready\n")
    if not wait_file(go, 30):
        say("error", "no GO within 30 s")
        return
    s.close()
    s = open_socket(port_b)
    resumed, _, timeout_ms = good_connect(s, session, password, zxid)
    say("resumed_same_session", resumed == session and timeout_ms > 0)
    body = struct.pack(">q", zxid) + struct.pack(">i", 1) + struct.pack(">i", len(encoded)) + encoded
    body += struct.pack(">i", 0) + struct.pack(">i", 0)  # no exist watches, no child watches
    s.sendall(frame(struct.pack(">ii", -8, 101) + body))
    xid, _, err = struct.unpack(">iqi", read_frame(s)[:16])
    say("set_watches_reply", f"xid={xid} err={err}")
    changer = client(f"127.0.0.1:{port_b}")
    changer.set(path, b"1")
    s.settimeout(5)
    event = "none"
    try:
        for _ in range(10):
            body = read_frame(s)
            xid = struct.unpack(">i", body[:4])[0]
            if xid == -1:  # a watch event: header, then type, state, path
                event_type, state, length = struct.unpack(">iii", body[16:28])
                event = f"type={event_type} path={body[28:28 + length].decode()}"
                break
    except (OSError, ConnectionError) as error:
        event = f"none ({error_name(error)})"
    say("event_after_set_watches", event)
    changer.stop()
    changer.close()


def closed_by_peer(s, timeout_s=5.0):
    """Reads (and drops) whatever comes until the peer closes: 'closed', 'reset' or 'open'."""
    s.settimeout(0.5)
    deadline = time.monotonic() + timeout_s
    received = 0
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            say("received_before_close", received)
            return "reset"
        if not chunk:
            say("received_before_close", received)
            return "closed"
        received += len(chunk)
    say("received_before_close", received)
    return "open"


def raw(kind, port, *rest):
    # a small receive buffer for the client that does not read: the replies pile up in the member
    s = open_socket(port, 4096 if kind == "raw-no-read" else None)
    if kind == "raw-huge-first":
        s.sendall(struct.pack(">I", 0x7FFFFFFF))
    elif kind == "raw-huge-after":
        good_connect(s)
        s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"\0" * 16)
    elif kind == "raw-bad-connect":
        # a 45-byte connect frame whose password claims 1000 bytes
        s.sendall(frame(struct.pack(">iqiq", 0, 0, 10000, 0) + struct.pack(">i", 1000) + b"\0" * 17))
    elif kind == "raw-unknown-op":
        good_connect(s)
        s.sendall(frame(struct.pack(">ii", 1, 999) + b"\0" * 8))
    elif kind == "raw-no-read":
        path, count, ready, go = rest
        good_connect(s)
        s.settimeout(10)
        sent = 0
        try:
            for xid in range(1, int(count) + 1):
                s.sendall(get_data_frame(xid, path))
                sent += 1
        except OSError as error:
            say("send_error", error_name(error))
        say("requests_sent", sent)
        with open(ready, "w") as f:
            f.write("ready\n")
        wait_file(go, 60)
        say("result", closed_by_peer(s, timeout_s=20))
        return
    say("result", closed_by_peer(s))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, args = argv[1], argv[2:]
    if command == "basic":
        basic(*args)
    elif command == "move":
        move(*args)
    elif command == "create":
        create(*args)
    elif command == "stat":
        stat(*args)
    elif command == "watch":
        watch(*args)
    elif command == "hold":
        hold(*args)
    elif command == "lock":
        lock(*args)
    elif command == "curator-hold":
        curator_hold(*args)
    elif command == "set-watches":
        set_watches(*args)
    elif command.startswith("raw-"):
        raw(command, *args)
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
