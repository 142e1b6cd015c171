# TCP load tool for bench/tcp.ts, the same for every setup measured (bindery, pasta, slirp4netns, veth):
#   serve ADDR PORT [close]      epoll echo server on ADDR:PORT (echoes whatever arrives; holds idle
#                                connections open); prints "ready". With "close" it closes each
#                                connection right after its first reply: the host closes first
#   rr IP PORT N                 one connection, N 1-byte request/response round trips; prints the
#                                round-trip times in ns, space-separated (after 100 unmeasured ones)
#   crr IP PORT SECS CONC [MAX]  CONC processes each loop connect, 1-byte request, 1-byte reply,
#                                close for SECS seconds (or until MAX connections in all); prints
#                                "conns N secs S rate R errors E [first error]". The client closes
#                                first (the server closes when it reads the end of the stream)
#   crrh IP PORT SECS CONC [MAX] the same against `serve … close`, but each client waits for the
#                                server's end of stream (FIN) before it closes: the host closes
#                                first; a connection counts once both the reply and the FIN came
#   hold IP PORT N               opens N connections, checks each end to end with a 1-byte echo,
#                                prints "held N", then sleeps until killed (the kernel closes them)
# Python with blocking sockets in the clients (no event loop between the tool and the kernel), so
# the tool adds little of its own to the latency and the same little to every setup.
import os
import select
import signal
import socket
import sys
import time

pc = time.perf_counter_ns


def serve(addr, port, close_first=False):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(4096)
    ls.setblocking(False)
    lfd = ls.fileno()
    ep = select.epoll()
    ep.register(lfd, select.EPOLLIN)
    conns = {}
    print("ready", flush=True)
    while True:
        for fd, _ in ep.poll():
            if fd == lfd:
                while True:
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    conns[c.fileno()] = c
                    ep.register(c.fileno(), select.EPOLLIN)
                continue
            c = conns.get(fd)
            if c is None:
                continue
            try:
                d = c.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if d:
                try:
                    c.send(d)
                except OSError:
                    pass
                if not close_first:
                    continue
            # End of stream, or (close_first) the reply sent: close our end.
            ep.unregister(fd)
            del conns[fd]
            c.close()


def rr(ip, port, n):
    s = socket.create_connection((ip, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(100):
        s.send(b"x")
        if s.recv(1) != b"x":
            sys.exit("rr: connection closed during warm-up")
    out = []
    for _ in range(n):
        t = pc()
        s.send(b"x")
        r = s.recv(1)
        out.append(pc() - t)
        if r != b"x":
            sys.exit("rr: connection closed")
    s.close()
    print(" ".join(str(x) for x in out))


def crr_worker(ip, port, deadline, limit, w, wait_fin):
    n = 0
    err = 0
    first = ""
    while pc() < deadline and n + err < limit:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(3)
            s.connect((ip, port))
            s.send(b"x")
            if s.recv(1) != b"x":
                err += 1
                first = first or "reply missing (closed)"
            elif wait_fin and s.recv(1) != b"":
                err += 1
                first = first or "data after the reply instead of the server's FIN"
            else:
                n += 1
        except OSError as e:
            err += 1
            first = first or f"{type(e).__name__}: {e}"
        finally:
            s.close()
        if err >= 20 and err > n // 100:
            break
    os.write(w, f"{n} {err} {first}\n".encode())
    os._exit(0)


def crr(ip, port, secs, conc, most=None, wait_fin=False):
    start = pc()
    deadline = start + int(secs * 1e9)
    pipes = []
    for i in range(conc):
        r, w = os.pipe()
        limit = float("inf") if most is None else most // conc + (1 if i < most % conc else 0)
        if os.fork() == 0:
            os.close(r)
            crr_worker(ip, port, deadline, limit, w, wait_fin)
        os.close(w)
        pipes.append(r)
    total = 0
    errs = 0
    first = ""
    for r in pipes:
        data = b""
        while True:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
        parts = data.decode().strip().split(" ", 2)
        total += int(parts[0])
        errs += int(parts[1])
        if len(parts) > 2 and not first:
            first = parts[2]
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break
    el = (pc() - start) / 1e9
    print(f"conns {total} secs {el:.3f} rate {total / el:.1f} errors {errs} {first}".strip())


def hold(ip, port, n):
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect((ip, port))
        except OSError as e:
            sys.exit(f"hold: connection {i + 1}/{n}: {type(e).__name__}: {e}")
        socks.append(s)
    for s in socks:
        s.send(b"x")
    for i, s in enumerate(socks):
        try:
            if s.recv(1) != b"x":
                sys.exit(f"hold: connection {i + 1}/{n}: no echo (closed)")
        except OSError as e:
            sys.exit(f"hold: connection {i + 1}/{n}: {type(e).__name__}: {e}")
    print(f"held {n}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        signal.pause()


def main():
    mode, *a = sys.argv[1:]
    if mode == "serve":
        serve(a[0], int(a[1]), len(a) > 2 and a[2] == "close")
    elif mode == "rr":
        rr(a[0], int(a[1]), int(a[2]))
    elif mode in ("crr", "crrh"):
        most = int(a[4]) if len(a) > 4 else None
        crr(a[0], int(a[1]), float(a[2]), int(a[3]), most, mode == "crrh")
    elif mode == "hold":
        hold(a[0], int(a[1]), int(a[2]))
    else:
        sys.exit(f"unknown mode {mode}")


main()
