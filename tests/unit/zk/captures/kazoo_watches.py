"""The kazoo_watches.txt session: watches that fire. The watcher's session goes through record.py;
a second client, connected straight to the server (not recorded), makes the changes.

    python3 kazoo_watches.py PROXY_HOST:PORT SERVER_HOST:PORT

kazoo 2.8 has no addWatch nor removeWatches call: both are sent as raw requests (kazoo_raw.py).
"""

import sys
import threading
import time

from kazoo.client import KazooClient

import kazoo_raw


def main(proxy, server):
    watcher = KazooClient(hosts=proxy, timeout=4.0)
    changer = KazooClient(hosts=server, timeout=4.0)
    watcher.start(timeout=10)
    changer.start(timeout=10)
    fired = threading.Semaphore(0)
    events = []

    def watch(event):
        events.append(event)
        fired.release()

    def wait_events(count):
        for _ in range(count):
            if not fired.acquire(timeout=10):
                print("a watch did not fire")

    watcher.create("/w", b"0")
    watcher.create("/w/a", b"a")
    print("get /w, watch:", watcher.get("/w", watch=watch))
    print("getChildren /w, watch:", watcher.get_children("/w", watch=watch))
    print("exists /w/new, watch:", watcher.exists("/w/new", watch=watch))
    changer.set("/w", b"1")          # NodeDataChanged on /w
    changer.create("/w/new", b"n")   # NodeCreated on /w/new, NodeChildrenChanged on /w
    wait_events(3)
    print("getChildren /w, watch:", watcher.get_children("/w", watch=watch))
    changer.delete("/w/a")           # NodeChildrenChanged on /w
    wait_events(1)

    print("addWatch /w persistent recursive:",
          kazoo_raw.call(watcher, kazoo_raw.AddWatch("/w", kazoo_raw.ADD_WATCH_PERSISTENT_RECURSIVE)))
    changer.create("/w/new/deep", b"d")  # NodeCreated on /w/new/deep, to the persistent watch
    changer.set("/w/new/deep", b"e")     # NodeDataChanged, the watch stays
    time.sleep(1)                        # kazoo delivers these to no callback; the capture has them

    print("exists /w/new, watch:", watcher.exists("/w/new", watch=watch))
    print("checkWatches /w/new data:",
          kazoo_raw.call(watcher, kazoo_raw.CheckWatches("/w/new", kazoo_raw.WATCHER_DATA)))
    print("removeWatches /w/new data:",
          kazoo_raw.call(watcher, kazoo_raw.RemoveWatches("/w/new", kazoo_raw.WATCHER_DATA)))
    # Not sent: removeWatches with nothing to remove. Its error reply (NoWatcher, -121) is one
    # kazoo 2.8 has no exception for: it drops the connection.
    print("removeWatches /w persistent (any):",
          kazoo_raw.call(watcher, kazoo_raw.RemoveWatches("/w", kazoo_raw.WATCHER_ANY)))
    time.sleep(3)  # idle: pings
    changer.stop()
    changer.close()
    watcher.stop()
    watcher.close()
    print("events:", events)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
