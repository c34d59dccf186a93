#!/usr/bin/env python3
"""record.py: a recording TCP proxy between ZooKeeper clients and one ZooKeeper server.

    record.py --listen 127.0.0.1:23181 --server 127.0.0.1:22181 --out kazoo_basic.txt --connections 1

Clients connect to --listen; each connection is relayed byte for byte to --server, and every
ZooKeeper frame (4-byte big-endian length, then that many bytes of body) is appended to --out as
one line, in the order the proxy saw them complete:

    C <hex>     a frame from the client to the server
    S <hex>     a frame from the server to the client

The hex is the whole frame, length prefix included, so a test can check the framing as well as
the body. The first C frame of a connection is its ConnectRequest and the first S frame its
ConnectResponse; after those, a client frame starts with xid and opcode, a server frame with xid,
zxid and err. Unless --no-annotate, a `# ...` line before each frame names what it is (the xid,
the opcode of the request, the request a reply answers, a ping, a watch event) so a reader can
find a frame; a test reading the file skips lines starting with '#'.

It stops after --connections connections have closed (0: runs until SIGINT or SIGTERM). Python 3
standard library only. The capture files and how they were made: README.md beside this file.
"""

import argparse
import signal
import socket
import struct
import sys
import threading

# The opcodes of ZooKeeper 3.8 (org.apache.zookeeper.ZooDefs.OpCode).
OPCODES = {
    0: "notification", 1: "create", 2: "delete", 3: "exists", 4: "getData", 5: "setData",
    6: "getACL", 7: "setACL", 8: "getChildren", 9: "sync", 11: "ping", 12: "getChildren2",
    13: "check", 14: "multi", 15: "create2", 16: "reconfig", 17: "checkWatches",
    18: "removeWatches", 19: "createContainer", 20: "deleteContainer", 21: "createTTL",
    22: "multiRead", 100: "auth", 101: "setWatches", 102: "sasl", 103: "getEphemerals",
    104: "getAllChildrenNumber", 105: "setWatches2", 106: "addWatch", 107: "whoAmI",
    -10: "createSession", -11: "closeSession", -1: "error",
}
# xids the client library reserves (ClientCnxn): a server frame with one of them answers no request.
SPECIAL_XIDS = {-1: "watch event", -2: "ping", -4: "auth", -8: "setWatches"}
MAX_FRAME = 64 * 1024 * 1024  # larger than any frame a test needs; past it the stream is not ZooKeeper's


class Recorder:
    """Appends frames to the output file, one writer at a time, and names them."""

    def __init__(self, path, annotate):
        self.out = open(path, "a", encoding="ascii")
        self.annotate = annotate
        self.lock = threading.Lock()

    def comment(self, text):
        with self.lock:
            self.out.write(f"# {text}\n")
            self.out.flush()

    def frame(self, direction, frame, note):
        with self.lock:
            if self.annotate and note:
                self.out.write(f"# {direction} {note}\n")
            self.out.write(f"{direction} {frame.hex()}\n")
            self.out.flush()


class Connection:
    """One client connection and its server connection; remembers each xid's opcode."""

    def __init__(self, number, client, server, recorder):
        self.number = number
        self.client = client
        self.server = server
        self.recorder = recorder
        self.pending = {}  # xid -> opcode of a request not answered yet
        self.seen_first = {"C": False, "S": False}

    def describe(self, direction, body):
        """What a frame is, for its annotation line."""
        if not self.seen_first[direction]:
            self.seen_first[direction] = True
            return "ConnectRequest" if direction == "C" else "ConnectResponse"
        if direction == "C":
            if len(body) < 8:
                return f"short request ({len(body)} bytes)"
            xid, opcode = struct.unpack_from(">ii", body)
            self.pending[xid] = opcode
            return f"xid={xid} {OPCODES.get(opcode, 'opcode ' + str(opcode))} ({opcode})"
        if len(body) < 16:
            return f"short reply ({len(body)} bytes)"
        xid, zxid, err = struct.unpack_from(">iqi", body)
        opcode = self.pending.pop(xid, None)
        what = SPECIAL_XIDS.get(xid) if xid < 0 else None
        if opcode is not None:
            what = f"reply to {OPCODES.get(opcode, str(opcode))} ({opcode})"
        return f"xid={xid} zxid={zxid} err={err} {what or 'reply to an unknown xid'}"

    def relay(self, source, sink, direction):
        """Copies source to sink until EOF, recording each complete frame."""
        buffered = bytearray()
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                sink.sendall(chunk)
                buffered += chunk
                while len(buffered) >= 4:
                    (length,) = struct.unpack_from(">i", buffered)
                    if length < 0 or length > MAX_FRAME:
                        self.recorder.comment(f"connection {self.number}: {direction} frame length {length}, not ZooKeeper framing; relaying unrecorded")
                        buffered.clear()
                        break
                    if len(buffered) < 4 + length:
                        break
                    frame = bytes(buffered[: 4 + length])
                    del buffered[: 4 + length]
                    self.recorder.frame(direction, frame, self.describe(direction, frame[4:]))
        except OSError:
            pass  # the other side reset the connection: the relay ends as at EOF
        finally:
            if buffered:
                self.recorder.comment(f"connection {self.number}: {len(buffered)} {direction} bytes left at close, not a whole frame")
            for sock in (sink, source):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def run(self):
        to_server = threading.Thread(target=self.relay, args=(self.client, self.server, "C"), daemon=True)
        to_client = threading.Thread(target=self.relay, args=(self.server, self.client, "S"), daemon=True)
        to_server.start()
        to_client.start()
        to_server.join()
        to_client.join()
        self.client.close()
        self.server.close()
        self.recorder.comment(f"connection {self.number} closed")


def address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=address, required=True, help="host:port clients connect to")
    parser.add_argument("--server", type=address, required=True, help="host:port of the ZooKeeper server")
    parser.add_argument("--out", required=True, help="capture file (appended to)")
    parser.add_argument("--connections", type=int, default=0,
                        help="exit once this many connections have closed (0: never)")
    parser.add_argument("--no-annotate", dest="annotate", action="store_false",
                        help="no '# ...' line naming each frame")
    options = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    recorder = Recorder(options.out, options.annotate)
    listener = socket.create_server(options.listen, reuse_port=False)
    print(f"record.py: listening on {options.listen[0]}:{listener.getsockname()[1]}", file=sys.stderr, flush=True)
    threads = []
    number = 0
    try:
        while options.connections == 0 or number < options.connections:
            client, _ = listener.accept()
            number += 1
            server = socket.create_connection(options.server)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            recorder.comment(f"connection {number} opened")
            connection = Connection(number, client, server, recorder)
            thread = threading.Thread(target=connection.run, daemon=True)
            thread.start()
            threads.append(thread)
        listener.close()
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
