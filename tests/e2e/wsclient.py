#!/usr/bin/env python3
"""An RFC 6455 client over cairnd's unix socket, written from the RFC, to check the server's side.

  wsclient.py SOCKET handshake TARGET        prints the status line of the answer and, on 101,
                                             whether Sec-WebSocket-Accept is right ("accept ok")
  wsclient.py SOCKET events TARGET TRIGGER   opens the events WebSocket, runs the shell command
                                             TRIGGER, prints the "type" and "action" of each
                                             message for 3 s, then pings ("pong ok") and closes
                                             ("close ok")
  wsclient.py SOCKET unmasked TARGET         sends an unmasked frame; prints "closed" when the
                                             server ends the connection
"""
import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def handshake(path, target):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key +
              b"\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    lines = head.decode(errors="replace").split("\r\n")
    want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    accept = any(l.lower() == "sec-websocket-accept: " + want.lower() for l in lines)
    return s, lines[0], accept


def send(s, opcode, data, masked=True):
    head = bytes([0x80 | opcode])
    n = len(data)
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    else:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    if masked:
        mask = os.urandom(4)
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        head += mask
    s.sendall(head + data)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def recv(s):
    b0, b1 = recv_exact(s, 2)
    if b1 & 0x80:
        raise ValueError("the server masked a frame")
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(s, 8))[0]
    return b0 & 0x0F, recv_exact(s, n)


def main():
    path, mode, target = sys.argv[1:4]
    s, status, accept = handshake(path, target)
    print(status)
    if " 101 " not in status + " ":
        return
    if accept:
        print("accept ok")
    if mode == "events":
        subprocess.run(sys.argv[4], shell=True, check=False)
        s.settimeout(0.5)
        end = time.time() + 3
        while time.time() < end:
            try:
                op, data = recv(s)
            except socket.timeout:
                continue
            if op == 1:
                ev = json.loads(data)
                print(ev.get("type"), ev.get("metadata", {}).get("action", ""))
        s.settimeout(5)
        send(s, 9, b"hi")
        op, data = recv(s)
        while op == 1:
            op, data = recv(s)
        if op == 10 and data == b"hi":
            print("pong ok")
        send(s, 8, struct.pack("!H", 1000))
        op, data = recv(s)
        while op == 1:
            op, data = recv(s)
        if op == 8:
            print("close ok")
    elif mode == "unmasked":
        send(s, 1, b"x", masked=False)
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
            print("closed")
        except (socket.timeout, ConnectionResetError):
            print("closed" if mode else "open")


main()
