"""How single-file programs run where a language's usual single-file form is
not the compiled module the catalogue's conformance programs use (issue 20),
the choice between several versions of one language, and the names Piston
clients send. docs/LANGUAGES.md ("Single-file programs", "Versions") says
the same in prose.

Every test here runs real programs through POST /execute or
/api/v2/execute; the languages are skipped only when the server does not
list them (a catalogue without them), never for a failure.
"""
import pytest

from conftest import run_ok, runtime_of, execute, strict_json


def need(runtimes, language, version=None):
    for rt in runtimes:
        if rt["language"] == language and (version is None
                                           or rt["version"].startswith(version)):
            if not rt.get("available", True):
                pytest.fail(f"{language} {rt['version']} is listed but not available")
            return rt
    pytest.skip(f"{language} {version or ''} is not in this server's catalogue")


def ran(doc, stdout, exit_code=0):
    comp = doc.get("compile")
    assert comp is None or comp["exitCode"] == 0, f"compile failed: {comp}"
    run = doc["run"]
    assert run is not None, doc
    assert run["stdout"] == stdout and run["exitCode"] == exit_code, run
    return run


# ------------------------------------------------------------------ java

JAVA_HELLO = """\
import java.util.Arrays;

public class Hello {
    public static void main(String[] args) {
        System.out.println("hi " + Arrays.toString(args));
        System.exit(args.length);
    }
}
"""


def test_java_public_class_not_main_as_code(runtimes):
    """"code" is saved as Main.java; its public class Hello still runs
    (as `java Main.java` would run it)."""
    need(runtimes, "java")
    doc = run_ok({"language": "java", "code": JAVA_HELLO, "args": ["a", "b"]})
    ran(doc, "hi [a, b]\n", 2)


def test_java_public_class_in_a_file_of_another_name(runtimes):
    need(runtimes, "java")
    doc = run_ok({"language": "java",
                  "files": [{"name": "main.java", "content": JAVA_HELLO}]})
    ran(doc, "hi []\n")


def test_java_entry_class_not_main_with_a_second_file(runtimes):
    need(runtimes, "java")
    app = ("public class App {\n    public static void main(String[] a) {\n"
           "        System.out.println(Helper.twice(21));\n    }\n}\n")
    helper = "class Helper {\n    static int twice(int n) { return 2 * n; }\n}\n"
    doc = run_ok({"language": "java",
                  "files": [{"name": "App.java", "content": app},
                            {"name": "Helper.java", "content": helper}]})
    ran(doc, "42\n")


def test_java_first_class_wins_and_comments_do_not_count(runtimes):
    """The first top-level class is the program, as with the source-file
    launcher; a class named in a comment or a string is not."""
    need(runtimes, "java")
    code = ("// class Decoy is not the program\n"
            "/* public class Other { } */\n"
            "class First {\n"
            "    public static void main(String[] a) {\n"
            "        System.out.println(\"class Nope {\" + Second.n());\n"
            "    }\n"
            "}\n"
            "class Second { static int n() { return 7; } }\n")
    doc = run_ok({"language": "java", "code": code})
    ran(doc, "class Nope {7\n")


def test_java_package_entry(runtimes):
    need(runtimes, "java")
    code = ("package demo.app;\n\npublic class Tool {\n"
            "    public static void main(String[] a) {\n"
            "        System.out.println(Tool.class.getName());\n    }\n}\n")
    doc = run_ok({"language": "java", "files": [{"name": "Main.java", "content": code}]})
    ran(doc, "demo.app.Tool\n")


def test_java_compile_error_still_reported(runtimes):
    need(runtimes, "java")
    doc = run_ok({"language": "java",
                  "code": "public class Broken {\n    void f() { int x = }\n}\n"})
    assert doc["compile"]["exitCode"] != 0 and "error" in doc["compile"]["stderr"], doc
    assert doc["run"] is None


# ---------------------------------------------------------------- erlang

def test_erlang_escript(runtimes):
    """An escript (no -module, a #! line and a %%! line) runs: main/1 gets
    the arguments as strings, halt/1 sets the status."""
    need(runtimes, "erlang")
    code = ("#!/usr/bin/env escript\n"
            "%%! -noshell\n"
            "main(Args) ->\n"
            "    io:format(\"~p~n\", [Args]),\n"
            "    halt(length(Args)).\n")
    doc = run_ok({"language": "erlang", "code": code, "args": ["x", "y z"]})
    ran(doc, '["x","y z"]\n', 2)


def test_erlang_escript_without_header_and_with_a_module_file(runtimes):
    need(runtimes, "erlang")
    code = ("main(_) ->\n"
            "    io:format(\"~s~n\", [util:greet(\"escript\")]).\n")
    util = "-module(util).\n-export([greet/1]).\ngreet(N) -> \"hello, \" ++ N.\n"
    doc = run_ok({"language": "erlang",
                  "files": [{"name": "script.erl", "content": code},
                            {"name": "util.erl", "content": util}]})
    ran(doc, "hello, escript\n")


def test_erlang_escript_error_line_numbers_are_the_files(runtimes):
    need(runtimes, "erlang")
    code = "#!/usr/bin/env escript\nmain(_) ->\n    ok = nope(.\n"
    doc = run_ok({"language": "erlang", "code": code})
    assert doc["compile"]["exitCode"] != 0, doc
    assert "main.erl:3:" in doc["compile"]["stderr"], doc["compile"]["stderr"]


# ------------------------------------------------------- other languages

def test_kotlin_main_in_any_file(runtimes):
    need(runtimes, "kotlin")
    code = "fun main(args: Array<String>) {\n    println(\"kt \" + args.size)\n}\n"
    doc = run_ok({"language": "kotlin", "args": ["1"],
                  "files": [{"name": "hello_world.kt", "content": code}]})
    ran(doc, "kt 1\n")


def test_kotlin_object_main(runtimes):
    need(runtimes, "kotlin")
    code = ("object App {\n    @JvmStatic fun main(args: Array<String>) {\n"
            "        println(\"object\")\n    }\n}\n")
    doc = run_ok({"language": "kotlin", "code": code})
    ran(doc, "object\n")


def test_scala_object_not_main(runtimes):
    need(runtimes, "scala")
    doc = run_ok({"language": "scala",
                  "code": "object Hello extends App {\n  println(\"app \" + args.mkString(\",\"))\n}\n",
                  "args": ["p", "q"]})
    ran(doc, "app p,q\n")


def test_csharp_any_class_any_file(runtimes):
    need(runtimes, "csharp")
    code = ("using System;\nnamespace Demo {\n  static class Greeter {\n"
            "    static void Main() { Console.WriteLine(\"cs\"); }\n  }\n}\n")
    doc = run_ok({"language": "csharp",
                  "files": [{"name": "Greeter.cs", "content": code}]})
    ran(doc, "cs\n")


@pytest.mark.parametrize("language,name,code,out", [
    ("go", "hello.go", 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("go") }\n', "go\n"),
    ("rust", "hello.rs", 'fn main() { println!("rs"); }\n', "rs\n"),
    ("c", "prog.c", '#include <stdio.h>\nint main(void) { puts("c"); return 0; }\n', "c\n"),
    ("d", "app.d", 'import std.stdio;\nvoid main() { writeln("d"); }\n', "d\n"),
    ("crystal", "app.cr", 'puts "cr"\n', "cr\n"),
])
def test_entry_file_of_any_name(runtimes, language, name, code, out):
    need(runtimes, language)
    doc = run_ok({"language": language, "files": [{"name": name, "content": code}]})
    ran(doc, out)


def test_nasm_with_main_links_the_c_library(runtimes):
    need(runtimes, "nasm")
    code = ("        global  main\n        extern  puts\n        section .data\n"
            "msg:    db      \"libc\", 0\n        section .text\n"
            "main:   sub     rsp, 8\n        lea     rdi, [rel msg]\n"
            "        call    puts\n        add     rsp, 8\n        mov     eax, 4\n        ret\n")
    doc = run_ok({"language": "nasm", "code": code})
    ran(doc, "libc\n", 4)


# -------------------------------------------------------------- versions

PY_IMPL = "import sys; print(sys.implementation.name, sys.version_info[0], sys.version_info[1])"


def test_python_versions(runtimes):
    cpy = need(runtimes, "python", "3.11")
    pypy = need(runtimes, "python", "3.9")
    # No version, or "*": the first listed (CPython).
    for extra in ({}, {"version": "*"}):
        doc = run_ok({"language": "python", "code": PY_IMPL, **extra})
        assert doc["version"] == cpy["version"], doc
        ran(doc, "cpython 3 11\n")
    doc = run_ok({"language": "python", "version": "3.9", "code": PY_IMPL})
    assert doc["version"] == pypy["version"], doc
    ran(doc, "pypy 3 9\n")
    doc = run_ok({"language": "py3@3.9.16", "code": PY_IMPL})
    ran(doc, "pypy 3 9\n")
    doc = run_ok({"language": "pypy", "code": PY_IMPL})
    ran(doc, "pypy 3 9\n")


def test_rust_versions(runtimes):
    old = need(runtimes, "rust", "1.63")
    new = need(runtimes, "rust", "1.96")
    # let-else: stable since Rust 1.65, so only the newer toolchain has it.
    code = ("fn main() {\n    let Some(x) = \"7\".parse::<i32>().ok() else { return };\n"
            "    println!(\"{}\", x * 6);\n}\n")
    doc = run_ok({"language": "rust", "version": "1.96", "code": code})
    assert doc["version"] == new["version"], doc
    ran(doc, "42\n")
    doc = run_ok({"language": "rust", "code": code})
    assert doc["version"] == old["version"], doc
    assert doc["compile"]["exitCode"] != 0 and doc["run"] is None, doc


@pytest.mark.parametrize("version", ["5.1", "5.2", "5.3", "5.4"])
def test_lua_versions(runtimes, version):
    need(runtimes, "lua", version)
    doc = run_ok({"language": "lua", "version": version, "code": "print(_VERSION)"})
    ran(doc, f"Lua {version}\n")


def test_piston_version_selects(runtimes):
    need(runtimes, "python", "3.9")
    for version, impl in (("3.9.16", "pypy"), ("3.11.x", "cpython"), ("*", "cpython")):
        r = execute({"language": "python", "version": version,
                     "files": [{"content": "import sys; print(sys.implementation.name)"}]},
                    path="/api/v2/execute")
        assert r.status_code == 200, r.text
        doc = strict_json(r)
        assert doc["run"]["stdout"] == impl + "\n", (version, doc)


# ----------------------------------------------------------- Piston names

# Names Piston clients send (Piston's package names and aliases) and the
# catalogue language they must reach.
PISTON_NAMES = {
    "c++": "cpp", "csharp": "csharp", "rscript": "r", "sqlite3": "sqlite",
    "kotlin": "kotlin", "groovy": "groovy", "clojure": "clojure", "clj": "clojure",
    "crystal": "crystal", "d": "d", "racket": "racket", "prolog": "prolog",
    "lisp": "lisp", "sbcl": "lisp", "cobol": "cobol", "nasm": "nasm",
    "nasm64": "nasm", "awk": "awk", "gawk": "awk", "forth": "forth",
    "gforth": "forth", "raku": "raku", "perl6": "raku", "coffeescript": "coffeescript",
    "coffee": "coffeescript", "dash": "dash", "emacs": "emacs", "elisp": "emacs",
    "iverilog": "verilog", "llvm_ir": "llvm_ir", "llvm": "llvm_ir",
    "brainfuck": "brainfuck", "bf": "brainfuck", "basic": "basic", "tcl": "tcl",
    "scheme": "scheme", "mono": "csharp",
}


def test_piston_names_reach_the_language():
    r = execute({"language": "no-such-language", "files": [{"content": ""}]},
                path="/api/v2/execute")
    assert r.status_code == 400
    import requests
    from conftest import full_url
    rts = requests.get(full_url("/api/v2/runtimes"), timeout=10).json()
    by_name = {}
    for rt in rts:
        for n in [rt["language"]] + rt["aliases"]:
            by_name.setdefault(n.lower(), rt["language"])
    missing = {n: want for n, want in PISTON_NAMES.items() if by_name.get(n) != want}
    assert not missing, f"names that do not reach their language: {missing}"
