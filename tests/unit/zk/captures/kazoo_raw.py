"""Requests kazoo 2.8 (Debian 12's python3-kazoo) has no call for, sent through its own queue.

kazoo queues any object with `type` (the opcode), `serialize()` and `deserialize(bytes, offset)`;
these build the bodies of ZooKeeper 3.8's CreateContainer (19), CreateTTL (21), CheckWatches
(17), RemoveWatches (18) and AddWatch (106) requests as org.apache.zookeeper.proto defines them.
"""

import struct
from collections import namedtuple

from kazoo.protocol.serialization import Create2, int_struct, write_buffer, write_string
from kazoo.security import OPEN_ACL_UNSAFE

CONTAINER = 4            # CreateMode.CONTAINER
PERSISTENT_WITH_TTL = 5  # CreateMode.PERSISTENT_WITH_TTL
WATCHER_CHILDREN, WATCHER_DATA, WATCHER_ANY = 1, 2, 3  # WatcherType
ADD_WATCH_PERSISTENT, ADD_WATCH_PERSISTENT_RECURSIVE = 0, 1  # AddWatchMode


def _create_body(path, data, flags):
    body = bytearray(write_string(path) + write_buffer(data))
    body += int_struct.pack(len(OPEN_ACL_UNSAFE))
    for acl in OPEN_ACL_UNSAFE:
        body += int_struct.pack(acl.perms) + write_string(acl.id.scheme) + write_string(acl.id.id)
    body += int_struct.pack(flags)
    return body


class CreateContainer(namedtuple("CreateContainer", "path data")):
    type = 19

    def serialize(self):
        return _create_body(self.path, self.data, CONTAINER)

    deserialize = Create2.deserialize  # a Create2Response: path and stat


class CreateTTL(namedtuple("CreateTTL", "path data ttl_ms")):
    type = 21

    def serialize(self):
        return _create_body(self.path, self.data, PERSISTENT_WITH_TTL) + struct.pack(">q", self.ttl_ms)

    deserialize = Create2.deserialize


class _PathAndInt(namedtuple("_PathAndInt", "path value")):
    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.value)

    @classmethod
    def deserialize(cls, data, offset):
        return True  # the reply has no body


class CheckWatches(_PathAndInt):
    type = 17


class RemoveWatches(_PathAndInt):
    type = 18


class AddWatch(_PathAndInt):
    type = 106


def call(client, request):
    """Sends request on client's session and waits for its reply (raises on an error reply)."""
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=10)
