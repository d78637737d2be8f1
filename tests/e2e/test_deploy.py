"""test_deploy.py - deployment scenarios of isobox, end to end.

Every test runs its OWN isobox.fcgi and its own lighttpd on a free
127.0.0.1 port (tests/e2e/helpers/isobox_deploy.py), with a temporary config
copied from the installed one whose `registry`, `run_dir` and `state_dir`
point into a temporary directory. The main service on :8090 is not touched.

  1. images pinned by digest are pulled from a registry on first use
     (a private Debian docker-registry), a wrong digest is 503
     image_unavailable
  2. Docker's API over tcp:// with TLS client certificates (DOCKER_HOST,
     DOCKER_TLS_VERIFY, DOCKER_CERT_PATH; socat as the TLS front), and a
     client certificate of another CA gives 503 docker_unavailable
  3. the catalogue is reloaded when its files change (polled every 2 s) and
     on SIGHUP; a broken file keeps the previous catalogue and is reported
     with its file and line
  4. an invalid config refuses to start and names the key/variable and line
  5. SIGTERM lets the request in flight finish
  6. several isobox.fcgi processes (lighttpd max-procs) serve concurrent
     requests without mixing outputs

Needs (Debian packages): lighttpd, docker-registry, socat, openssl.
"""
import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

from conftest import assert_error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
import isobox_deploy as dep  # noqa: E402

BASH_RUN = """\
    source: main.sh
    run: [bash, "{source}"]
    env:
      PATH: /usr/local/bin:/usr/bin:/bin
      HOME: /box
      LANG: C.UTF-8
    limits: {memoryBytes: 134217728}
"""
# Generous limits for the private deployments: concurrent requests from one
# client must not be rate limited nor time out in the queue on a slow host.
ROOMY = {"rate_per_min": 100000, "rate_burst": 100000, "queue_timeout_ms": 60000}


@pytest.fixture(scope="module", autouse=True)
def _prerequisites():
    if not os.access(dep.FCGI_BIN, os.X_OK):
        pytest.fail("%s is missing: run scripts/quickstart (make install)" % dep.FCGI_BIN)
    if dep.lighttpd_binary() is None:
        pytest.fail("lighttpd is not installed (Debian package lighttpd)")


@pytest.fixture
def tmp_root():
    d = tempfile.mkdtemp(prefix="isobox-deploy-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def catalogue_dir(tmp):
    """A catalogue directory holding a copy of registry/languages.yaml."""
    d = os.path.join(tmp, "catalogue")
    os.makedirs(d)
    shutil.copy(dep.base_catalogue(), os.path.join(d, "languages.yaml"))
    return d


def runtime_names(d):
    r = d.get("/runtimes", timeout=10)
    assert r.status_code == 200, r.text
    return {rt["language"]: rt for rt in r.json()}


def assert_stdout(resp, expected):
    assert resp.status_code == 200, "HTTP %d: %s" % (resp.status_code, resp.text[:2000])
    body = resp.json()
    assert body["run"] is not None, body
    assert body["run"]["stdout"] == expected, body["run"]
    assert body["run"]["exitCode"] == 0, body["run"]
    return body


def image_exists(ref):
    return dep.docker("image", "inspect", ref, timeout=30).returncode == 0


# --------------------------------------------------------------------------
# 1. pull by digest


def test_pull_by_digest_from_local_registry(tmp_root):
    if dep.registry_binary() is None:
        pytest.fail("docker-registry is not installed (Debian package docker-registry)")
    if not image_exists("isobox/bash:latest"):
        pytest.fail("isobox/bash:latest is missing: run scripts/build-images")
    pinned = None
    extra_image = None
    with dep.LocalRegistry(tmp_root) as reg:
        repo = reg.host + "/isobox-bash"
        tag = repo + ":test"
        try:
            dep.docker("tag", "isobox/bash:latest", tag, check=True)
            push = dep.docker("push", tag, timeout=180)
            assert push.returncode == 0, "docker push failed: %s%s" % (push.stdout, push.stderr)
            digests = dep.docker("inspect", "-f", "{{range .RepoDigests}}{{println .}}{{end}}",
                                 tag, check=True).stdout.split()
            pinned = next((x for x in digests if x.startswith(repo + "@sha256:")), None)
            assert pinned, "no digest of %s after the push: %s" % (repo, digests)
            dep.docker("rmi", tag, check=True)
            if image_exists(pinned):
                # The digest reference outlived the tag: push a distinct
                # image instead (a new ID that only the digest names).
                print("note: %s still resolved after docker rmi %s; pushing a "
                      "distinct image" % (pinned, tag))
                dep.docker("rmi", pinned, timeout=60)
                cid = dep.docker("create", "isobox/bash:latest", "true",
                                 check=True).stdout.strip()
                tar = os.path.join(tmp_root, "bash.tar")
                try:
                    dep.docker("export", "-o", tar, cid, timeout=120, check=True)
                finally:
                    dep.docker("rm", "-f", cid)
                extra_image = dep.docker("import", tar, tag, timeout=120,
                                         check=True).stdout.strip()
                dep.docker("push", tag, timeout=180, check=True)
                digests = dep.docker("inspect", "-f",
                                     "{{range .RepoDigests}}{{println .}}{{end}}",
                                     tag, check=True).stdout.split()
                pinned = next(x for x in digests if x.startswith(repo + "@sha256:"))
                dep.docker("rmi", "-f", extra_image, check=True)
            assert not image_exists(pinned), "%s still resolves locally" % pinned

            wrong = repo + "@sha256:" + "0" * 64
            cat = os.path.join(tmp_root, "remote.yaml")
            with open(cat, "w") as f:
                f.write("languages:\n"
                        "  - name: bash-remote\n"
                        '    version: "5.2.15"\n'
                        "    image: %s\n%s"
                        "  - name: bash-wrong-digest\n"
                        '    version: "5.2.15"\n'
                        "    image: %s\n%s" % (pinned, BASH_RUN, wrong, BASH_RUN))

            with dep.Deployment(tmp_root, cat, config=ROOMY) as d:
                r = d.execute({"language": "bash-remote", "code": "echo pulled"}, timeout=180)
                assert_stdout(r, "pulled\n")
                assert image_exists(pinned), "%s is not local after the run" % pinned
                assert any("pulling %s" % pinned in m for m in d.messages()), d.messages()

                # A second run uses the local copy (no second pull).
                r = d.execute({"language": "bash-remote", "code": "echo again"})
                assert_stdout(r, "again\n")
                pulls = [m for m in d.messages() if m.startswith("pulling %s" % pinned)]
                assert len(pulls) == 1, pulls

                r = d.execute({"language": "bash-wrong-digest", "code": "echo no"},
                              timeout=120)
                body = assert_error(r, 503, "image_unavailable")
                print("wrong digest -> %d %s" % (r.status_code, body))
                assert wrong in body["message"], body
                assert not image_exists(wrong)
        finally:
            for ref in (tag, pinned):
                if ref and image_exists(ref):
                    dep.docker("rmi", ref, timeout=60)
            if extra_image and image_exists(extra_image):
                dep.docker("rmi", "-f", extra_image, timeout=60)
    assert image_exists("isobox/bash:latest"), "the cleanup removed isobox/bash"
    assert not image_exists(pinned)


# --------------------------------------------------------------------------
# 2. Docker over TLS


def test_docker_over_tls_with_client_certificates(tmp_root):
    for tool, pkg in (("openssl", "openssl"), ("socat", "socat")):
        if shutil.which(tool) is None:
            pytest.fail("%s is not installed (Debian package %s)" % (tool, pkg))
    certs = dep.make_tls_material(os.path.join(tmp_root, "tls"))
    with dep.TlsFront(tmp_root, certs) as front:
        host = "tcp://127.0.0.1:%d" % front.port
        cat = catalogue_dir(tmp_root)

        env = {"DOCKER_HOST": host, "DOCKER_TLS_VERIFY": "1",
               "DOCKER_CERT_PATH": certs["good"]}
        with dep.Deployment(tmp_root, cat, env=env, config=ROOMY, name="good") as d:
            r = d.get("/readyz")
            assert r.status_code == 200, r.text
            assert r.json()["ready"] is True
            r = d.execute({"language": "python", "code": "print('hi')"})
            assert_stdout(r, "hi\n")
        print("TLS front accepted %d connections" % front.accepted())
        assert front.accepted() > 0, "no connection went through the TLS front"

        env = dict(env, DOCKER_CERT_PATH=certs["bad"])
        with dep.Deployment(tmp_root, cat, env=env, config=ROOMY, name="bad") as d:
            before = front.accepted()
            r = d.get("/readyz")
            print("bad client cert: /readyz -> %d %s" % (r.status_code, r.text))
            assert r.status_code == 503, r.text
            assert r.json()["ready"] is False, r.text
            assert r.headers["Content-Type"].startswith("application/json")
            r = d.execute({"language": "python", "code": "print('hi')"})
            body = assert_error(r, 503, "docker_unavailable")
            print("bad client cert: /execute -> %d %s" % (r.status_code, body))
            # The service did reach the front: it was the handshake that failed.
            assert front.accepted() > before


# --------------------------------------------------------------------------
# 3. catalogue reload

BASH2 = """\
languages:
  - name: bash2
    version: "5.2.15"
    aliases: [bash-two]
    image: isobox/bash
""" + BASH_RUN

BROKEN = """\
# written by test_deploy.py: a YAML syntax error on line 6
languages:
  - name: broken
    version: "1"
    image: isobox/bash
    source: main.sh: oops
    run: [bash, "{source}"]
"""


def test_catalogue_reload_on_change_and_sighup(tmp_root):
    cat = catalogue_dir(tmp_root)
    with dep.Deployment(tmp_root, cat, config=ROOMY) as d:
        pid = d.fcgi.pid
        names = runtime_names(d)
        assert "python" in names and "bash2" not in names

        # A new file is picked up by the poll (every 2 s).
        extra = os.path.join(cat, "zz-bash2.yaml")
        dep.write_atomic(extra, BASH2)
        t0 = time.monotonic()
        seen = dep.wait_for(lambda: "bash2" in runtime_names(d), 8, 0.2)
        assert seen, "bash2 not listed 8 s after %s was written" % extra
        print("bash2 listed after %.1f s" % (time.monotonic() - t0))
        assert time.monotonic() - t0 <= 5.5
        assert_stdout(d.execute({"language": "bash2", "code": "echo two"}), "two\n")
        assert_stdout(d.execute({"language": "bash-two", "code": "echo alias"}), "alias\n")

        # A broken file: reported with file and line, previous catalogue kept.
        broken = os.path.join(cat, "broken.yaml")
        dep.write_atomic(broken, BROKEN)
        pat = re.compile(re.escape(broken) + r":6(:\d+)?:")
        msg = dep.wait_for(
            lambda: [m for m in d.messages() if "reload failed" in m and pat.search(m)],
            8, 0.2)
        assert msg, "no reload error naming %s:6 in the log:\n%s" % (
            broken, "\n".join(d.messages()[-10:]))
        print("logged: %s" % msg[0])
        names = runtime_names(d)
        assert "bash2" in names and "broken" not in names, sorted(names)
        assert_stdout(d.execute({"language": "python", "code": "print('still')"}), "still\n")
        # The unchanged broken file is reported once, not on every poll.
        time.sleep(2.5)
        again = [m for m in d.messages() if "reload failed" in m and pat.search(m)]
        assert len(again) == 1, again

        # Removing it brings a clean reload.
        n_loaded = sum(1 for m in d.messages() if m.startswith("registry: loaded"))
        os.unlink(broken)
        ok = dep.wait_for(lambda: sum(1 for m in d.messages()
                                      if m.startswith("registry: loaded")) > n_loaded, 8, 0.2)
        assert ok, "\n".join(d.messages()[-10:])
        assert "bash2" in runtime_names(d)

        # SIGHUP: a change the stat() poll cannot see (same inode, size and
        # mtime) is applied at once when the process is told to reload.
        st = os.stat(extra)
        with open(extra, "r+") as f:
            text = f.read()
            new = text.replace('version: "5.2.15"', 'version: "5.2.99"', 1)
            assert new != text and len(new) == len(text)
            f.seek(0)
            f.write(new)
        os.utime(extra, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(extra).st_size == st.st_size
        os.kill(pid, signal.SIGHUP)
        t0 = time.monotonic()
        got = dep.wait_for(lambda: runtime_names(d).get("bash2", {}).get("version") == "5.2.99",
                           1.5, 0.05)
        assert got, "bash2 version after SIGHUP: %s" % runtime_names(d).get("bash2")
        print("SIGHUP reload visible after %.2f s" % (time.monotonic() - t0))
        assert any("SIGHUP" in m for m in d.messages())
        assert d.fcgi.poll() is None, "SIGHUP stopped the process"
        r = d.execute({"language": "bash2", "code": "echo hup"})
        body = assert_stdout(r, "hup\n")
        assert body["version"] == "5.2.99"


# --------------------------------------------------------------------------
# 4. invalid config


def check_config(tmp, text, env=None):
    path = os.path.join(tmp, "bad.yaml")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([dep.FCGI_BIN, "--config", path, "--check"],
                       capture_output=True, text=True, timeout=30,
                       env=dep.clean_env(env))
    return path, r


def valid_config_text(tmp):
    run = os.path.join(tmp, "run")
    state = os.path.join(tmp, "state")
    os.makedirs(run, exist_ok=True)
    os.makedirs(state, exist_ok=True)
    p = dep.write_config(os.path.join(tmp, "good.yaml"),
                         {"run_dir": run, "state_dir": state})
    with open(p) as f:
        return f.read()


def with_line(good, lineno, line):
    """good with `line` as line number lineno (comment lines before it) and
    any other top-level setting of the same key dropped."""
    key = line.split(":", 1)[0]
    rest = [ln for ln in good.splitlines() if not ln.startswith(key + ":")]
    pad = ["# padding line %d" % i for i in range(1, lineno)]
    return "\n".join(pad + [line] + rest) + "\n"


def test_invalid_config_refuses_to_start(tmp_root):
    good = valid_config_text(tmp_root)
    path, r = check_config(tmp_root, good)
    assert r.returncode == 0, "the valid temp config is refused: %s" % r.stderr

    # An unknown key, on a known line.
    path, r = check_config(tmp_root, with_line(good, 7, "conccurency: 4"))
    assert r.returncode != 0, r.stdout
    assert "conccurency" in r.stderr and "%s:7" % path in r.stderr, r.stderr

    # A wrong type.
    path, r = check_config(tmp_root, with_line(good, 10, "queue_timeout_ms: soon"))
    assert r.returncode != 0, r.stdout
    assert "queue_timeout_ms" in r.stderr and "%s:10" % path in r.stderr, r.stderr

    # A wrong type in a nested mapping names the full key.
    text = good.replace("  tls_verify: false", "  tls_verify: maybe", 1)
    assert text != good
    n = text.splitlines().index("  tls_verify: maybe") + 1
    path, r = check_config(tmp_root, text)
    assert r.returncode != 0, r.stdout
    assert "docker.tls_verify" in r.stderr and "%s:%d" % (path, n) in r.stderr, r.stderr

    # A bad environment override.
    path, r = check_config(tmp_root, good, env={"ISOBOX_CONCURRENCY": "abc"})
    assert r.returncode != 0, r.stdout
    assert "ISOBOX_CONCURRENCY" in r.stderr, r.stderr

    # Not only --check: the server itself does not start either.
    path = os.path.join(tmp_root, "bad-serve.yaml")
    with open(path, "w") as f:
        f.write(with_line(good, 7, "conccurency: 4"))
    sock = os.path.join(tmp_root, "never.sock")
    r = subprocess.run([dep.FCGI_BIN, "--config", path, "--listen", sock],
                       capture_output=True, text=True, timeout=30,
                       env=dep.clean_env(), stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "conccurency" in r.stderr, (r.returncode, r.stderr)
    assert not os.path.exists(sock)


# --------------------------------------------------------------------------
# 5. graceful SIGTERM


def test_sigterm_finishes_request_in_flight(tmp_root):
    cat = catalogue_dir(tmp_root)
    with dep.Deployment(tmp_root, cat, config=ROOMY) as d:
        proc = d.fcgi
        code = 'import time\ntime.sleep(2)\nprint("done")\n'
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(d.execute, {"language": "python", "code": code}, timeout=60)
            time.sleep(0.5)
            assert not fut.done(), fut.result()
            t_term = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            r = fut.result(timeout=60)
        assert_stdout(r, "done\n")
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("isobox.fcgi still running 10 s after SIGTERM:\n"
                        + dep.tail(d.fcgi_log))
        print("exited %d, %.1f s after SIGTERM" % (rc, time.monotonic() - t_term))
        assert rc == 0, dep.tail(d.fcgi_log)
        msgs = d.messages()
        assert any("finishing requests in flight" in m for m in msgs), msgs[-10:]
        assert any("stopped" in m for m in msgs), msgs[-10:]
        left = dep.wait_containers_gone([proc.pid], 10)
        assert not left, left
        # Nobody serves the socket any more.
        r = d.get("/healthz", timeout=10)
        assert r.status_code >= 500


# --------------------------------------------------------------------------
# 6. several processes


def test_several_processes_concurrent_requests(tmp_root):
    cat = catalogue_dir(tmp_root)
    n = 12
    with dep.Deployment(tmp_root, cat, mode="bin-path", max_procs=3, config=ROOMY) as d:
        procs = d.procs()
        assert len(procs) == 3, procs
        tokens = ["tok-%02d-%s" % (i, uuid.uuid4().hex[:12]) for i in range(n)]
        barrier = threading.Barrier(n)

        def one(tok):
            code = 'echo "%s"\nsleep 0.3\necho "%s-end" >&2\necho "%s"\n' % (tok, tok, tok)
            barrier.wait(timeout=30)
            return tok, d.execute({"language": "bash", "code": code}, timeout=120)

        since = time.time() - 1
        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            results = list(ex.map(one, tokens, timeout=180))
        until = time.time() + 1

        rids = {}
        for tok, r in results:
            body = assert_stdout(r, "%s\n%s\n" % (tok, tok))
            assert body["run"]["stderr"] == "%s-end\n" % tok, body["run"]
            rids[r.headers["X-Request-Id"]] = tok
        created = [c for c in dep.created_sandboxes(since, until) if c[0] in rids]
        assert len(created) == n, created
        served_by = {pid for _, pid, _ in created}
        print("fcgi processes %s; sandboxes created by %s" % (procs, sorted(served_by)))
        assert served_by <= set(d.fcgi_pids), (served_by, d.fcgi_pids)
        assert len(served_by) >= 2, "all %d requests were served by %s" % (n, served_by)
