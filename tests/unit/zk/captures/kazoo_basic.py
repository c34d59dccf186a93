"""The kazoo_basic.txt session: one kazoo client, every request kind it has, through record.py.

    python3 kazoo_basic.py HOST:PORT      (make-captures.sh runs it; python3 with python3-kazoo)

Each step's result is printed, so the capture's comments can be checked against what the client
saw. It sleeps twice for pings (session timeout 4 s: kazoo pings after ~1.3 s of silence).
"""

import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError
from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl

import kazoo_raw


def step(name, call):
    try:
        print(f"{name}: {call()!r}")
    except Exception as error:  # an expected error reply is part of the capture
        print(f"{name}: {type(error).__name__}")


def main(hosts):
    client = KazooClient(hosts=hosts, timeout=4.0)
    client.start(timeout=10)
    events = []
    watch = events.append
    step("create persistent", lambda: client.create("/cap", b"root"))
    step("create ephemeral", lambda: client.create("/cap/eph", b"e", ephemeral=True))
    seq = client.create("/cap/seq-", b"s", sequence=True)
    print(f"create sequential: {seq!r}")
    step("create2 (include_data)", lambda: client.create("/cap/c2", b"c2", include_data=True))
    step("createContainer", lambda: kazoo_raw.call(client, kazoo_raw.CreateContainer("/cap/container", b"k")))
    step("createTTL", lambda: kazoo_raw.call(client, kazoo_raw.CreateTTL("/cap/ttl", b"t", 60000)))
    step("exists present, watch", lambda: client.exists("/cap", watch=watch))
    step("exists missing, watch", lambda: client.exists("/cap/missing", watch=watch))
    step("get, watch", lambda: client.get("/cap/c2", watch=watch))
    step("set version 0", lambda: client.set("/cap", b"v2", version=0))  # fires the exists watch
    step("set bad version", lambda: client.set("/cap", b"v3", version=99))
    step("getChildren, watch", lambda: client.get_children("/cap", watch=watch))
    step("getChildren2, watch", lambda: client.get_children("/cap", watch=watch, include_data=True))
    step("delete bad version", lambda: client.delete(seq, version=99))
    step("delete", lambda: client.delete(seq, version=0))  # fires the child watch
    step("getACL", lambda: client.get_acls("/cap"))
    step("setACL", lambda: client.set_acls("/cap", OPEN_ACL_UNSAFE + [make_digest_acl("user", "pass", all=True)]))
    step("sync", lambda: client.sync("/cap"))
    time.sleep(3)  # idle: pings
    step("multi ok", lambda: multi(client, check_version=1))
    step("multi failing check", lambda: multi(client, check_version=7))
    step("addAuth digest", lambda: client.add_auth("digest", "user:pass"))
    step("get after auth", lambda: client.get("/cap"))
    time.sleep(2)
    client.stop()  # closeSession
    client.close()
    print(f"watch events: {events!r}")


def multi(client, check_version):
    transaction = client.transaction()
    transaction.create("/cap/t1", b"x")
    transaction.check("/cap", check_version)
    transaction.set_data("/cap/t1", b"y")
    transaction.delete("/cap/t1")
    return transaction.commit()


if __name__ == "__main__":
    main(sys.argv[1])
