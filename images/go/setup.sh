# Runs inside the image at build time (see images/README.md).
set -eu
GOROOT=/usr/lib/go-1.19
# The standard library as the sandbox builds it (CGO_ENABLED=0, from env),
# installed into GOROOT/pkg, so nothing of it is compiled per request.
go install std
# The compiler's own test suite.
rm -rf /usr/share/go-1.19/test
cat >/usr/local/bin/isobox-go-build <<'SH'
#!/bin/sh
# isobox-go-build OUT FILE... - build the Go program in the current directory
# (/box) into OUT; its diagnostics go to stderr.
#
# - go.mod present: "go build" in module mode (no network: GOPROXY=off).
# - .go files in subdirectories: "go build" in GOPATH mode with /box as
#   GOPATH/src, so /box/util is imported as "util".
# - otherwise (one package main): the .go files given are compiled with
#   "go tool compile" and linked with "go tool link" against the standard
#   library installed in GOROOT/pkg. This skips the go command's package
#   loading and hashing, which alone takes about 2 s under gVisor.
exec 1>&2
out=$1
shift
if [ -f go.mod ]; then
	exec go build -o "$out" .
fi
if [ -n "$(find . -mindepth 2 -name '*.go' -print -quit)" ]; then
	mkdir -p /tmp/gopath
	ln -sfn "$PWD" /tmp/gopath/src
	cd /tmp/gopath/src
	GO111MODULE=off GOPATH=/tmp/gopath exec go build -o "$out" .
fi
for f; do
	case $f in
	*_test.go | */*) ;;
	*.go) set -- "$@" "$f" ;;
	esac
	shift
done
tool=$(go env GOTOOLDIR)
pkg=$(go env GOROOT)/pkg/linux_amd64
"$tool/compile" -o /tmp/isobox-main.a -p main -complete -I "$pkg" -pack "$@" || exit
exec "$tool/link" -s -w -o "$out" -L "$pkg" -buildmode=exe /tmp/isobox-main.a
SH
chmod 0755 /usr/local/bin/isobox-go-build
# Fail the build if the fast path does not work.
mkdir -p /tmp/t && cd /tmp/t
printf 'package main\nimport "fmt"\nfunc main() { fmt.Println("ok") }\n' >main.go
isobox-go-build /tmp/t/a.out main.go
test "$(./a.out)" = ok
cd / && rm -rf /tmp/t /root/.cache
