#!/usr/bin/env python3
"""bench/callgrind.py -- instructions per request, counted by callgrind.

    python3 bench/callgrind.py BINARY PORT [avatar-api flags...]

Runs BINARY (--data data/users.json --threads 1 --port PORT, plus the flags)
under valgrind's callgrind twice, sends 1,000 then 3,000 keep-alive
GET /v1/user on 4 connections (after 40 to warm up), stops it with SIGTERM,
and prints (total(3,000) - total(1,000)) / 2,000: the server's user-space
instructions per request, start-up and stop cancelled out.  The second run
uses PORT + 1.  Instructions do not depend on how busy the machine is, so
two builds compare within a few instructions (bench/NOTES.md); the kernel's
work is not counted.  Needs valgrind; loopback only.

CALLGRIND_FIELDS adds header lines to each request ("\\r\\n"-separated,
e.g. "Accept-Encoding: gzip"), to count a negotiated answer.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELDS = os.environ.get("CALLGRIND_FIELDS", "").replace("\\r\\n", "\r\n")
REQ = ("GET /v1/user HTTP/1.1\r\nHost: localhost\r\n"
       + (FIELDS + "\r\n" if FIELDS else "") + "\r\n").encode()


def wait_port(port):
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"callgrind.py: nothing listens on port {port}")


def load(port, n, conns=4):
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    done = 0
    while done < n:
        for s in socks:
            s.sendall(REQ)
        for s in socks:
            buf = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    sys.exit("callgrind.py: the server closed a connection")
                buf += chunk
                head = buf.find(b"\r\n\r\n")
                if head >= 0:
                    m = re.search(rb"Content-Length: (\d+)", buf[:head])
                    if len(buf) >= head + 4 + int(m.group(1)):
                        break
            done += 1
    for s in socks:
        s.close()


def total(binary, n, flags, port):
    out = f"/tmp/callgrind.{os.getpid()}.{port}"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary,
         "--data", os.path.join(ROOT, "data", "users.json"), "--threads", "1",
         "--port", str(port)] + flags,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    load(port, 40)
    load(port, n)
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    ir = 0
    with open(out) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                ir = int(line.split()[1])
    os.unlink(out)
    return ir


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    binary, port, flags = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    a = total(binary, 1000, flags, port)
    b = total(binary, 3000, flags, port + 1)
    print(f"{binary} {' '.join(flags)}: {round((b - a) / 2000)} instructions per request")


if __name__ == "__main__":
    main()
