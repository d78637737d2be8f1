# Runs inside the image at build time (see images/README.md).
set -eu
# The libraries' own test suites are ~150 MB with their byte code (pandas,
# sympy, scipy, numpy, matplotlib); user code has no use for them.
find /usr/lib/python3/dist-packages -type d -name tests -prune -exec rm -rf {} +
# Fail the build if a core library does not import (the optional ones may be
# dropped from the package list).
python3 -c 'import numpy, pandas, requests, httpx, bs4, lxml.etree'
# Interpreter start-up does less (every file it stats or opens is a round
# trip through gVisor's Sentry, ~0.05 CPU-s per run on ptrace):
# - matplotlib's *-nspkg.pth imports importlib.util and builds the
#   mpl_toolkits module at every start; mpl_toolkits has an __init__.py,
#   so it imports the ordinary way without it;
# - Debian's sitecustomize only tries to import apport, which the image
#   does not have.
for pth in /usr/lib/python3/dist-packages/*-nspkg.pth; do
	[ -f "$pth" ] || continue
	pkg=$(sed -n "s/.*os.path.join(sys._getframe(1).f_locals\['sitedir'\], \*('\([A-Za-z0-9_]*\)',)).*/\1/p" "$pth")
	if [ -n "$pkg" ] && [ -f "/usr/lib/python3/dist-packages/$pkg/__init__.py" ]; then
		rm -f "$pth"
	fi
done
rm -f /etc/python3.*/sitecustomize.py
python3 -c 'import mpl_toolkits.mplot3d, matplotlib; matplotlib.use("Agg")'
