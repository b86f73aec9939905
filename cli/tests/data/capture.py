#!/usr/bin/env python3
"""A recording TCP proxy: how the golden inputs of `mq decode` were captured.

    capture.py amqp|kafka LISTEN_PORT UPSTREAM_PORT OUT_PREFIX [SECONDS]

Listens on 127.0.0.1:LISTEN_PORT and forwards every connection to
127.0.0.1:UPSTREAM_PORT, until SECONDS (default 20) pass. For connection N it
writes, next to OUT_PREFIX:

  OUT_PREFIX.N.client.bin   what the client sent
  OUT_PREFIX.N.server.bin   what the broker sent
  OUT_PREFIX.N.both.bin     (kafka) both, interleaved whole frame by whole
                            frame in the order they crossed the proxy

Kafka clients connect to the addresses that Metadata and FindCoordinator
responses advertise, which would bypass the proxy; so in what the broker sends,
"127.0.0.1" followed by the int32 port UPSTREAM_PORT is rewritten to
LISTEN_PORT (same length, so frames stay intact). The recorded server bytes are
those the client received, after that rewrite.
"""

import socket
import struct
import sys
import threading
import time


def main():
    proto, listen_port, upstream_port, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 20.0
    advertised = b"127.0.0.1" + struct.pack(">i", upstream_port)
    rewritten = b"127.0.0.1" + struct.pack(">i", listen_port)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen()
    server.settimeout(0.2)
    deadline = time.time() + seconds
    n = 0
    threads = []
    while time.time() < deadline:
        try:
            client, _ = server.accept()
        except socket.timeout:
            continue
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
        conn = Connection(proto, f"{prefix}.{n}", advertised, rewritten)
        n += 1
        for src, dst, side in ((client, upstream, "client"), (upstream, client, "server")):
            t = threading.Thread(target=conn.pump, args=(src, dst, side), daemon=True)
            t.start()
            threads.append(t)
    for t in threads:
        t.join(timeout=1)


class Connection:
    def __init__(self, proto, prefix, advertised, rewritten):
        self.proto = proto
        self.prefix = prefix
        self.advertised = advertised
        self.rewritten = rewritten
        self.lock = threading.Lock()
        self.pending = {"client": b"", "server": b""}
        for side in ("client", "server"):
            open(f"{prefix}.{side}.bin", "wb").close()
        if proto == "kafka":
            open(f"{prefix}.both.bin", "wb").close()

    def pump(self, src, dst, side):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            if side == "server" and self.proto == "kafka":
                data = data.replace(self.advertised, self.rewritten)
            with self.lock:
                with open(f"{self.prefix}.{side}.bin", "ab") as f:
                    f.write(data)
                if self.proto == "kafka":
                    self.frames(side, data)
            dst.sendall(data)

    def frames(self, side, data):
        buf = self.pending[side] + data
        with open(f"{self.prefix}.both.bin", "ab") as f:
            while len(buf) >= 4:
                size = struct.unpack(">i", buf[:4])[0]
                if len(buf) < 4 + size:
                    break
                f.write(buf[: 4 + size])
                buf = buf[4 + size :]
        self.pending[side] = buf


if __name__ == "__main__":
    main()
