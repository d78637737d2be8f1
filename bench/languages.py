#!/usr/bin/python3
"""bench/languages.py - hello-world latency of every language in the catalogue
through POST /execute, against `docker run` of the same image doing the same
work, in one run. Prints a markdown table; writes the raw samples to
bench/results/languages-<UTC timestamp>.json.

The program is each language's "main" conformance program from
tests/e2e/test_languages.py (prints "hello, world" and a Unicode line, echoes
its empty stdin, exits 3), so every language in the test table is covered
without a second table to maintain. Per language, rounds alternate:
  execute     POST /execute with limits {"cpus": 0.99} (a shape no warm-pool
              sandbox has: the cold path, a fresh sandbox per request), wall
              time at the client; the compile and run stage durations the
              service reports are kept too;
  docker_run  `docker run --rm` of the image the catalogue pins, with the
              service's sandbox shape as far as the CLI allows (runsc-isobox,
              network none, read-only root, user 65534, tmpfs /box and /tmp,
              memory/pids/cpus as the service computes them, the service's
              seccomp profile read from one of its sandboxes), running the
              catalogue's compile and run commands through sh on a copy of
              the same source;
  warm        (with --warm) POST /execute with the language's default limits,
              so that a warm-pool sandbox serves it when the service pools
              the language (pool_languages): each sample waits --warm-gap
              seconds first so the pool can refill, and counts as warm when
              GET /metrics' isobox_pool_claims_total{result="hit"} grew by
              one over it. The private copy (below) pools exactly the
              languages measured (pool_size 1) when --warm is given.
--warmup rounds (default 1) are run first and not recorded. A language with
several versions in the catalogue is measured once per version (results
keyed "name@version").

By default it starts a private copy of the deployment (bench/run's
Deployment: the installed binary, catalogue and images on a free 127.0.0.1
port, with the per-client rate limit lifted); --url benchmarks a running
service instead (its rate limit applies: 429 answers are waited out and not
counted). Needs root, the docker CLI and /usr/bin/python3 with requests and
yaml (Debian python3-requests python3-yaml).

  bench/languages.py                      every language, 10 runs
  bench/languages.py --runs 20 go rust    some languages
  bench/languages.py --url http://127.0.0.1:8090 --runs 3
  bench/languages.py --warm kotlin groovy  cold, docker run and warm
"""

import argparse
import ast
import datetime
import importlib.machinery
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

try:
    import requests
    import yaml
except ImportError:
    sys.exit("bench/languages.py: needs /usr/bin/python3 with python3-requests "
             "and python3-yaml")

import isobench  # noqa: E402  (percentile)

TEST_FILE = os.path.join(REPO, "tests", "e2e", "test_languages.py")
LABEL = "isobox.bench=1"
# This run's own label: cleanup removes only the containers of this run,
# never those of another benchmark running at the same time.
RUN_LABEL = "isobox.bench.run=languages-%d-%d" % (os.getpid(), int(time.time()))
SENTRY_MEMORY_OVERHEAD = 48 * 1024 * 1024  # as src/sandbox.c
SENTRY_PIDS_BASE, SENTRY_PIDS_PER_TASK = 96, 4
COLD_LIMITS = {"cpus": 0.99}
EXPECT_STDOUT = "hello, world\nhéllo ✓ 日本\n"
EXPECT_EXIT = 3


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def load_snippets(path=TEST_FILE):
    """SNIPPETS of the conformance test, read with ast (no import of pytest
    or the test's fixtures): the dict literal plus `SNIPPETS[a] = SNIPPETS[b]`
    lines."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    snippets = None
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        t = node.targets[0]
        if isinstance(t, ast.Name) and t.id == "SNIPPETS":
            snippets = ast.literal_eval(node.value)
        elif (snippets is not None and isinstance(t, ast.Subscript)
              and isinstance(t.value, ast.Name) and t.value.id == "SNIPPETS"
              and isinstance(node.value, ast.Subscript)):
            snippets[ast.literal_eval(t.slice)] = \
                snippets[ast.literal_eval(node.value.slice)]
    if not snippets:
        sys.exit("bench/languages.py: no SNIPPETS in " + path)
    return snippets


def load_catalogue(path):
    """{(name, version): entry} from a catalogue file or directory of *.yaml."""
    files = ([os.path.join(path, f) for f in sorted(os.listdir(path))
              if f.endswith(".yaml")] if os.path.isdir(path) else [path])
    out = {}
    for fn in files:
        with open(fn, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        for e in doc.get("languages") or []:
            out.setdefault((e["name"], str(e["version"])), e)
    return out


def load_bench_run():
    """bench/run as a module, for its Deployment (the private service)."""
    path = os.path.join(HERE, "run")
    loader = importlib.machinery.SourceFileLoader("isobox_bench_run", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def private_config(base, catalogue, pool_languages=None):
    """A copy of the installed config whose `registry` is the catalogue
    under test (the installed one may be older than the repository's) and,
    when pool_languages is given, whose warm pool holds one sandbox of each
    of those languages."""
    fd, path = tempfile.mkstemp(prefix="bench-languages-", suffix=".yaml")
    drop = ("registry:",) + (("pool_languages:", "pool_size:")
                             if pool_languages is not None else ())
    with open(base, encoding="utf-8") as f, os.fdopen(fd, "w") as out:
        for line in f:
            if not line.startswith(drop):
                out.write(line)
        out.write("registry: %s\n" % json.dumps(catalogue))
        if pool_languages is not None:
            out.write("pool_size: 1\npool_languages: %s\n"
                      % json.dumps(",".join(pool_languages)))
    return path


# ------------------------------------------------------------------ probes


def pool_hits(url):
    """isobox_pool_claims_total{result="hit"} of GET /metrics: 0 before the
    first hit (the series is absent until then), None if /metrics does not
    answer."""
    try:
        r = requests.get(url + "/metrics", timeout=10)
        if r.status_code != 200:
            return None
        for line in r.text.splitlines():
            if line.startswith('isobox_pool_claims_total{result="hit"}'):
                return float(line.split()[-1])
        return 0.0
    except requests.RequestException:
        return None


def execute(url, lang, code, timeout, version=None, cold=True,
            want_exit=EXPECT_EXIT):
    """One /execute: cold (limits no warm sandbox has) or with the default
    limits. 429 is waited out (not part of the sample)."""
    body = {"language": lang, "code": code}
    if version:
        body["version"] = version
    if cold:
        body["limits"] = COLD_LIMITS
    while True:
        t0 = time.perf_counter()
        try:
            r = requests.post(url + "/execute", json=body, timeout=(5, timeout),
                              headers={"Connection": "close"})
        except requests.RequestException as e:
            return {"t": time.perf_counter() - t0, "ok": False,
                    "error": type(e).__name__ + ": " + str(e)[:200]}
        t = time.perf_counter() - t0
        if r.status_code != 429:
            break
        time.sleep(min(max(float(r.headers.get("Retry-After", "1") or 1), 0.2), 10))
    s = {"t": t, "ok": False, "status": r.status_code,
         "id": r.headers.get("X-Request-Id")}
    try:
        doc = r.json()
    except ValueError:
        s["error"] = "non-JSON body"
        return s
    if r.status_code != 200:
        s["error"] = "%s: %s" % (doc.get("error"), str(doc.get("message"))[:200])
        return s
    comp, run = doc.get("compile"), doc.get("run") or {}
    if comp:
        s["compile_ms"] = comp.get("durationMs")
    s["run_ms"] = run.get("durationMs")
    s["limits"] = doc.get("limits")
    s["version"] = doc.get("version")
    s["ok"] = (run.get("exitCode") == want_exit
               and run.get("stdout") == EXPECT_STDOUT)
    if not s["ok"]:
        s["error"] = "compile %s run exit %s stdout %r stderr %r" % (
            comp and comp.get("exitCode"), run.get("exitCode"),
            (run.get("stdout") or "")[:80],
            ((comp or {}).get("stderr") or "")[-200:] + (run.get("stderr") or "")[-200:])
    return s


def expand(argv, source):
    out = []
    for a in argv:
        if a == "{files}":
            out.append(source)
        else:
            out.append(a.replace("{source}", source))
    return out


def docker_argv(entry, image_ref, limits, srcdir, runtime, cgroup_parent,
                seccomp=None):
    """`docker run` of one job in the service's sandbox shape."""
    compiled = bool(entry.get("compile"))
    mem = int(limits["memoryBytes"])
    if compiled:
        mem = max(mem, int(limits["compileMemoryBytes"]))
    mem += SENTRY_MEMORY_OVERHEAD
    pids = SENTRY_PIDS_BASE + SENTRY_PIDS_PER_TASK * int(limits["pids"])
    tmpfs = int(limits["tmpfsBytes"])
    ex = "exec" if entry.get("tmpfs_exec") else "noexec"
    source = entry["source"]
    steps = ["cp /src/%s /box/" % shlex.quote(source), "cd /box"]
    if compiled:
        steps.append(shlex.join(expand(entry["compile"], source)))
    steps.append("exec " + shlex.join(expand(entry["run"], source)))
    argv = ["docker", "run", "--rm", "-i", "--runtime=" + runtime,
            "--network=none", "--read-only", "--user", "65534:65534",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--memory", str(mem), "--memory-swap", str(mem),
            "--memory-swappiness", "0", "--pids-limit", str(pids),
            "--cpus", str(limits["cpus"]), "--log-driver", "none",
            "--ipc", "private", "--label", LABEL, "--label", RUN_LABEL,
            "--workdir", "/box",
            "--tmpfs", "/box:rw,size=%d,mode=0755,uid=65534,gid=65534,nosuid,"
                       "nodev,%s" % (tmpfs, ex),
            "--tmpfs", "/tmp:rw,size=%d,mode=1777,nosuid,nodev,%s" % (tmpfs, ex),
            "-v", "%s:/src:ro" % srcdir, "--entrypoint", "/bin/sh"]
    if cgroup_parent:
        argv += ["--cgroup-parent", cgroup_parent]
    if seccomp:
        argv += ["--security-opt", "seccomp=" + seccomp]
    for k, v in (entry.get("env") or {}).items():
        argv += ["-e", "%s=%s" % (k, v)]
    argv += [image_ref, "-c", " && ".join(steps)]
    return argv


def docker_run(argv, timeout, want_exit=EXPECT_EXIT):
    t0 = time.perf_counter()
    try:
        p = subprocess.run(argv, input=b"", capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"t": time.perf_counter() - t0, "ok": False,
                "error": "timeout after %ss" % timeout}
    t = time.perf_counter() - t0
    out = p.stdout.decode("utf-8", "replace")
    s = {"t": t, "exit": p.returncode,
         "ok": p.returncode == want_exit and out == EXPECT_STDOUT}
    if not s["ok"]:
        s["error"] = "rc %d stdout %r stderr %r" % (
            p.returncode, out[:80], p.stderr.decode("utf-8", "replace")[-300:])
    return s


def cleanup_containers():
    p = subprocess.run(["docker", "ps", "-aq", "--filter", "label=" + RUN_LABEL],
                       capture_output=True, text=True)
    ids = p.stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f"] + ids, capture_output=True)


# ------------------------------------------------------------------ report


def stats(samples, key="t", scale=1000.0):
    v = [s[key] * scale if scale else s[key] for s in samples
         if s.get("ok") and s.get(key) is not None]
    if not v:
        return None
    return {"n": len(v), "p50": isobench.percentile(v, 50),
            "p90": isobench.percentile(v, 90), "p95": isobench.percentile(v, 95),
            "p99": isobench.percentile(v, 99), "min": min(v), "max": max(v)}


def fmt_ms(st, key="p50"):
    return "–" if not st else "%.0f" % st[key]


def table(results):
    lines = ["| language | version | image | compiled | /execute p50 ms "
             "(p90) | compile stage p50 | run stage p50 | `docker run` "
             "p50 ms | warm p50 ms (warm/n) | errors |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        ex, dk, wm = r["execute"], r["docker_run"], r.get("warm") or []
        se, sd = stats(ex), stats(dk)
        sw = stats([s for s in wm if s.get("warm")])
        sc = stats(ex, "compile_ms", None)
        sr = stats(ex, "run_ms", None)
        errs = sum(1 for s in ex + dk + wm if not s.get("ok"))
        lines.append("| %s | %s | %s | %s | %s (%s) | %s | %s | %s | %s | %s |" % (
            name, r["version"], r["image"], "yes" if r["compiled"] else "no",
            fmt_ms(se), fmt_ms(se, "p90"), fmt_ms(sc) if r["compiled"] else "–",
            fmt_ms(sr), fmt_ms(sd),
            "%s (%d/%d)" % (fmt_ms(sw), sum(1 for s in wm if s.get("warm")),
                            len(wm)) if wm else "–", errs or ""))
    return "\n".join(lines)


# ------------------------------------------------------------------ main


def seccomp_of(url, path):
    """The service's seccomp profile (isobench.service_seccomp), read from
    any of its sandboxes; with none about, from the sandbox of a python run
    that sleeps while it is read."""
    got = isobench.service_seccomp(path)
    if got is not None:
        return got
    t = threading.Thread(target=lambda: requests.post(
        url + "/execute", json={"language": "python", "code": "import time\ntime.sleep(6)"},
        timeout=60))
    t.start()
    try:
        deadline = time.time() + 30
        while got is None and time.time() < deadline and t.is_alive():
            time.sleep(0.3)
            got = isobench.service_seccomp(path)
    finally:
        t.join()
    return got


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("languages", nargs="*",
                    help="languages to measure (default: all of /runtimes)")
    ap.add_argument("--runs", type=int, default=10,
                    help="recorded samples per method and language (10)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="unrecorded rounds per language first (1)")
    ap.add_argument("--url", default=None,
                    help="benchmark this running service (its rate limit "
                    "applies) instead of a private copy")
    ap.add_argument("--no-docker", action="store_true",
                    help="skip the docker run baseline")
    ap.add_argument("--warm", action="store_true",
                    help="also measure /execute served by the warm pool")
    ap.add_argument("--warm-gap", type=float, default=3.0,
                    help="seconds before each warm sample, for the pool to "
                    "refill (3)")
    ap.add_argument("--config", default="/etc/isobox/isobox.yaml")
    ap.add_argument("--lighttpd-conf",
                    default=os.path.join(REPO, "lighttpd", "isobox.conf"))
    ap.add_argument("--catalogue",
                    default=os.path.join(REPO, "registry", "languages.yaml"),
                    help="catalogue file or directory: served by the private "
                    "copy and the source of the docker run commands (default: "
                    "the repository's registry/languages.yaml)")
    ap.add_argument("--fcgi-bin", default=os.environ.get("ISOBOX_FCGI_BIN"),
                    help="isobox.fcgi of the private copy (default: "
                    "$ISOBOX_FCGI_BIN, else the installed one)")
    ap.add_argument("--guest", default=os.environ.get("ISOBOX_GUEST"),
                    help="isobox-guest of the private copy, with the "
                    "prestart/ and kernel/ beside it (default: $ISOBOX_GUEST, "
                    "else the configured one)")
    ap.add_argument("--lock", default="/var/lib/isobox/images.lock")
    ap.add_argument("--runtime", default="runsc-isobox")
    ap.add_argument("--cgroup-parent", default="isobox.slice")
    ap.add_argument("--timeout", type=float, default=120,
                    help="seconds per request or docker command (120)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()

    snippets = load_snippets()
    catalogue = load_catalogue(args.catalogue)
    lock = isobench.read_lock(args.lock, missing_ok=True)

    dep = cfg = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        pooled = None
        if args.warm:
            pooled = sorted(set(args.languages) or
                            {e["name"] for e in catalogue.values()})
        cfg = private_config(args.config, os.path.abspath(args.catalogue),
                             pooled)
        dep = load_bench_run().Deployment(cfg, args.lighttpd_conf,
                                          fcgi_bin=args.fcgi_bin,
                                          guest=args.guest)
        log("starting a private isobox on %s (%s)" % (dep.url, dep.tmp))
        dep.start()
        url = dep.url
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {}
    profdir = tempfile.mkdtemp(prefix="isobox-bench-seccomp-")
    os.chmod(profdir, 0o755)
    seccomp = None
    try:
        rts = requests.get(url + "/runtimes", timeout=10).json()
        names = [rt["language"] for rt in rts]
        todo = args.languages or names
        unknown = [n for n in todo if n not in names]
        if unknown:
            sys.exit("bench/languages.py: not in /runtimes: %s" % unknown)
        for rt in rts:
            name = rt["language"]
            if name not in todo:
                continue
            if name not in snippets:
                log("%s: no row in %s, skipped" % (name, TEST_FILE))
                continue
            version = rt["version"]
            key = name if names.count(name) == 1 else "%s@%s" % (name, version)
            entry = catalogue.get((name, version))
            code = snippets[name]["main"]
            # A language that cannot set its exit status exits 0.
            want = 0 if "exit" in (snippets[name].get("lacks") or {}) else EXPECT_EXIT
            res = {"version": version, "compiled": rt["compiled"],
                   "image": entry["image"] if entry else None,
                   "execute": [], "docker_run": [], "warm": [],
                   "docker_argv": None,
                   "load1_before": os.getloadavg()[0]}
            results[key] = res
            # Warm-up: also learns the limits the service applies.
            limits = None
            for _ in range(max(args.warmup, 1)):
                s = execute(url, name, code, args.timeout, version, want_exit=want)
                limits = s.get("limits") or limits
                if not s["ok"]:
                    log("%s: warm-up /execute failed: %s" % (name, s.get("error")))
            dargv = None
            srcdir = tempfile.mkdtemp(prefix="isobox-bench-src-")
            os.chmod(srcdir, 0o755)
            if not args.no_docker and entry and limits:
                with open(os.path.join(srcdir, entry["source"]), "w",
                          encoding="utf-8") as f:
                    f.write(code)
                os.chmod(os.path.join(srcdir, entry["source"]), 0o644)
                ref = entry["image"]
                if "@sha256:" not in ref:
                    ref = lock.get(ref, ref + ":latest")
                # The profile of the first sandbox found, for the whole
                # run: without it docker run would apply Docker's default,
                # under which runsc refuses clone3 with EPERM and no
                # program can start a thread.
                if seccomp is None:
                    seccomp = seccomp_of(url, os.path.join(profdir, "seccomp.json"))
                if seccomp is None:
                    raise SystemExit("bench: no sandbox of the service to read its seccomp profile from")
                dargv = docker_argv(entry, ref, limits, srcdir, args.runtime,
                                    args.cgroup_parent, seccomp)
                res["docker_argv"] = dargv
                for _ in range(args.warmup):
                    d = docker_run(dargv, args.timeout, want)
                    if not d["ok"]:
                        log("%s: warm-up docker run failed: %s" % (name, d.get("error")))
            for i in range(args.runs):
                # Alternate which goes first so drift hits both alike.
                order = ["execute", "docker_run"] if i % 2 == 0 else ["docker_run", "execute"]
                for m in order:
                    if m == "execute":
                        res["execute"].append(execute(url, name, code, args.timeout,
                                                      version, want_exit=want))
                    elif dargv:
                        res["docker_run"].append(docker_run(dargv, args.timeout, want))
            for _ in range(args.runs if args.warm else 0):
                time.sleep(args.warm_gap)
                before = pool_hits(url)
                s = execute(url, name, code, args.timeout, version, cold=False,
                            want_exit=want)
                after = pool_hits(url)
                s["warm"] = (before is not None and after is not None
                             and after - before >= 1)
                res["warm"].append(s)
            subprocess.run(["rm", "-rf", srcdir])
            res["load1_after"] = os.getloadavg()[0]
            se, sd = stats(res["execute"]), stats(res["docker_run"])
            sw = stats([s for s in res["warm"] if s.get("warm")])
            log("%s %s: /execute p50 %s ms, docker run p50 %s ms%s" % (
                name, rt["version"], fmt_ms(se), fmt_ms(sd),
                ", warm p50 %s ms (%d/%d warm)" % (
                    fmt_ms(sw), sum(1 for s in res["warm"] if s.get("warm")),
                    len(res["warm"])) if args.warm else ""))
            for s in res["execute"] + res["docker_run"] + res["warm"]:
                if not s.get("ok"):
                    log("  %s error: %s" % (name, s.get("error")))
                    break
            write_results(args, started, results)
    finally:
        shutil.rmtree(profdir, ignore_errors=True)
        cleanup_containers()
        if dep is not None:
            dep.stop()
        if cfg:
            os.unlink(cfg)

    path = write_results(args, started, results)
    if args.warm:
        write_speed(args, started, results)
    print(table(results))
    print("\nruns: %d per method (after %d warm-up); /execute with limits %s "
          "(cold path); load average at the end %.1f on %d CPUs; raw: %s" % (
              args.runs, args.warmup, json.dumps(COLD_LIMITS),
              os.getloadavg()[0], os.cpu_count(), os.path.relpath(path, REPO)))


def write_results(args, started, results):
    """(Re)write the results file; called after every language so that an
    interrupted run keeps what it measured."""
    finished = datetime.datetime.now(datetime.timezone.utc)
    doc = {"schema": 1, "kind": "languages",
           "started": started.isoformat(), "finished": finished.isoformat(),
           "params": {"runs": args.runs, "warmup": args.warmup,
                      "warm": args.warm, "warm_gap": args.warm_gap,
                      "url": args.url or "private", "cold_limits": COLD_LIMITS},
           "machine": {"host": platform.node(), "cpus": os.cpu_count(),
                       "load1": os.getloadavg()[0]},
           "results": results,
           "summary": {n: {"execute": stats(r["execute"]),
                           "docker_run": stats(r["docker_run"]),
                           "warm": stats([s for s in r.get("warm") or []
                                          if s.get("warm")]),
                           "warm_hits": sum(1 for s in r.get("warm") or []
                                            if s.get("warm")),
                           "warm_samples": len(r.get("warm") or []),
                           "compile_stage": stats(r["execute"], "compile_ms", None),
                           "run_stage": stats(r["execute"], "run_ms", None)}
                       for n, r in results.items()}}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "languages-%s.json"
                        % started.strftime("%Y%m%dT%H%M%SZ"))
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
    os.replace(tmp, path)
    return path


def write_speed(args, started, results):
    """bench/results/speed-<ts>.json in bench/report's generic schema: per
    language, warm and cold /execute p50 against the same run's `docker
    run` p50, with issue 19's goal for the warm one (headline numbers)."""
    sys.path.insert(0, HERE)
    import languages_report as lr
    rows = []
    tables = [["language", "warm p50 / p95 / p99 ms", "cold p50 ms",
               "docker run p50 ms", "warm ÷ docker run", "goal"]]
    for key, r in results.items():
        name = key.split("@")[0]
        w = stats([s for s in r.get("warm") or [] if s.get("warm")])
        c, d = stats(r["execute"]), stats(r["docker_run"])
        if not d:
            continue
        goal = lr.warm_goal(name, r.get("compiled"))
        if w:
            rows.append({"metric": "%s hello world p50, /execute warm" % key,
                         "isobox": round(w["p50"], 1),
                         "baseline_name": "`docker run --rm` p50 (same run)",
                         "baseline": round(d["p50"], 1), "unit": "ms",
                         "goal": goal, "better": "lower", "issue": 19,
                         "headline": True})
        if c:
            rows.append({"metric": "%s hello world p50, /execute cold" % key,
                         "isobox": round(c["p50"], 1),
                         "baseline_name": "`docker run --rm` p50 (same run)",
                         "baseline": round(d["p50"], 1), "unit": "ms",
                         "goal": None, "better": "lower", "headline": False})
        tables.append([key, "%s / %s / %s" % (fmt_ms(w), fmt_ms(w, "p95"),
                                              fmt_ms(w, "p99")) if w else "–",
                       fmt_ms(c), fmt_ms(d),
                       "%.2f" % (w["p50"] / d["p50"]) if w else "–",
                       "≤ %.1f×" % goal if goal is not None else "–"])
    doc = {"kind": "speed", "title": "Every language warm (issue 19)",
           "started": started.isoformat(),
           "host": {"cpus": os.cpu_count(), "load1": os.getloadavg()[0]},
           "command": "bench/languages.py --warm --runs %d %s" % (
               args.runs, " ".join(args.languages)),
           "rows": rows,
           "tables": [{"caption": "hello world per language, client wall time; "
                       "warm = served by a warm sandbox (demand-filled pool)",
                       "header": tables[0], "rows": tables[1:]}],
           "notes": ["Ratios are against the same run's `docker run --rm` of "
                     "the same image (2 shared cores: absolute numbers are "
                     "noisy). Goals (issue 19): interpreted warm ≤ 0.1×, "
                     "typescript ≤ 0.3×, java/kotlin/scala ≤ 0.5×, "
                     "c/c++/go/rust ≤ 0.6× (compile included)."]}
    path = os.path.join(args.out, "speed-%s.json" % started.strftime("%Y%m%dT%H%M%SZ"))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
    return path


if __name__ == "__main__":
    main()
