"""egress_inet.py - the servers of the little test internet that
test_egress.py builds (run inside a network namespace the test created,
via `ip netns exec`):

  TCP 80    HTTP: "hello from <local address>" (every address, v4 and v6)
  TCP 25, 465, 587  an SMTP banner
  TCP 9000  accepts and holds connections (for the per-sandbox cap)
  DNS 53    UDP and TCP on each --dns address: A records from --name

Every connection and query is appended to --log as one line
("tcp LOCAL_IP LOCAL_PORT PEER_IP" / "dns LOCAL_IP PEER_IP NAME"), so the
test can tell that nothing reached a target, not only that the client
failed. Prints "ready" once everything listens; runs until killed.
"""
import argparse
import socket
import struct
import sys
import threading

LOCK = threading.Lock()


def log(path, line):
    with LOCK:
        with open(path, "a") as f:
            f.write(line + "\n")


def local_ip(addr):
    ip = addr[0]
    return ip[7:] if ip.startswith("::ffff:") else ip


def tcp_listener(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(512)
    return s


def serve_tcp(s, port, logf, handler):
    held = []
    while True:
        c, peer = s.accept()
        log(logf, "tcp %s %d %s" % (local_ip(c.getsockname()), port, local_ip(peer)))
        if handler is None:
            held.append(c)  # the hold port: keep it open
            continue
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def http(c):
    try:
        c.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        body = ("hello from %s\n" % local_ip(c.getsockname())).encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    finally:
        c.close()


def smtp(c):
    try:
        c.sendall(b"220 smtp.test ESMTP test\r\n")
        c.settimeout(2)
        c.recv(1024)
    except OSError:
        pass
    finally:
        c.close()


def dns_answer(query, names):
    """A minimal DNS responder: one question, A records from names."""
    if len(query) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", query[:6])
    if qd != 1:
        return None
    i, labels = 12, []
    while i < len(query) and query[i] != 0:
        n = query[i]
        labels.append(query[i + 1:i + 1 + n].decode(errors="replace"))
        i += 1 + n
    qend = i + 5
    if qend > len(query):
        return None
    qtype = struct.unpack(">H", query[i + 1:i + 3])[0]
    name = ".".join(labels).lower()
    question = query[12:qend]
    ip = names.get(name)
    rd = flags & 0x0100
    if ip is None:
        return struct.pack(">HHHHHH", qid, 0x8183 | rd, 1, 0, 0, 0) + question, name
    if qtype != 1:
        return struct.pack(">HHHHHH", qid, 0x8180 | rd, 1, 0, 0, 0) + question, name
    answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
    return struct.pack(">HHHHHH", qid, 0x8180 | rd, 1, 1, 0, 0) + question + answer, name


def serve_dns_udp(ip, names, logf):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 53))

    def loop():
        while True:
            q, peer = s.recvfrom(4096)
            r = dns_answer(q, names)
            log(logf, "dns %s %s %s" % (ip, peer[0], r[1] if r else "?"))
            if r:
                s.sendto(r[0], peer)
    threading.Thread(target=loop, daemon=True).start()


def serve_dns_tcp(ip, names, logf):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, 53))
    s.listen(64)

    def one(c, peer):
        try:
            c.settimeout(5)
            n = struct.unpack(">H", c.recv(2))[0]
            q = b""
            while len(q) < n:
                chunk = c.recv(n - len(q))
                if not chunk:
                    return
                q += chunk
            r = dns_answer(q, names)
            log(logf, "dns %s %s %s" % (ip, peer[0], r[1] if r else "?"))
            if r:
                c.sendall(struct.pack(">H", len(r[0])) + r[0])
        except (OSError, struct.error):
            pass
        finally:
            c.close()

    def loop():
        while True:
            c, peer = s.accept()
            log(logf, "tcp %s 53 %s" % (ip, peer[0]))
            threading.Thread(target=one, args=(c, peer), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--dns", action="append", default=[])
    ap.add_argument("--name", action="append", default=[], help="NAME=IPv4")
    ap.add_argument("--http-only", action="store_true")
    a = ap.parse_args()
    names = dict(n.lower().split("=", 1) for n in a.name)
    ports = {80: http}
    if not a.http_only:
        ports.update({25: smtp, 465: smtp, 587: smtp, 9000: None})
    for port, handler in ports.items():
        s = tcp_listener(port)
        threading.Thread(target=serve_tcp, args=(s, port, a.log, handler), daemon=True).start()
    for ip in a.dns:
        serve_dns_udp(ip, names, a.log)
        serve_dns_tcp(ip, names, a.log)
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
