"""isobox_deploy.py - private deployments of isobox for tests/e2e/test_deploy.py.

Each Deployment is its own isobox.fcgi (or several, spawned by lighttpd)
behind its own lighttpd on a free 127.0.0.1 port, with a temporary config
made from the installed one (/etc/isobox/isobox.yaml, or $ISOBOX_CONFIG)
where `registry`, `run_dir` and `state_dir` point into a temporary directory
(`images_lock` and `guest_path` are kept, so the installed images and guest
are used). Nothing here touches the main service on :8090.

Two ways of wiring lighttpd to the service:
  mode="socket"    isobox.fcgi --listen SOCK started here; lighttpd's
                   fastcgi.server has "socket" => SOCK and no bin-path
                   (as with systemd's isobox.socket or spawn-fcgi)
  mode="bin-path"  lighttpd spawns max_procs isobox.fcgi processes itself
                   (as lighttpd/isobox.conf does); their stderr goes to
                   lighttpd's error log

Processes are only ever stopped by their own pid (the socat of TlsFront by
its own process group). Containers are matched to a deployment by the pid
in their `isobox.owner` label ("host:pid:start").

Environment (optional): ISOBOX_FCGI_BIN (/usr/local/bin/isobox.fcgi),
ISOBOX_GUEST (the configured guest_path),
ISOBOX_CONFIG (/etc/isobox/isobox.yaml), ISOBOX_LIGHTTPD (lighttpd in PATH
or /usr/sbin/lighttpd).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import requests

FCGI_BIN = os.environ.get("ISOBOX_FCGI_BIN", "/usr/local/bin/isobox.fcgi")
# A guest to use instead of the configured one (e.g. a build's).
GUEST_BIN = os.environ.get("ISOBOX_GUEST", "")
BASE_CONFIG = os.environ.get("ISOBOX_CONFIG", "/etc/isobox/isobox.yaml")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
DOCKER_SOCK = "/var/run/docker.sock"


def lighttpd_binary():
    b = os.environ.get("ISOBOX_LIGHTTPD")
    if b:
        return b
    return shutil.which("lighttpd") or shutil.which(
        "lighttpd", path="/usr/sbin:/usr/local/sbin")


# --------------------------------------------------------------------------
# small utilities


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_for(pred, timeout, interval=0.1, what="condition"):
    """Poll pred() until it returns a truthy value (returned) or timeout
    seconds pass (returns the last falsy value)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def wait_tcp(port, timeout=20, proc=None, what="server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s before listening on %d"
                               % (what, proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s did not listen on 127.0.0.1:%d within %ds"
                       % (what, port, timeout))


def wait_unix(path, timeout=20, proc=None, what="isobox.fcgi"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s before listening on %s"
                               % (what, proc.returncode, path))
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.1)
    raise RuntimeError("%s did not listen on %s within %ds" % (what, path, timeout))


def alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    state = st.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def children_of(ppid):
    """Pids of the live direct children of ppid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                st = f.read()
        except OSError:
            continue
        fields = st.rsplit(")", 1)[1].split()
        if int(fields[1]) == ppid and fields[0] not in ("Z", "X"):
            out.append(int(name))
    return sorted(out)


def exe_of(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


def stop_pid(pid, sig=signal.SIGTERM, timeout=15):
    """Signal one process by pid and wait for it to be gone; SIGKILL after
    timeout. Returns True if it went away on the first signal."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    if wait_for(lambda: not alive(pid), timeout, 0.05):
        return True
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    wait_for(lambda: not alive(pid), 5, 0.05)
    return False


def stop_proc(proc, timeout=15):
    """Stop a Popen we started (SIGTERM, then SIGKILL) and reap it."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


def tail(path, n=60):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def log_messages(path):
    """The "msg" of each JSON log line of isobox.fcgi in a file (other lines,
    e.g. lighttpd's own, are returned as they are)."""
    out = []
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return out
    for line in lines:
        line = line.rstrip("\n")
        s = line.find("{")
        if s >= 0:
            try:
                out.append(json.loads(line[s:]).get("msg", line))
                continue
            except ValueError:
                pass
        out.append(line)
    return out


def clean_env(extra=None):
    """os.environ without ISOBOX_* / DOCKER_* (they would override the
    temporary config), plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ISOBOX_") and not k.startswith("DOCKER_")}
    env.update(extra or {})
    return env


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))  # a JSON string is a YAML double-quoted scalar


def write_config(path, overrides):
    """Copy BASE_CONFIG to path, replacing the given top-level scalar keys
    (lines 'key: ...' at column 0 are dropped, the new values appended)."""
    with open(BASE_CONFIG) as f:
        src = f.read().splitlines()
    out = []
    for line in src:
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:", line)
        if m and m.group(1) in overrides:
            continue
        out.append(line)
    out.append("")
    out.append("# overrides written by tests/e2e/helpers/isobox_deploy.py")
    for k, v in overrides.items():
        out.append("%s: %s" % (k, _yaml_scalar(v)))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path


def base_catalogue():
    """The catalogue file to copy: the repository's, else the installed one."""
    for p in (os.path.join(REPO, "registry", "languages.yaml"),
              "/usr/local/share/isobox/registry/languages.yaml"):
        if os.path.isfile(p):
            return p
    raise RuntimeError("no registry/languages.yaml found")


def write_atomic(path, text):
    """Write text to path via a temporary name in the same directory that
    does not end in .yaml, so a poll never sees half a file."""
    tmp = path + ".tmp~"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


# --------------------------------------------------------------------------
# Docker


def docker(*args, timeout=60, check=False):
    r = subprocess.run(["docker", *args], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("docker %s failed (%d): %s" % (
            " ".join(args), r.returncode, r.stderr.strip()))
    return r


def owner_pid(owner):
    parts = (owner or "").split(":")
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None


def containers_owned_by(pids):
    """[(id, owner, status)] of isobox containers whose owner pid is in pids."""
    pids = set(pids)
    if not pids:
        return []
    r = docker("ps", "-a", "--no-trunc", "--filter", "label=isobox.managed=1",
               "--format", '{{.ID}}\t{{.Label "isobox.owner"}}\t{{.Status}}',
               timeout=30, check=True)
    out = []
    for line in r.stdout.splitlines():
        cid, owner, status = (line.split("\t") + ["", ""])[:3]
        if owner_pid(owner) in pids:
            out.append((cid, owner, status))
    return out


def wait_containers_gone(pids, timeout=10):
    """Wait for the containers of pids to disappear; return those left."""
    deadline = time.monotonic() + timeout
    while True:
        left = containers_owned_by(pids)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.25)


def created_sandboxes(since, until):
    """[(request id, owner pid, language)] of isobox containers created
    between the two Unix times (from the engine's event log)."""
    r = docker("events", "--since", "%.3f" % since, "--until", "%.3f" % until,
               "--filter", "type=container", "--filter", "event=create",
               "--filter", "label=isobox.managed=1",
               "--format", "{{json .Actor.Attributes}}", timeout=30, check=True)
    out = []
    for line in r.stdout.splitlines():
        try:
            a = json.loads(line)
        except ValueError:
            continue
        out.append((a.get("isobox.request"), owner_pid(a.get("isobox.owner")),
                    a.get("isobox.language")))
    return out


# --------------------------------------------------------------------------
# the deployment


LIGHTTPD_CONF = """\
# generated by tests/e2e/helpers/isobox_deploy.py
server.modules = ( "mod_fastcgi", "mod_accesslog" )
server.port          = {port}
server.bind          = "127.0.0.1"
server.document-root = "{tmp}/www"
server.pid-file      = "{tmp}/lighttpd.pid"
server.errorlog      = "{tmp}/lighttpd-error.log"
accesslog.filename   = "{tmp}/access.log"
accesslog.format     = "%h %t \\"%r\\" %>s %b %D %{{X-Request-Id}}o"
server.tag                  = ""
server.stream-request-body  = 0
server.max-request-size     = 9216
server.stream-response-body = 2
server.max-write-idle       = 600
fastcgi.server = (
  "/" => ((
{backend}
    "check-local"         => "disable",
    "fix-root-scriptname" => "enable",
  ))
)
"""


class Deployment:
    """isobox.fcgi + lighttpd on 127.0.0.1:<free port>. Use as a context
    manager; .url is the base URL, .fcgi_pids every isobox.fcgi pid seen.

    catalogue: the `registry` path (dir or file) for the config.
    config: extra top-level config overrides (the warm pool is off unless
    config sets pool_languages).
    env: extra environment for isobox.fcgi (e.g. DOCKER_HOST).
    """

    def __init__(self, tmp, catalogue, mode="socket", max_procs=3, config=None,
                 env=None, name="isobox"):
        assert mode in ("socket", "bin-path")
        self.tmp = os.path.join(tmp, name)
        os.makedirs(os.path.join(self.tmp, "www"))
        os.makedirs(os.path.join(self.tmp, "run"))
        os.makedirs(os.path.join(self.tmp, "state"))
        self.mode = mode
        self.max_procs = max_procs
        self.env = clean_env(env)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.socket = os.path.join(self.tmp, "fcgi.sock")
        self.fcgi_log = os.path.join(self.tmp, "isobox-fcgi.log")
        self.lighttpd_log = os.path.join(self.tmp, "lighttpd-error.log")
        self.stderr_log = os.path.join(self.tmp, "lighttpd-stderr.log")
        self.access_log = os.path.join(self.tmp, "access.log")
        overrides = {
            "registry": catalogue,
            "run_dir": os.path.join(self.tmp, "run"),
            "state_dir": os.path.join(self.tmp, "state"),
            # No warm pool: its sandboxes outlive the process by design
            # (shared through state_dir, recycled by their deadline), and
            # this state_dir is deleted with the deployment.
            "pool_languages": "",
            "pool_max": 0,  # nor one by demand
            # No warm kernel sandbox either: one would hold memory and a
            # container the /execute tests do not account for, and it is
            # drained only after the process exits. Kernel tests turn it on.
            "kernel_pool_size": 0,
        }
        if GUEST_BIN:
            overrides["guest_path"] = GUEST_BIN
        overrides.update(config or {})
        self.config = write_config(os.path.join(self.tmp, "isobox.yaml"), overrides)
        self.fcgi = None
        self.httpd = None
        self.fcgi_pids = set()
        self.killed = []
        self._fcgi_logf = None

    # -- start / stop

    def start(self):
        try:
            if self.mode == "socket":
                self.start_fcgi()
            self.start_lighttpd()
            if self.mode == "bin-path":
                ok = wait_for(lambda: len(self.procs()) >= self.max_procs, 20)
                assert ok, "lighttpd spawned %s of %d isobox.fcgi processes" % (
                    self.procs(), self.max_procs)
        except BaseException:
            self.dump()
            self.stop()
            raise
        return self

    def start_fcgi(self):
        self._fcgi_logf = open(self.fcgi_log, "ab")
        self.fcgi = subprocess.Popen(
            [FCGI_BIN, "--config", self.config, "--listen", self.socket],
            stdin=subprocess.DEVNULL, stdout=self._fcgi_logf,
            stderr=subprocess.STDOUT, env=self.env)
        self.fcgi_pids.add(self.fcgi.pid)
        wait_unix(self.socket, 20, self.fcgi)

    def start_lighttpd(self):
        if self.mode == "socket":
            backend = '    "socket" => "%s",' % self.socket
        else:
            backend = "\n".join([
                '    "socket"          => "%s",' % self.socket,
                '    "bin-path"        => "%s",' % FCGI_BIN,
                '    "bin-environment" => ( "ISOBOX_CONFIG" => "%s" ),' % self.config,
                '    "max-procs"       => %d,' % self.max_procs,
            ])
        conf = os.path.join(self.tmp, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(LIGHTTPD_CONF.format(port=self.port, tmp=self.tmp,
                                         backend=backend))
        binary = lighttpd_binary()
        chk = subprocess.run([binary, "-tt", "-f", conf], capture_output=True,
                             text=True, timeout=30, env=self.env)
        assert chk.returncode == 0, "lighttpd rejects %s: %s%s" % (
            conf, chk.stdout, chk.stderr)
        # The processes lighttpd spawns (bin-path) log to its stderr.
        with open(self.stderr_log, "ab") as errf:
            self.httpd = subprocess.Popen(
                [binary, "-D", "-f", conf], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=errf, env=self.env)
        deadline = time.monotonic() + 20
        while True:
            if self.httpd.poll() is not None:
                raise RuntimeError("lighttpd exited with %s" % self.httpd.returncode)
            try:
                requests.get(self.url + "/healthz", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() >= deadline:
                    raise RuntimeError("lighttpd did not answer on %s" % self.url)
                time.sleep(0.1)

    def procs(self):
        """The isobox.fcgi processes of this deployment that run now."""
        if self.mode == "socket":
            pids = [self.fcgi.pid] if self.fcgi and self.fcgi.poll() is None else []
        elif self.httpd is None or self.httpd.poll() is not None:
            pids = []
        else:
            pids = [p for p in children_of(self.httpd.pid)
                    if os.path.basename(exe_of(p)) == os.path.basename(FCGI_BIN)]
        self.fcgi_pids.update(pids)
        return pids

    def stop(self, timeout=15):
        """Stop lighttpd and every isobox.fcgi of this deployment (by pid);
        SIGKILL for one still there timeout seconds after its SIGTERM."""
        kids = self.procs()
        if self.httpd is not None:
            stop_proc(self.httpd)
        if self.mode == "bin-path":
            # lighttpd stops the processes it spawned; make sure of it.
            # Those that needed SIGKILL are noted (a test that expects a
            # graceful stop's clean-up can tell).
            for p in kids:
                if alive(p) and not stop_pid(p, signal.SIGTERM, timeout):
                    self.killed.append(p)
        if self.fcgi is not None:
            stop_proc(self.fcgi)
        if self._fcgi_logf is not None:
            self._fcgi_logf.close()
            self._fcgi_logf = None

    def __enter__(self):
        return self.start()

    def __exit__(self, et, ev, tb):
        if et is not None:
            self.dump()
        self.stop()
        left = wait_containers_gone(self.fcgi_pids, 10)
        # A container whose removal was asked for and that the engine
        # could not finish (its rootfs busy: "Removal In Progress", then
        # "Dead") is the engine's residue, not one the service forgot:
        # Stop 31's CI saw one on a private dockerd just restarted under
        # load (dockerd: "unlinkat .../merged: device or resource busy").
        # It is reported, removed if it can be, and not counted.
        for cid, _, _ in left:
            docker("rm", "-f", cid, timeout=30)
        engine = [c for c in left if c[2].startswith(("Removal In Progress", "Dead"))]
        if engine:
            print("engine could not finish removing (not a service leak): %s" % engine)
        left = [c for c in left if c not in engine]
        if left and et is None:
            raise AssertionError(
                "sandboxes of isobox.fcgi %s left after it stopped "
                "(removed now): %s" % (sorted(self.fcgi_pids), left))
        return False

    # -- inspection

    def log_path(self):
        return self.fcgi_log if self.mode == "socket" else self.stderr_log

    def messages(self):
        return log_messages(self.log_path())

    def dump(self):
        print("--- %s: isobox.fcgi log ---\n%s" % (self.tmp, tail(self.log_path())))
        print("--- lighttpd error log ---\n%s" % tail(self.lighttpd_log, 20))

    def get(self, path, **kw):
        kw.setdefault("timeout", 30)
        return requests.get(self.url + path, **kw)

    def execute(self, body, **kw):
        kw.setdefault("timeout", 90)
        return requests.post(self.url + "/execute", json=body, **kw)


# --------------------------------------------------------------------------
# a local Docker registry (Debian's docker-registry)


REGISTRY_CONF = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def registry_binary():
    return shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if os.path.exists("/usr/bin/docker-registry") else None)


class LocalRegistry:
    """docker-registry serving a temporary directory on 127.0.0.1:<port>.
    127.0.0.0/8 registries are plain HTTP ("insecure") for dockerd by
    default, so no daemon configuration is needed."""

    def __init__(self, tmp):
        self.tmp = os.path.join(tmp, "registry")
        os.makedirs(os.path.join(self.tmp, "data"))
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.log = os.path.join(self.tmp, "registry.log")
        self.proc = None
        self._logf = None

    def __enter__(self):
        conf = os.path.join(self.tmp, "config.yml")
        with open(conf, "w") as f:
            f.write(REGISTRY_CONF.format(root=os.path.join(self.tmp, "data"),
                                         port=self.port))
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [registry_binary(), "serve", conf], stdin=subprocess.DEVNULL,
            stdout=self._logf, stderr=subprocess.STDOUT,
            env=clean_env({"OTEL_TRACES_EXPORTER": "none"}))
        try:
            wait_tcp(self.port, 20, self.proc, "docker-registry")
            ok = wait_for(lambda: self._v2_ok(), 10)
            assert ok, "docker-registry does not answer /v2/: " + tail(self.log)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _v2_ok(self):
        try:
            return requests.get("http://%s/v2/" % self.host, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def __exit__(self, et, ev, tb):
        if et is not None:
            print("--- docker-registry log ---\n" + tail(self.log))
        stop_proc(self.proc)
        if self._logf is not None:
            self._logf.close()
        return False


# --------------------------------------------------------------------------
# Docker's API behind TLS with client certificates (openssl + socat)


def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr))


def make_ca(d, cn):
    """A self-signed CA in d: ca.pem, ca-key.pem."""
    os.makedirs(d, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca-key.pem",
             "-out", "ca.pem", "-days", "2", "-subj", "/CN=" + cn,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return d


def issue_cert(ca_dir, out_dir, name, cn, ext_lines):
    """A key and certificate signed by the CA in ca_dir: out_dir/NAME.pem and
    out_dir/NAME-key.pem."""
    os.makedirs(out_dir, exist_ok=True)
    ext = os.path.join(out_dir, name + ".ext")
    with open(ext, "w") as f:
        f.write("\n".join(ext_lines) + "\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", name + "-key.pem", "-out", name + ".csr",
             "-subj", "/CN=" + cn, cwd=out_dir)
    _openssl("x509", "-req", "-in", name + ".csr",
             "-CA", os.path.join(ca_dir, "ca.pem"),
             "-CAkey", os.path.join(ca_dir, "ca-key.pem"), "-CAcreateserial",
             "-out", name + ".pem", "-days", "2", "-extfile", ext, cwd=out_dir)
    os.chmod(os.path.join(out_dir, name + "-key.pem"), 0o600)


def make_tls_material(tmp):
    """Two CAs, a server cert for 127.0.0.1 and two client cert dirs in the
    DOCKER_CERT_PATH layout (ca.pem, cert.pem, key.pem):
      good: a client cert from the server's CA
      bad:  a client cert from another CA (ca.pem still the server's CA, so
            only the client certificate is wrong)"""
    ca = make_ca(os.path.join(tmp, "ca"), "isobox-test-ca")
    other = make_ca(os.path.join(tmp, "other-ca"), "isobox-test-other-ca")
    srv = os.path.join(tmp, "server")
    issue_cert(ca, srv, "server", "127.0.0.1", [
        "subjectAltName=IP:127.0.0.1",
        "extendedKeyUsage=serverAuth",
        "keyUsage=critical,digitalSignature"])
    dirs = {}
    for label, signer in (("good", ca), ("bad", other)):
        d = os.path.join(tmp, "client-" + label)
        issue_cert(signer, d, "client", "isobox-test-client", [
            "extendedKeyUsage=clientAuth",
            "keyUsage=critical,digitalSignature"])
        shutil.copy(os.path.join(ca, "ca.pem"), os.path.join(d, "ca.pem"))
        os.rename(os.path.join(d, "client.pem"), os.path.join(d, "cert.pem"))
        os.rename(os.path.join(d, "client-key.pem"), os.path.join(d, "key.pem"))
        dirs[label] = d
    return {"ca": ca, "server": srv, "good": dirs["good"], "bad": dirs["bad"]}


class TlsFront:
    """socat terminating TLS on 127.0.0.1:<port> (requiring a client
    certificate from the CA) in front of the local Docker socket."""

    def __init__(self, tmp, material):
        self.m = material
        self.port = free_port()
        self.log = os.path.join(tmp, "socat.log")
        self.proc = None
        self._logf = None

    def __enter__(self):
        srv, ca = self.m["server"], self.m["ca"]
        addr = ("OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,cert=%s,key=%s,"
                "cafile=%s,verify=1" % (self.port, os.path.join(srv, "server.pem"),
                                        os.path.join(srv, "server-key.pem"),
                                        os.path.join(ca, "ca.pem")))
        self._logf = open(self.log, "ab")
        # Its own session: the children it forks per connection are
        # stopped with it, by its process group.
        self.proc = subprocess.Popen(
            ["socat", "-d", "-d", addr, "UNIX-CONNECT:" + DOCKER_SOCK],
            stdin=subprocess.DEVNULL, stdout=self._logf, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            wait_tcp(self.port, 10, self.proc, "socat")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def accepted(self):
        """How many connections socat accepted so far."""
        return sum(1 for line in tail(self.log, 100000).splitlines()
                   if "accepting connection" in line)

    def __exit__(self, et, ev, tb):
        if et is not None:
            print("--- socat log ---\n" + tail(self.log, 30))
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self._logf is not None:
            self._logf.close()
        return False


# --------------------------------------------------------------------------
# warm pool (tests/e2e/test_pool.py)


class PoolDeployment(Deployment):
    """A Deployment whose lighttpd has `server.breakagelog` = .fcgi_log, as
    the shipped lighttpd/isobox.conf does, so in bin-path mode the stderr of
    the isobox.fcgi processes lighttpd spawns (their JSON log and access
    lines) lands in .fcgi_log too (otherwise it is lighttpd's stderr:
    /dev/null)."""

    def start_lighttpd(self):
        if self.mode == "socket":
            backend = '    "socket" => "%s",' % self.socket
        else:
            backend = "\n".join([
                '    "socket"          => "%s",' % self.socket,
                '    "bin-path"        => "%s",' % FCGI_BIN,
                '    "bin-environment" => ( "ISOBOX_CONFIG" => "%s" ),' % self.config,
                '    "max-procs"       => %d,' % self.max_procs,
            ])
        conf = os.path.join(self.tmp, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(LIGHTTPD_CONF.format(port=self.port, tmp=self.tmp,
                                         backend=backend))
            f.write('server.breakagelog   = "%s"\n' % self.fcgi_log)
        binary = lighttpd_binary()
        chk = subprocess.run([binary, "-tt", "-f", conf], capture_output=True,
                             text=True, timeout=30, env=self.env)
        assert chk.returncode == 0, "lighttpd rejects %s: %s%s" % (
            conf, chk.stdout, chk.stderr)
        self.httpd = subprocess.Popen(
            [binary, "-D", "-f", conf], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + 20
        while True:
            if self.httpd.poll() is not None:
                raise RuntimeError("lighttpd exited with %s" % self.httpd.returncode)
            try:
                requests.get(self.url + "/healthz", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() >= deadline:
                    raise RuntimeError("lighttpd did not answer on %s" % self.url)
                time.sleep(0.1)

    def log_path(self):
        return self.fcgi_log

    def log_entries(self):
        """Every JSON object logged by the isobox.fcgi processes so far."""
        out = []
        try:
            with open(self.fcgi_log, errors="replace") as f:
                lines = f.readlines()
        except OSError:
            return out
        for line in lines:
            s = line.find("{")
            if s < 0:
                continue
            try:
                o = json.loads(line[s:])
            except ValueError:
                continue
            if isinstance(o, dict):
                out.append(o)
        return out

    def access_entry(self, request_id, timeout=10):
        """The access log object of one request (written when the request
        is done, so it is waited for), or None."""
        def find():
            for o in self.log_entries():
                if o.get("msg") == "access" and o.get("requestId") == request_id:
                    return o
            return None
        return wait_for(find, timeout, 0.1)

    def metrics(self):
        """{series: value} from GET /metrics (all processes share it)."""
        r = self.get("/metrics", timeout=10)
        r.raise_for_status()
        out = {}
        for line in r.text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, val = line.rpartition(" ")
            try:
                out[name] = float(val)
            except ValueError:
                pass
        return out

    def pool_rows(self):
        """The rows of the shared LMDB table "pool" (run_dir/db)."""
        return pool_rows(os.path.join(self.tmp, "run", "db"))


POOL_STATES = {1: "ready", 2: "claimed"}


def _pool_entry(raw):
    """Decode a pool row (src/pool.c, a store record): tag 1, version 2,
    state, created_ms, claimed_ms, memory_bytes, tmpfs_bytes, pids (i64),
    cpus (f64), compile_memory_bytes, hold_bytes (i64), lang, version,
    image, owner (u16 length + bytes). None when it is not one."""
    import struct
    if len(raw) < 2 or raw[0] != 1:
        return None
    row = {"row_version": raw[1]}
    if raw[1] != 2:
        return row
    try:
        st, cr, cl, mem, tmpfs, pids, cpus, cmem, hold = struct.unpack_from(
            "<6qd2q", raw, 2)
        off = 2 + struct.calcsize("<6qd2q")
        strs = []
        for _ in range(4):
            (n,) = struct.unpack_from("<H", raw, off)
            strs.append(raw[off + 2:off + 2 + n].decode(errors="replace"))
            off += 2 + n
    except struct.error:
        return row
    row.update(state=POOL_STATES.get(st, st), created_ms=cr, claimed_ms=cl,
               memory_bytes=mem, tmpfs_bytes=tmpfs, pids=pids, cpus=cpus,
               compile_memory_bytes=cmem, hold_bytes=hold,
               lang=strs[0], version=strs[1], image=strs[2], owner=strs[3])
    return row


def pool_rows(db_dir):
    """[{id, state, created_ms, claimed_ms, memory_bytes, tmpfs_bytes, pids,
    cpus, lang, image, owner}] of the LMDB "pool" table in db_dir, read
    with mdb_dump (Debian package lmdb-utils; a read-only transaction)."""
    r = subprocess.run(["mdb_dump", "-s", "pool", db_dir], capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("mdb_dump -s pool %s: %s" % (db_dir, r.stderr.strip()))
    body = r.stdout.split("HEADER=END\n", 1)[-1].split("DATA=END", 1)[0]
    vals = [ln.strip() for ln in body.splitlines() if ln.startswith(" ")]
    out = []
    for k, v in zip(vals[0::2], vals[1::2]):
        key = bytes.fromhex(k).decode()
        if key.startswith("demand:") or key == "pressure":
            continue  # the pool's demand rows, not sandboxes
        row = {"id": key}
        row.update(_pool_entry(bytes.fromhex(v)) or {})
        out.append(row)
    return out


def container_events(since, until, events=("create", "attach", "start", "destroy")):
    """[(event, full id, attributes)] of isobox containers between the two
    Unix times, from the engine's event log."""
    args = ["events", "--since", "%.3f" % since, "--until", "%.3f" % until,
            "--filter", "type=container", "--filter", "label=isobox.managed=1"]
    for e in events:
        args += ["--filter", "event=" + e]
    r = docker(*args, "--format", "{{json .}}", timeout=30, check=True)
    out = []
    for line in r.stdout.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        actor = ev.get("Actor") or {}
        out.append((ev.get("Action") or ev.get("status"), actor.get("ID") or ev.get("id"),
                    actor.get("Attributes") or {}))
    return out


def pool_containers(pids):
    """{full id: (owner, status)} of warm-pool containers (isobox.kind=pool)
    whose owner pid is in pids."""
    pids = set(pids)
    r = docker("ps", "-a", "--no-trunc", "--filter", "label=isobox.kind=pool",
               "--format", '{{.ID}}\t{{.Label "isobox.owner"}}\t{{.Status}}',
               timeout=30, check=True)
    out = {}
    for line in r.stdout.splitlines():
        cid, owner, status = (line.split("\t") + ["", ""])[:3]
        if owner_pid(owner) in pids:
            out[cid] = (owner, status)
    return out


# --------------------------------------------------------------------------
# operations tests (tests/e2e/test_ops.py): which process answered, what ran
# when, and the Docker daemon itself


def proc_syscw(pid):
    """write(2)-family system calls made so far by pid (/proc/PID/io), or
    None when it is gone. An isobox.fcgi process that answers a request
    writes the answer to its FastCGI socket and one access-log line, so a
    rise tells that this process answered something."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.strip() == "syscw":
                    return int(v)
    except (OSError, ValueError):
        pass
    return None


def running_sandboxes(pids):
    """[(id, owner pid, request id)] of RUNNING isobox containers whose
    owner pid is in pids (docker ps without -a)."""
    pids = set(pids)
    r = docker("ps", "--no-trunc", "--filter", "label=isobox.managed=1",
               "--format",
               '{{.ID}}\t{{.Label "isobox.owner"}}\t{{.Label "isobox.request"}}',
               timeout=30)
    out = []
    if r.returncode != 0:
        return out
    for line in r.stdout.splitlines():
        cid, owner, rid = (line.split("\t") + ["", ""])[:3]
        if owner_pid(owner) in pids:
            out.append((cid, owner_pid(owner), rid))
    return out


def sandbox_events(since, until, events=("create", "start", "die", "destroy")):
    """[(unix time, event, container id, owner pid, request id, attributes)]
    of isobox containers between the two Unix times, from the engine's
    event log, oldest first."""
    args = ["events", "--since", "%.3f" % since, "--until", "%.3f" % until,
            "--filter", "type=container", "--filter", "label=isobox.managed=1"]
    for e in events:
        args += ["--filter", "event=" + e]
    args += ["--format", "{{json .}}"]
    r = docker(*args, timeout=30, check=True)
    out = []
    for line in r.stdout.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        actor = ev.get("Actor") or {}
        a = actor.get("Attributes") or {}
        t = ev.get("timeNano")
        t = t / 1e9 if t else float(ev.get("time", 0))
        out.append((t, ev.get("Action") or ev.get("status"), actor.get("ID") or ev.get("id"),
                    owner_pid(a.get("isobox.owner")), a.get("isobox.request"), a))
    out.sort(key=lambda e: e[0])
    return out


DOCKERD_LOG = "/var/log/isobox-dockerd.log"


def docker_answers(timeout=15):
    try:
        return subprocess.run(["docker", "info"], capture_output=True,
                              timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def dockerd_pid():
    """The running dockerd's pid (/var/run/docker.pid, else by /proc comm),
    or None."""
    try:
        with open("/var/run/docker.pid") as f:
            pid = int(f.read().strip())
        with open("/proc/%d/comm" % pid) as f:
            if f.read().strip() == "dockerd":
                return pid
    except (OSError, ValueError):
        pass
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/comm" % name) as f:
                    if f.read().strip() == "dockerd" and alive(int(name)):
                        return int(name)
            except OSError:
                continue
    return None


def start_dockerd(timeout=60):
    """Start dockerd the way scripts/setup-host does on a host without
    systemd (setsid nohup dockerd >>/var/log/isobox-dockerd.log 2>&1
    </dev/null), or with systemctl where systemd runs; then wait for
    `docker info`. Returns True when it answers within timeout."""
    if os.path.isdir("/run/systemd/system"):
        subprocess.run(["systemctl", "start", "docker"], timeout=120)
    else:
        with open(DOCKERD_LOG, "ab") as logf:
            subprocess.Popen(["nohup", "dockerd"], stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True, close_fds=True)
    return bool(wait_for(lambda: docker_answers(10), timeout, 1.0))


class LoggedDeployment(Deployment):
    """A Deployment whose lighttpd also has server.breakagelog, so the
    stderr of the isobox.fcgi processes it spawns (their JSON log: access
    lines, "reaped sandbox ...") lands in isobox-fcgi.log; without it they
    inherit lighttpd's stderr (/dev/null here). extra_conf: more lighttpd
    lines."""

    def __init__(self, *a, extra_conf="", **kw):
        super().__init__(*a, **kw)
        self.extra_conf = extra_conf

    def start_lighttpd(self):
        if self.mode == "socket":
            return super().start_lighttpd()
        backend = "\n".join([
            '    "socket"          => "%s",' % self.socket,
            '    "bin-path"        => "%s",' % FCGI_BIN,
            '    "bin-environment" => ( "ISOBOX_CONFIG" => "%s" ),' % self.config,
            '    "max-procs"       => %d,' % self.max_procs,
        ])
        text = LIGHTTPD_CONF.format(port=self.port, tmp=self.tmp, backend=backend)
        text += 'server.breakagelog = "%s"\n%s\n' % (self.fcgi_log, self.extra_conf)
        conf = os.path.join(self.tmp, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(text)
        binary = lighttpd_binary()
        chk = subprocess.run([binary, "-tt", "-f", conf], capture_output=True,
                             text=True, timeout=30, env=self.env)
        assert chk.returncode == 0, "lighttpd rejects %s: %s%s" % (
            conf, chk.stdout, chk.stderr)
        self.httpd = subprocess.Popen(
            [binary, "-D", "-f", conf], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + 20
        while True:
            if self.httpd.poll() is not None:
                raise RuntimeError("lighttpd exited with %s" % self.httpd.returncode)
            try:
                requests.get(self.url + "/healthz", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() >= deadline:
                    raise RuntimeError("lighttpd did not answer on %s" % self.url)
                time.sleep(0.1)

    def log_path(self):
        return self.fcgi_log

    def dump(self):
        print("--- %s: isobox.fcgi log ---\n%s" % (self.tmp, tail(self.fcgi_log)))
        print("--- lighttpd error log ---\n%s" % tail(self.lighttpd_log, 20))

    def access_lines(self):
        """The isobox.fcgi JSON access-log records (dicts)."""
        out = []
        for line in tail(self.fcgi_log, 100000).splitlines():
            s = line.find("{")
            if s < 0:
                continue
            try:
                o = json.loads(line[s:])
            except ValueError:
                continue
            if o.get("msg") == "access":
                out.append(o)
        return out


import tempfile  # noqa: E402  (used by PrivateDockerd)


class PrivateDockerd:
    """A second Docker daemon of our own (its own data-root, exec-root,
    pid file and socket under a short /tmp directory, a bridge of its
    own and no iptables changes, the gVisor runtimes of /etc/docker/daemon.json),
    started like scripts/setup-host starts dockerd (setsid nohup dockerd
    >>LOG 2>&1 </dev/null). Stopping and restarting it disturbs nobody;
    point a Deployment at it with env={"DOCKER_HOST": pd.host}. Use as a
    context manager; it is stopped (by its pid) and its directory removed
    at the end."""

    def __init__(self):
        # short: containerd's socket path under exec-root must fit sun_path
        self.dir = tempfile.mkdtemp(prefix="ibd-", dir="/tmp")
        self.sock = os.path.join(self.dir, "docker.sock")
        self.host = "unix://" + self.sock
        self.pidfile = os.path.join(self.dir, "docker.pid")
        self.log = os.path.join(self.dir, "dockerd.log")
        self.conf = os.path.join(self.dir, "daemon.json")
        runtimes = {}
        try:
            with open("/etc/docker/daemon.json") as f:
                runtimes = json.load(f).get("runtimes", {})
        except (OSError, ValueError):
            pass
        # A bridge of its own: with "bridge": "none" dockerd deletes the
        # host's docker0 at start (it removes the default bridge interface
        # it is told not to use), which would change the host under every
        # other test and daemon. 10.254.0.0/16 is inside 10/8, which the
        # egress firewall refuses anyway.
        self.bridge = "ibd" + os.path.basename(self.dir)[4:12].lower().replace("_", "")
        self.bridge = self.bridge[:15]
        net = 10 + int.from_bytes(os.urandom(1), "big") % 200
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"],
                       check=True, capture_output=True)
        subprocess.run(["ip", "addr", "add", "10.254.%d.1/24" % net, "dev", self.bridge],
                       check=True, capture_output=True)
        with open(self.conf, "w") as f:
            json.dump({"runtimes": runtimes, "bridge": self.bridge, "iptables": False,
                       "ip6tables": False, "ip-forward": False, "ip-masq": False}, f)

    def cli(self, *args, timeout=60, check=False):
        r = subprocess.run(["docker", "-H", self.host, *args], capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("docker -H %s %s failed: %s" % (
                self.host, " ".join(args), r.stderr.strip()))
        return r

    def answers(self, timeout=10):
        try:
            return self.cli("info", timeout=timeout).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def pid(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
            with open("/proc/%d/comm" % pid) as f:
                return pid if f.read().strip() == "dockerd" and alive(pid) else None
        except (OSError, ValueError):
            return None

    def start(self, timeout=60):
        with open(self.log, "ab") as logf:
            subprocess.Popen(
                ["nohup", "dockerd", "--config-file", self.conf,
                 "--data-root", os.path.join(self.dir, "data"),
                 "--exec-root", os.path.join(self.dir, "exec"),
                 "--pidfile", self.pidfile, "-H", self.host],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, env=clean_env())
        ok = wait_for(lambda: self.answers(5), timeout, 0.5)
        if not ok:
            raise RuntimeError("the private dockerd did not answer: " + tail(self.log, 20))
        return True

    def stop(self, timeout=45):
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, signal.SIGTERM, timeout)
        return pid

    def load_image(self, ref):
        """Copy an image of the host's daemon into this one (same ID)."""
        save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE)
        load = subprocess.run(["docker", "-H", self.host, "load"], stdin=save.stdout,
                              capture_output=True, text=True, timeout=300)
        save.stdout.close()
        save.wait(60)
        if save.returncode != 0 or load.returncode != 0:
            raise RuntimeError("docker save %s | load failed: %s" % (ref, load.stderr))

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            print("--- private dockerd log ---\n" + tail(self.log, 30))
        if self.answers(5):
            ids = self.cli("ps", "-aq").stdout.split()
            if ids:
                self.cli("rm", "-f", *ids, timeout=120)
        self.stop()
        # its containerd (a child it normally stops)
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    cmd = f.read().decode(errors="replace")
            except OSError:
                continue
            if self.dir in cmd and cmd.startswith("containerd"):
                stop_pid(int(name), signal.SIGTERM, 10)
        with open("/proc/mounts") as f:
            mounts = [ln.split()[1] for ln in f if self.dir in ln.split()[1]]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        return False


def pool_deployment(prefix, config):
    """A PoolDeployment (bin-path, one FastCGI process) with its own copy of
    the catalogue and the config keys given, as a generator for a pytest
    fixture: yields it, then asserts that its sandboxes are gone (removing
    any left) and removes its directory."""
    if not os.access(FCGI_BIN, os.X_OK):
        raise AssertionError("%s is missing: run scripts/quickstart (make install)" % FCGI_BIN)
    tmp = tempfile.mkdtemp(prefix=prefix)
    os.chmod(tmp, 0o755)
    cat = os.path.join(tmp, "catalogue")
    os.makedirs(cat)
    shutil.copy(base_catalogue(), os.path.join(cat, "languages.yaml"))
    dd = PoolDeployment(tmp, cat, mode="bin-path", max_procs=1, config=config)
    with dd:
        yield dd
    left = wait_containers_gone(dd.fcgi_pids, 15)
    for cid, _, _ in left:
        docker("rm", "-f", cid, timeout=30)
    shutil.rmtree(tmp, ignore_errors=True)
    assert not left, left
