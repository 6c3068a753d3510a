"""Deletes every key under a prefix in the Redis at 127.0.0.1:6379 (RESP over a socket, no client
library): what the fuzzed solicitud-service wrote."""

import socket
import sys


def command(sock, reader, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)
    return read(reader)


def read(reader):
    line = reader.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-", b":"):
        return rest
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else reader.read(n + 2)[:-2]
    if kind == b"*":
        return [read(reader) for _ in range(int(rest))]
    raise ValueError(line)


def main(prefix):
    with socket.create_connection(("127.0.0.1", 6379), timeout=5) as sock:
        reader = sock.makefile("rb")
        cursor = b"0"
        while True:
            cursor, keys = command(sock, reader, "SCAN", cursor, "MATCH", prefix + "*", "COUNT", "1000")
            if keys:
                command(sock, reader, "DEL", *keys)
            if cursor == b"0":
                break


if __name__ == "__main__":
    main(sys.argv[1])
