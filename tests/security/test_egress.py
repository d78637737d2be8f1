"""Opt-in egress ("network": true): public addresses only, and proof of it.

The module builds its own little internet in network namespaces it
creates, so nothing leaves the machine:

  netns isobox-t-inet, reached over a veth (host 10.231.0.1/30, peer
  10.231.0.2/30), with routes on the host for every address aimed at:
    198.51.100.10    the "public" host: HTTP 80, SMTP 25/465/587, hold 9000
    198.51.100.53    its DNS server (egress_dns): public.test -> .10
    198.51.100.54    another DNS server (not configured)
    169.254.169.254  a metadata service (HTTP 80)
    10.231.5.5       a private host (HTTP 80)
    2001:db8:1::10   an IPv6 host (HTTP 80)
  netns isobox-t-lan, for the "LAN" test: the host gets 203.0.113.1/24
  (a directly attached network in a range no fixed rule covers), a
  neighbour 203.0.113.7 serves HTTP.

A private deployment (two isobox.fcgi processes behind lighttpd) runs with
allow_network and egress_dns 198.51.100.53; scripts/setup-egress installs
the firewall for that resolver (and is run again at the end without it,
restoring the host's configured one). The servers log every connection
and query, so "refused" is checked on both sides: the sandbox's attempt
fails AND nothing arrived. Every refused target is also shown reachable
from the host itself, so the refusal is the firewall's doing.

One run of this module at a time on a host: it holds
/run/isobox-egress.lock, which setup-egress also takes.
"""
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest
import requests

from conftest import assert_error, check_result  # noqa: F401

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e",
                                "helpers"))
import isobox_deploy as dep  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETUP_EGRESS = os.path.join(REPO, "scripts", "setup-egress")
SERVERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "egress_inet.py")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
LOCK = "/run/isobox-egress.lock"

NS_INET, NS_LAN = "isobox-t-inet", "isobox-t-lan"
VETH_INET, VETH_LAN = "ibxt-inet", "ibxt-lan"
HOST_INET, PEER_INET = "10.231.0.1", "10.231.0.2"
PUBLIC, DNS, OTHER_DNS = "198.51.100.10", "198.51.100.53", "198.51.100.54"
METADATA, PRIVATE = "169.254.169.254", "10.231.5.5"
V6_HOST = "2001:db8:1::10"
LAN_HOST, LAN_PEER = "203.0.113.1", "203.0.113.7"
BRIDGE = "isobox-egr0"


def sh(*cmd, check=True, timeout=60, env=None):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(cmd), r.returncode,
                                                     r.stdout, r.stderr))
    return r


def setup_egress(dns=None):
    """Run scripts/setup-egress (the module holds its lock). dns: the
    resolver to allow; None: the host's own configuration."""
    env = dict(os.environ)
    env["ISOBOX_EGRESS_LOCKED"] = "1"
    env.pop("ISOBOX_EGRESS_DNS", None)
    if dns is not None:
        env["ISOBOX_EGRESS_DNS"] = dns
    r = sh(SETUP_EGRESS, env=env, timeout=120)
    print(r.stdout)
    return r


def host_listener():
    """A TCP listener on every address of the host; returns (port,
    accepted list, closer)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", 0))
    s.listen(64)
    s.settimeout(0.2)
    got, stop = [], threading.Event()

    def loop():
        while not stop.is_set():
            try:
                c, peer = s.accept()
            except OSError:
                continue
            got.append(peer[0])
            c.close()
    t = threading.Thread(target=loop, daemon=True)
    t.start()

    def close():
        stop.set()
        t.join(2)
        s.close()
    return s.getsockname()[1], got, close


def host_ipv4_addresses():
    """The host's own IPv4 addresses now (docker0 and others come and go),
    except loopback and the machine's uplink range 192.0.2.0/24, which no
    test may aim at."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True,
                         text=True, check=True).stdout
    addrs = []
    for line in out.splitlines():
        a = line.split()[3].split("/")[0]
        if not a.startswith("127.") and not a.startswith("192.0.2."):
            addrs.append(a)
    return addrs


def remove_test_net():
    for ns in (NS_INET, NS_LAN):
        sh("ip", "netns", "del", ns, check=False)
    for v in (VETH_INET, VETH_LAN):
        sh("ip", "link", "del", v, check=False)


class Internet:
    def __init__(self, tmp):
        self.tmp = tmp
        self.log = os.path.join(tmp, "inet.log")
        self.lan_log = os.path.join(tmp, "lan.log")
        self.procs = []

    def start(self):
        remove_test_net()  # leftovers of a run that was killed
        ns = ["ip", "netns", "exec", NS_INET]
        sh("ip", "netns", "add", NS_INET)
        sh("ip", "link", "add", VETH_INET, "type", "veth", "peer", "name", "ibxt-inet-p")
        sh("ip", "link", "set", "ibxt-inet-p", "netns", NS_INET)
        sh("ip", "addr", "add", HOST_INET + "/30", "dev", VETH_INET)
        sh("ip", "-6", "addr", "add", "2001:db8:ffff::1/64", "dev", VETH_INET, "nodad")
        sh("ip", "link", "set", VETH_INET, "up")
        sh(*ns, "ip", "link", "set", "lo", "up")
        sh(*ns, "ip", "addr", "add", PEER_INET + "/30", "dev", "ibxt-inet-p")
        sh(*ns, "ip", "-6", "addr", "add", "2001:db8:ffff::2/64", "dev", "ibxt-inet-p", "nodad")
        sh(*ns, "ip", "link", "set", "ibxt-inet-p", "up")
        for a in (PUBLIC, DNS, OTHER_DNS, METADATA, PRIVATE):
            sh(*ns, "ip", "addr", "add", a + "/32", "dev", "lo")
        sh(*ns, "ip", "-6", "addr", "add", V6_HOST + "/128", "dev", "lo")
        sh(*ns, "ip", "route", "add", "default", "via", HOST_INET)
        sh(*ns, "ip", "-6", "route", "add", "default", "via", "2001:db8:ffff::1")
        # Every address a test aims at goes to this namespace.
        for dst in ("198.51.100.0/24", METADATA + "/32", "10.231.5.0/24"):
            sh("ip", "route", "replace", dst, "via", PEER_INET, "dev", VETH_INET)
        sh("ip", "-6", "route", "replace", "2001:db8:1::/64", "via", "2001:db8:ffff::2",
           "dev", VETH_INET)
        self.spawn(NS_INET, self.log, ["--dns", DNS, "--dns", OTHER_DNS,
                                       "--name", "public.test=" + PUBLIC,
                                       "--name", "lan.test=" + LAN_PEER])

    def spawn(self, netns, log, args):
        p = subprocess.Popen(["ip", "netns", "exec", netns, PY, SERVERS, "--log", log] + args,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        if line.strip() != "ready":
            p.kill()
            raise RuntimeError("test servers in %s did not start: %s" % (netns, p.stderr.read()))
        self.procs.append(p)

    def start_lan(self):
        ns = ["ip", "netns", "exec", NS_LAN]
        sh("ip", "netns", "add", NS_LAN)
        sh("ip", "link", "add", VETH_LAN, "type", "veth", "peer", "name", "ibxt-lan-p")
        sh("ip", "link", "set", "ibxt-lan-p", "netns", NS_LAN)
        sh("ip", "addr", "add", LAN_HOST + "/24", "dev", VETH_LAN)
        sh("ip", "link", "set", VETH_LAN, "up")
        sh(*ns, "ip", "link", "set", "lo", "up")
        sh(*ns, "ip", "addr", "add", LAN_PEER + "/24", "dev", "ibxt-lan-p")
        sh(*ns, "ip", "link", "set", "ibxt-lan-p", "up")
        sh(*ns, "ip", "route", "add", "default", "via", LAN_HOST)
        self.spawn(NS_LAN, self.lan_log, ["--http-only"])

    def stop_lan(self):
        sh("ip", "netns", "del", NS_LAN, check=False)
        sh("ip", "link", "del", VETH_LAN, check=False)

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait(10)
        remove_test_net()

    def arrivals(self, path=None):
        """[(kind, local ip, port or peer, ...)] logged so far."""
        try:
            with open(path or self.log) as f:
                return [tuple(line.split()) for line in f if line.strip()]
        except OSError:
            return []


@pytest.fixture(scope="module")
def lock():
    with open(LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="module")
def inet(lock):
    tmp = tempfile.mkdtemp(prefix="isobox-egress-")
    os.chmod(tmp, 0o755)
    net = Internet(tmp)
    try:
        net.start()
        setup_egress(DNS)
        yield net
    finally:
        net.stop()
        try:
            setup_egress(None)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def d(inet):
    """A private deployment with egress allowed and the test's resolver."""
    cat = os.path.join(inet.tmp, "catalogue")
    os.makedirs(cat)
    shutil.copy(dep.base_catalogue(), os.path.join(cat, "languages.yaml"))
    cfg = {"pool_languages": "", "rate_per_min": 100000, "rate_burst": 100000,
           "queue_timeout_ms": 60000, "allow_network": True, "egress_dns": DNS}
    dp = dep.LoggedDeployment(inet.tmp, cat, mode="bin-path", max_procs=2, config=cfg)
    dp.start()
    try:
        yield dp
    finally:
        dp.stop()


def run(d, code, network=True, wall=15000, expect=200):
    body = {"language": "python", "code": code, "network": network,
            "limits": {"wallTimeMs": wall}}
    r = requests.post(d.url + "/execute", json=body, timeout=120)
    assert r.status_code == expect, "HTTP %s: %s" % (r.status_code, r.text[:2000])
    return r


def run_json(d, code, network=True, wall=15000):
    doc = run(d, code, network, wall).json()
    assert doc["run"]["exitCode"] == 0, doc["run"]
    return json.loads(doc["run"]["stdout"])


# A probe run inside the sandbox: TCP connects, DNS queries (UDP and TCP,
# sent straight to a server) and name resolution; prints a JSON map.
PROBE = r'''
import json, socket, struct, sys
T = %(targets)r
res = {}
def tcp(host, port, fam):
    s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(2)
    try:
        s.connect((host, port)); return "connected"
    except OSError as e:
        return "failed: %%s" %% e
    finally:
        s.close()
def query(name):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for part in name.split("."):
        q += bytes([len(part)]) + part.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)
def dns_udp(server):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
    try:
        s.sendto(query("public.test"), (server, 53)); s.recvfrom(512); return "connected"
    except OSError as e:
        return "failed: %%s" %% e
    finally:
        s.close()
for kind, host, port in T:
    key = "%%s %%s %%s" %% (kind, host, port)
    if kind == "tcp":
        res[key] = tcp(host, port, socket.AF_INET6 if ":" in host else socket.AF_INET)
    elif kind == "dns":
        res[key] = dns_udp(host)
    elif kind == "resolve":
        try:
            res[key] = socket.gethostbyname(host)
        except OSError as e:
            res[key] = "failed: %%s" %% e
print(json.dumps(res))
'''


def probe(d, targets, network=True):
    return run_json(d, PROBE % {"targets": targets}, network)


def test_public_host_fetch_and_dns(d, inet):
    """requests fetches from the public host by name; the name resolves
    through the configured resolver (and only there)."""
    before = len(inet.arrivals())
    out = run_json(d, "import json, socket, requests\n"
                      "r = requests.get('http://public.test/', timeout=5)\n"
                      "print(json.dumps({'status': r.status_code, 'body': r.text,\n"
                      "  'ip': socket.gethostbyname('public.test')}))\n")
    assert out == {"status": 200, "body": "hello from %s\n" % PUBLIC, "ip": PUBLIC}, out
    new = inet.arrivals()[before:]
    assert ("tcp", PUBLIC, "80", HOST_INET) in new, new  # masqueraded by the host
    assert any(a[0] == "dns" and a[1] == DNS and a[3] == "public.test" for a in new), new


def test_everything_else_refused(d, inet):
    """Metadata, the private range, the host's own addresses, SMTP, other
    DNS servers, IPv6: the sandbox's attempt fails and nothing arrives."""
    port, got, close = host_listener()
    try:
        host_addrs = host_ipv4_addresses()
        assert HOST_INET in host_addrs and "172.30.240.1" in host_addrs, host_addrs
        forbidden = [("tcp", METADATA, 80), ("tcp", PRIVATE, 80),
                     ("tcp", PUBLIC, 25), ("tcp", PUBLIC, 465), ("tcp", PUBLIC, 587),
                     ("tcp", OTHER_DNS, 53), ("dns", OTHER_DNS, 53),
                     ("tcp", V6_HOST, 80)]
        forbidden += [("tcp", a, port) for a in host_addrs]
        allowed = [("tcp", PUBLIC, 80), ("dns", DNS, 53), ("resolve", "public.test", 0)]
        before = len(inet.arrivals())
        res = probe(d, forbidden + allowed)
        print(json.dumps(res, indent=1))
        for t in allowed:
            key = "%s %s %s" % t
            assert not res[key].startswith("failed"), (key, res[key])
        for t in forbidden:
            key = "%s %s %s" % t
            assert res[key].startswith("failed"), "the sandbox reached %s: %s" % (key, res[key])
        new = inet.arrivals()[before:]
        reached = [a for a in new if not (a[0] == "tcp" and a[1] == PUBLIC and a[2] == "80")
                   and not (a[0] == "dns" and a[1] == DNS)]
        assert not reached, "forbidden targets saw traffic: %s" % reached
        assert not got, "the host's listener was reached from the sandbox: %s" % got

        # Controls: from the host, every one of those targets answers.
        for kind, host, p in forbidden:
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            if kind == "dns":
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(3)
                s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                         b"\x06public\x04test\x00\x00\x01\x00\x01", (host, 53))
                s.recvfrom(512)
            else:
                c = socket.socket(fam, socket.SOCK_STREAM)
                c.settimeout(3)
                try:
                    c.connect((host, p))
                except OSError as e:
                    raise AssertionError("control: the host cannot reach %s port %d "
                                         "either: %s" % (host, p, e)) from e
                finally:
                    c.close()
    finally:
        close()


def test_network_false_reaches_nothing(d, inet):
    """The same deployment without "network": only loopback; not even the
    public host or the configured resolver."""
    before = len(inet.arrivals())
    targets = [("tcp", PUBLIC, 80), ("dns", DNS, 53), ("resolve", "public.test", 0),
               ("tcp", METADATA, 80), ("tcp", "172.30.240.1", 80)]
    res = probe(d, targets, network=False)
    assert all(v.startswith("failed") for v in res.values()), res
    assert inet.arrivals()[before:] == []
    out = run_json(d, "import json, socket\n"
                      "print(json.dumps([n for _, n in socket.if_nameindex()]))\n", network=False)
    assert out == ["lo"], out


def _sandbox_ip(d, rid_marker, timeout=20):
    """The egress-network address of the running sandbox whose program
    contains rid_marker (found by its deployment's owner pid)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for cid, _, _ in dep.running_sandboxes(d.procs()):
            r = dep.docker("inspect", cid, "--format",
                           '{{json .NetworkSettings.Networks}} {{index .Config.Labels "isobox.network"}}')
            nets, _, flag = r.stdout.strip().rpartition(" ")
            if flag == "1" and nets:
                n = json.loads(nets).get("isobox-egress") or {}
                if n.get("IPAddress"):
                    return n["IPAddress"]
        time.sleep(0.2)
    raise AssertionError("no running network sandbox of %s" % rid_marker)


def test_other_sandbox_unreachable(d, inet):
    """Two network runs at once: the second cannot connect to the first.
    The first connects to its own egress address once (so it was listening
    there) and counts what it accepted: only that one."""
    listener = ("import socket, time\n"
                "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "u.connect(('%s', 80)); me = u.getsockname()[0]\n"
                "s = socket.socket(); s.bind(('0.0.0.0', 8080)); s.listen(8)\n"
                "socket.create_connection((me, 8080), timeout=2).close()\n"
                "s.settimeout(0.5); n = 0; end = time.time() + 8\n"
                "while time.time() < end:\n"
                "    try:\n"
                "        c, _ = s.accept(); n += 1; c.close()\n"
                "    except OSError:\n"
                "        pass\n"
                "print(me, n)\n" % PUBLIC)
    box = {}
    t = threading.Thread(target=lambda: box.update(r=run(d, listener, wall=15000)))
    t.start()
    try:
        ip = _sandbox_ip(d, "listener")
        time.sleep(1.5)  # python starts and listens
        res = probe(d, [("tcp", ip, 8080), ("tcp", ip, 22)])
        assert all(v.startswith("failed") for v in res.values()), res
    finally:
        t.join(60)
    assert box["r"].json()["run"]["stdout"] == "%s 1\n" % ip, box["r"].json()["run"]


def test_connection_cap(d, inet):
    """At most ISOBOX_EGRESS_MAX_CONNS (64) TCP connections at once per
    sandbox; the rest are reset."""
    out = run_json(d, "import json, socket\n"
                      "ok = bad = 0; keep = []\n"
                      "for i in range(80):\n"
                      "    s = socket.socket(); s.settimeout(3)\n"
                      "    try:\n"
                      "        s.connect(('%s', 9000)); keep.append(s); ok += 1\n"
                      "    except OSError:\n"
                      "        bad += 1\n"
                      "print(json.dumps([ok, bad]))\n" % PUBLIC)
    ok, bad = out
    assert 48 <= ok <= 64 and ok + bad == 80, out


def test_fails_closed_when_rules_go(d, inet):
    """An operator's flush of the chain, a removed hook, a flushed IPv6
    chain: the next network run is 503 network_unavailable in every process
    (no run without the firewall), network: false still runs; setup-egress
    restores it."""
    code = "import requests; print(requests.get('http://public.test/', timeout=5).text)"
    breakers = [
        ["iptables", "-w", "10", "-F", "ISOBOX-EGRESS"],
        ["iptables", "-w", "10", "-D", "DOCKER-USER", "-i", BRIDGE, "-j", "ISOBOX-EGRESS"],
        ["iptables", "-w", "10", "-D", "INPUT", "-i", BRIDGE, "-j", "ISOBOX-EGRESS-IN"],
        ["iptables", "-w", "10", "-D", "ISOBOX-EGRESS", "-d", "169.254.0.0/16", "-j", "REJECT",
         "--reject-with", "icmp-admin-prohibited"],
        ["ip6tables", "-w", "10", "-F", "ISOBOX-EGRESS"],
    ]
    try:
        for cmd in breakers:
            sh(*cmd)
            before = len(inet.arrivals())
            # lighttpd spreads requests over both processes
            for _ in range(2):
                r = run(d, code, expect=503)
                assert_error(r, 503, "network_unavailable")
                assert "setup-egress" in r.json()["message"], r.json()
            assert inet.arrivals()[before:] == [], "a run went out without the firewall"
            r = run(d, "print('offline ok')", network=False)
            assert r.json()["run"]["stdout"] == "offline ok\n"
            setup_egress(DNS)
            r = run(d, code)
            assert r.json()["run"]["stdout"] == "hello from %s\n\n" % PUBLIC, r.json()["run"]
    finally:
        setup_egress(DNS)


def test_new_host_network_needs_setup(d, inet):
    """The host joins a LAN whose range no fixed rule covers: network runs
    are refused until setup-egress has run again, and then the LAN (the
    host's own address on it and its neighbour) is refused to sandboxes."""
    port, got, close = host_listener()
    try:
        inet.start_lan()
        r = run(d, "print(1)", expect=503)
        assert_error(r, 503, "network_unavailable")
        assert "203.0.113.0/24" in r.json()["message"], r.json()
        setup_egress(DNS)
        before = len(inet.arrivals(inet.lan_log))
        res = probe(d, [("tcp", LAN_PEER, 80), ("tcp", LAN_HOST, port), ("tcp", PUBLIC, 80)])
        assert res["tcp %s 80" % PUBLIC] == "connected", res
        assert res["tcp %s 80" % LAN_PEER].startswith("failed"), res
        assert res["tcp %s %d" % (LAN_HOST, port)].startswith("failed"), res
        assert inet.arrivals(inet.lan_log)[before:] == []
        assert not got, got
        socket.create_connection((LAN_PEER, 80), timeout=3).close()  # control
    finally:
        close()
        inet.stop_lan()
        setup_egress(DNS)


def test_disabled_or_key_without_network_is_403(inet, tmp_path):
    """allow_network off: 403, before any firewall check; on, a keys_file
    key without network: true is 403 as well, one with it runs."""
    import hashlib
    os.chmod(str(tmp_path), 0o755)
    cat = os.path.join(str(tmp_path), "catalogue")
    os.makedirs(cat)
    shutil.copy(dep.base_catalogue(), os.path.join(cat, "languages.yaml"))
    yes, no = "k-" + uuid.uuid4().hex, "k-" + uuid.uuid4().hex
    kf = os.path.join(str(tmp_path), "keys.yaml")
    with open(kf, "w") as f:
        f.write("keys:\n"
                "  - name: net\n    sha256: %s\n    network: true\n"
                "  - name: nonet\n    sha256: %s\n" % (hashlib.sha256(yes.encode()).hexdigest(),
                                                       hashlib.sha256(no.encode()).hexdigest()))
    base = {"pool_languages": "", "rate_per_min": 100000, "rate_burst": 100000,
            "egress_dns": DNS}
    body = {"language": "python", "network": True,
            "code": "import requests; print(requests.get('http://public.test/').status_code)"}
    with dep.Deployment(str(tmp_path), cat, config=dict(base, allow_network=False),
                        name="off") as off:
        r = requests.post(off.url + "/execute", json=body, timeout=60)
        assert_error(r, 403, "network_unavailable")
        assert "not enabled on this server" in r.json()["message"]
    with dep.Deployment(str(tmp_path), cat, config=dict(base, allow_network=True, keys_file=kf),
                        name="keys") as kd:
        r = requests.post(kd.url + "/execute", json=body, headers={"X-API-Key": no}, timeout=60)
        assert_error(r, 403, "network_unavailable")
        assert "API key" in r.json()["message"]
        r = requests.post(kd.url + "/execute", json=body, headers={"X-API-Key": yes}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["run"]["stdout"] == "200\n", r.json()
