# Runs inside the image at build time (see images/README.md).
set -eu
cat >/usr/local/bin/isobox-sqlite <<'SH'
#!/bin/sh
# isobox-sqlite FILE [ARG...] - run the SQL script FILE (dot-commands too)
# in a fresh in-memory database with sqlite3 -bail: the first error stops
# it with exit status 1; ".exit N" sets the status. The arguments are rows
# of the table args(i INTEGER PRIMARY KEY, value TEXT), in order (i from 1).
# stdin is left to the script, e.g.: .import /dev/stdin TABLE
#
# No subprocess before sqlite3: under gVisor each fork and exec costs more
# than the rest of a small script's run.

# q=$1 with each ' doubled, for a '...' SQL literal.
dq() {
	q= r=$1
	while :; do
		case $r in
		*"'"*)
			q=$q${r%%"'"*}"''"
			r=${r#*"'"}
			;;
		*)
			q=$q$r
			return
			;;
		esac
	done
}
dq "$1"
f=$q
shift
sql="CREATE TEMP TABLE args(i INTEGER PRIMARY KEY, value TEXT);"
for a; do
	dq "$a"
	sql="$sql INSERT INTO args(value) VALUES ('$q');"
done
exec sqlite3 -bail -batch :memory: "$sql" ".read '$f'"
SH
chmod 0755 /usr/local/bin/isobox-sqlite
cd /tmp
printf "SELECT group_concat(value, ',') FROM args;\n.exit 3\n" >t.sql
out=$(isobox-sqlite t.sql a "b'c" "''" "d
" || echo "rc=$?")
test "$out" = "a,b'c,'',d

rc=3"
rm -f t.sql
