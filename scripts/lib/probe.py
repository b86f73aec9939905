#!/usr/bin/env python3
"""Checks that a broker answers its real protocol.

  probe.py amqp HOST PORT            AMQP header -> connection.start on channel 0
  probe.py kafka HOST PORT [N]       ApiVersions v3 answered; with N, Metadata v4
                                     lists at least N brokers
Exits 0 when the broker answered as expected, 1 otherwise.
"""
import socket
import struct
import sys


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def amqp(host, port):
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        ftype, channel, size = struct.unpack(">BHI", recv_exact(s, 7))
        payload = recv_exact(s, size + 1)
        class_id, method_id = struct.unpack(">HH", payload[:4])
        return ftype == 1 and channel == 0 and (class_id, method_id) == (10, 10) and payload[-1] == 0xCE


def kafka_request(s, api_key, version, corr, body, flexible):
    client = b"brokers-probe"
    header = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    if flexible:
        header += b"\x00"
    msg = header + body
    s.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    resp = recv_exact(s, size)
    (got,) = struct.unpack(">i", resp[:4])
    if got != corr:
        raise ValueError("correlation id mismatch")
    return resp[4:]


def kafka(host, port, want_brokers=0):
    with socket.create_connection((host, port), timeout=5) as s:
        body = b"\x06probe\x021\x00"  # compact strings + tagged fields
        resp = kafka_request(s, 18, 3, 1, body, True)
        (err,) = struct.unpack(">h", resp[:2])
        if err != 0:
            return False
        if want_brokers:
            # Metadata v4: topics = [] (not null: no topic data), allow_auto = false
            resp = kafka_request(s, 3, 4, 2, struct.pack(">i?", 0, False), False)
            (nbrokers,) = struct.unpack(">i", resp[4:8])
            return nbrokers >= want_brokers
        return True


def main():
    kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        if kind == "amqp":
            ok = amqp(host, port)
        else:
            ok = kafka(host, port, int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    except (OSError, ValueError, struct.error):
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
