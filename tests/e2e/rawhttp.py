#!/usr/bin/env python3
"""HTTP over cairnd's unix socket, byte for byte, for the attacks curl will not send as written.

  rawhttp.py SOCKET request METHOD TARGET [BODY]   one request; prints "STATUS BODY"
  rawhttp.py SOCKET header-only TARGET LENGTH      a POST that declares LENGTH bytes and sends
                                                   none; prints the answer's status
  rawhttp.py SOCKET flood N READY RELEASE          opens N idle connections, writes how many
                                                   stayed open to READY, holds them until
                                                   RELEASE exists
  rawhttp.py SOCKET idle OUT                       connects, sends nothing, and writes to OUT
                                                   after how many seconds the daemon closed
                                                   the connection (gives up after 120 s)
  rawhttp.py SOCKET parallel-imports N DELAY       N clients at once each POST a broken image,
                                                   wait DELAY seconds, then wait on their
                                                   operation; prints how many read an outcome
"""
import json
import re
import os
import socket
import sys
import threading
import time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def read_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines or not lines[0].startswith(b"HTTP/"):
        return 0, b""
    status = int(lines[0].split()[1])
    length = None
    chunked = False
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
        if k.strip().lower() == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
    if length is not None:
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    elif chunked:
        while not body.endswith(b"0\r\n\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        body = out
    return status, body


def request(path, method, target, body=b"", headers=()):
    s = connect(path)
    req = method.encode() + b" " + target + b" HTTP/1.1\r\nHost: cairn\r\n"
    for h in headers:
        req += h + b"\r\n"
    if body:
        req += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    req += b"Connection: close\r\n\r\n" + body
    s.sendall(req)
    status, answer = read_response(s)
    s.close()
    return status, answer


def arg_bytes(a):
    # Arguments come as text; \xNN gives a byte the shell cannot pass (a NUL, a lone 0xff).
    # Nothing else is unescaped, so a JSON "\u0000" reaches the daemon as those six characters.
    raw = a.encode("utf-8", "surrogateescape")
    return re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    if cmd == "request":
        body = arg_bytes(sys.argv[5]) if len(sys.argv) > 5 else b""
        status, answer = request(path, sys.argv[3], arg_bytes(sys.argv[4]), body)
        print(status, answer.decode("utf-8", "replace").strip())
    elif cmd == "header-only":
        s = connect(path)
        s.sendall(b"POST " + sys.argv[3].encode() + b" HTTP/1.1\r\nHost: cairn\r\n"
                  b"Content-Type: application/octet-stream\r\nContent-Length: "
                  + sys.argv[4].encode() + b"\r\n\r\n")
        s.settimeout(10)
        try:
            status, _ = read_response(s)
        except socket.timeout:
            status = "timeout"
        print(status)
    elif cmd == "flood":
        n, ready, release = int(sys.argv[3]), sys.argv[4], sys.argv[5]
        socks = []
        for _ in range(n):
            try:
                socks.append(connect(path))
            except OSError:
                pass
        time.sleep(1)
        # A refused connection has been answered (503) or closed by the daemon: it has
        # something to read. One the daemon keeps has nothing, as nothing was asked.
        alive = 0
        for s in socks:
            s.setblocking(False)
            try:
                s.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        with open(ready, "w") as f:
            f.write("%d %d\n" % (len(socks), alive))
        while not os.path.exists(release):
            time.sleep(0.1)
    elif cmd == "idle":
        s = connect(path)
        start = time.monotonic()
        s.settimeout(120)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        with open(sys.argv[3], "w") as f:
            f.write("%d\n" % (time.monotonic() - start))
    elif cmd == "parallel-imports":
        n, delay = int(sys.argv[3]), float(sys.argv[4])
        results = [None] * n

        def one(i):
            try:
                status, answer = request(path, "POST", b"/1.0/images", b"not an image %d" % i)
                op = json.loads(answer)["operation"]
                time.sleep(delay)
                status, answer = request(path, "GET", op.encode() + b"/wait?timeout=60")
                md = json.loads(answer).get("metadata") or {}
                results[i] = md.get("status")
            except Exception as e:  # noqa: BLE001 - reported as a missing outcome
                results[i] = "error: %s" % e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(sum(1 for r in results if r == "Failure"))
        for r in results:
            if r != "Failure":
                print(r, file=sys.stderr)
                break


if __name__ == "__main__":
    main()
