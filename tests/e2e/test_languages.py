"""Conformance of every language of the catalogue, generated from GET /runtimes:
a language added to registry/languages.yaml is tested without touching this
file, and one that has no row in SNIPPETS below fails the suite (it is never
skipped).

Per language (requests are few on purpose: the service rate-limits clients):

  test_main          one program: prints "hello, world" and a Unicode line,
                     its arguments one per line (in order), copies stdin to
                     stdout and exits 3; stderr must stay empty. Sent with
                     "version" pinned to the catalogue's version.
  test_multi_file    an entry file that imports a second file (plus a data
                     file the compile stage must ignore), prints the second
                     file's greeting and then dies of a runtime error
                     ("boom") raised there: stdout is the greeting, stderr
                     names the error, the exit status is non-zero. Sent as
                     "ALIAS@MAJOR.MINOR" (a version prefix through an alias).
  test_compile_error compiled languages only: a broken program fails in the
                     compile stage (exit code != 0, stderr non-empty) and the
                     run stage is null.
  test_unknown_version  400 unknown_version through an alias, listing the
                     versions that exist.

Plus catalogue checks on /runtimes alone (no sandbox): every language has a
snippet row whose "compiled" agrees, names and aliases are unique.
"""
import pytest
import requests

from conftest import assert_error, execute, full_url, run_ok

ARGS = ["first", "two words", "--flag", "ü$HOME*"]
STDIN = "line one\nline two ✓\n"
UNICODE = "héllo ✓ 日本"
MAIN_STDOUT = ("hello, world\n" + UNICODE + "\n"
               + "".join(a + "\n" for a in ARGS) + STDIN)
MAIN_EXIT = 3
MULTI_STDOUT = "hello, multi\n"
# A file no compiler may choke on: the compile stages pass only sources on.
DATA_FILE = ("notes.txt", "not source code {\n")

# ---------------------------------------------------------------------------
# The snippet table: one row per catalogue language.
#   compiled       must match /runtimes
#   main           source of the program of test_main (sent as "code")
#   multi          {file name: source}, entry first (test_multi_file)
#   compile_error  source that must fail to compile (compiled languages)

SNIPPETS = {
    "python": {
        "compiled": False,
        "main": """\
import sys
print("hello, world")
print("héllo ✓ 日本")
for a in sys.argv[1:]:
    print(a)
sys.stdout.write(sys.stdin.read())
sys.exit(3)
""",
        "multi": {
            "main.py": """\
from util import greet, crash
print(greet("multi"), flush=True)
crash()
""",
            "util.py": """\
def greet(name):
    return "hello, " + name


def crash():
    raise RuntimeError("boom")
""",
        },
    },
    "javascript": {
        "compiled": False,
        "main": """\
const fs = require("fs");
console.log("hello, world");
console.log("héllo ✓ 日本");
for (const a of process.argv.slice(2)) console.log(a);
process.stdout.write(fs.readFileSync(0));
process.exitCode = 3;
""",
        "multi": {
            "main.js": """\
const { greet, crash } = require("./util");
console.log(greet("multi"));
crash();
""",
            "util.js": """\
exports.greet = (name) => "hello, " + name;
exports.crash = () => { throw new Error("boom"); };
""",
        },
    },
    "typescript": {
        "compiled": True,
        "main": """\
import * as fs from "fs";
const lines: string[] = ["hello, world", "héllo ✓ 日本", ...process.argv.slice(2)];
for (const l of lines) console.log(l);
process.stdout.write(fs.readFileSync(0));
process.exitCode = 3;
""",
        "multi": {
            "main.ts": """\
import { greet, crash } from "./lib/util";
console.log(greet("multi"));
crash();
""",
            "lib/util.ts": """\
export function greet(name: string): string {
  return "hello, " + name;
}
export function crash(): never {
  throw new Error("boom");
}
""",
        },
        # A type error: the point of a TypeScript compile stage.
        "compile_error": 'const n: number = "not a number";\nconsole.log(n);\n',
    },
    "bash": {
        "compiled": False,
        "main": """\
echo "hello, world"
echo "héllo ✓ 日本"
for a in "$@"; do printf '%s\\n' "$a"; done
cat
exit 3
""",
        "multi": {
            "main.sh": """\
. ./util.sh
greet multi
crash
""",
            "util.sh": """\
greet() { echo "hello, $1"; }
crash() { set -e; boom_no_such_command; }
""",
        },
    },
    "c": {
        "compiled": True,
        "main": """\
#include <stdio.h>

int main(int argc, char **argv)
{
    int c;

    puts("hello, world");
    puts("héllo ✓ 日本");
    for (int i = 1; i < argc; i++)
        puts(argv[i]);
    while ((c = getchar()) != EOF)
        putchar(c);
    return 3;
}
""",
        "multi": {
            "main.c": """\
#include <stdio.h>
#include "util.h"

int main(void)
{
    printf("%s\\n", greet("multi"));
    fflush(stdout);
    crash();
    return 0;
}
""",
            "util.h": "const char *greet(const char *name);\nvoid crash(void);\n",
            "util.c": """\
#include <assert.h>
#include <stdio.h>
#include "util.h"

const char *greet(const char *name)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "hello, %s", name);
    return buf;
}

void crash(void)
{
    assert(!"boom");
}
""",
        },
        "compile_error": "int main(void) { return 0 }\n",
    },
    "cpp": {
        "compiled": True,
        "main": """\
#include <iostream>

int main(int argc, char **argv)
{
    std::cout << "hello, world\\n" << "héllo ✓ 日本\\n";
    for (int i = 1; i < argc; i++)
        std::cout << argv[i] << '\\n';
    char c;
    while (std::cin.get(c))
        std::cout << c;
    return 3;
}
""",
        "multi": {
            "main.cpp": """\
#include <iostream>
#include "util.hpp"

int main()
{
    std::cout << greet("multi") << std::endl;
    crash();
}
""",
            "util.hpp": "#include <string>\nstd::string greet(const std::string &name);\nvoid crash();\n",
            "util.cpp": """\
#include <stdexcept>
#include "util.hpp"

std::string greet(const std::string &name) { return "hello, " + name; }
void crash() { throw std::runtime_error("boom"); }
""",
        },
        "compile_error": "int main() { return 0 }\n",
    },
    "fortran": {
        "compiled": True,
        "main": """\
program main
  implicit none
  integer :: i, ios
  character(len=1024) :: arg, line
  print '(a)', 'hello, world'
  print '(a)', 'héllo ✓ 日本'
  do i = 1, command_argument_count()
    call get_command_argument(i, arg)
    print '(a)', trim(arg)
  end do
  do
    read (*, '(a)', iostat=ios) line
    if (ios /= 0) exit
    print '(a)', trim(line)
  end do
  call exit(3)
end program main
""",
        "multi": {
            "main.f90": """\
program main
  use util
  implicit none
  print '(a)', greet('multi')
  flush 6
  call crash()
end program main
""",
            "util.f90": """\
module util
  implicit none
contains
  function greet(name) result(s)
    character(len=*), intent(in) :: name
    character(len=:), allocatable :: s
    s = 'hello, ' // name
  end function greet

  subroutine crash()
    error stop 'boom'
  end subroutine crash
end module util
""",
        },
        "compile_error": "program main\n  integer :: x =\nend program main\n",
    },
    "rust": {
        "compiled": True,
        "main": """\
use std::io::{self, Read, Write};

fn main() {
    println!("hello, world");
    println!("héllo ✓ 日本");
    for a in std::env::args().skip(1) {
        println!("{}", a);
    }
    let mut input = Vec::new();
    io::stdin().read_to_end(&mut input).unwrap();
    io::stdout().write_all(&input).unwrap();
    io::stdout().flush().unwrap();
    std::process::exit(3);
}
""",
        "multi": {
            "main.rs": """\
mod util;

fn main() {
    println!("{}", util::greet("multi"));
    util::crash();
}
""",
            "util.rs": """\
pub fn greet(name: &str) -> String {
    format!("hello, {}", name)
}

pub fn crash() {
    panic!("boom");
}
""",
        },
        "compile_error": 'fn main() {\n    println!("x")\n',
    },
    "go": {
        "compiled": True,
        "main": """\
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	fmt.Println("hello, world")
	fmt.Println("héllo ✓ 日本")
	for _, a := range os.Args[1:] {
		fmt.Println(a)
	}
	io.Copy(os.Stdout, os.Stdin)
	os.Exit(3)
}
""",
        "multi": {
            "main.go": """\
package main

import "fmt"

func main() {
	fmt.Println(greet("multi"))
	crash()
}
""",
            "util.go": """\
package main

func greet(name string) string { return "hello, " + name }

func crash() { panic("boom") }
""",
        },
        "compile_error": "package main\n\nfunc main() {\n",
    },
    "java": {
        "compiled": True,
        "main": """\
import java.io.IOException;

public class Main {
    public static void main(String[] args) throws IOException {
        System.out.println("hello, world");
        System.out.println("héllo ✓ 日本");
        for (String a : args) System.out.println(a);
        System.out.flush();
        System.in.transferTo(System.out);
        System.out.flush();
        System.exit(3);
    }
}
""",
        "multi": {
            "Main.java": """\
public class Main {
    public static void main(String[] args) {
        System.out.println(Util.greet("multi"));
        Util.crash();
    }
}
""",
            "Util.java": """\
class Util {
    static String greet(String name) { return "hello, " + name; }
    static void crash() { throw new IllegalStateException("boom"); }
}
""",
        },
        "compile_error": "public class Main {\n    public static void main(String[] a) { int x = }\n}\n",
    },
    "scala": {
        "compiled": True,
        "main": """\
object Main {
  def main(args: Array[String]): Unit = {
    println("hello, world")
    println("héllo ✓ 日本")
    args.foreach(println)
    val buf = new Array[Byte](65536)
    var n = System.in.read(buf)
    while (n > 0) { System.out.write(buf, 0, n); n = System.in.read(buf) }
    System.out.flush()
    sys.exit(3)
  }
}
""",
        "multi": {
            "main.scala": """\
object Main {
  def main(args: Array[String]): Unit = {
    println(Util.greet("multi"))
    Util.crash()
  }
}
""",
            "util.scala": """\
object Util {
  def greet(name: String): String = "hello, " + name
  def crash(): Unit = throw new IllegalStateException("boom")
}
""",
        },
        "compile_error": "object Main {\n  def main(args: Array[String]): Unit = { val x = }\n}\n",
    },
    "ruby": {
        "compiled": False,
        "main": """\
puts "hello, world"
puts "héllo ✓ 日本"
ARGV.each { |a| puts a }
$stdout.write($stdin.read)
exit 3
""",
        "multi": {
            "main.rb": """\
require_relative "util"
puts greet("multi")
$stdout.flush
crash
""",
            "util.rb": """\
def greet(name)
  "hello, #{name}"
end

def crash
  raise "boom"
end
""",
        },
    },
    "lua": {
        "compiled": False,
        "main": """\
print("hello, world")
print("héllo ✓ 日本")
for i = 1, #arg do print(arg[i]) end
io.write(io.read("a"))
os.exit(3)
""",
        "multi": {
            "main.lua": """\
local util = require("util")
print(util.greet("multi"))
io.stdout:flush()
util.crash()
""",
            "util.lua": """\
local M = {}
function M.greet(name) return "hello, " .. name end
function M.crash() error("boom") end
return M
""",
        },
    },
    "php": {
        "compiled": False,
        "main": """\
<?php
echo "hello, world\\n";
echo "héllo ✓ 日本\\n";
foreach (array_slice($argv, 1) as $a) {
    echo $a, "\\n";
}
echo stream_get_contents(STDIN);
exit(3);
""",
        "multi": {
            "main.php": """\
<?php
require __DIR__ . '/util.php';
echo greet('multi'), "\\n";
crash();
""",
            "util.php": """\
<?php
function greet(string $name): string { return "hello, $name"; }
function crash(): void { throw new RuntimeException('boom'); }
""",
        },
    },
    "perl": {
        "compiled": False,
        "main": """\
use strict;
use warnings;
print "hello, world\\n";
print "héllo ✓ 日本\\n";
print "$_\\n" for @ARGV;
local $/;
my $in = <STDIN>;
print $in if defined $in;
exit 3;
""",
        "multi": {
            "main.pl": """\
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Util;
$| = 1;
print Util::greet('multi'), "\\n";
Util::crash();
""",
            "Util.pm": """\
package Util;
use strict;
use warnings;
sub greet { return "hello, $_[0]" }
sub crash { die "boom\\n" }
1;
""",
        },
    },
    "sqlite": {
        "compiled": False,
        # isobox-sqlite: arguments are rows of args(i, value); stdin is
        # imported by the script itself (through cat: see docs/LANGUAGES.md).
        "main": """\
SELECT 'hello, world';
SELECT 'héllo ✓ 日本';
SELECT value FROM args ORDER BY i;
CREATE TABLE input(line TEXT);
.import '|cat' input
SELECT line FROM input;
.exit 3
""",
        "multi": {
            "main.sql": """\
.read util.sql
SELECT greeting FROM greet;
SELECT * FROM boom;
""",
            "util.sql": "CREATE VIEW greet AS SELECT 'hello, multi' AS greeting;\n",
        },
    },
    "r": {
        "compiled": False,
        "main": """\
cat("hello, world\\n")
cat("héllo ✓ 日本\\n")
for (a in commandArgs(trailingOnly = TRUE)) cat(a, "\\n", sep = "")
writeLines(readLines(file("stdin")))
quit(status = 3)
""",
        "multi": {
            "main.R": """\
source("util.R")
cat(greet("multi"), "\\n", sep = "")
crash()
""",
            "util.R": """\
greet <- function(name) paste0("hello, ", name)
crash <- function() stop("boom")
""",
        },
    },
    "erlang": {
        "compiled": True,
        "main": """\
-module(main).
-export([main/1]).

main(Args) ->
    io:format("hello, world~n"),
    io:format("~ts~n", [<<"héllo ✓ 日本"/utf8>>]),
    [io:format("~ts~n", [A]) || A <- Args],
    copy(),
    halt(3).

copy() ->
    case io:get_chars('', 65536) of
        eof -> ok;
        Data -> io:put_chars(Data), copy()
    end.
""",
        "multi": {
            "main.erl": """\
-module(main).
-export([main/1]).

main(_Args) ->
    io:format("~s~n", [util:greet("multi")]),
    util:crash().
""",
            "util.erl": """\
-module(util).
-export([greet/1, crash/0]).

greet(Name) -> "hello, " ++ Name.

crash() -> error(boom).
""",
        },
        "compile_error": "-module(main).\n-export([main/1]).\nmain(_) -> io:format(\"x\n\")\n",
    },
    "elixir": {
        "compiled": False,
        "main": """\
IO.puts("hello, world")
IO.puts("héllo ✓ 日本")
Enum.each(System.argv(), &IO.puts/1)

case IO.read(:stdio, :eof) do
  data when is_binary(data) -> IO.write(data)
  _ -> :ok
end

System.halt(3)
""",
        "multi": {
            "main.exs": """\
Code.require_file("util.exs", __DIR__)
IO.puts(Util.greet("multi"))
Util.crash()
""",
            "util.exs": """\
defmodule Util do
  def greet(name), do: "hello, " <> name
  def crash, do: raise("boom")
end
""",
        },
    },
    "nim": {
        "compiled": True,
        "main": """\
import std/os
echo "hello, world"
echo "héllo ✓ 日本"
for a in commandLineParams():
  echo a
stdout.write(stdin.readAll())
quit(3)
""",
        "multi": {
            "main.nim": """\
import util
echo greet("multi")
crash()
""",
            "util.nim": """\
proc greet*(name: string): string = "hello, " & name
proc crash*() = raise newException(ValueError, "boom")
""",
        },
        "compile_error": 'echo "x" +\n',
    },
    "pascal": {
        "compiled": True,
        "main": """\
program main;
var
  i: integer;
  c: char;
begin
  writeln('hello, world');
  writeln('héllo ✓ 日本');
  for i := 1 to ParamCount do
    writeln(ParamStr(i));
  while not eof(input) do
  begin
    read(c);
    write(c);
  end;
  halt(3);
end.
""",
        "multi": {
            "main.pas": """\
program main;
uses util;
begin
  writeln(greet('multi'));
  crash;
end.
""",
            "util.pas": """\
unit util;

interface

uses sysutils;

function greet(const name: string): string;
procedure crash;

implementation

function greet(const name: string): string;
begin
  greet := 'hello, ' + name;
end;

procedure crash;
begin
  raise Exception.Create('boom');
end;

end.
""",
        },
        "compile_error": "program main;\nbegin\n  writeln('x')\nend\n",
    },
    "ocaml": {
        "compiled": True,
        "main": """\
let () =
  print_endline "hello, world";
  print_endline "héllo ✓ 日本";
  Array.iteri (fun i a -> if i > 0 then print_endline a) Sys.argv;
  (try
     while true do
       print_char (input_char stdin)
     done
   with End_of_file -> ());
  exit 3
""",
        "multi": {
            "main.ml": """\
let () =
  print_endline (Util.greet "multi");
  Util.crash ()
""",
            "util.ml": """\
let greet name = "hello, " ^ name
let crash () = failwith "boom"
""",
        },
        "compile_error": 'let () = print_endline "x" +\n',
    },
    "haskell": {
        "compiled": True,
        "main": """\
import qualified Data.ByteString as B
import System.Environment (getArgs)
import System.Exit
import System.IO

main :: IO ()
main = do
  putStrLn "hello, world"
  putStrLn "héllo ✓ 日本"
  getArgs >>= mapM_ putStrLn
  hFlush stdout
  B.getContents >>= B.putStr
  exitWith (ExitFailure 3)
""",
        "multi": {
            "main.hs": """\
import System.IO
import Util

main :: IO ()
main = do
  putStrLn (greet "multi")
  hFlush stdout
  crash
""",
            "Util.hs": """\
module Util (greet, crash) where

greet :: String -> String
greet name = "hello, " ++ name

crash :: IO ()
crash = error "boom"
""",
        },
        "compile_error": 'main :: IO ()\nmain = putStrLn "x" +\n',
    },
}

# python-slim runs the same programs as python.
SNIPPETS["python-slim"] = SNIPPETS["python"]


# ---------------------------------------------------------------------------
# Parametrization from the live catalogue


def _load_runtimes():
    try:
        r = requests.get(full_url("/runtimes"), timeout=10)
        r.raise_for_status()
        rts = r.json()
        assert isinstance(rts, list) and rts
        return rts, None
    except Exception as e:  # reported by the test, not at collection
        return None, f"GET /runtimes failed: {e!r}"


_RUNTIMES, _RUNTIMES_ERROR = _load_runtimes()


def pytest_generate_tests(metafunc):
    if "rt" not in metafunc.fixturenames:
        return
    if _RUNTIMES is None:
        metafunc.parametrize("rt", [pytest.param(None, id="no-runtimes")])
        return
    rts = _RUNTIMES
    if metafunc.function.__name__ == "test_compile_error":
        rts = [rt for rt in rts if rt.get("compiled")]
    metafunc.parametrize("rt", [pytest.param(rt, id=rt["language"]) for rt in rts])


def snippets_of(rt):
    """The snippet row of a runtime; fails (never skips) when missing."""
    if rt is None:
        pytest.fail(_RUNTIMES_ERROR)
    row = SNIPPETS.get(rt["language"])
    if row is None:
        pytest.fail(f"language {rt['language']!r} is in the catalogue but has no "
                    "row in SNIPPETS of tests/e2e/test_languages.py: add its "
                    "conformance programs there")
    return row


def version_prefix(version):
    """MAJOR.MINOR of a version ("3.11.2" -> "3.11"), or the version."""
    parts = version.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else version


def alias_of(rt, which):
    aliases = rt.get("aliases") or []
    return aliases[which] if aliases else rt["language"]


def describe(doc):
    """The stages of a response, for assertion messages."""
    out = []
    for st in ("compile", "run"):
        s = doc.get(st)
        if s is None:
            out.append(f"{st}: null")
            continue
        out.append(f"{st}: exit={s['exitCode']} signal={s['signal']} "
                   f"timedOut={s['timedOut']} oomKilled={s['oomKilled']} "
                   f"{s['durationMs']}ms\n  stdout={s['stdout'][:1500]!r}\n"
                   f"  stderr={s['stderr'][:1500]!r}")
    return "\n".join(out)


def check_compile_stage(rt, doc):
    """A compiled language reports a successful compile stage; an
    interpreted one has none."""
    if rt["compiled"]:
        comp = doc.get("compile")
        assert comp is not None, f"compiled language without a compile stage\n{describe(doc)}"
        assert comp["exitCode"] == 0 and not comp["timedOut"] and not comp["oomKilled"], \
            f"compile stage failed\n{describe(doc)}"
        assert doc["run"] is not None, describe(doc)
    else:
        assert doc.get("compile") is None, \
            f"interpreted language reports a compile stage\n{describe(doc)}"


# ---------------------------------------------------------------------------
# Catalogue checks (GET /runtimes only)


def test_catalogue_snippet_row(rt):
    row = snippets_of(rt)
    assert isinstance(rt.get("version"), str) and rt["version"], rt
    assert isinstance(rt.get("aliases"), list), rt
    assert isinstance(rt.get("compiled"), bool), rt
    assert rt.get("backend") == "gvisor", rt
    assert row["compiled"] == rt["compiled"], (
        f"/runtimes says compiled={rt['compiled']} for {rt['language']}, "
        f"the snippet table says {row['compiled']}")
    if rt["compiled"]:
        assert row.get("compile_error"), f"{rt['language']}: no compile_error snippet"
    assert row.get("main") and row.get("multi"), rt["language"]


def test_catalogue_names_unique():
    if _RUNTIMES is None:
        pytest.fail(_RUNTIMES_ERROR)
    seen = {}
    for rt in _RUNTIMES:
        for n in [rt["language"]] + list(rt.get("aliases") or []):
            key = n.lower()
            # One name may serve several versions of the same language.
            assert seen.get(key, rt["language"]) == rt["language"], \
                f"{n!r} names both {seen[key]} and {rt['language']}"
            seen[key] = rt["language"]


def test_every_snippet_row_is_in_the_catalogue():
    """A stale row (language removed or renamed) is a mistake too."""
    if _RUNTIMES is None:
        pytest.fail(_RUNTIMES_ERROR)
    names = {rt["language"] for rt in _RUNTIMES}
    stale = sorted(set(SNIPPETS) - names)
    assert not stale, f"SNIPPETS rows for languages not in /runtimes: {stale}"


# ---------------------------------------------------------------------------
# Programs


def test_main(rt):
    row = snippets_of(rt)
    doc = run_ok({"language": rt["language"], "version": rt["version"],
                  "code": row["main"], "args": ARGS, "stdin": STDIN})
    assert doc["language"] == rt["language"] and doc["version"] == rt["version"], doc
    check_compile_stage(rt, doc)
    run = doc["run"]
    assert run["stdout"] == MAIN_STDOUT, \
        f"stdout differs (hello, Unicode, args, stdin)\n{describe(doc)}"
    assert run["exitCode"] == MAIN_EXIT and run["signal"] is None, \
        f"exit status {run['exitCode']} instead of {MAIN_EXIT}\n{describe(doc)}"
    assert run["stderr"] == "", f"unexpected stderr\n{describe(doc)}"
    assert not run["timedOut"] and not run["oomKilled"] and not run["truncated"], describe(doc)


def test_multi_file(rt):
    row = snippets_of(rt)
    files = [{"name": n, "content": c} for n, c in row["multi"].items()]
    files.append({"name": DATA_FILE[0], "content": DATA_FILE[1]})
    spec = f"{alias_of(rt, -1)}@{version_prefix(rt['version'])}"
    doc = run_ok({"language": spec, "files": files})
    assert doc["language"] == rt["language"] and doc["version"] == rt["version"], doc
    check_compile_stage(rt, doc)
    run = doc["run"]
    assert run["stdout"] == MULTI_STDOUT, \
        f"the entry did not print the second file's greeting\n{describe(doc)}"
    assert run["exitCode"] != 0, f"a runtime error exited 0\n{describe(doc)}"
    assert "boom" in run["stderr"], f"the runtime error is not on stderr\n{describe(doc)}"
    assert not run["timedOut"] and not run["oomKilled"], describe(doc)


def test_compile_error(rt):
    row = snippets_of(rt)
    doc = run_ok({"language": rt["language"], "code": row["compile_error"]})
    comp = doc.get("compile")
    assert comp is not None, f"no compile stage\n{describe(doc)}"
    assert comp["exitCode"] != 0, f"broken program compiled\n{describe(doc)}"
    assert comp["stderr"].strip(), f"no diagnostics on compile stderr\n{describe(doc)}"
    assert not comp["timedOut"], describe(doc)
    assert doc["run"] is None, f"run stage after a failed compile\n{describe(doc)}"


def test_unknown_version(rt):
    row = snippets_of(rt)
    r = execute({"language": alias_of(rt, 0), "version": "0.0.0-nope",
                 "code": row["main"]})
    body = assert_error(r, 400, "unknown_version")
    assert rt["version"] in body["message"], \
        f"the message does not list {rt['version']}: {body['message']!r}"
