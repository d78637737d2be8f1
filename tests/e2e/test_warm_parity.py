"""test_warm_parity.py - a warm run and a cold run of the same request are
the same run, for every language of the catalogue; and the pool follows
demand.

On one private deployment (tests/e2e/helpers/isobox_deploy.py,
PoolDeployment, like test_pool.py; nothing is configured warm in advance:
pool_languages "", pool_max 1):

  test_same_result[LANG@VERSION]  the conformance program of
      test_languages.py (arguments, stdin, Unicode, exit 3) is run cold (a
      limits shape no warm sandbox has: cpus 0.99), which counts as demand
      for the language; once /metrics shows a warm sandbox of it the same
      request is run warm (the access line says "warm": true). Stdout,
      stderr, exit status, signal, verdicts and the compile stage must be
      identical.
  test_prestart_facts[LANG]  for each language with a "prestart"
      bootstrap, a program prints what a process can see of how it was
      started: its argv (/proc/self/cmdline), environment
      (/proc/self/environ), rlimits (`ulimit -a` of a child: gVisor has no
      /proc/self/limits), ids, signal masks,
      capabilities and parent (/proc/self/status), cwd, open fds, the
      contents of /box and /tmp, and stdin. Warm (prestarted) and cold must
      print the same. Not compared: its start time and CPU time so far;
      for a bootstrap that waits in-process (not the guest's --warm-exec:
      python, pypy, node, ruby, php, perl, elixir, groovy, clojure, R, emacs,
      lisp, forth...) its /proc/self/cmdline, the
      one line that shows how the interpreter was started (checked cold
      only); for the guest's --warm-main (dash, awk, basic: the
      program waits in libc's start) the same, and the LD_PRELOAD line of
      its environment block, which must be there once.
  test_inprocess[LANG-CASE]  for those in-process bootstraps, what a
      program can see beyond the facts: argv/$0/__FILE__, require.main,
      a sibling module, ES modules, workers and forks, uncaught exceptions
      and their stack traces, stdout/stderr order, exit codes, parse
      warnings, syntax errors, perl's %main::/%INC/caller, php's
      included files, globals and backtraces, PyPy's (python@3.9 and
      pypy: one row, "pypy") frames, trace events, sys.last_*, atexit,
      KeyboardInterrupt and fork, and the cases the bootstrap
      leaves to the interpreter itself; warm and cold must give the same
      result. (Not compared, documented in registry/languages.yaml: perl's
      $SIG{__DIE__} while the entry compiles; php's auto_append_file in
      ini_get_all() and stream resource ids.)
  test_compile_prestart[LANG-CASE]  for each language whose warm
      sandbox has a compiler server ("prestartStage: compile": java,
      scala, kotlin, typescript), compile errors and warnings, exit statuses, uncaught
      exceptions, stdin and arguments, the environment, a class not named
      after its file, several files: the warm compile (the server's) and
      run must give the cold compile and run stages exactly.
      test_prestart_facts covers them too: their program runs cold, so
      even its cmdline is compared (not its pids or JVM thread count).
  test_elixir_handoff_fd, test_jvm_nio_fd, test_bash_environment_block
      pin what those bootstraps leave that a program can read (one
      descriptor each for elixir, groovy and clojure; bash's environment
      block).
  test_demand_then_idle  a language nobody asked for has no warm sandbox;
      after a cold request it gets one (target 1 in /metrics) and the next
      request is warm; after pool_idle_ms without requests it has none.

The cold/warm pairs of test_same_result and test_prestart_facts run
ISOBOX_TEST_LANG_JOBS (default 2) languages at a time (test_languages.Ahead;
never two of the same language, whose warm sandbox one of them could take
from the other); each test checks its own pair. test_inprocess (mostly
one language after another) and test_demand_then_idle run one at a time.

A catalogue entry that is an earlier one's runtime under another name
(RUNTIME_KEYS equal: python@3.9 is pypy) has its own test_same_result;
test_prestart_facts and test_inprocess run that runtime once.

Not timed: numbers are bench/run's.
"""
import os
import re
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
import isobox_deploy as dep  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
COLD = {"cpus": 0.99}  # no warm sandbox has this shape
IDLE_MS = 30000  # longer than the slowest compile (scala, crystal: ~15 s)


def _catalogue():
    with open(dep.base_catalogue()) as f:
        return yaml.safe_load(f)["languages"]


CATALOGUE = _catalogue()
# What makes a job's sandbox and processes: two catalogue entries that agree
# on all of it are one runtime under two names (python@3.9 and pypy: the
# name is only a container label, which gVisor does not show the program).
RUNTIME_KEYS = ("image", "source", "compile", "run", "env", "tmpfs_exec", "limits",
                "prestart", "prestartStage", "runPrestart", "prestartFifo")


def _runtime(lang):
    return yaml.safe_dump({k: lang.get(k) for k in RUNTIME_KEYS})


FIRST_OF_RUNTIME = {}
for _l in CATALOGUE:
    FIRST_OF_RUNTIME.setdefault(_runtime(_l), _l)


def _first_of_runtime(lang):
    """No earlier entry is the same runtime: test_same_result runs every
    entry (each name is served warm); test_prestart_facts and
    test_inprocess run each runtime once."""
    return FIRST_OF_RUNTIME[_runtime(lang)] is lang


def _snippets():
    """test_languages.py's SNIPPETS (its import asks GET /runtimes of
    ISOBOX_URL; a failure there only affects its own tests)."""
    sys.path.insert(0, HERE)
    import test_languages as tl
    return tl


TL = _snippets()


@pytest.fixture(scope="module")
def d():
    cfg = {"rate_per_min": 100000, "rate_burst": 100000, "queue_timeout_ms": 60000,
           "pool_languages": "", "pool_size": 0, "pool_max": 1,
           "pool_idle_ms": IDLE_MS, "concurrency": 3}
    yield from dep.pool_deployment("isobox-parity-", cfg)


def run(d, body):
    r = d.execute(body, timeout=120)
    assert r.status_code == 200, "HTTP %d: %s" % (r.status_code, r.text[:2000])
    acc = d.access_entry(r.headers["X-Request-Id"])
    assert acc is not None
    return r.json(), acc


def series(lang, version):
    return 'language="%s",version="%s"' % (lang, version)


def gauge(d, name, lang, version):
    return d.metrics().get("%s{%s}" % (name, series(lang, version)), 0)


def wait_warm(d, lang, version, timeout=90):
    ok = dep.wait_for(lambda: gauge(d, "isobox_pool_language_ready", lang, version) >= 1,
                      timeout, 0.3)
    assert ok, "no warm %s@%s after %ds\n%s" % (lang, version, timeout,
                                                dep.tail(d.fcgi_log, 20))


def warm_then_cold(d, body, lang, version):
    """(cold doc, warm doc, warm access line): cold first, which is the
    demand that makes a warm sandbox."""
    cold_body = dict(body, limits=dict(body.get("limits") or {}, **COLD))
    cold, cacc = run(d, cold_body)
    assert cacc.get("warm") is False, cacc
    wait_warm(d, lang, version)
    warm, wacc = run(d, body)
    return cold, warm, wacc


def comparable(doc):
    out = {}
    for st in ("compile", "run"):
        s = doc.get(st)
        out[st] = None if s is None else {
            k: s.get(k) for k in ("stdout", "stderr", "exitCode", "signal",
                                  "timedOut", "oomKilled", "truncated")}
        if s is not None:
            # clojure.main names its error report at random, cold or warm.
            mask = ADDRESSES.get(doc.get("language"))
            for k in ("stdout", "stderr"):
                if isinstance(out[st][k], str):
                    out[st][k] = re.sub(r"/tmp/clojure-\d+\.edn", "/tmp/clojure-N.edn", out[st][k])
                    if mask:
                        out[st][k] = re.sub(mask[0], mask[1], out[st][k])
    return out


# The addresses a language prints that differ between two starts, masked
# for that language only (elsewhere such a difference would be real):
# SBCL prints an object's address in braces (a cold start lays its heap
# out the same way each time, the warm core, which holds the init hook, a
# page further on, and a stack object's differs from run to run anyway);
# Gforth's backtrace prints return addresses (its dictionary is mapped
# where the kernel chooses, at another address on every start).
ADDRESSES = {"lisp": (r"\{[0-9A-F]{8,16}\}", "{ADDRESS}"),
             "forth": (r"\$[0-9A-F]{9,16}\b", "$ADDRESS"),
             "scheme": (r"\b[0-9a-f]{12}\b", "ADDRESS")}


PARAMS = [pytest.param(l, id="%s@%s" % (l["name"], l["version"])) for l in CATALOGUE]


def _is_compiled(name):
    return any(l["name"] == name and l.get("compile") for l in CATALOGUE)


def _roomy(body):
    """body with the longest wall times the service allows, where it names
    none: no case here is about time, and on a loaded 2-core host a JVM
    compile and run beside another pair's can pass the catalogue's (scala's
    cold run did: 10 s); a timeout on one side only is no difference between
    warm and cold. The wall times are no part of a warm sandbox's shape."""
    limits = dict(body.get("limits") or {})
    limits.setdefault("wallTimeMs", 20000)
    if _is_compiled(body["language"]):
        limits.setdefault("compileWallTimeMs", 60000)
    return dict(body, limits=limits)


def _same_result_body(lang):
    row = TL.SNIPPETS.get(lang["name"])
    assert row is not None, "no SNIPPETS row in test_languages.py for %s" % lang["name"]
    return _roomy({"language": lang["name"], "version": lang["version"], "code": row["main"],
                   "args": TL.ARGS, "stdin": TL.STDIN})


def _key(lang):
    """The FACTS and INPROC row of a catalogue entry: PyPy's ("python"
    3.9 and "pypy" share its interpreter and bootstrap) is "pypy"."""
    return "pypy" if lang["run"][0] == "pypy3" else lang["name"]


def _facts_body(lang):
    # The longest wall time: these programs start shells and read /proc,
    # and on a loaded host a slow run is not a difference (the wall time is
    # no rlimit and no part of a warm sandbox's shape). That a warm job does
    # not wait for its sandbox's warm-up is test_pool's to show.
    body = {"language": lang["name"], "version": lang["version"],
            "code": _facts_code(_key(lang)),
            "args": FACTS_ARGS.get(_key(lang), ["a b", "-x", "ü"]),
            "stdin": "in ✓\nlast", "limits": {"wallTimeMs": 20000}}
    if _key(lang) in FACTS_VIA_SH:
        body["files"] = [{"name": lang["source"], "content": body.pop("code")},
                         {"name": "facts.sh",
                          # (not State: the interpreter's, while it waits
                          # for facts.sh, is S or R by chance; nor raku's
                          # Threads: its thread pool grows by timing)
                          "content": FACTS_SH.replace("@K@", " ".join(
                              k for k in STATUS_KEYS if k != "State"
                              and (k, _key(lang)) != ("Threads", "raku")))}]
    return body


def _inprocess_body(lang, case):
    return _roomy(dict(INPROC[_key(lang)][case], language=lang["name"], version=lang["version"]))


def _pair(d, body_of):
    """A job of Ahead: the cold/warm pair of an item's request."""
    def job(item):
        lang = item.callspec.params["lang"]
        body = body_of(item, lang)
        if body is None:
            return None  # the test skips
        return warm_then_cold(d, body, lang["name"], lang["version"])
    return job


@pytest.fixture(scope="module")
def ahead(request, d):
    a = TL.Ahead(request.session, __file__, {
        "test_same_result": _pair(d, lambda it, lang: _same_result_body(lang)),
        "test_prestart_facts": _pair(d, lambda it, lang: (
            _facts_body(lang) if _key(lang) in FACTS else None)),
    }, serial_key=lambda it: it.callspec.params["lang"]["name"])
    yield a
    a.close()


@pytest.mark.parametrize("lang", PARAMS)
def test_same_result(d, ahead, request, lang):
    _same_result_body(lang)
    cold, warm, wacc = ahead.result(request.node)  # warm_then_cold(d, body, ...)
    assert wacc.get("warm") is True, wacc
    if lang.get("prestart"):
        assert wacc.get("prestarted") is True, wacc
    assert comparable(warm) == comparable(cold), (cold, warm)


# What a process can see of its start, one program per prestarted language.
# Each prints: cmdline, environ, limits, the stable lines of status, cwd,
# fds, /box, /tmp (sorted names), then stdin.
STATUS_KEYS = ("Name", "Umask", "State", "Tgid", "Pid", "PPid", "TracerPid", "Uid",
               "Gid", "Groups", "NStgid", "NSpid", "NSpgid", "NSsid", "SigQ",
               "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "CapInh", "CapPrm", "CapEff",
               "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Threads")
FACTS = {
    "javascript": r"""
const fs = require('fs');
const K = %s;
const r = (p) => fs.readFileSync(p, 'latin1');
console.log(JSON.stringify(r('/proc/self/cmdline')));
console.log(JSON.stringify([r('/proc/self/environ'), require('child_process').execSync('ulimit -a', {shell: '/bin/sh'}).toString()]));
console.log(r('/proc/self/status').split('\n').filter(l => K.includes(l.split(':')[0])).join('\n'));
console.log(process.cwd(), fs.readdirSync('/proc/self/fd').length);
console.log(fs.readdirSync('/box').sort().join(','), '|', fs.readdirSync('/tmp').sort().join(','));
console.log(JSON.stringify([process.argv.slice(1), process.execArgv, __filename, require.main === module]));
process.stdout.write(fs.readFileSync(0, 'utf8'));
""",
    "ruby": r"""
K = %s
r = ->(p) { File.binread(p) }
p r['/proc/self/cmdline']
p [r['/proc/self/environ'], `sh -c 'ulimit -a'`, Process.getrlimit(:NPROC), Process.getrlimit(:FSIZE), Process.getrlimit(:NOFILE), Process.getrlimit(:CORE)]
puts r['/proc/self/status'].lines.select { |l| K.include?(l.split(':')[0]) }.join
puts Dir.pwd, Dir.children('/proc/self/fd').size
puts Dir.children('/box').sort.join(',') + ' | ' + Dir.children('/tmp').sort.join(',')
p [$0, __FILE__, ARGV, $PROGRAM_NAME]
print STDIN.read
""",
    "php": r"""<?php
$K = %s;
$r = function ($p) { return file_get_contents($p); };
echo json_encode($r('/proc/self/cmdline')), "\n";
echo json_encode([bin2hex($r('/proc/self/environ')), shell_exec('ulimit -a')]), "\n";
foreach (explode("\n", $r('/proc/self/status')) as $l) { if (in_array(explode(':', $l)[0], $K)) echo $l, "\n"; }
echo getcwd(), " ", count(scandir('/proc/self/fd')), "\n";
echo implode(',', scandir('/box')), ' | ', implode(',', scandir('/tmp')), "\n";
echo json_encode([$argv, $_SERVER['argv'], __FILE__, $_SERVER['SCRIPT_FILENAME'], $_SERVER['PHP_SELF'], get_included_files()]), "\n";
echo stream_get_contents(STDIN);
""",
    "perl": r"""
my @K = %s;
sub r { local $/; open(my $f, '<', $_[0]) or die; my $s = <$f>; $s }
print '"', r('/proc/self/cmdline') =~ tr/\0\n/  /r, qq{"\n};
my $s = unpack('H*', r('/proc/self/environ')) . `ulimit -a`;
print "$s\n";
for my $l (split /\n/, r('/proc/self/status')) { my ($k) = split /:/, $l; print "$l\n" if grep { $_ eq $k } @K; }
use Cwd; opendir(my $d, '/proc/self/fd'); my @fd = readdir($d); print getcwd(), " ", scalar(@fd), "\n";
opendir(my $b, '/box'); opendir(my $t, '/tmp'); print join(',', sort readdir($b)), ' | ', join(',', sort readdir($t)), "\n";
print join(',', $0, __FILE__, @ARGV, $^W, scalar(caller()) // 'top', sort keys %%INC), "\n";
print while <STDIN>;
""",
    "lua": r"""
local K = {}
for _, k in ipairs(%s) do K[k] = true end
local function r(p) local f = assert(io.open(p, 'rb')); local s = f:read('*a'); f:close(); return s end
local u = io.popen('ulimit -a'); io.write(r('/proc/self/cmdline'), '\n', r('/proc/self/environ'), '\n', u:read('*a')); u:close()
for l in r('/proc/self/status'):gmatch('[^\n]+') do if K[l:match('^[^:]+')] then print(l) end end
print(arg[0], table.concat(arg, ',', 1), arg[-1])
io.write(io.read('*a'))
""",
    "bash": r"""
K='%s'
tr '\0' '\n' </proc/self/cmdline; echo; tr '\0' '\n' </proc/$$/environ; echo
ulimit -a
while IFS= read -r l; do case " $K " in *" ${l%%%%:*} "*) echo "$l";; esac; done </proc/$$/status
echo "$PWD $0 $# $* $- ${BASH_EXECUTION_STRING-unset} $PPID $SHLVL"
ls -A /box /tmp /proc/$$/fd | tr '\n' ' '; echo
env | sort
cat
""",
    "r": r"""
K <- %s
r <- function(p) { con <- file(p, 'rb'); on.exit(close(con)); rawToChar(gsub00(readBin(con, 'raw', 1e6))) }
gsub00 <- function(x) { x[x == as.raw(0)] <- as.raw(10); x }
cat(deparse(gsub('\n', ' ', r('/proc/self/cmdline'))), '\n')
cat(r('/proc/self/environ'), '\n', system('ulimit -a', intern = TRUE), '\n')
st <- strsplit(r('/proc/self/status'), '\n')[[1]]
cat(st[sub(':.*', '', st) %%in%% K], sep = '\n')
cat(getwd(), length(list.files('/proc/self/fd')), '\n')
cat(paste(sort(list.files('/box', all.files = TRUE, no.. = TRUE)), collapse = ','), '|',
    paste(sort(list.files('/tmp', all.files = TRUE, no.. = TRUE)), collapse = ','), '\n')
cat(commandArgs(), sep = '\n')
cat(readLines(file('stdin')), sep = '\n')
""",
}
# elixir: fd 63, the handoff pipe the warm BEAM cannot close, is left out
# here and pinned by test_elixir_handoff_fd; so is :code.all_loaded(), which
# warm also lists io_lib and otp_internal (the bootstrap's parsing).
FACTS["elixir"] = r"""
k = %s
r = fn p -> File.read!(p) end
IO.puts(inspect(String.replace(r.("/proc/self/cmdline"), <<0>>, " ")))
{u, 0} = System.cmd("sh", ["-c", "ulimit -a"])
IO.puts(inspect([r.("/proc/self/environ"), u]))
IO.puts(r.("/proc/self/status") |> String.split("\n") |> Enum.filter(&(hd(String.split(&1, ":")) in k)) |> Enum.join("\n"))
IO.puts("#{File.cwd!()} #{inspect(Enum.sort(File.ls!("/proc/self/fd") -- ["63"]))}")
IO.puts(Enum.join(Enum.sort(File.ls!("/box")), ",") <> " | " <> Enum.join(Enum.sort(File.ls!("/tmp")), ","))
IO.inspect([System.argv(), __ENV__.file, System.no_halt(), self(), length(Process.list()), Enum.sort(Process.registered()),
  Application.started_applications(), System.get_env(), :code.get_path(), :io.getopts(), Code.required_files(), Code.compiler_options()], limit: :infinity, printable_limit: :infinity)
IO.write(IO.read(:stdio, :eof))
"""
# groovy: what the JVM shows a script (the source launcher's leftovers
# are what prestart/Groovy.java undoes). Not printed: objects' identity
# hash codes (javac ran first in the warm JVM's main thread); sockets among
# the descriptors (NIO's, made early in the warm JVM: test_jvm_nio_fd).
FACTS["groovy"] = r"""
def K = %s
def r = { p -> new File(p).getText('ISO-8859-1') }
println groovy.json.JsonOutput.toJson(r('/proc/self/cmdline'))
println groovy.json.JsonOutput.toJson([r('/proc/self/environ'), ['sh', '-c', 'ulimit -a'].execute().text])
println r('/proc/self/status').split('\n').findAll { K.contains(it.split(':')[0]) }.join('\n')
def link = { f -> try { java.nio.file.Files.readSymbolicLink(f.toPath()).toString() } catch (e) { 'gone' } }
println "${new File('.').canonicalPath} ${new File('/proc/self/fd').listFiles().findAll { !link(it).startsWith('socket:') }.size()}"
println new File('/box').list().sort().join(',') + ' | ' + new File('/tmp').list().sort().join(',')
def t = Thread.currentThread()
println([args.toList(), this.class.name, t.name, t.id, t.threadGroup.name, t.contextClassLoader.class.name,
  this.class.classLoader.class.name, this.class.classLoader.parent.class.name, binding.variables.keySet()])
System.getProperties().collect { k, v -> "$k=$v".toString() }.sort().each { println it }
print System.in.text
"""
# clojure: what the JVM and clojure.main show a script (as for groovy; also
# the namespaces and libraries loaded, the dynamic vars clojure.main binds,
# the class loaders and the id counter: nothing of Clojure ran in the warm
# JVM but what clojure.main runs first). No "%" of Clojure's #() here: the
# status keys are put in with Python's "%".
FACTS["clojure"] = r"""
(require 'clojure.string)
(def K %s)
(defn r [p] (with-open [i (java.io.FileInputStream. p)] (String. (.readAllBytes i) "ISO-8859-1")))
(println (pr-str (r "/proc/self/cmdline")))
(println (pr-str [(r "/proc/self/environ") (slurp (.getInputStream (.start (ProcessBuilder. ["sh" "-c" "ulimit -a"]))))]))
(println (clojure.string/join "\n" (filter (fn [l] (K (first (clojure.string/split l #":"))))
                                           (clojure.string/split-lines (r "/proc/self/status")))))
(defn link [f] (try (str (java.nio.file.Files/readSymbolicLink (.toPath f))) (catch Exception e "gone")))
(println (.getCanonicalPath (java.io.File. "."))
         (count (remove (fn [f] (.startsWith (link f) "socket:")) (.listFiles (java.io.File. "/proc/self/fd")))))
(println (str (clojure.string/join "," (sort (.list (java.io.File. "/box")))) " | "
              (clojure.string/join "," (sort (.list (java.io.File. "/tmp"))))))
(let [t (Thread/currentThread) bl (clojure.lang.RT/baseLoader)]
  (println [*command-line-args* *file* (str *ns*) (.getName t) (.getId t) (.getName (.getThreadGroup t))
            (.getName (class (.getContextClassLoader t))) (.getName (class bl)) (.getName (class (.getParent bl)))
            *warn-on-reflection* *unchecked-math* *assert* *compile-path* *print-length* *read-eval*
            *data-readers* (count (ns-map *ns*)) (clojure.lang.RT/nextID)]))
(println (sort (map str (all-ns))))
(println (sort (map str (loaded-libs))))
(doseq [[k v] (sort-by key (System/getProperties))] (println (str k "=" v)))
(print (slurp *in*))
"""
# PyPy (python@3.9 and pypy): what app_main sets up for "pypy3 FILE",
# read before the program imports anything of its own.
FACTS["pypy"] = r"""
import sys
M0 = sorted(sys.modules)
G0 = [(k, type(v).__name__) for k, v in globals().items()]
K = %s
r = lambda p: open(p, 'rb').read().decode('latin-1')
print('"%%s"' %% repr(r('/proc/self/cmdline'))[1:-1])
import os, resource, subprocess
print(repr(r('/proc/self/environ')), subprocess.run(['sh', '-c', 'ulimit -a'], stdout=subprocess.PIPE).stdout.decode())
print([resource.getrlimit(getattr(resource, n)) for n in dir(resource) if n.startswith('RLIMIT_')])
print('\n'.join(l for l in r('/proc/self/status').split('\n') if l.split(':')[0] in K))
print(os.getcwd(), len(os.listdir('/proc/self/fd')), os.umask(0o22))
print(','.join(sorted(os.listdir('/box'))), '|', ','.join(sorted(os.listdir('/tmp'))))
print(M0)
print(G0, sorted(vars(__loader__).items()), __spec__, __file__, __cached__, __doc__, __package__, __annotations__)
print(sys.modules['__main__'].__dict__ is globals(), sys.argv, sys.path, sys.executable, sys.flags,
      sys.warnoptions, sys._xoptions, sys.dont_write_bytecode)
f = sys._getframe()
print(f.f_back, f.f_code.co_filename, hex(f.f_code.co_flags), f.f_lineno, sys.exc_info())
import traceback, signal, warnings, atexit, gc
print(traceback.extract_stack(), [signal.getsignal(s) for s in sorted(signal.valid_signals())])
print(warnings.filters, atexit._ncallbacks(), gc.isenabled(), sorted(sys.path_importer_cache),
      sys.meta_path, len(sys.path_hooks))
print(sys.getrecursionlimit(), sys.getswitchinterval(), sorted(dir(sys)), sorted(dir(__builtins__)))
print([(s.name, s.encoding, s.errors, s.line_buffering, type(s.buffer).__name__, s.isatty())
       for s in (sys.stdin, sys.stdout, sys.stderr)])
def depth(n):
    try:
        return depth(n + 1)
    except RecursionError:
        return n
print(depth(0), [k for k in ('last_type', 'last_value', 'ps1') if hasattr(sys, k)])
sys.stdout.write(sys.stdin.read())
"""
# java, scala and kotlin prestart their compiler ("prestartStage: compile"): the
# program runs cold after it, so even its cmdline is compared; what the
# compile leaves in /tmp and /box shows. Not compared: pids (how many
# processes a compile forks is the wrapper's business) and the JVM's
# thread count.
FACTS["java"] = r"""
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;

public class Main {
    static String r(String p) throws IOException {
        return new String(Files.readAllBytes(Paths.get(p)), StandardCharsets.ISO_8859_1).replace('\0', ' ');
    }
    static String ls(String d) {
        String[] n = new File(d).list();
        if (n == null) return "-";
        Arrays.sort(n);
        return String.join(",", n);
    }
    public static void main(String[] args) throws Exception {
        List<String> k = List.of(%s);
        System.out.println(r("/proc/self/cmdline"));
        System.out.println(r("/proc/self/environ"));
        Process u = new ProcessBuilder("sh", "-c", "ulimit -a").redirectErrorStream(true).start();
        System.out.print(new String(u.getInputStream().readAllBytes()));
        u.waitFor();
        // Closed here: the JVM's reaper closes them only after waitFor
        // returns, and the fd count below must not race it.
        u.getInputStream().close(); u.getOutputStream().close(); u.getErrorStream().close();
        for (String l : r("/proc/self/status").split("\n")) if (k.contains(l.split(":")[0])) System.out.println(l);
        System.out.println(System.getProperty("user.dir") + " " + new File("/proc/self/fd").list().length);
        System.out.println(ls("/box") + " | " + ls("/tmp") + " | " + ls("/tmp/classes") + " | " + ls("/tmp/isobox-src"));
        System.out.println(String.join(",", args) + " " + new TreeMap<>(System.getenv()));
        System.out.flush();
        System.in.transferTo(System.out);
    }
}
"""
FACTS["kotlin"] = r"""
import java.io.File
fun r(p: String) = String(File(p).readBytes(), Charsets.ISO_8859_1).replace('\u0000', ' ')
fun ls(d: String) = File(d).list()?.sorted()?.joinToString(",") ?: "-"
fun main(args: Array<String>) {
    val k = listOf(%s)
    println(r("/proc/self/cmdline"))
    println(r("/proc/self/environ"))
    val u = ProcessBuilder("sh", "-c", "ulimit -a").redirectErrorStream(true).start()
    print(String(u.inputStream.readBytes()))
    u.waitFor()
    // Closed here: the JVM's reaper closes them only after waitFor returns,
    // and the fd count below must not race it.
    u.inputStream.close(); u.outputStream.close(); u.errorStream.close()
    for (l in r("/proc/self/status").split("\n")) if (l.split(":")[0] in k) println(l)
    println(System.getProperty("user.dir") + " " + File("/proc/self/fd").list().size)
    println(ls("/box") + " | " + ls("/tmp"))
    println(args.joinToString(",") + " " + System.getenv().toSortedMap())
    System.out.flush()
    System.`in`.copyTo(System.out)
}
"""
FACTS["typescript"] = r"""
import * as fs from 'fs';
import { execSync } from 'child_process';
const K: string[] = %s;
const r = (p: string): string => fs.readFileSync(p, 'latin1');
console.log(JSON.stringify(r('/proc/self/cmdline')));
console.log(JSON.stringify([r('/proc/self/environ'), execSync('ulimit -a', { shell: '/bin/sh' }).toString()]));
console.log(r('/proc/self/status').split('\n').filter((l) => K.includes(l.split(':')[0])).join('\n'));
console.log(process.cwd(), fs.readdirSync('/proc/self/fd').length);
console.log(fs.readdirSync('/box').sort().join(','), '|', fs.readdirSync('/tmp').sort().join(','),
  '|', fs.readdirSync('/tmp/out').sort().join(','));
console.log(JSON.stringify([process.argv.slice(1), process.execArgv, __filename, require.main === module]));
process.stdout.write(fs.readFileSync(0, 'utf8'));
"""
FACTS["scala"] = r"""
import java.io.File
import java.nio.file.{Files, Paths}

object Main {
  def r(p: String) = new String(Files.readAllBytes(Paths.get(p)), "ISO-8859-1").replace('\u0000', ' ')
  def ls(d: String) = Option(new File(d).list()).map(_.sorted.mkString(",")).getOrElse("-")
  def main(args: Array[String]): Unit = {
    val k = List(%s)
    println(r("/proc/self/cmdline"))
    println(r("/proc/self/environ"))
    val u = new ProcessBuilder("sh", "-c", "ulimit -a").redirectErrorStream(true).start()
    print(scala.io.Source.fromInputStream(u.getInputStream, "ISO-8859-1").mkString)
    u.waitFor()
    // Closed here: the JVM's reaper closes them only after waitFor returns,
    // and the fd count below must not race it.
    u.getInputStream.close(); u.getOutputStream.close(); u.getErrorStream.close()
    for (l <- r("/proc/self/status").split("\n") if k.contains(l.split(":")(0))) println(l)
    println(System.getProperty("user.dir") + " " + new File("/proc/self/fd").list().length)
    println(ls("/box") + " | " + ls("/tmp") + " | " + ls("/tmp/classes"))
    println(args.mkString(",") + " " + new java.util.TreeMap[String, String](System.getenv()))
    System.out.flush()
    val buf = new Array[Byte](65536)
    var n = System.in.read(buf)
    while (n > 0) { System.out.write(buf, 0, n); n = System.in.read(buf) }
    System.out.flush()
  }
}
"""
FACTS["dash"] = FACTS["bash"].replace(" ${BASH_EXECUTION_STRING-unset} $PPID $SHLVL", " $PPID")
FACTS["coffeescript"] = None  # the javascript program is not coffee: same
# runtime (node) and bootstrap as javascript, covered by test_same_result

# The languages that cannot read /proc themselves with ease (most of
# them warm by the guest's --warm-exec or --warm-main; emacs, lisp and forth
# in-process): the
# program runs facts.sh, which prints the same facts of its nearest
# ancestor that is not a shell (the interpreter; system() may put an
# "sh -c" between), then copies stdin. Its own rlimits are the
# interpreter's, inherited.
FACTS_SH = r"""
K='@K@'
p=$PPID
while :; do
  case $(cat /proc/$p/comm) in
  sh|dash|bash) p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status);;
  *) break;;
  esac
done
tr '\0' '\n' </proc/$p/cmdline; echo
tr '\0' '\n' </proc/$p/environ; echo
ulimit -a
while IFS= read -r l; do case " $K " in *" ${l%%:*} "*) echo "$l";; esac; done </proc/$p/status
readlink /proc/$p/cwd
ls -A /box /tmp /proc/$p/fd | tr '\n' ' '; echo
cat
"""
FACTS_VIA_SH = {
    "awk": 'BEGIN { exit system("sh facts.sh") }\n',
    "tcl": "exec sh facts.sh <@stdin >@stdout 2>@stderr\n",
    "forth": 's" sh facts.sh" system\n$? (bye)\n',
    "basic": 'exit system("sh facts.sh")\n',
    "scheme": '(exit (status:exit-val (system "sh facts.sh")))\n',
    "prolog": ":- initialization(main, main).\n\nmain :- shell('sh facts.sh', S), halt(S).\n",
    "lisp": ('(sb-ext:exit :code (sb-ext:process-exit-code (sb-ext:run-program "/bin/sh" '
             '(list "facts.sh") :input t :output t :error t)))\n'),
    "raku": "exit run('sh', 'facts.sh').exitcode;\n",
    # emacs cannot hand its stdin to a child (its fd 0, a pipe, is not
    # the user's to open again): it copies stdin itself, line by line.
    "emacs": ('(with-temp-buffer\n  (let ((s (call-process "sh" nil t nil "facts.sh")))\n'
              '    (princ (buffer-string))\n'
              '    (condition-case nil\n        (while t (princ (read-from-minibuffer "")) (terpri))\n'
              '      (error nil))\n    (kill-emacs s)))\n'),
    "racket": ("#lang racket/base\n(require racket/system)\n"
               '(exit (system/exit-code "sh facts.sh"))\n'),
    "sqlite": ".shell sh facts.sh\n",
}
FACTS.update(FACTS_VIA_SH)
# swipl takes "-x FILE" after the script as its own option (a saved state).
FACTS_ARGS = {"prolog": ["a b", "x", "ü"]}
FACTS["brainfuck"] = None  # no way out of its tape: test_same_result only


def _facts_code(name):
    src = FACTS[name]
    if name in FACTS_VIA_SH:
        return src
    if name in ("bash", "dash"):
        return src % " ".join(STATUS_KEYS)
    if name == "r":
        return src % ("c(%s)" % ", ".join("'%s'" % k for k in STATUS_KEYS))
    if name == "clojure":
        return src % ("#{%s}" % " ".join('"%s"' % k for k in STATUS_KEYS))
    if name == "perl":
        return src % ("(%s)" % ", ".join("'%s'" % k for k in STATUS_KEYS))
    if name == "lua":
        return src % ("{%s}" % ", ".join("'%s'" % k for k in STATUS_KEYS))
    if name == "php":
        return src % ("[%s]" % ", ".join("'%s'" % k for k in STATUS_KEYS))
    if name == "elixir":
        return src % ("[%s]" % ", ".join('"%s"' % k for k in STATUS_KEYS))
    if name in ("java", "scala", "kotlin"):
        return src % ", ".join('"%s"' % k for k in STATUS_KEYS if k not in JVM_UNSTABLE)
    if name == "typescript":  # after a compiler server too: other pids
        return src % ("[%s]" % ", ".join("'%s'" % k for k in STATUS_KEYS if k not in JVM_UNSTABLE))
    return src % ("[%s]" % ", ".join("'%s'" % k for k in STATUS_KEYS))


# Not compared after a compiler server (it took pids before the program's;
# a JVM's thread count varies).
JVM_UNSTABLE = ("Tgid", "Pid", "NStgid", "NSpid", "NSpgid", "NSsid", "Threads")


def warm_main(lang):
    """The guest's --warm-main: the program itself waits, in libc's start
    (prestart/main-wait.c)."""
    return (lang.get("prestart") or [])[:2] == ["/.isobox/guest", "--warm-main"]


# What --warm-main leaves in the environment block of the process it
# started (/proc/PID/environ), though no longer in its environment.
MAIN_WAIT_ENV = "LD_PRELOAD=/.isobox/prestart/main-wait.so\n"


def in_process(lang):
    """The bootstrap waits for its program in-process (not --warm-exec;
    a compiler server's program runs cold)."""
    return (bool(lang.get("prestart")) and lang["prestart"][0] != "/.isobox/guest"
            and lang.get("prestartStage", "run") == "run")


PRESTARTED = [pytest.param(l, id="%s@%s" % (l["name"], l["version"]))
              for l in CATALOGUE if l.get("prestart") and FACTS.get(_key(l), 0) is not None
              and _first_of_runtime(l)]


def test_every_prestarted_language_has_a_facts_program():
    for l in CATALOGUE:
        if l.get("prestart"):
            assert _key(l) in FACTS or l["name"].startswith("python"), (
                "%s has a prestart bootstrap but no program in FACTS" % l["name"])


@pytest.mark.parametrize("lang", PRESTARTED)
def test_prestart_facts(d, ahead, request, lang):
    if _key(lang) not in FACTS:
        pytest.skip("CPython's in-process prestart is tested by test_pool.py")
    cold, warm, wacc = ahead.result(request.node)  # warm_then_cold(d, _facts_body(lang), ...)
    assert wacc.get("warm") is True and wacc.get("prestarted") is True, wacc
    assert cold["run"]["exitCode"] == 0, cold
    if lang.get("runPrestart"):
        assert wacc.get("prestartedStages") == ["compile", "run"], wacc
    # R names its session directory in /tmp at random (RtmpXXXXXX), cold
    # or warm alike.
    for doc in (cold, warm):
        doc["run"]["stdout"] = re.sub(r"Rtmp\w{6}", "RtmpXXXXXX", doc["run"]["stdout"])
    # --warm-main (dash, awk, basic): the environment block the
    # process started with (not its environment) names the preload.
    if warm_main(lang):
        out = warm["run"]["stdout"]
        assert out.count(MAIN_WAIT_ENV) == 1 and MAIN_WAIT_ENV not in cold["run"]["stdout"], out
        warm["run"]["stdout"] = out.replace(MAIN_WAIT_ENV, "", 1)
    # bash's bootstrap serves a job with arguments (these) by exec'ing a
    # fresh bash: nothing differs, not even its argv or environment block.
    if (((in_process(lang) or warm_main(lang)) and _key(lang) in FACTS_VIA_SH)
            or (lang["name"] == "dash" and warm_main(lang))):
        # facts.sh prints the interpreter's /proc/PID/cmdline first, an
        # argument a line and then an empty line: the cold one is the run
        # argv, the bootstrap's its own (RUN0 alone for the process
        # --warm-main started). dash's facts start the same way: dash opens
        # its own /proc/self/cmdline for tr (bash's child reads tr's).
        body = _facts_body(lang)
        want = {"cold": [a.replace("{source}", lang["source"]) for a in lang["run"]] + body["args"],
                "warm": lang["prestart"][2:3] if warm_main(lang) else lang["prestart"]}
        for name, doc in (("cold", cold), ("warm", warm)):
            head = "\n".join(want[name]) + "\n\n"
            assert doc["run"]["stdout"].startswith(head), (name, doc["run"]["stdout"][:400])
            doc["run"]["stdout"] = doc["run"]["stdout"][len(head):]
    elif (in_process(lang) and lang["name"] != "bash") or lang.get("runPrestart"):
        # The first line is /proc/self/cmdline: the cold one is the run
        # argv; an interpreter started ahead of its program has its own.
        first, cold["run"]["stdout"] = cold["run"]["stdout"].split("\n", 1)
        # (elixir's is erl's emulator, beam.smp, which the script runs;
        # groovy's and clojure's are the java their isobox-* script runs;
        # typescript's is the node that isobox-ts-run execs; r's the R binary
        # that the R script execs.)
        run0 = {"elixir": "/usr/lib/erlang/erts-", "groovy": "java",
                "clojure": "java", "typescript": "node",
                "r": "/usr/lib/R/bin/exec/R"}.get(lang["name"], lang["run"][0])
        assert first.startswith('"' + run0) and "main" in first and "a b" in first, first
        warm["run"]["stdout"] = warm["run"]["stdout"].split("\n", 1)[1]
    assert comparable(warm) == comparable(cold), (
        "\n--- cold %s\n%s\n--- warm %s\n%s" % (
            _stage_facts(cold), cold["run"]["stdout"] + cold["run"]["stderr"],
            _stage_facts(warm), warm["run"]["stdout"] + warm["run"]["stderr"]))


def _stage_facts(doc):
    """How a run stage ended, for a failure's message."""
    return {k: doc["run"].get(k) for k in ("exitCode", "signal", "timedOut", "oomKilled", "durationMs")}


# What a program run by an in-process bootstrap can see beyond FACTS: each
# case is the part of a request besides "language"; warm and cold must
# give the same result (stdout, stderr, exit status, verdicts).
JS_INTROSPECT = r"""
const util = require('./util');
console.log(JSON.stringify([process.argv, process.execArgv, process.argv0,
  require.main === module, module.id, require.main.filename, __filename, __dirname,
  Object.keys(require.cache), module.paths, process.mainModule === module,
  new Error('here').stack.split('\n'), util.where()]));
"""
PL_INTROSPECT = r"""use strict; use warnings;
require "./Util.pm";
print join("|", $0, __FILE__, __LINE__, scalar(@ARGV), @ARGV, $^X, (caller() ? "caller" : "top"),
  $^S // 'u', $^W, $^H, time - $^T < 5 ? "t-ok" : "t-bad"), "\n";
print join(",", sort keys %INC), "\n";
print join(",", map { s/([^ -~])/sprintf("^%02x", ord $1)/ger } sort keys %main::), "\n";
print join("|", Util::where()), "\n";
print join(",", grep /^\d+$/, do { opendir(my $d, "/proc/self/fd"); sort readdir $d }), "\n";
print exists $SIG{__DIE__} ? "die hook\n" : "no die hook\n";
BEGIN { print "begin: $^H ", join(",", sort keys %INC), "\n" }
"""
PL_UTIL = ("package Util;\nsub where { my @c = caller(0); "
           "return (__FILE__, __LINE__, @c[0..3], (caller(1))[3] // 'top') }\n1;\n")
PHP_INTROSPECT = r"""<?php
require_once 'util.php';
echo json_encode([get_included_files(), __FILE__, __DIR__, $argv, $argc, $_SERVER['argv'], $_SERVER['argc'],
  $_SERVER['SCRIPT_FILENAME'], $_SERVER['PHP_SELF'], $_SERVER['SCRIPT_NAME'], $_SERVER['PATH_TRANSLATED'],
  getcwd(), array_keys($GLOBALS), array_keys(get_defined_vars()), time() - $_SERVER['REQUEST_TIME'] < 5,
  where(), debug_backtrace(), get_defined_functions()['user'], get_defined_constants(true)['user'] ?? null,
  array_keys($_SERVER), ini_get('auto_append_file'), ini_get('auto_prepend_file')]), "\n";
var_dump(new stdClass, new ArrayObject([]));
function g() { debug_print_backtrace(); return (new Exception('x'))->getTraceAsString(); }
echo g(), "\n";
"""
PY_INTROSPECT = r"""
import sys, util, pickle, inspect, traceback
class A:
    v = 5
print(sys.argv, __name__, __file__, sys.path[0], sorted(vars(__loader__).items()), __spec__, __cached__)
print(list(globals()), sys.modules['__main__'] is sys.modules[__name__], sys._getframe().f_back)
print(util.where(), util.__file__, util.__name__, pickle.loads(pickle.dumps(A())).v)
print([(f.function, f.lineno) for f in inspect.stack()], sorted(sys.modules))
traceback.print_stack()
if __name__ == '__main__':
    print('main guard', __builtins__.__name__, __annotations__)
"""
PY_UTIL = ("import sys, traceback\n"
           "def where():\n    f = sys._getframe(1)\n"
           "    return [f.f_code.co_name, f.f_globals['__name__'], traceback.format_stack(), f.f_back]\n")
JS_UTIL = "exports.where = () => [module.id, module.parent && module.parent.id, new Error().stack.split('\\n')];\n"
# coffee: what the prestart's warmed compiler (prestart/node.js
# coffeeWarm) could leave visible, read where a program can read it.
COFFEE_INTROSPECT = r"""
Module = require 'module'
vm = require 'vm'
u = require './util'
fn = (f) -> if typeof f is 'function' then [f.name, f.length, String(f).length] else String(f)
sm = Object.keys(require.cache).find (k) -> k.endsWith '/coffeescript/sourcemap.js'
console.log JSON.stringify
  argv: [process.argv, process.execArgv, process.argv0, process.title]
  main: [require.main is module, process.mainModule is module, module.id, module.filename,
    __filename, __dirname, module.paths, module.loaded, Object.keys(module.options ? {})]
  cache: Object.keys(require.cache)
  tree: ([k, m.id, m.parent?.id ? null, (c.id for c in m.children), m.loaded] for k, m of require.cache)
  lookups: Object.keys(Module._pathCache)
  extensions: ([k, fn(v)] for k, v of require.extensions)
  errors: [Object.getOwnPropertyNames(Error), fn(Error.prepareStackTrace), String(Error.stackTraceLimit),
    fn(Module.prototype.load),
    fn(require('child_process').fork), typeof gc, vm.runInNewContext('typeof gc')]
  listeners: ([e, process.listenerCount(e)] for e in process.eventNames())
  sourceMaps: Object.keys(require(sm).sourceMaps)
  compiler: Object.keys(require 'coffeescript')
  stack: new Error('here').stack.split('\n')
  util: u.where()
"""
COFFEE_UTIL = ("exports.where = -> [module.id, module.parent?.id, module.parent?.filename,\n"
               "  (c.id for c in module.parent.children), new Error('util').stack.split('\\n')]\n")
# bash: what bash shows a script, without a pipeline while it is read (a
# pipeline's pipe is open in bash for a moment, warm or cold). Not
# BASH_ARGV in a file sourced with arguments: bash fills it there only if
# it read no start-up file (docs/ARCHITECTURE.md).
SH_INTROSPECT = r"""echo "_=$_ ?=$? 0=$0 #=$# @=$* -=$- LINENO=$LINENO BS=${BASH_SOURCE[*]} BL=${BASH_LINENO[*]}"
echo "FN=${FUNCNAME[*]} BASH=$BASH ARGV0=$BASH_ARGV0 ARGC=${BASH_ARGC[*]} ARGV=${BASH_ARGV[*]} SHLVL=$SHLVL"
echo "SECONDS<2: $((SECONDS < 2)) PIPESTATUS=${PIPESTATUS[*]} BASH_SUBSHELL=$BASH_SUBSHELL PWD=$PWD OLDPWD=${OLDPWD-unset}"
echo "BASH_ENV=${BASH_ENV-unset} ENV=${ENV-unset}"
fds=(/proc/$$/fd/*); echo "fds: ${fds[*]##*/}"
set -o posix
set > /tmp/vars
set +o posix
shopt; set -o; trap -p; declare -F; alias; hash
env > /tmp/env
sort /tmp/env
grep -v '^\(BASHPID\|PPID\|RANDOM\|SRANDOM\|EPOCHREALTIME\|EPOCHSECONDS\|_\|BASH_COMMAND\|SECONDS\|LINENO\|BASH_LINENO\)=' /tmp/vars
ls -A /box /tmp
return 2>&1; echo "after return: $?"
"""
INPROC = {
    "bash": {
        "introspect": {"code": SH_INTROSPECT},
        "args": {"code": SH_INTROSPECT, "args": ["x", "y z", "-n"]},
        "other_entry": {"files": [{"name": "run.sh", "content": SH_INTROSPECT}]},
        "source": {"files": [{"name": "main.sh", "content":
                              "echo start\n. ./lib.sh one\nf a b\n"
                              "echo \"top: ${BASH_SOURCE[*]} ${FUNCNAME[*]-none} $LINENO $(caller)\"\n"},
                             {"name": "lib.sh", "content":
                              "echo \"lib: $# $* ${BASH_SOURCE[*]} ${FUNCNAME[*]}\"\n"
                              "f() { echo \"f: $* ${BASH_SOURCE[*]} ${FUNCNAME[*]} ${BASH_LINENO[*]} $(caller 0)\"; }\n"
                              "return 3\necho not here\n"}]},
        "exit": {"code": "echo o; echo e >&2; exit 5\n"},
        "errexit": {"code": "set -e\necho a\nfalse\necho b\n"},
        "syntax_error": {"code": "echo a\nif then\necho b\n"},
        "not_found": {"code": "echo a\nno_such_command_x 1\necho \"rc=$?\"\n"},
        "stdin": {"code": "read -r l; echo \"first: $l\"; cat; exit 2\n", "stdin": "line 1\nline ✓ 2\n"},
        "self": {"code": "cat \"$0\"; echo \"${BASH_SOURCE[0]}\"; trap 'echo bye $?' EXIT; exit 4\n"},
        "signal": {"code": "echo x; kill -TERM $$; echo after\n"},
    },
    "javascript": {
        "introspect": {"files": [{"name": "main.js", "content": JS_INTROSPECT},
                                 {"name": "util.js", "content": JS_UTIL}], "args": ["x", "-y"]},
        "uncaught": {"files": [{"name": "main.js", "content":
                                "console.log('out 1'); console.error('err 1');\n"
                                "const u = require('./util');\n"
                                "function f() { u.boom(); }\nf();\n"},
                               {"name": "util.js", "content":
                                "exports.boom = () => { throw new TypeError('bad ' + process.argv.length); };\n"}]},
        "rejection": {"code": "console.log('a');\nPromise.reject(new RangeError('r'));\n"},
        "exit": {"code": "process.stdout.write('o');\nconsole.error('e');\nprocess.exit(7);\n"},
        "esm": {"files": [{"name": "main.mjs", "content":
                           "import { x } from './u.mjs';\n"
                           "console.log(x, import.meta.url, process.argv.slice(1), process.execArgv);\n"
                           "throw new Error('esm ' + x);\n"},
                          {"name": "u.mjs", "content": "export const x = 42;\n"}]},
        "worker_fork": {"files": [{"name": "main.js", "content":
                                   "const { Worker } = require('worker_threads');\n"
                                   "const w = new Worker('const wt = require(\"worker_threads\"); "
                                   "wt.parentPort.postMessage(JSON.stringify([process.execArgv, Object.keys(require.cache)]));', {eval: true});\n"
                                   "w.on('message', (m) => { console.log('worker', m);\n"
                                   "  const c = require('child_process').fork('./child.js', ['c1']);\n"
                                   "  c.on('exit', (code) => console.log('child exit', code)); });\n"},
                                  {"name": "child.js", "content":
                                   "console.log('child', JSON.stringify([process.argv.slice(1), process.execArgv, require.main === module]));\n"
                                   "process.exitCode = 5;\n"}]},
        "stdin": {"code": "let d = ''; process.stdin.on('data', (c) => d += c);\n"
                          "process.stdin.on('end', () => { console.log(JSON.stringify(d)); process.exitCode = 2; });\n",
                  "stdin": "line 1\nline ✓ 2\n"},
    },
    "ruby": {
        "introspect": {"files": [{"name": "main.rb", "content":
                                  "require_relative 'util'\n"
                                  "p [$0, __FILE__, __dir__, ARGV, $PROGRAM_NAME, __FILE__ == $0, Util.where,\n"
                                  "   $LOADED_FEATURES.size, $LOAD_PATH, self.to_s, defined?(DATA), ARGV.map(&:encoding)]\n"},
                                 {"name": "util.rb", "content":
                                  "module Util\n  def self.where; [__FILE__, __dir__, caller(0, 1)]; end\nend\n"}],
                       "args": ["x", "-y", "ü"]},
        "uncaught": {"files": [{"name": "main.rb", "content":
                                "at_exit { puts \"at_exit #{$!.class}\" }\n"
                                "puts 'out 1'; $stderr.puts 'err 1'\n"
                                "require_relative 'util'\n"
                                "def f\n  Util.boom\nrescue => e\n  raise ArgumentError, 'wrapped'\nend\nf\n"},
                               {"name": "util.rb", "content":
                                "module Util\n  def self.boom; raise 'inner'; end\nend\n"}]},
        "name_error": {"code": "def g(a)\n  a + undefined_thing\nend\ng(1)\n"},
        "exit": {"code": "$stdout.write 'o'\nwarn 'e'\nexit 4\n"},
        "abort": {"code": "puts 'before'\nabort 'aborted'\n"},
        "warnings": {"code": "h = {a: 1, a: 2}\nputs h\nputs __LINE__\n"},
        "syntax_error": {"code": "puts 'x'\ndef (\n"},
        "data": {"code": "puts DATA.read\n__END__\nthe data ✓\n"},
        "shebang_opts": {"code": "#!/usr/bin/env ruby -w\ndef m; x = 1; end\np $VERBOSE\n"},
        "stdin": {"code": "p $stdin.read, gets\n", "stdin": "a ✓\nb\n"},
    },
    "coffeescript": {
        "uncaught": {"files": [{"name": "main.coffee", "content":
                                "u = require './util'\nconsole.log process.argv.slice(1), require.main is module\nu.boom()\n"},
                               {"name": "util.coffee", "content":
                                "exports.boom = -> throw new Error 'coffee boom'\n"}],
                     "args": ["a"]},
        "introspect": {"files": [{"name": "main.coffee", "content": COFFEE_INTROSPECT},
                                 {"name": "util.coffee", "content": COFFEE_UTIL}],
                       "args": ["x", "-y", "ü"]},
        # Thrown later, from a timer: node's uncaught exception handler,
        # coffee's Error.prepareStackTrace, an exit listener.
        "uncaught_later": {"files": [{"name": "main.coffee", "content":
                                      "u = require './util'\n"
                                      "process.on 'exit', (c) -> console.log 'exit', c\n"
                                      "setTimeout (-> u.later 2), 5\n"},
                                     {"name": "util.coffee", "content":
                                      "exports.later = (n) ->\n  throw new TypeError \"later #{n}\"\n"}]},
        # A second file, a literate one, and one that does not compile.
        "literate": {"files": [{"name": "main.coffee", "content":
                                "{sq, where} = require './doc'\n"
                                "console.log sq(7), where, require('./doc.litcoffee') is require('./doc')\n"
                                "console.log (require('./two').two ? 'none'), Object.keys(require.cache).length\n"
                                "require './bad'\n"},
                               {"name": "doc.litcoffee", "content":
                                "# Squares\n\nProse, then code:\n\n"
                                "    exports.sq = (x) -> x * x\n"
                                "    exports.where = new Error('lit').stack.split('\\n')[1]\n"},
                               {"name": "two.coffee", "content": "exports.two = [1..2]\n"},
                               {"name": "bad.coffee", "content": "x = ->\n  y =\n  for\n"}]},
        "syntax_error": {"code": "console.log 'a'\nx = (\n"},
        "exit": {"code": "process.stdout.write 'o'\nconsole.error 'e'\n"
                         "process.on 'exit', (c) -> console.log ' exit', c\nprocess.exit 7\n"},
        "stdin": {"code": "fs = require 'fs'\nconsole.log JSON.stringify fs.readFileSync 0, 'utf8'\n"
                          "process.exitCode = 2\n",
                  "stdin": "line 1\nline ✓ 2\n"},
        # coffee forks coffee for a .coffee child (register.js).
        "fork": {"files": [{"name": "main.coffee", "content":
                            "{fork} = require 'child_process'\n"
                            "c = fork './child.coffee', ['c1']\n"
                            "c.on 'exit', (code) -> console.log 'child exit', code\n"},
                           {"name": "child.coffee", "content":
                            "console.log 'child', JSON.stringify [process.argv[1..], process.execArgv,\n"
                            "  require.main is module, Object.keys(require.cache).length]\n"
                            "process.exitCode = 5\n"}]},
        # coffee prefers a coffeescript of the job's (./node_modules): the
        # warmed one is then left out.
        "own_compiler": {"files": [{"name": "main.coffee", "content": "console.log 'not run'\n"},
                                   {"name": "node_modules/coffeescript/lib/coffeescript/command.js",
                                    "content":
                                    "exports.run = () => {\n"
                                    "  const M = require('module');\n"
                                    "  console.log(JSON.stringify([process.argv, Object.keys(require.cache),\n"
                                    "    Object.keys(M._pathCache), Object.keys(require.extensions),\n"
                                    "    String(Error.stackTraceLimit), Object.getOwnPropertyNames(Error),\n"
                                    "    module.parent.id, require.main.children.map((m) => m.id)]));\n"
                                    "  throw new Error('own');\n};\n"}]},
    },
    # perl: the entry is compiled as perl's main program (test_inprocess
    # also checks that nothing of the bootstrap is left in %main::, %INC,
    # %SIG, caller or the open fds); __DATA__ and "#!" lines with switches
    # other than -w, or naming another interpreter, are perl's own (exec).
    "perl": {
        "introspect": {"files": [{"name": "main.pl", "content": PL_INTROSPECT},
                                 {"name": "Util.pm", "content": PL_UTIL}],
                       "args": ["x", "-y", "ü"]},
        "uncaught": {"files": [{"name": "main.pl", "content":
                                "print \"out 1\\n\"; print STDERR \"err 1\\n\";\n"
                                "require './Util.pm';\nEND { print \"end $?\\n\" }\n"
                                "sub f { Util::boom(@_) }\nf(1, 'two');\n"},
                               {"name": "Util.pm", "content":
                                "package Util;\nuse Carp;\nsub boom { Carp::confess(\"inner @_\") }\n1;\n"}]},
        "die_errno": {"code": "print 'x'; open(my $f, '<', '/nonexistent') or die \"cannot: $!\";\n"},
        "die_status": {"code": "$? = 3 << 8; die \"status\\n\";\n"},
        "exit": {"code": "print 'o'; warn \"w\\n\"; exit 4;\n"},
        "warnings": {"code": "use warnings;\nmy $x; my $y = $x + 1; my $z = 'abc' + 1;\nprint \"$y $z\\n\";\n"},
        "shebang_w": {"code": "#!/usr/bin/perl -w\nmy $x; print $x + 1, \"\\n\"; @a = 1;\n"},
        "syntax_error": {"code": "use strict;\nprint \"x\\n\";\nmy $a = ;\n$undeclared = 1;\n"},
        "begin_die": {"code": "print 'a'; BEGIN { die \"in begin\\n\" }\n"},
        "modulino": {"code": "__PACKAGE__->main(@ARGV) unless caller;\n"
                             "sub main { shift; print \"main @_ $0\\n\"; eval { die \"x\\n\" }; print \"eval: $@\"; }\n",
                     "args": ["a1"]},
        "stdin": {"code": "my $l = <STDIN>; print \"first: $l\"; print 'rest: ', <STDIN>; exit 2;\n",
                  "stdin": "line 1\nline ✓ 2\n"},
        "data": {"code": "print 'data: ', <DATA>; print fileno(DATA), \"\\n\";\n__DATA__\nthe data ✓\n"},
        "shebang_opts": {"code": "#!/usr/bin/perl -l\nprint 'with -l';\n"},
        "shebang_sh": {"code": "#!/bin/sh\necho \"sh: $0 $*\"\n", "args": ["s"]},
    },
    # PyPy (python@3.9 and pypy): the bootstrap's own "-c" code is hidden
    # from frames and tracebacks as app_main's are; the program's errors
    # and exit go through app_main; directories, zips, .pyc and unreadable
    # entries are pypy3's own (exec).
    "pypy": {
        "introspect": {"files": [{"name": "main.py", "content": PY_INTROSPECT},
                                 {"name": "util.py", "content": PY_UTIL}],
                       "args": ["x", "-y", "ü"]},
        "uncaught": {"files": [{"name": "main.py", "content":
                                "import atexit, sys\n"
                                "atexit.register(lambda: print('atexit', sys.last_type.__name__, sys.last_value))\n"
                                "print('out 1'); print('err 1', file=sys.stderr)\n"
                                "import util\n"
                                "def f():\n    try:\n        util.boom(2)\n"
                                "    except KeyError as e:\n        raise ValueError('wrapped') from e\n"
                                "f()\n"},
                               {"name": "util.py", "content":
                                "def boom(n):\n    if n:\n        boom(n - 1)\n    raise KeyError('deep')\n"}]},
        "name_error": {"code": "def g(a):\n    return a + undefined_thing\ng(1)\n"},
        "exit": {"code": "import sys\nsys.stdout.write('o')\nprint('e', file=sys.stderr)\nsys.exit(4)\n"},
        "exit_message": {"code": "import atexit, sys\natexit.register(print, 'atexit ran', sys.argv)\n"
                                 "print('o')\nsys.exit('bye')\n", "args": ["a1"]},
        "keyboard_interrupt": {"code": "import atexit\natexit.register(print, 'ae')\n"
                                       "raise KeyboardInterrupt('ki')\n"},
        "signal": {"code": "import os, signal\nprint('x', flush=True)\nos.kill(os.getpid(), signal.SIGTERM)\n"},
        "syntax_error": {"code": "print('x')\ndef (\n"},
        "warnings": {"code": "import warnings\nx = 1\nif x is 1:\n    assert (x, 'never')\n"
                             "warnings.warn('user warning')\n"
                             "def f():\n    warnings.warn('dep', DeprecationWarning, stacklevel=2)\nf()\n"
                             "import re\nprint(re.sub('\\d', '#', 'a1'))\n"},
        "excepthook": {"code": "import sys, traceback\n"
                               "def h(t, v, tb):\n"
                               "    print('hook', t.__name__, [f.f_code.co_name for f, _ in traceback.walk_tb(tb)])\n"
                               "    sys.__excepthook__(t, v, tb)\n"
                               "sys.excepthook = h\n"
                               "def g():\n    1 / 0\ng()\n"},
        # Trace and profile events to the end, app_main's atexit included.
        "trace": {"code": "import sys, atexit\nev = []\n"
                          "def prof(frame, event, arg):\n"
                          "    ev.append((event, frame.f_code.co_name, frame.f_code.co_filename))\n"
                          "def tr(frame, event, arg):\n"
                          "    ev.append(('T', event, frame.f_code.co_name, frame.f_lineno))\n    return tr\n"
                          "atexit.register(lambda: (sys.setprofile(None), sys.settrace(None), print(ev[-12:])))\n"
                          "sys.settrace(tr)\nsys.setprofile(prof)\n"
                          "def f():\n    return 1\nf()\n"},
        "threads_fork": {"code": "import atexit, os, subprocess, sys, threading, time\n"
                                 "P = os.getpid()\natexit.register(lambda: print('atexit ran', os.getpid() == P))\n"
                                 "t = threading.Thread(target=lambda: (time.sleep(0.2), print('thread', threading.active_count())))\n"
                                 "try:\n    t.start()\n    t.join()\nexcept RuntimeError as e:\n    print('no thread:', e)\n"
                                 "pid = os.fork()\n"
                                 "if pid == 0:\n    print('child', sys.argv, __name__)\n    os._exit(3)\n"
                                 "print('waited', os.waitpid(pid, 0)[1] >> 8)\n"
                                 "print(subprocess.run([sys.executable, '-c', 'import sys; print(sys.argv)', 'z'],\n"
                                 "      stdout=subprocess.PIPE).stdout)\n"
                                 "print('main')\n"},
        "stdin": {"code": "import sys\nprint(repr(sys.stdin.readline()), repr(sys.stdin.read()))\nsys.exit(2)\n",
                  "stdin": "line 1\nline ✓ 2\n"},
        "other_entry": {"files": [{"name": "app.py", "content":
                                   "import sys\nprint(sys.argv, __file__, sys.path[0], __loader__.path)\n"},
                                  {"name": "main.py", "content": "print('not run')\n"}],
                        "args": ["q"]},
        "bom_shebang": {"code": "\ufeff#!/usr/bin/env pypy3\nimport sys\nprint('bom', sys.getdefaultencoding())\n"},
    },
    # php: main.php runs as php's auto_append_file, a top-level script
    # (prestart/php.php); "#!" lines and other entries are php's own (exec).
    "php": {
        "introspect": {"files": [{"name": "main.php", "content": PHP_INTROSPECT},
                                 {"name": "util.php", "content":
                                  "<?php\nfunction where() { return [__FILE__, debug_backtrace()]; }\n"}],
                       "args": ["x", "-y", "ü"]},
        "uncaught": {"files": [{"name": "main.php", "content":
                                "<?php\necho \"out 1\\n\"; fwrite(STDERR, \"err 1\\n\");\n"
                                "require 'util.php';\n"
                                "register_shutdown_function(function () { echo \"shutdown\\n\"; });\n"
                                "function f() { try { boom(); } catch (Exception $e) { throw new LogicException('wrapped', 3, $e); } }\n"
                                "f();\n"},
                               {"name": "util.php", "content":
                                "<?php\nfunction boom() { throw new RuntimeException('inner'); }\n"}]},
        "fatal": {"code": "<?php\necho \"before\\n\";\nundefined_function_x(1);\n"},
        "exit": {"code": "<?php\necho 'o'; fwrite(STDERR, \"e\\n\"); exit(7);\n"},
        "warnings": {"code": "<?php\n$a = [];\necho $a['nope'] ?? 'dflt', \"\\n\";\necho $undefined_var, \"\\n\";\n"
                             "echo intdiv(1, 0);\n"},
        "syntax_error": {"code": "<?php\necho 'x';\nfunction (\n"},
        "strict_types": {"code": "<?php\ndeclare(strict_types=1);\nfunction f(int $x) { return $x; }\necho f('5');\n"},
        "html_halt": {"code": "Hello <?= 'world' ?> <?php echo __LINE__, ' ', __COMPILER_HALT_OFFSET__; ?>\n"
                              "tail\n<?php return; __halt_compiler(); data\n"},
        "stdin": {"code": "<?php\nvar_dump(fgets(STDIN), stream_get_contents(STDIN));\nexit(2);\n",
                  "stdin": "line 1\nline ✓ 2\n"},
        "shebang": {"code": "#!/usr/bin/env php\n<?php\necho 'shebang ', json_encode($argv), \"\\n\";\n",
                    "args": ["s"]},
        "other_entry": {"files": [{"name": "app.php", "content":
                                   "<?php\necho json_encode([$argv, __FILE__, get_included_files()]), \"\\n\";\n"}]},
    },
}
EX_UTIL = ("defmodule Util do\n  def where, do: {__ENV__.file, __ENV__.function, Process.info(self(), :current_stacktrace)}\n"
           "  def boom(n), do: if(n > 0, do: boom(n - 1), else: raise(ArgumentError, \"deep #{n}\"))\nend\n")
INPROC["elixir"] = {
    "introspect": {"files": [{"name": "main.exs", "content":
                              "Code.require_file(\"util.exs\")\n"
                              "IO.inspect([System.argv(), __ENV__.file, __DIR__, Code.required_files(), Util.where(),\n"
                              "  self(), Process.info(self(), :current_stacktrace), Process.get(), Process.info(self(), :links),\n"
                              "  Process.info(self(), :group_leader) |> elem(1) |> node(), System.no_halt()], limit: :infinity)\n"},
                             {"name": "util.exs", "content": EX_UTIL}],
                   "args": ["x", "-e", "--", "ü"]},
    "uncaught": {"files": [{"name": "main.exs", "content":
                            "System.at_exit(fn s -> IO.puts(\"at_exit #{s}\") end)\n"
                            "IO.puts(\"out 1\"); IO.puts(:stderr, \"err 1\")\n"
                            "Code.require_file(\"util.exs\")\n"
                            "defmodule M do\n  def f, do: Util.boom(2)\nend\nM.f()\n"},
                           {"name": "util.exs", "content": EX_UTIL}]},
    "throw_exit": {"code": "IO.write(\"o\")\nif System.argv() == [], do: throw(:up), else: exit({:shutdown, 3})\n"},
    "exit_shutdown": {"code": "IO.write(\"o\")\nexit({:shutdown, 3})\n", "args": ["s"]},
    "halt": {"code": "IO.write(\"o\"); IO.puts(:stderr, \"e\")\nSystem.halt(4)\n"},
    "linked_crash": {"code": "spawn_link(fn -> raise \"in child\" end)\nProcess.sleep(200)\nIO.puts(\"not here\")\n"},
    "warnings": {"code": "defmodule W do\n  def f(x), do: 1\nend\nIO.puts(W.f(2))\nundefined_thing = 1\n"},
    "syntax_error": {"code": "IO.puts(\"x\")\ndef (\n"},
    "stdin": {"code": "IO.inspect(IO.read(:stdio, :line))\nIO.inspect(IO.read(:stdio, :eof))\nIO.inspect(IO.read(:stdio, :line))\nSystem.halt(2)\n",
              "stdin": "line 1\nline ✓ 2\n"},
    "other_entry": {"files": [{"name": "app.exs", "content":
                               "IO.inspect([System.argv(), __ENV__.file, Code.required_files()])\n"}],
                    "args": ["q"]},
    "missing_require": {"code": "Code.require_file(\"nope.exs\")\n"},
}
GR_UTIL = ("class Util {\n  static where() {\n"
           "    def t = org.codehaus.groovy.runtime.StackTraceUtils.sanitize(new Throwable('w'))\n"
           "    [Util.classLoader.class.name, t.stackTrace*.toString()]\n  }\n"
           "  static boom(n) { if (n > 0) boom(n - 1) else throw new IllegalStateException(\"deep $n\") }\n}\n")
INPROC["groovy"] = {
    "introspect": {"files": [{"name": "main.groovy", "content":
                              "println([args.toList(), this.class.name, Util.where(), binding.variables.keySet(),\n"
                              "  System.getProperty('sun.java.command'), Thread.currentThread().name,\n"
                              "  Thread.currentThread().contextClassLoader.class.name, Thread.activeCount()])\n"},
                             {"name": "Util.groovy", "content": GR_UTIL}],
                   "args": ["x", "-e", "--", "ü"]},
    "uncaught": {"files": [{"name": "main.groovy", "content":
                            "println 'out 1'; System.err.println 'err 1'\n"
                            "def f() {\n  try { Util.boom(2) } catch (e) { throw new RuntimeException('wrapped', e) }\n}\nf()\n"},
                           {"name": "Util.groovy", "content": GR_UTIL}]},
    "exit": {"code": "print 'o'; System.err.println 'e'\nSystem.exit(4)\n"},
    "shutdown_hook": {"code": "addShutdownHook { println 'hook' }\nprintln 'main'\nSystem.exit(3)\n"},
    "thread_uncaught": {"code": "def t = Thread.start { throw new IllegalArgumentException('in thread') }\n"
                                "t.join()\nprintln \"after ${t.name}\"\n"},
    "compile_error": {"code": "println 'x'\ndef f( {\n"},
    "missing_method": {"code": "def g(a) { a.noSuchMethod() }\ng(1)\n"},
    "stdin": {"code": "def r = System.in.newReader('UTF-8')\nprintln r.readLine()\nprint r.text\nSystem.exit(2)\n",
              "stdin": "line 1\nline ✓ 2\n"},
    "other_entry": {"files": [{"name": "app.groovy", "content": "println([args.toList(), this.class.name])\n"}],
                    "args": ["q"]},
}
CLJ_UTIL = ("(ns util)\n(defn where [] (mapv str (take 4 (.getStackTrace (Throwable. \"w\")))))\n"
            "(defn boom [n] (if (pos? n) (boom (dec n)) (throw (IllegalStateException. (str \"deep \" n)))))\n")
INPROC["clojure"] = {
    "introspect": {"files": [{"name": "main.clj", "content":
                              "(load-file \"util.clj\")\n"
                              "(println [*command-line-args* *file* (str *ns*) (util/where) (System/getProperty \"sun.java.command\")\n"
                              "  (.getName (Thread/currentThread)) (.getName (class (.getContextClassLoader (Thread/currentThread))))\n"
                              "  (Thread/activeCount) (sort (map str (all-ns))) (clojure.lang.RT/nextID)])\n"},
                             {"name": "util.clj", "content": CLJ_UTIL}],
                   "args": ["x", "-e", "--", "ü"]},
    "uncaught": {"files": [{"name": "main.clj", "content":
                            "(load-file \"util.clj\")\n(println \"out 1\") (binding [*out* *err*] (println \"err 1\"))\n"
                            "(defn f [] (try (util/boom 2) (catch Exception e (throw (RuntimeException. \"wrapped\" e)))))\n(f)\n"},
                           {"name": "util.clj", "content": CLJ_UTIL}]},
    "exit": {"code": "(print \"o\") (flush) (binding [*out* *err*] (println \"e\"))\n(System/exit 4)\n"},
    "shutdown_hook": {"code": "(.addShutdownHook (Runtime/getRuntime) (Thread. (fn [] (println \"hook\") (flush))))\n"
                              "(println \"main\") (flush)\n(System/exit 3)\n"},
    "thread_uncaught": {"code": "(let [t (Thread. (fn [] (throw (IllegalArgumentException. \"in thread\"))))]\n"
                                "  (.start t) (.join t) (println \"after\" (.getName t)))\n"},
    "syntax_error": {"code": "(println 'x)\n(defn f [\n"},
    "compile_error": {"code": "(println 1)\n(println (undefined-thing 2))\n"},
    "stdin": {"code": "(println (read-line))\n(print (slurp *in*))\n(flush)\n(System/exit 2)\n",
              "stdin": "line 1\nline ✓ 2\n"},
    "future": {"code": "(println @(future (+ 1 2)) (deref (agent 5)))\n(shutdown-agents)\n"},
    "other_ns": {"files": [{"name": "app.clj", "content": "(ns app.core)\n(println [(str *ns*) *file* *command-line-args*])\n"}],
                 "args": ["q"]},
}
# emacs: what startup.el and the bootstrap leave a script (the command
# line, the load machinery, the obarray's size, the buffers, the match
# data), an uncaught error (its backtrace shows command-line-1's argument),
# arguments that look like options (processed after the script unless it
# takes them), a second file, stdin, the exit status and a shebang line.
EL_INTROSPECT = r"""
(princ (format "%S\n" (list command-line-args command-line-args-left load-file-name load-true-file-name
  load-in-progress noninteractive invocation-name command-line-processed (length load-history)
  (car (car load-history)) (length features) (match-data) last-coding-system-used after-load-functions
  (buffer-list) default-directory (let ((n 0)) (mapatoms (lambda (s) (ignore s) (setq n (1+ n)))) n)
  load-path (length (backtrace-frames)) (mapcar #'car (mapcar #'cdr (backtrace-frames))))))
"""
INPROC["emacs"] = {
    "introspect": {"code": EL_INTROSPECT, "args": ["a b", "ü"]},
    "error": {"code": "(princ \"before\\n\")\n(error \"boom %s\" (+ 1 2))\n"},
    "signal_in_function": {"code": "(defun f (n) (if (= n 0) (car 5) (f (1- n))))\n(f 3)\n"},
    "option_args": {"code": "(princ (format \"%S\\n\" command-line-args-left))\n",
                    "args": ["--eval", "(progn (princ \"evaluated\\n\") (kill-emacs 7))", "-x"]},
    "consumed_args": {"code": "(princ (format \"%S\\n\" (list command-line-args-left (pop command-line-args-left))))\n"
                              "(setq command-line-args-left nil)\n",
                      "args": ["--eval", "(kill-emacs 9)"]},
    "stdin_exit": {"code": "(condition-case nil\n    (while t (princ (upcase (read-from-minibuffer \"\"))) (terpri))\n"
                           "  (error nil))\n(kill-emacs 4)\n",
                   "stdin": "line 1\nline ✓ 2\n"},
    "second_file": {"files": [
        {"name": "main.el", "content": "(load (expand-file-name \"util\" (file-name-directory load-file-name)) nil t)\n"
                                       "(princ (format \"%S\\n\" (list (util-where) (length load-history))))\n"},
        {"name": "util.el", "content": "(defun util-where () (list load-file-name (car (car load-history))))\n"}]},
    "other_entry": {"files": [{"name": "prog.el", "content": EL_INTROSPECT}], "args": ["z"]},
    "shebang": {"code": "#!/usr/bin/emacs --script\n(princ (format \"%S\\n\" load-file-name))\n"},
}
# lisp (SBCL): what toplevel-init and the program see of the saved core and
# its init hook: the arguments, the core's and contribs' paths, the symbols
# (the hook's package is gone), the gensym counter, init hooks, the load
# variables, the stream formats and fds; the debugger-disabled report of an
# unhandled error (with its backtrace), exit statuses, stdin, a second file,
# a shebang line, toplevel options after the script (the program's), and
# a contrib module.
LISP_INTROSPECT = r"""
(print (list sb-ext:*posix-argv* sb-ext:*core-pathname* (sb-int:sbcl-homedir-pathname)
  sb-ext:*runtime-pathname* *gensym-counter* (gensym) sb-ext:*init-hooks* sb-ext:*exit-hooks*
  (find-package "ISOBOX-WARM") (length (list-all-packages)) *modules* *features*
  (let ((n 0)) (do-all-symbols (s) (incf n)) n) (let ((n 0)) (do-symbols (s "KEYWORD") (incf n)) n)
  *package* *load-pathname* *load-truename* *default-pathname-defaults* sb-ext:*evaluator-mode*
  sb-ext:*invoke-debugger-hook* *debugger-hook* (random 1000000) (sb-ext:dynamic-space-size)
  (sb-ext:bytes-consed-between-gcs) (stream-external-format *standard-output*)
  (stream-external-format *standard-input*) sb-impl::*default-external-format*
  (mapcar #'namestring (directory "/proc/self/fd/*" :resolve-symlinks nil))
  (sb-ext:posix-getenv "SBCL_HOME") (sb-ext:posix-getenv "HOME")))
(terpri)
"""
INPROC["lisp"] = {
    "introspect": {"code": LISP_INTROSPECT, "args": ["a b", "ü", "--eval", "(print 1)"]},
    "uncaught": {"code": "(defun f (x) (error \"boom ~A\" x))\n(write-line \"before\")\n(f 3)\n"},
    "undefined": {"code": "(print (1+ most-positive-fixnum))\n(unknown-fn 1)\n"},
    "reader_error": {"code": "(print 1)\n(print \"unterminated\n"},
    "exit_stdin": {"code": "(write-line (string-upcase (read-line)))\n(write-line (read-line))\n"
                           "(sb-ext:exit :code 7)\n",
                   "stdin": "line 1\nline ✓ 2\n"},
    "abort": {"code": "(write-string \"unflushed\")\n(sb-ext:exit :code 4 :abort t)\n"},
    "second_file": {"files": [
        {"name": "main.lisp", "content": "(load (merge-pathnames \"util.lisp\" *load-truename*))\n"
                                         "(print (list (greet \"x\") *load-truename*))\n(crash)\n"},
        {"name": "util.lisp", "content": "(defun greet (n) (concatenate 'string \"hi \" n))\n"
                                         "(defun crash () (car 5))\n"}]},
    "shebang": {"code": "#!/usr/bin/sbcl --script\n(print sb-ext:*posix-argv*)\n", "args": ["x"]},
    "contrib": {"code": "(require :sb-posix)\n(print (list (sb-posix:getenv \"HOME\") *modules*))\n"},
}
# forth: what Gforth's cold start leaves a program (dictionary space left,
# stacks, base, argv and argc, the last word, the search order's depth,
# script?, warnings, the included files, the search path) and how its
# command line goes on after the program: the arguments it did not take
# are options or files again (-e), and without "bye" the text interpreter
# reads stdin (its banner first). Errors with their backtraces (addresses
# masked: comparable()), abort", a second file (include, require, an error
# in it), stdin and (bye) with a status, output not ended by a newline.
FORTH_INTROSPECT = r"""
unused . depth . fdepth . base @ . argc @ . 0 arg type cr
: args ( -- ) argc @ 1 ?do i arg type ." |" loop cr ; args
latest name>string type space get-order . 2drop drop script? . warnings @ . cr
sourcefilename type space sourceline# . cr
s" HOME" getenv type space s" LANG" getenv type space s" GFORTHPATH" getenv type cr
.included cr
fpath .path cr
'cold ." cold again" space ' process-args defer@ ' (process-args) = . cr
next-arg type ." ," next-arg type cr
"""
INPROC["forth"] = {
    "introspect": {"code": FORTH_INTROSPECT + "bye\n", "args": ["a b", "ü", "", "-x"]},
    "args_go_on": {"code": FORTH_INTROSPECT, "args": ["a b", "ü", "-e", "7 . cr bye"]},
    "no_bye": {"code": ".( main ) cr\n", "stdin": "2 3 + . cr\nbye\n"},
    "no_bye_eof": {"code": ".( main )\n"},
    "uncaught": {"code": ": f ( n -- ) dup 0= if -13 throw then 1- recurse ;\n"
                         ".\" before\" cr\n3 f\n.\" after\" cr bye\n"},
    "undefined": {"code": "1 2 +\n.\" unflushed\"\nnope\n"},
    "abort": {"code": ": g ( -- ) true abort\" boom\" ;\n: h g ;\n.\" x\"\nh\n"},
    "underflow": {"code": ": g ( -- ) abort\" boom\" ;\n: h g ;\nh\n"},
    "exit_stdin": {"code": "create buf 100 allot\n"
                           ": line ( -- ) buf 100 stdin read-line throw drop buf swap type cr ;\n"
                           "line line .\" no newline\" 7 (bye)\n",
                   "stdin": "line 1\nline ✓ 2\n"},
    "second_file": {"files": [
        {"name": "main.fs", "content": "include util.fs\nrequire util.fs\n21 twice . cr\n"
                                       ".included cr\ncrash\n"},
        {"name": "util.fs", "content": ": twice ( n -- 2n ) 2* ;\n.( util ) sourcefilename type cr\n"
                                       ": crash ( -- ) 0 @ ;\n"}]},
}
# scheme (Guile): what the program sees of the command line's actions
# (the arguments, also option-like ones, which after the script are the
# program's; the file being loaded; the load port), of the module it runs in
# (its bindings, what it uses, the load paths), of the process (descriptors,
# the ports' encodings, the random state and gensym counter, whether the
# FIFO is gone); an uncaught error with its backtrace (addresses masked:
# comparable()), a reader error, exit statuses with and without flushing,
# stdin, a second file (load, include, an error in it), a block comment
# where a shebang goes, and another entry (a fresh guile).
SCM_INTROSPECT = r"""
(define (fds)
  (let ((d (opendir "/proc/self/fd")))
    (let lp ((l '()))
      (let ((e (readdir d)))
        (if (eof-object? e)
            (begin (closedir d) (sort (filter string->number l) string<?))
            (lp (cons e l)))))))
(define (link fd)
  (let ((t (false-if-exception (readlink (string-append "/proc/self/fd/" fd)))))
    (if (and t (string-prefix? "pipe:" t)) "pipe" t)))
(write (list (command-line) (program-arguments) (current-filename)
  (port-filename (current-load-port)) (module-name (current-module))
  (sort (map symbol->string (module-map (lambda (k v) k) (current-module))) string<?)
  (map module-name (module-uses (current-module)))
  %load-path %load-compiled-path %load-extensions
  (map (lambda (fd) (cons fd (link fd))) (fds))
  (port-encoding (current-output-port)) (port-encoding (current-input-port))
  (port-encoding (current-error-port)) (random 1000000) (gensym)
  (access? "/tmp/.isobox-go" F_OK) (getcwd) (getenv "GUILE_AUTO_COMPILE")
  (length (environ)) (= (getpid) (getpgrp))))
(newline)
"""
INPROC["scheme"] = {
    "introspect": {"code": SCM_INTROSPECT, "args": ["a b", "ü", "", "-c", "(exit 9)"]},
    "uncaught": {"code": "(define (f x) (if (= x 0) (car x) (f (- x 1))))\n"
                         "(display \"before\\n\")\n(f 3)\n(display \"after\\n\")\n"},
    "unbound": {"code": "(display 1)\n(nope 2)\n"},
    "throw": {"code": "(display \"x\")\n(throw 'my-key \"payload\" 42)\n"},
    "reader_error": {"code": "(display 1)\n(display \"unterminated\n"},
    "exit_stdin": {"code": "(use-modules (ice-9 rdelim))\n"
                           "(display (string-upcase (read-line)))\n(newline)\n"
                           "(display (read-line))\n(newline)\n(write (read-line))\n(exit 7)\n",
                   "stdin": "line 1\nline ✓ 2\n"},
    "unflushed": {"code": "(display \"unflushed\")\n(primitive-exit 4)\n"},
    "exit_false": {"code": "(display \"flushed\")\n(exit #f)\n"},
    "no_exit": {"code": "(display \"no newline\")"},
    "second_file": {"files": [
        {"name": "main.scm", "content": "(load \"util.scm\")\n(include \"inc.scm\")\n"
                                        "(write (list (greet \"x\") inc (current-filename)))\n(newline)\n(crash)\n"},
        {"name": "util.scm", "content": "(define (greet n) (string-append \"hi \" n))\n"
                                        "(define (crash) (vector-ref (vector) 1))\n"},
        {"name": "inc.scm", "content": "(define inc (current-filename))\n"}]},
    "block_comment": {"code": "#!/usr/bin/guile \\\n-e main -s\n!#\n(write (command-line))\n(newline)\n",
                      "args": ["x"]},
    "other_entry": {"files": [{"name": "prog.scm", "content": SCM_INTROSPECT}], "args": ["z", "-l"]},
}
# R: the program is read by R's own loop at top level, cold or warm. What
# r.R and r-handoff.c could leave: the value of .Last.value, the command
# line, descriptors (the entry on R's --file descriptor), loaded DLLs,
# namespaces and search path, byte-compiled closures (r.R calls none),
# globals, options, the environment, the session directory; and the cases
# handed to a cold R (start-up files the job wrote, an entry that is not a
# regular file).
R_INTROSPECT = r"""print(.Last.value)
print(commandArgs()); print(commandArgs(TRUE)); print(interactive())
print(c(sys.nframe(), length(sys.calls()))); print(ls(all.names = TRUE))
print(search()); print(loadedNamespaces()); print(names(getLoadedDLLs()))
fds <- list.files('/proc/self/fd', full.names = TRUE)
print(sapply(fds, function(f) sub('^/tmp/Rtmp\\w+', 'RTMP', Sys.readlink(f))))
print(c(tempdir() == Sys.getenv('R_SESSION_TMPDIR'), dir.exists(tempdir()), length(list.files(tempdir(), all.files = TRUE))))
print(sort(names(Sys.getenv()))); print(Sys.getenv(c('R_HOME', 'LD_LIBRARY_PATH', 'R_LIBS_USER', 'HOME', 'PWD')))
print(names(options())); print(nchar(paste(deparse(options()), collapse = '')))
print(.libPaths()); print(getwd()); print(exists('.Random.seed')); print(environmentName(topenv()))
print(list.files('/tmp', all.files = TRUE, no.. = TRUE) [!grepl('^Rtmp', list.files('/tmp', all.files = TRUE, no.. = TRUE))])
print(sapply(c('dyn.load', 'dyn.unload', 'invisible', 'print', 'cat'), function(f) class(.Internal(bodyCode(get(f))))))
"""
INPROC["r"] = {
    "introspect": {"code": R_INTROSPECT, "args": ["a b", "ü", "", "--args", "-x", "--file=x.R"]},
    "no_args": {"code": R_INTROSPECT},
    "uncaught": {"code": "f <- function(n) if (n == 0) stop('deep ', n) else f(n - 1)\n"
                         "cat('before\\n')\nf(3)\ncat('after\\n')\n"},
    "top_error": {"code": "cat('a')\nstop('at top')\n"},
    "warnings": {"code": "g <- function() { warning('in g'); 1 }\nx <- g()\nwarning('top')\n"
                         "message('to stderr')\nfor (i in 1:3) warning(paste('loop', i))\ncat('end\\n')\n"},
    "syntax_error": {"code": "cat('runs first\\n')\nx <- c(1, 2\ncat('never\\n')\n"},
    "quit": {"code": "cat('x\\n')\nreg.finalizer(environment(), function(e) cat('fin\\n'), onexit = TRUE)\n"
                     "q(save = 'no', status = 7, runLast = TRUE)\ncat('not reached\\n')\n"},
    "last": {"code": ".Last <- function() cat('last\\n')\ncat('no newline at the end')"},
    "stdin": {"code": "x <- readLines(file('stdin'))\nprint(x)\nprint(nchar(x))\n",
              "stdin": "line 1\nline ✓ 2\nno newline"},
    "scan_stdin": {"code": "x <- scan(file('stdin'), what = '', quiet = TRUE)\nprint(rev(x))\n",
                   "stdin": "a b\nc ✓\n"},
    "long_line": {"code": "x <- '" + "y" * 6000 + "'\ncat(nchar(x), '\\n')\n" + "z <- 1; " * 800 + "\ncat(z, '\\n')\n"},
    "second_file": {"files": [
        {"name": "main.R", "content": "source('util.R')\ncat(greet('x'), '\\n')\nprint(sys.call())\ncrash()\n"},
        {"name": "util.R", "content": "greet <- function(n) paste('hi', n)\n"
                                      "crash <- function() stop('from util')\n"}]},
    "other_entry": {"files": [{"name": "prog.R", "content": R_INTROSPECT}], "args": ["z"]},
    "rprofile": {"files": [{"name": "main.R", "content": "cat(exists('from_profile'), commandArgs(TRUE), '\\n')\n"},
                           {"name": ".Rprofile", "content": "from_profile <- 1\ncat('profile\\n')\n"}],
                 "args": ["p"]},
    "renviron": {"files": [{"name": "main.R", "content": "cat(Sys.getenv('FROM_RENVIRON'), '\\n')\n"},
                           {"name": ".Renviron", "content": "FROM_RENVIRON=yes\n"}]},
    "user_library": {"files": [{"name": "main.R", "content": "print(.libPaths())\n"},
                               {"name": "R/x86_64-pc-linux-gnu-library/4.2/README", "content": "x\n"}]},
    "entry_in_a_directory": {"files": [{"name": "sub/prog.R", "content": "cat(getwd(), commandArgs(), '\\n')\n"}]},
}
# brainfuck: isobox-bf is a Perl script that perl's own bootstrap runs, and
# a program sees only its stdin and stdout: what it reads and writes, bytes
# that are not UTF-8, end of input, and isobox-bf's errors and their exit
# statuses (perl's die: $! or 255).
INPROC["brainfuck"] = {
    "echo": {"code": ",[.,]", "stdin": "line 1\nline ✓ 2\n"},
    "eof": {"code": ",.,.,.", "stdin": "A"},
    "bytes": {"code": "-[.-]"},
    "unmatched_close": {"code": "+.\n+]"},
    "unmatched_open": {"code": "+[.-"},
    "left_of_first": {"code": "+.\n>\n<<"},
}


# --warm-main (awk, dash, basic): libc starts the program with the job's
# argv in the process that waited; its arguments, environment (a child's
# too: no LD_PRELOAD), stdin, errors and exit status are the cold ones.
INPROC["awk"] = {
    "introspect": {"code": ('BEGIN { for (i = 0; i < ARGC; i++) print i, ARGV[i]\n'
                            '  n = 0; for (k in PROCINFO["argv"]) n++; print n, PROCINFO["argv"][0]\n'
                            '  print ("LD_PRELOAD" in ENVIRON), length(ENVIRON)\n'
                            '  while ((getline l < "-") > 0) print "<" l ">"\n'
                            '  system("env | sort; ls -A /proc/self/fd | tr \\"\\\\n\\" \\" \\"")\n'
                            '  exit 5 }\n'),
                   "args": ["a b", "-v", "x=1", ""], "stdin": "line 1\nline ✓ 2\n"},
    "syntax_error": {"code": "BEGIN { print 1 \n  if ( }\n"},
    "runtime_error": {"code": 'BEGIN { print "x" > "/nonexistent/f"; print "not reached" }\n'},
    "input_files": {"code": "{ print FILENAME, FNR, $0 }\n", "args": ["-", "/etc/debian_version"],
                    "stdin": "a\nb\n"},
}
INPROC["dash"] = {
    "introspect": {"code": ('echo "$0 $# $*|$-|$PPID"; for a; do echo "<$a>"; done\n'
                            'env | sort; echo "${LD_PRELOAD-unset}"\n'
                            'ls -A /proc/$$/fd | tr "\\n" " "; echo; cat; exit 4\n'),
                   "args": ["a b", "-x", ""], "stdin": "line 1\nline ✓ 2\n"},
    "syntax_error": {"code": "echo one\nif then fi\necho two\n"},
    "set_e": {"code": "set -e\necho one\nfalse\necho two\n"},
    "dollar_zero": {"code": 'cat /proc/$$/comm; echo "$0"; exec sh -c \'echo $0 $1\' s "$1"\n',
                    "args": ["z"]},
}
INPROC["basic"] = {
    "introspect": {"code": ('print peek("arguments")\n'
                            'for i = 1 to peek("arguments") : print peek$("argument") : next i\n'
                            'print peek$("env", "LD_PRELOAD") + "|" + peek$("env", "HOME")\n'
                            'line input a$ : print "<" + a$ + ">"\n'
                            'system("env | sort")\nexit 6\n'),
                   "args": ["a b", "-x", ""], "stdin": "line ✓ 1\n"},
    "syntax_error": {"code": "print 1\nprint (\n"},
    "error": {"code": "print 1\nerror \"stop here\"\nprint 2\n"},
}


INPROC_PARAMS = [pytest.param(l, case, id="%s-%s" % (
                     l["name"] if _key(l) == l["name"] else "%s@%s" % (l["name"], l["version"]), case))
                 for l in CATALOGUE if (in_process(l) or warm_main(l)) and _key(l) in INPROC
                 and _first_of_runtime(l)
                 for case in INPROC[_key(l)]]


def test_inprocess_languages_have_cases():
    for l in CATALOGUE:
        if (in_process(l) or warm_main(l)) and not _key(l).startswith("python"):
            assert _key(l) in INPROC, "%s waits in-process but has no INPROC cases" % l["name"]


@pytest.mark.parametrize("lang,case", INPROC_PARAMS)
def test_inprocess(d, lang, case):
    # One at a time: the cases are mostly of one language (ruby, javascript).
    cold, warm, wacc = warm_then_cold(d, _inprocess_body(lang, case), lang["name"], lang["version"])
    assert wacc.get("warm") is True, wacc
    if case not in ("syntax_error", "data", "shebang_opts", "shebang_sh", "shebang", "other_entry"):
        assert wacc.get("prestarted") is True, wacc
    assert comparable(warm) == comparable(cold), (
        "\n--- cold\n%s\n--- warm\n%s" % (cold["run"]["stdout"] + cold["run"]["stderr"],
                                           warm["run"]["stdout"] + warm["run"]["stderr"]))


TS_INTROSPECT = r"""
import * as fs from 'fs';
import * as util from './util';
const pids = fs.readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d))
  .map((d) => fs.readFileSync('/proc/' + d + '/cmdline', 'latin1').split('\0')[0]).sort();
console.log(JSON.stringify([process.argv, process.execArgv, process.argv0, require.main === module,
  module.id, require.main!.filename, __filename, __dirname, Object.keys(require.cache), module.paths,
  process.title, process.ppid, new Error('here').stack!.split('\n'), util.where(), pids,
  Object.keys(process.env), process.listenerCount('exit'), process.eventNames()]));
"""

# Compiler servers ("prestartStage: compile": java, scala, kotlin, typescript): the warm
# compile is the server's, the run after it cold; warm and cold must give
# the same compile and run stages, whatever the compile does.
COMPILED = {
    "java": {
        "compile_error": {"code": "public class Main {\n    public static void main(String[] a) {\n"
                                  "        int x = \"s\";\n        undefined();\n    }\n}\n"},
        "warning_note": {"code": "import java.util.*;\npublic class Main {\n"
                                 "    @Deprecated static void old() {}\n"
                                 "    public static void main(String[] a) {\n"
                                 "        List l = new ArrayList(); l.add(1); System.out.println(l);\n    }\n}\n"},
        # The run stage is a fresh JVM warm or cold (only the compile is the
        # server's): one program for its arguments, stdin, environment,
        # stderr and exit status.
        "run_stage": {"code": "import java.io.*;\npublic class Main { public static void main(String[] a) throws IOException {\n"
                              "    System.out.println(String.join(\"|\", a));\n"
                              "    BufferedReader r = new BufferedReader(new InputStreamReader(System.in, \"UTF-8\"));\n"
                              "    for (String l; (l = r.readLine()) != null; ) System.out.println(\"<\" + l + \">\");\n"
                              "    System.out.println(new java.util.TreeMap<>(System.getenv()));\n"
                              "    System.out.println(Runtime.getRuntime().maxMemory() > 0);\n"
                              "    System.out.println(\"o\"); System.err.println(\"e\"); System.exit(3); } }\n",
                      "args": ["a b", "-x", "ü", ""], "stdin": "line 1\nline ✓ 2\n"},
        "uncaught": {"code": "public class Main { static void f(int n) { if (n == 0) throw new IllegalStateException(\"deep\"); f(n - 1); }\n"
                             "    public static void main(String[] a) { f(3); } }\n"},
        "class_name": {"code": "package demo.app;\n// class NotThis\n/* class NorThis */\n"
                               "public class Hello { public static void main(String[] a) {\n"
                               "    System.out.println(\"hi \" + Hello.class.getName() + \" \" + a.length); } }\n",
                       "args": ["z"]},
        "class_name_error": {"code": "class Other { int x = \"s\"; }\n"},
        "multiple_files": {"files": [
            {"name": "Main.java", "content": "import util.Helper;\npublic class Main { public static void main(String[] a) {\n"
                                             "    System.out.println(Helper.twice(21) + \" \" + Local.name()); } }\n"},
            {"name": "util/Helper.java", "content": "package util;\npublic class Helper { public static int twice(int x) { return 2 * x; } }\n"},
            {"name": "Local.java", "content": "class Local { static String name() { return \"local\"; } }\n"},
            {"name": "data.txt", "content": "not java\n"}]},
        "multiple_files_error": {"files": [
            {"name": "Main.java", "content": "public class Main { public static void main(String[] a) { Helper.nope(); } }\n"},
            {"name": "Helper.java", "content": "class Helper { static void yes() {} }\n"}]},
    },
    "kotlin": {
        "compile_error": {"code": "fun main(args: Array<String>) {\n    val x: Int = \"s\"\n    undefined()\n}\n"},
        "warning": {"code": "fun main(args: Array<String>) {\n    val unused = 1\n    var v = 2\n    println(\"w\")\n}\n"},
        "run_stage": {"code": "import kotlin.system.exitProcess\nfun main(args: Array<String>) {\n"
                              "    println(args.joinToString(\"|\"))\n"
                              "    generateSequence(::readLine).forEach { println(\"<$it>\") }\n"
                              "    println(System.getenv().toSortedMap())\n"
                              "    println(\"o\"); System.err.println(\"e\"); exitProcess(3)\n}\n",
                      "args": ["a b", "-x", "ü", ""], "stdin": "line 1\nline ✓ 2\n"},
        "uncaught": {"code": "fun f(n: Int): Int = if (n == 0) throw IllegalStateException(\"deep\") else f(n - 1)\n"
                             "fun main(args: Array<String>) { f(3) }\n"},
        "object_main": {"code": "package demo\nobject App {\n    @JvmStatic fun main(args: Array<String>) = println(\"obj \" + args.size)\n}\n",
                        "args": ["z"]},
        "multiple_files": {"files": [
            {"name": "main.kt", "content": "import util.twice\nfun main(args: Array<String>) { println(twice(21).toString() + \" \" + local()) }\n"},
            {"name": "util/helper.kt", "content": "package util\nfun twice(x: Int) = 2 * x\n"},
            {"name": "local.kt", "content": "fun local() = \"local\"\n"},
            {"name": "data.txt", "content": "not kotlin\n"}]},
        "no_main": {"code": "fun notMain() = 1\n"},
    },
    "typescript": {
        "type_errors": {"code": "type U = \"a\" | 1 | { x: string };\nconst u: U = { x: 2 };\n"
                                "let s: string = 3;\nundefinedName();\n"},
        "syntax_error": {"code": "const x = ;\nfunction (\n"},
        "run_stage": {"code": "import * as fs from 'fs';\nconsole.log(process.argv.slice(2).join('|'));\n"
                              "for (const l of fs.readFileSync(0, 'utf8').split('\\n')) console.log(`<${l}>`);\n"
                              "console.log(Object.keys(process.env).sort().map((k) => k + '=' + process.env[k]));\n"
                              "console.log(process.cwd(), __filename, fs.readdirSync('/tmp/out'));\n"
                              "console.log('o'); console.error('e'); process.exit(3);\n",
                      "args": ["a b", "-x", "ü", ""], "stdin": "line 1\nline ✓ 2\n"},
        "uncaught": {"code": "function f(n: number): number { if (n === 0) throw new Error('deep'); return f(n - 1); }\n"
                             "f(3);\n"},
        "multiple_files": {"files": [
            {"name": "main.ts", "content": "import { twice } from './util/helper';\nimport { local } from './local';\n"
                                           "console.log(twice(21), local());\n"},
            {"name": "util/helper.ts", "content": "export const twice = (x: number): number => 2 * x;\n"},
            {"name": "local.ts", "content": "export function local(): string { return 'local'; }\n"},
            {"name": "data.txt", "content": "not typescript\n"}]},
        "multiple_files_error": {"files": [
            {"name": "main.ts", "content": "import { nope } from './helper';\nnope();\n"},
            {"name": "helper.ts", "content": "export function yes(): void {}\n"}]},
        "esm": {"files": [
            {"name": "main.mts", "content": "import { k } from './k.mjs';\nconsole.log(k, import.meta.url);\n"},
            {"name": "k.mts", "content": "export const k: number = 7;\n"}]},
        # What the run-stage node (runPrestart) could give away: its start
        # (argv, execArgv, the main module, the loader's tables, the stack
        # under the program) and the processes beside it.
        "introspect": {"files": [
            {"name": "main.ts", "content": TS_INTROSPECT},
            {"name": "util.ts", "content": "export function where(): string[] { "
                                           "return new Error('u').stack!.split('\\n'); }\n"}],
                       "args": ["a b", "-x", ""]},
        "subdir_entry": {"files": [
            {"name": "app/main.ts", "content": "console.log(__filename, process.argv.slice(1), require.main === module);\n"}],
                         "args": ["z"]},
        "cjs_entry": {"files": [
            {"name": "main.cts", "content": "console.log(__filename, require.main === module, typeof module);\n"}]},
    },
    "scala": {
        "compile_error": {"code": "object Main {\n  def main(args: Array[String]): Unit = {\n"
                                  "    val x: Int = \"s\"\n    undefined()\n  }\n}\n"},
        "warning": {"code": "object Main {\n  @deprecated(\"old\", \"1\") def old() = 1\n"
                            "  def main(args: Array[String]): Unit = {\n"
                            "    old()\n    println(List(1, 2) map (_ + 1) toString)\n  }\n}\n"},
        "run_stage": {"code": "object Main {\n  def main(args: Array[String]): Unit = {\n"
                              "    println(args.mkString(\"|\"))\n"
                              "    for (l <- scala.io.Source.fromInputStream(System.in, \"UTF-8\").getLines())"
                              " println(\"<\" + l + \">\")\n"
                              "    println(new java.util.TreeMap[String, String](System.getenv()))\n"
                              "    println(Runtime.getRuntime.maxMemory > 0)\n"
                              "    println(\"o\"); System.err.println(\"e\"); sys.exit(3)\n  }\n}\n",
                      "args": ["a b", "-x", "ü", ""], "stdin": "line 1\nline ✓ 2\n"},
        "uncaught": {"code": "object Main {\n"
                             "  def f(n: Int): Int = if (n == 0) throw new IllegalStateException(\"deep\") else 1 + f(n - 1)\n"
                             "  def main(args: Array[String]): Unit = f(3)\n}\n"},
        # The main-class search: an object extending App after commented-out
        # ones; the last object before "def main(".
        "object_app": {"code": "package demo.app\n// object NotThis extends App\n/* object NorThis extends App */\n"
                               "object Hello extends App {\n  println(\"hi \" + getClass.getName + \" \" + args.length)\n}\n",
                       "args": ["z"]},
        "object_main": {"code": "package demo\nobject First\nobject Runner {\n"
                                "  def main(args: Array[String]): Unit = println(\"run \" + args.length)\n}\n",
                        "args": ["z"]},
        "multiple_files": {"files": [
            {"name": "main.scala", "content": "import util.Helper\nobject Main {\n  def main(args: Array[String]): Unit =\n"
                                              "    println(Helper.twice(21) + \" \" + Local.name)\n}\n"},
            {"name": "util/helper.scala", "content": "package util\nobject Helper { def twice(x: Int) = 2 * x }\n"},
            {"name": "local.scala", "content": "object Local { def name = \"local\" }\n"},
            {"name": "data.txt", "content": "not scala\n"}]},
        "multiple_files_error": {"files": [
            {"name": "main.scala", "content": "object Main { def main(args: Array[String]): Unit = Helper.nope() }\n"},
            {"name": "helper.scala", "content": "object Helper { def yes() = () }\n"}]},
        "no_main": {"code": "object NotMain { def f = 1 }\n"},
    },
}
# The CI size: scala's and kotlin's cases cost 12-22 s a pair (two JVM
# compiles on 2 cores), 270 s for all 16, which scripts/test's 90-min
# bound no longer had room for. CI runs the four of each that reach the
# most of the compile daemon's paths (diagnostics, the run stage's argv,
# stdin, environment and exit status, the entry object, several files);
# ISOBOX_PARITY_FULL=1 runs every case (the full size, as for the soaks).
COMPILED_CI = {"scala": ("compile_error", "run_stage", "object_app", "multiple_files"),
               "kotlin": ("compile_error", "run_stage", "object_main", "multiple_files")}
PARITY_FULL = os.environ.get("ISOBOX_PARITY_FULL") == "1"

COMPILED_PARAMS = [pytest.param(l, case, id="%s-%s" % (l["name"], case))
                   for l in CATALOGUE if l.get("prestartStage") == "compile"
                   for case in COMPILED.get(l["name"], {})
                   if PARITY_FULL or case in COMPILED_CI.get(l["name"], (case,))]


def test_compile_prestarted_languages_have_cases():
    for l in CATALOGUE:
        if l.get("prestartStage") == "compile":
            assert l["name"] in COMPILED, "%s prestarts its compiler but has no COMPILED cases" % l["name"]
    for name, cases in COMPILED_CI.items():
        assert set(cases) <= set(COMPILED[name]), (name, set(cases) - set(COMPILED[name]))


@pytest.mark.parametrize("lang,case", COMPILED_PARAMS)
def test_compile_prestart(d, lang, case):
    body = _roomy(dict(COMPILED[lang["name"]][case], language=lang["name"], version=lang["version"]))
    cold, warm, wacc = warm_then_cold(d, body, lang["name"], lang["version"])
    assert wacc.get("warm") is True and wacc.get("prestarted") is True, wacc
    assert cold.get("compile") is not None, cold
    assert comparable(warm) == comparable(cold), (
        "\n--- cold\n%s\n--- warm\n%s" % (cold, warm))
    # A runPrestart interpreter waits beside the compiler server: it runs
    # the program whenever the compile ended well.
    if lang.get("runPrestart"):
        compiled = cold["compile"]["exitCode"] == 0 and not cold["compile"].get("timedOut")
        assert wacc.get("prestartedStages") == (["compile", "run"] if compiled else ["compile"]), wacc


def test_elixir_handoff_fd(d):
    """What elixir's bootstrap leaves a program can read: the handoff pipe
    stays open at fd 63 (Erlang cannot close a descriptor it did not open;
    docs/ARCHITECTURE.md); the BEAM's own descriptors keep their numbers."""
    lang = next(l for l in CATALOGUE if l["name"] == "elixir")
    body = {"language": "elixir", "version": lang["version"],
            "code": "IO.puts(Enum.join(Enum.sort_by(File.ls!(\"/proc/self/fd\"), &String.to_integer/1), \" \"))\n"}
    cold, warm, wacc = warm_then_cold(d, body, "elixir", lang["version"])
    assert wacc.get("warm") is True and wacc.get("prestarted") is True, wacc
    c, w = cold["run"]["stdout"].split(), warm["run"]["stdout"].split()
    assert "63" not in c and w == c + ["63"], (" ".join(c), " ".join(w))


FD_LINKS = {
    "groovy": "println new File('/proc/self/fd').listFiles().collect { f -> "
              "try { java.nio.file.Files.readSymbolicLink(f.toPath()).toString().replaceAll(/[0-9]+/, 'N') } "
              "catch (e) { 'gone' } }.sort().join(', ')\n",
    "clojure": "(println (clojure.string/join \", \" (sort (for [f (.listFiles (java.io.File. \"/proc/self/fd\"))]\n"
               "  (try (clojure.string/replace (str (java.nio.file.Files/readSymbolicLink (.toPath f))) #\"[0-9]+\" \"N\")\n"
               "       (catch Exception e \"gone\")))))))\n",
}


@pytest.mark.parametrize("name", sorted(FD_LINKS))
def test_jvm_nio_fd(d, name):
    """What the groovy and clojure bootstrap (prestart/Jvm.java) leaves a
    program can read: one more descriptor, the socket NIO keeps for closing
    channels, which javac's first file read made (a cold JVM makes it at
    the first NIO use)."""
    lang = next(l for l in CATALOGUE if l["name"] == name)
    body = {"language": name, "version": lang["version"], "code": FD_LINKS[name]}
    cold, warm, wacc = warm_then_cold(d, body, name, lang["version"])
    assert wacc.get("warm") is True and wacc.get("prestarted") is True, wacc
    c = cold["run"]["stdout"].strip().split(", ")
    w = warm["run"]["stdout"].strip().split(", ")
    assert sorted(w) == sorted(c + ["socket:[N]"]), (c, w)


def test_bash_environment_block(d):
    """The one thing of bash's bootstrap a program can read: the block of
    environment strings bash was started with (/proc/$$/environ) still
    holds BASH_ENV, which bash itself has unset (docs/ARCHITECTURE.md)."""
    lang = next(l for l in CATALOGUE if l["name"] == "bash")
    body = {"language": "bash", "version": lang["version"],
            "code": "tr '\\0' '\\n' </proc/$$/environ; echo \"${BASH_ENV-unset}\"; env | grep -c BASH_ENV\n"}
    cold, warm, wacc = warm_then_cold(d, body, "bash", lang["version"])
    assert wacc.get("warm") is True and wacc.get("prestarted") is True, wacc
    c, w = cold["run"]["stdout"].splitlines(), warm["run"]["stdout"].splitlines()
    assert c[-2:] == ["unset", "0"] and w[-2:] == ["unset", "0"], (c, w)
    extra = [x for x in w if x not in c]
    assert extra == ["BASH_ENV=/.isobox/prestart/bash.sh"], (c, w)
    assert [x for x in w if x != extra[0]] == c, (c, w)


# Last: the perl sandboxes of test_prestart_facts have had the longest
# time to go idle by now (test_inprocess uses other languages).
def test_demand_then_idle(d):
    lang, version = "perl", next(l["version"] for l in CATALOGUE if l["name"] == "perl")
    # Idle from earlier tests first: let any perl sandbox go.
    assert dep.wait_for(lambda: gauge(d, "isobox_pool_target", lang, version) == 0,
                        IDLE_MS / 1000 + 30, 0.5)
    assert dep.wait_for(lambda: gauge(d, "isobox_pool_language_ready", lang, version) == 0,
                        30, 0.5), d.metrics()
    body = {"language": lang, "code": "print 6*7, qq(\\n);"}
    doc, acc = run(d, body)
    assert doc["run"]["stdout"] == "42\n" and acc.get("warm") is False, (doc, acc)
    assert gauge(d, "isobox_pool_target", lang, version) == 1, d.metrics()
    wait_warm(d, lang, version)
    m = d.metrics()
    assert m.get("isobox_pool_memory_bytes", 0) > 0, m
    assert m["isobox_pool_memory_bytes"] <= m["isobox_pool_memory_budget_bytes"], m
    doc, acc = run(d, body)
    assert doc["run"]["stdout"] == "42\n" and acc.get("warm") is True, (doc, acc)
    misses = gauge(d, "isobox_pool_misses", lang, version)
    hits = gauge(d, "isobox_pool_hits", lang, version)
    assert misses >= 1 and hits >= 1, (misses, hits)
    # No request for pool_idle_ms: the target drops to 0 and the warm
    # sandbox made after the last request is removed.
    assert dep.wait_for(lambda: gauge(d, "isobox_pool_target", lang, version) == 0,
                        IDLE_MS / 1000 + 10, 0.5), d.metrics()
    assert dep.wait_for(lambda: gauge(d, "isobox_pool_language_ready", lang, version) == 0,
                        20, 0.5), d.metrics()
    msgs = [o.get("msg", "") for o in d.log_entries()]
    assert any(re.match(r"pool: removed \w+ \(demand fell\)", m) for m in msgs), msgs[-20:]
