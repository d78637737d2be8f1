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

The requests of test_main, test_multi_file and test_compile_error run
ISOBOX_TEST_LANG_JOBS (default 2) at a time (class Ahead): a sandbox gets
one CPU by default and most of these requests are compiles, so one at a
time leaves a core of a 2-core host idle. Each test still sends its own
request and checks its own response, in its own test.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

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
#   lacks          optional {"args"|"exit"|"multi": reason}: what the language
#                  itself cannot express (brainfuck has no arguments, exit
#                  status or second file). test_main then expects no argument
#                  lines / exit status 0; test_multi_file is skipped with the
#                  reason. "stderr": the runtime error of test_multi_file
#                  is reported on stdout (after the greeting). Listed in
#                  docs/LANGUAGES.md.

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
io.write(io.read("*a"))
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
    "awk": {
        "compiled": False,
        "main": """\
BEGIN {
    print "hello, world"
    print "héllo ✓ 日本"
    for (i = 1; i < ARGC; i++)
        print ARGV[i]
    ARGC = 1
}
{ print }
END { exit 3 }
""",
        "multi": {
            "main.awk": """\
@include "util.awk"
BEGIN {
    print greet("multi")
    crash()
}
""",
            "util.awk": """\
function greet(name) {
    return "hello, " name
}

function crash() {
    fflush()
    print "x" > "/no-such-dir/boom"
}
""",
        },
    },
    "tcl": {
        "compiled": False,
        "main": """\
puts "hello, world"
puts "héllo ✓ 日本"
foreach a $argv {
    puts $a
}
puts -nonewline [read stdin]
exit 3
""",
        "multi": {
            "main.tcl": """\
source [file join [file dirname [info script]] util.tcl]
puts [greet multi]
flush stdout
crash
""",
            "util.tcl": """\
proc greet {name} {
    return "hello, $name"
}

proc crash {} {
    error "boom"
}
""",
        },
    },
    # gforth ends the current output line itself before it reports an
    # uncaught error, hence no cr after the greeting.
    "forth": {
        "compiled": False,
        "main": """\
." hello, world" cr
." héllo ✓ 日本" cr
: show-args ( -- )
    begin next-arg 2dup d0<> while type cr repeat 2drop ;
show-args
create buf 4096 allot
: copy-stdin ( -- )
    begin buf 4096 stdin read-file throw dup while buf swap type repeat drop ;
copy-stdin
3 (bye)
""",
        "multi": {
            "main.fs": """\
require util.fs
s" multi" greet
crash
""",
            "util.fs": """\
: greet ( c-addr u -- ) ." hello, " type ;
: crash ( -- ) true abort" boom" ;
""",
        },
    },
    "basic": {
        "compiled": False,
        "main": """\
print "hello, world"
print "héllo ✓ 日本"
n = peek("arguments")
for i = 1 to n
    print peek$("argument")
next i
while (not eof(0))
    line input "" a$
    print a$
wend
exit 3
""",
        "multi": {
            "main.bas": """\
import util
print greet$("multi")
crash()
""",
            "util.yab": """\
export sub greet$(name$)
    return "hello, " + name$
end sub

export sub crash()
    error "boom"
end sub
""",
        },
    },
    "brainfuck": {
        "compiled": False,
        "lacks": {
            "args": "brainfuck has no access to its arguments",
            "exit": "a brainfuck program cannot choose its exit status",
            "multi": "brainfuck has no way to use a second file",
        },
        "main": """\
>++++++++++[<++++++++++>-]<++++.---.+++++++..+++.
>++++++++++[<------>-]<-------.------------.
>++++++++++[<++++++++>-]<+++++++.--------.+++.------.--------.
>++++++++++[<--------->-]<.>++++++++++[<+++++++++>-]<++++.
>++++++++++[<+++++++++>-]<+.>++++++++++[<-->-]<------.
>++++++++++[<------>-]<-..+++.>++++++++++[<------->-]<---------.
>++++++++++[<+++++++++++++++++++>-]<++++.>++++++++++[<------->-]<.
---------.>++++++++++[<----------->-]<-----.
>++++++++++[<+++++++++++++++++++>-]<++++++++.
>++++++++++[<------->-]<---------.>++++++++++[<+>-]<++++.
>++++++++++[<++++++>-]<+++++.>++++++++++[<------->-]<----.
>++++++++++[<+>-]<++++++.>++++++++++[<---------------->-]<--.
[-],[.,]
""",
    },
    "scheme": {
        "compiled": False,
        "main": """\
(use-modules (ice-9 textual-ports))
(display "hello, world\\n")
(display "héllo ✓ 日本\\n")
(for-each (lambda (a) (display a) (newline)) (cdr (command-line)))
(display (get-string-all (current-input-port)))
(exit 3)
""",
        "multi": {
            "main.scm": """\
(load "util.scm")
(display (greet "multi"))
(newline)
(crash)
""",
            "util.scm": """\
(define (greet name) (string-append "hello, " name))
(define (crash) (error "boom"))
""",
        },
    },
    "prolog": {
        "compiled": False,
        "main": """\
:- initialization(main, main).

main :-
    format("hello, world~n"),
    format("héllo ✓ 日本~n"),
    current_prolog_flag(argv, Argv),
    forall(member(A, Argv), format("~w~n", [A])),
    copy_stream_data(user_input, user_output),
    halt(3).
""",
        "multi": {
            "main.pl": """\
:- initialization(main, main).
:- use_module(util).

main :-
    greet(multi, G),
    format("~w~n", [G]),
    crash.
""",
            "util.pl": """\
:- module(util, [greet/2, crash/0]).

greet(Name, G) :- format(atom(G), "hello, ~w", [Name]).
crash :- throw(boom).
""",
        },
    },
    "lisp": {
        "compiled": False,
        "main": """\
(write-line "hello, world")
(write-line "héllo ✓ 日本")
(dolist (a (rest sb-ext:*posix-argv*)) (write-line a))
(loop for line = (read-line *standard-input* nil)
      while line do (write-line line))
(finish-output)
(sb-ext:exit :code 3)
""",
        "multi": {
            "main.lisp": """\
(load (merge-pathnames "util.lisp" *load-truename*))
(write-line (greet "multi"))
(finish-output)
(crash)
""",
            "util.lisp": """\
(defun greet (name) (concatenate 'string "hello, " name))
(defun crash () (error "boom"))
""",
        },
    },
    "raku": {
        "compiled": False,
        "main": """\
say "hello, world";
say "héllo ✓ 日本";
.say for @*ARGS;
print $*IN.slurp;
exit 3;
""",
        "multi": {
            "main.raku": """\
use lib $*PROGRAM.parent;
use Util;
say greet("multi");
crash();
""",
            "Util.rakumod": """\
unit module Util;
sub greet(Str $name --> Str) is export { "hello, $name" }
sub crash() is export { die "boom" }
""",
        },
    },
    "emacs": {
        "compiled": False,
        "main": """\
(princ "hello, world\\n")
(princ "héllo ✓ 日本\\n")
(dolist (a command-line-args-left) (princ (concat a "\\n")))
(let (line)
  (while (setq line (ignore-errors (read-from-minibuffer "")))
    (princ (concat line "\\n"))))
(kill-emacs 3)
""",
        "multi": {
            "main.el": """\
(load (expand-file-name "util.el" (file-name-directory load-file-name)) nil t)
(princ (concat (greet "multi") "\\n"))
(crash)
""",
            "util.el": """\
(defun greet (name) (concat "hello, " name))
(defun crash () (error "boom"))
""",
        },
    },
    "coffeescript": {
        "compiled": False,
        "main": """\
fs = require "fs"
console.log "hello, world"
console.log "héllo ✓ 日本"
console.log a for a in process.argv[2..]
process.stdout.write fs.readFileSync 0
process.exitCode = 3
""",
        "multi": {
            "main.coffee": """\
{greet, crash} = require "./util"
console.log greet "multi"
crash()
""",
            "util.coffee": """\
exports.greet = (name) -> "hello, #{name}"
exports.crash = -> throw new Error "boom"
""",
        },
    },
    "kotlin": {
        "compiled": True,
        "main": """\
fun main(args: Array<String>) {
    println("hello, world")
    println("héllo ✓ 日本")
    for (a in args) println(a)
    System.out.flush()
    System.`in`.copyTo(System.out)
    System.out.flush()
    kotlin.system.exitProcess(3)
}
""",
        "multi": {
            "main.kt": """\
fun main() {
    println(greet("multi"))
    crash()
}
""",
            "util.kt": """\
fun greet(name: String): String = "hello, $name"

fun crash(): Nothing = throw IllegalStateException("boom")
""",
        },
        "compile_error": 'fun main() {\n    val x =\n}\n',
    },
    "groovy": {
        "compiled": False,
        "main": """\
println "hello, world"
println "héllo ✓ 日本"
args.each { println it }
System.out.flush()
System.out << System.in.text
System.out.flush()
System.exit(3)
""",
        "multi": {
            "main.groovy": """\
println Util.greet("multi")
Util.crash()
""",
            "Util.groovy": """\
class Util {
    static String greet(String name) { "hello, $name" }
    static void crash() { throw new IllegalStateException("boom") }
}
""",
        },
    },
    "clojure": {
        "compiled": False,
        "main": """\
(println "hello, world")
(println "héllo ✓ 日本")
(doseq [a *command-line-args*] (println a))
(print (slurp *in*))
(flush)
(System/exit 3)
""",
        "multi": {
            "main.clj": """\
(load-file "util.clj")
(println (util/greet "multi"))
(flush)
(util/crash)
""",
            "util.clj": """\
(ns util)

(defn greet [name] (str "hello, " name))

(defn crash [] (throw (IllegalStateException. "boom")))
""",
        },
    },
    "csharp": {
        "compiled": True,
        "main": """\
using System;

class Program
{
    static int Main(string[] args)
    {
        Console.WriteLine("hello, world");
        Console.WriteLine("héllo ✓ 日本");
        foreach (var a in args)
            Console.WriteLine(a);
        Console.Out.Flush();
        using (var stdin = Console.OpenStandardInput())
        using (var stdout = Console.OpenStandardOutput())
            stdin.CopyTo(stdout);
        return 3;
    }
}
""",
        "multi": {
            "main.cs": """\
using System;

class Program
{
    static void Main()
    {
        Console.WriteLine(Util.Greet("multi"));
        Console.Out.Flush();
        Util.Crash();
    }
}
""",
            "util.cs": """\
using System;

static class Util
{
    public static string Greet(string name) => "hello, " + name;
    public static void Crash() => throw new InvalidOperationException("boom");
}
""",
        },
        "compile_error": 'class P\n{\n    static void Main() { int x = }\n}\n',
    },
    "d": {
        "compiled": True,
        "main": """\
import std.stdio;

int main(string[] args)
{
    writeln("hello, world");
    writeln("héllo ✓ 日本");
    foreach (a; args[1 .. $])
        writeln(a);
    foreach (ubyte[] chunk; stdin.byChunk(4096))
        stdout.rawWrite(chunk);
    return 3;
}
""",
        "multi": {
            "main.d": """\
import std.stdio;
import util;

void main()
{
    writeln(greet("multi"));
    stdout.flush();
    crash();
}
""",
            "util.d": """\
module util;

string greet(string name)
{
    return "hello, " ~ name;
}

void crash()
{
    throw new Exception("boom");
}
""",
        },
        "compile_error": 'void main()\n{\n    int x =\n}\n',
    },
    "crystal": {
        "compiled": True,
        "main": """\
puts "hello, world"
puts "héllo ✓ 日本"
ARGV.each { |a| puts a }
IO.copy(STDIN, STDOUT)
exit 3
""",
        "multi": {
            "main.cr": """\
require "./util"

puts greet("multi")
crash
""",
            "util.cr": """\
def greet(name : String) : String
  "hello, #{name}"
end

def crash
  raise "boom"
end
""",
        },
        "compile_error": 'puts "x" +\n',
    },
    "cobol": {
        "compiled": True,
        "main": """\
       IDENTIFICATION DIVISION.
       PROGRAM-ID. MAIN.
       DATA DIVISION.
       WORKING-STORAGE SECTION.
       01 ARG-COUNT PIC 9(4).
       01 I PIC 9(4).
       01 ARG-VALUE PIC X(256).
       01 LINE-IN PIC X(1024).
       01 AT-END PIC 9 VALUE 0.
       PROCEDURE DIVISION.
           DISPLAY "hello, world"
           DISPLAY "héllo ✓ 日本"
           ACCEPT ARG-COUNT FROM ARGUMENT-NUMBER
           PERFORM VARYING I FROM 1 BY 1 UNTIL I > ARG-COUNT
               ACCEPT ARG-VALUE FROM ARGUMENT-VALUE
               DISPLAY FUNCTION TRIM(ARG-VALUE TRAILING)
           END-PERFORM
           PERFORM UNTIL AT-END = 1
               ACCEPT LINE-IN
                   ON EXCEPTION MOVE 1 TO AT-END
                   NOT ON EXCEPTION
                       DISPLAY FUNCTION TRIM(LINE-IN TRAILING)
               END-ACCEPT
           END-PERFORM
           MOVE 3 TO RETURN-CODE
           STOP RUN.
""",
        "multi": {
            "main.cob": """\
       IDENTIFICATION DIVISION.
       PROGRAM-ID. MAIN.
       DATA DIVISION.
       WORKING-STORAGE SECTION.
       01 GREETING PIC X(64).
       PROCEDURE DIVISION.
           CALL "GREET" USING BY CONTENT "multi" BY REFERENCE GREETING
           DISPLAY FUNCTION TRIM(GREETING TRAILING)
           CALL "CRASH"
           STOP RUN.
""",
            "util.cob": """\
       IDENTIFICATION DIVISION.
       PROGRAM-ID. GREET.
       DATA DIVISION.
       LINKAGE SECTION.
       01 NAME PIC X(5).
       01 GREETING PIC X(64).
       PROCEDURE DIVISION USING NAME GREETING.
           STRING "hello, " NAME DELIMITED BY SIZE INTO GREETING
           GOBACK.
       END PROGRAM GREET.

       IDENTIFICATION DIVISION.
       PROGRAM-ID. CRASH.
       PROCEDURE DIVISION.
      *    A call of a program that does not exist is a runtime error.
           CALL "boom"
           GOBACK.
       END PROGRAM CRASH.
""",
        },
        "compile_error": '       IDENTIFICATION DIVISION.\n       PROGRAM-ID. MAIN.\n       PROCEDURE DIVISION.\n           DISPLAYY "x"\n           STOP RUN.\n',
    },
    # The runtime error: a message on stderr, then an invalid instruction (SIGILL).
    "nasm": {
        "compiled": True,
        "main": """\
; x86-64 Linux: write(2) and exit(2) system calls.
        global  _start

        section .data
hello:  db      "hello, world", 10, "héllo ✓ 日本", 10
hello_len equ   $ - hello
nl:     db      10

        section .bss
buf:    resb    4096

        section .text
_start:
        mov     rax, 1                  ; write(1, hello, hello_len)
        mov     rdi, 1
        lea     rsi, [rel hello]
        mov     rdx, hello_len
        syscall

        mov     r12, [rsp]              ; argc
        lea     r13, [rsp + 16]         ; argv[1]
        dec     r12
.args:  test    r12, r12
        jz      .copy
        mov     rsi, [r13]              ; strlen(argv[i])
        xor     rdx, rdx
.len:   cmp     byte [rsi + rdx], 0
        je      .print
        inc     rdx
        jmp     .len
.print: mov     rax, 1
        mov     rdi, 1
        syscall
        mov     rax, 1
        mov     rdi, 1
        lea     rsi, [rel nl]
        mov     rdx, 1
        syscall
        add     r13, 8
        dec     r12
        jmp     .args

.copy:  xor     rax, rax                ; read(0, buf, 4096)
        xor     rdi, rdi
        lea     rsi, [rel buf]
        mov     rdx, 4096
        syscall
        test    rax, rax
        jle     .done
        mov     rdx, rax                ; write(1, buf, n)
        mov     rax, 1
        mov     rdi, 1
        lea     rsi, [rel buf]
        syscall
        jmp     .copy

.done:  mov     rax, 60                 ; exit(3)
        mov     rdi, 3
        syscall
""",
        "multi": {
            "main.asm": """\
        global  _start
        extern  greet, crash

        section .text
_start:
        call    greet
        call    crash
""",
            "util.asm": """\
        global  greet, crash

        section .data
msg:    db      "hello, multi", 10
msg_len equ     $ - msg
err:    db      "boom", 10
err_len equ     $ - err

        section .text
greet:  mov     rax, 1                  ; write(1, msg, msg_len)
        mov     rdi, 1
        lea     rsi, [rel msg]
        mov     rdx, msg_len
        syscall
        ret

crash:  mov     rax, 1                  ; write(2, err, err_len)
        mov     rdi, 2
        lea     rsi, [rel err]
        mov     rdx, err_len
        syscall
        ud2                             ; SIGILL
""",
        },
        "compile_error": '        global  _start\n_start: mov     rax,\n',
    },
    "llvm_ir": {
        "compiled": True,
        "main": """\
@hello = private constant [31 x i8] c"hello, world\\0Ah\\C3\\A9llo \\E2\\9C\\93 \\E6\\97\\A5\\E6\\9C\\AC\\00"

declare i32 @puts(i8*)
declare i32 @getchar()
declare i32 @putchar(i32)

define i32 @main(i32 %argc, i8** %argv) {
entry:
  call i32 @puts(i8* getelementptr ([31 x i8], [31 x i8]* @hello, i64 0, i64 0))
  br label %args

args:
  %i = phi i32 [ 1, %entry ], [ %next, %print ]
  %more = icmp slt i32 %i, %argc
  br i1 %more, label %print, label %copy

print:
  %slot = getelementptr i8*, i8** %argv, i32 %i
  %arg = load i8*, i8** %slot
  call i32 @puts(i8* %arg)
  %next = add i32 %i, 1
  br label %args

copy:
  %c = call i32 @getchar()
  %eof = icmp eq i32 %c, -1
  br i1 %eof, label %done, label %put

put:
  call i32 @putchar(i32 %c)
  br label %copy

done:
  ret i32 3
}
""",
        "multi": {
            "main.ll": """\
declare i8* @greet(i8*)
declare void @crash()
declare i32 @puts(i8*)

@name = private constant [6 x i8] c"multi\\00"

define i32 @main() {
  %g = call i8* @greet(i8* getelementptr ([6 x i8], [6 x i8]* @name, i64 0, i64 0))
  call i32 @puts(i8* %g)
  call void @crash()
  ret i32 0
}
""",
            "util.ll": """\
%struct.FILE = type opaque

@buf = internal global [64 x i8] zeroinitializer
@fmt = private constant [10 x i8] c"hello, %s\\00"
@boom = private constant [6 x i8] c"boom\\0A\\00"
@stdout = external global %struct.FILE*
@stderr = external global %struct.FILE*

declare i32 @snprintf(i8*, i64, i8*, ...)
declare i32 @fflush(%struct.FILE*)
declare i32 @fputs(i8*, %struct.FILE*)
declare void @abort()

define i8* @greet(i8* %name) {
  %b = getelementptr [64 x i8], [64 x i8]* @buf, i64 0, i64 0
  %f = getelementptr [10 x i8], [10 x i8]* @fmt, i64 0, i64 0
  call i32 (i8*, i64, i8*, ...) @snprintf(i8* %b, i64 64, i8* %f, i8* %name)
  ret i8* %b
}

define void @crash() {
  %out = load %struct.FILE*, %struct.FILE** @stdout
  call i32 @fflush(%struct.FILE* %out)
  %err = load %struct.FILE*, %struct.FILE** @stderr
  %m = getelementptr [6 x i8], [6 x i8]* @boom, i64 0, i64 0
  call i32 @fputs(i8* %m, %struct.FILE* %err)
  call void @abort()
  unreachable
}
""",
        },
        "compile_error": 'define i32 @main() {\n  ret i32\n}\n',
    },
    "verilog": {
        "compiled": True,
        "lacks": {
            "args": "a Verilog program sees only +NAME=VALUE arguments ($value$plusargs)",
            "exit": "vvp 11 has no way to set the exit status (only $fatal: 1)",
            "stderr": "vvp reports $fatal on stdout",
        },
        "main": """\
module main;
  integer c;
  initial begin
    $display("hello, world");
    $display("héllo ✓ 日本");
    c = $fgetc(32'h8000_0000);
    while (c != -1) begin
      $write("%c", c);
      c = $fgetc(32'h8000_0000);
    end
    $finish;
  end
endmodule
""",
        "multi": {
            "main.v": """\
module main;
  util u();
  initial begin
    u.greet("multi");
    u.crash;
  end
endmodule
""",
            "util.v": """\
module util;
  task greet(input [8*16-1:0] name);
    $display("hello, %0s", name);
  endtask

  task crash;
    $fatal(1, "boom");
  endtask
endmodule
""",
        },
        "compile_error": 'module main;\n  initial $display("x")\nendmodule\n',
    },
    "racket": {
        "compiled": False,
        "main": """\
#lang racket/base
(require racket/port)
(displayln "hello, world")
(displayln "héllo ✓ 日本")
(for ([a (current-command-line-arguments)]) (displayln a))
(copy-port (current-input-port) (current-output-port))
(exit 3)
""",
        "multi": {
            "main.rkt": """\
#lang racket/base
(require "util.rkt")
(displayln (greet "multi"))
(flush-output)
(crash)
""",
            "util.rkt": """\
#lang racket/base
(provide greet crash)
(define (greet name) (string-append "hello, " name))
(define (crash) (error "boom"))
""",
        },
    },
}

# python-slim runs the same programs as python.
SNIPPETS["python-slim"] = SNIPPETS["python"]
# pypy (also python 3.9) runs them too.
SNIPPETS["pypy"] = SNIPPETS["python"]
# dash runs the POSIX shell programs of bash.
SNIPPETS["dash"] = SNIPPETS["bash"]


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
    names = [rt["language"] for rt in _RUNTIMES]
    metafunc.parametrize("rt", [pytest.param(rt, id=rt["language"] if names.count(rt["language"]) == 1
                                             else f"{rt['language']}@{rt['version']}")
                                for rt in rts])


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
# Requests ahead of their tests

AHEAD_JOBS = int(os.environ.get("ISOBOX_TEST_LANG_JOBS", "2"))


class Ahead:
    """Sends the requests of the next tests of one test function while the
    current test waits for or checks its own, `jobs` at a time.

    jobs: {test function name: job}; job(item) does what the test would
    otherwise do inline before its assertions (it may assert too: its
    exception is raised in the test it belongs to, by result()). Only the
    tests selected for this run are started ahead, only those of the same
    function as the current one (so nothing overlaps a test of another
    function) and at most `jobs` of them at once. serial_key(item), when
    given, names jobs that must not run at the same time (the same
    language in test_warm_parity.py). With jobs 1 a job runs inside its
    test, as before."""

    def __init__(self, session, path, funcs, jobs=AHEAD_JOBS, serial_key=None):
        self.funcs = funcs
        self.jobs = max(1, jobs)
        self.serial_key = serial_key
        self.items = [it for it in session.items
                      if str(it.fspath) == str(path)
                      and getattr(it, "originalname", None) in funcs]
        self.index = {it.nodeid: i for i, it in enumerate(self.items)}
        self.futures = {}
        self.locks = {}
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=self.jobs) if self.jobs > 1 else None

    def _run(self, item):
        job = self.funcs[item.originalname]
        if self.serial_key is None:
            return job(item)
        with self.lock:
            lk = self.locks.setdefault(self.serial_key(item), threading.Lock())
        with lk:
            return job(item)

    def result(self, item):
        """What job(item) returned (or raises what it raised)."""
        i = self.index.get(item.nodeid)
        if self.pool is None or i is None:
            return self._run(item)
        for it in self.items[i:i + self.jobs]:
            if it.originalname == item.originalname and it.nodeid not in self.futures:
                self.futures[it.nodeid] = self.pool.submit(self._run, it)
        return self.futures.pop(item.nodeid).result()

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _main_request(rt):
    row = snippets_of(rt)
    return run_ok({"language": rt["language"], "version": rt["version"],
                   "code": row["main"], "args": ARGS, "stdin": STDIN})


def _multi_request(rt):
    row = snippets_of(rt)
    if "multi" in (row.get("lacks") or {}):
        return None  # the test skips
    files = [{"name": n, "content": c} for n, c in row["multi"].items()]
    files.append({"name": DATA_FILE[0], "content": DATA_FILE[1]})
    spec = f"{alias_of(rt, -1)}@{version_prefix(rt['version'])}"
    return run_ok({"language": spec, "files": files})


def _compile_error_request(rt):
    row = snippets_of(rt)
    return run_ok({"language": rt["language"], "code": row["compile_error"]})


@pytest.fixture(scope="module")
def ahead(request):
    a = Ahead(request.session, __file__, {
        "test_main": lambda it: _main_request(it.callspec.params["rt"]),
        "test_multi_file": lambda it: _multi_request(it.callspec.params["rt"]),
        "test_compile_error": lambda it: _compile_error_request(it.callspec.params["rt"]),
    })
    yield a
    a.close()


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
    assert row.get("main"), rt["language"]
    assert row.get("multi") or "multi" in (row.get("lacks") or {}), rt["language"]
    assert set(row.get("lacks") or {}) <= {"args", "exit", "multi", "stderr"}, row["lacks"]


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


def test_main(rt, ahead, request):
    row = snippets_of(rt)
    lacks = row.get("lacks") or {}
    want_stdout = MAIN_STDOUT
    if "args" in lacks:
        want_stdout = "hello, world\n" + UNICODE + "\n" + STDIN
    want_exit = 0 if "exit" in lacks else MAIN_EXIT
    doc = ahead.result(request.node)  # _main_request(rt)
    assert doc["language"] == rt["language"] and doc["version"] == rt["version"], doc
    check_compile_stage(rt, doc)
    run = doc["run"]
    assert run["stdout"] == want_stdout, \
        f"stdout differs (hello, Unicode, args, stdin)\n{describe(doc)}"
    assert run["exitCode"] == want_exit and run["signal"] is None, \
        f"exit status {run['exitCode']} instead of {want_exit}\n{describe(doc)}"
    assert run["stderr"] == "", f"unexpected stderr\n{describe(doc)}"
    assert not run["timedOut"] and not run["oomKilled"] and not run["truncated"], describe(doc)


def test_multi_file(rt, ahead, request):
    row = snippets_of(rt)
    if "multi" in (row.get("lacks") or {}):
        pytest.skip(row["lacks"]["multi"])
    doc = ahead.result(request.node)  # _multi_request(rt)
    assert doc["language"] == rt["language"] and doc["version"] == rt["version"], doc
    check_compile_stage(rt, doc)
    run = doc["run"]
    if "stderr" in (row.get("lacks") or {}):
        assert run["stdout"].startswith(MULTI_STDOUT), \
            f"the entry did not print the second file's greeting\n{describe(doc)}"
        assert "boom" in run["stdout"][len(MULTI_STDOUT):] + run["stderr"], \
            f"the runtime error is not reported\n{describe(doc)}"
    else:
        assert run["stdout"] == MULTI_STDOUT, \
            f"the entry did not print the second file's greeting\n{describe(doc)}"
        assert "boom" in run["stderr"], f"the runtime error is not on stderr\n{describe(doc)}"
    assert run["exitCode"] != 0, f"a runtime error exited 0\n{describe(doc)}"
    assert not run["timedOut"] and not run["oomKilled"], describe(doc)


def test_compile_error(rt, ahead, request):
    snippets_of(rt)
    doc = ahead.result(request.node)  # _compile_error_request(rt)
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
