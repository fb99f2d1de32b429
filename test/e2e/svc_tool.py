#!/usr/bin/env python3
"""Service e2e helper: a backend that says who it is and who called, and a
client that counts which backends answered.

  svc_tool.py serve NAME PORT...        TCP and UDP on each PORT: a TCP
      connection gets "NAME PEER_IP\n" and then its lines echoed; a UDP
      datagram gets "NAME PEER_IP".
  svc_tool.py tcp HOST PORT COUNT       COUNT connections, one answer each;
      prints "NAME PEER_IP" per connection; exit 1 on any failure.
  svc_tool.py udp HOST PORT COUNT       the same over UDP (new socket, so a
      new source port, each time).
  svc_tool.py refused tcp|udp HOST PORT  exit 0 when the service refuses at
      once (RST / ICMP port unreachable within 2 s), prints the time taken.
  svc_tool.py hold HOST PORT GO DONE    one connection: prints its answer,
      waits for file GO, sends a line, expects it echoed, writes DONE.
"""
import os
import socket
import sys
import threading
import time


def serve(name, ports):
    def tcp_conn(c, peer):
        with c:
            c.sendall(f"{name} {peer[0]}\n".encode())
            f = c.makefile("rb")
            for line in f:
                c.sendall(line)

    def tcp_loop(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(128)
        while True:
            c, peer = s.accept()
            threading.Thread(target=tcp_conn, args=(c, peer), daemon=True).start()

    def udp_loop(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        while True:
            _, peer = s.recvfrom(2048)
            s.sendto(f"{name} {peer[0]}".encode(), peer)

    for p in ports:
        threading.Thread(target=tcp_loop, args=(p,), daemon=True).start()
        threading.Thread(target=udp_loop, args=(p,), daemon=True).start()
    while True:
        time.sleep(3600)


def tcp_once(host, port):
    with socket.create_connection((host, port), timeout=3) as c:
        return c.makefile("rb").readline().decode().strip()


def udp_once(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        for _ in range(3):
            s.sendto(b"who", (host, port))
            try:
                return s.recv(2048).decode().strip()
            except socket.timeout:
                continue
    raise TimeoutError(f"no UDP answer from {host}:{port}")


def refused(proto, host, port):
    t0 = time.monotonic()
    try:
        if proto == "tcp":
            socket.create_connection((host, port), timeout=2).close()
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(2)
                s.connect((host, port))
                s.send(b"x")
                s.recv(100)
    except ConnectionRefusedError:
        print(f"refused after {(time.monotonic() - t0) * 1000:.1f} ms")
        return 0
    except Exception as e:  # timeout or anything else: not a refusal
        print(f"not refused: {e!r} after {(time.monotonic() - t0) * 1000:.1f} ms")
        return 1
    print("not refused: answered")
    return 1


def hold(host, port, go, done):
    c = socket.create_connection((host, port), timeout=5)
    f = c.makefile("rb")
    print(f.readline().decode().strip(), flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.05)
    c.sendall(b"still-here\n")
    c.settimeout(5)
    line = f.readline().decode().strip()
    with open(done, "w") as out:
        out.write(line + "\n")
    return 0 if line == "still-here" else 1


def main(argv):
    cmd = argv[1]
    if cmd == "serve":
        serve(argv[2], [int(p) for p in argv[3:]])
    elif cmd in ("tcp", "udp"):
        once = tcp_once if cmd == "tcp" else udp_once
        for _ in range(int(argv[4])):
            print(once(argv[2], int(argv[3])), flush=True)
    elif cmd == "refused":
        return refused(argv[2], argv[3], int(argv[4]))
    elif cmd == "hold":
        return hold(argv[2], int(argv[3]), argv[4], argv[5])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
