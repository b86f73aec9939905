#!/usr/bin/env python3
"""Checks that a broker answers its real protocol.

  probe.py amqp HOST PORT [--tls CA] [--mechanism M]
      AMQP header -> connection.start on channel 0; with --mechanism, the
      start lists M among its SASL mechanisms
  probe.py kafka HOST PORT [N] [--tls CA]
      ApiVersions v3 answered (allowed before SASL authentication, so this
      also probes SASL listeners); with N, Metadata v4 lists at least N
      brokers
--tls CA: first a TLS handshake, the server's certificate checked against
the CA file and HOST.
Exits 0 when the broker answered as expected, 1 otherwise.
"""
import socket
import ssl
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


def connect(host, port, ca):
    s = socket.create_connection((host, port), timeout=5)
    if ca is None:
        return s
    ctx = ssl.create_default_context(cafile=ca)
    try:
        return ctx.wrap_socket(s, server_hostname=host)
    except Exception:
        s.close()
        raise


def amqp(host, port, ca, mechanism):
    with connect(host, port, ca) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        ftype, channel, size = struct.unpack(">BHI", recv_exact(s, 7))
        payload = recv_exact(s, size + 1)
        class_id, method_id = struct.unpack(">HH", payload[:4])
        if not (ftype == 1 and channel == 0 and (class_id, method_id) == (10, 10) and payload[-1] == 0xCE):
            return False
        if mechanism is None:
            return True
        # connection.start: version-major, version-minor, server-properties
        # (a table: u32 length + bytes), mechanisms (long string).
        (table_len,) = struct.unpack(">I", payload[6:10])
        at = 10 + table_len
        (mech_len,) = struct.unpack(">I", payload[at:at + 4])
        mechanisms = payload[at + 4:at + 4 + mech_len].decode().split()
        return mechanism in mechanisms


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


def kafka(host, port, want_brokers, ca):
    with connect(host, port, ca) as s:
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
    args = sys.argv[1:]
    options = {}
    for name in ("--tls", "--mechanism"):
        if name in args:
            i = args.index(name)
            options[name] = args[i + 1]
            del args[i:i + 2]
    kind, host, port = args[0], args[1], int(args[2])
    ca = options.get("--tls")
    try:
        if kind == "amqp":
            ok = amqp(host, port, ca, options.get("--mechanism"))
        else:
            ok = kafka(host, port, int(args[3]) if len(args) > 3 else 0, ca)
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        # ssl.SSLError (and a failed certificate check) are OSErrors.
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
