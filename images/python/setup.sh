# Runs inside the image at build time (see images/README.md).
set -eu
# The libraries' own test suites are ~150 MB with their byte code (pandas,
# sympy, scipy, numpy, matplotlib); user code has no use for them.
find /usr/lib/python3/dist-packages -type d -name tests -prune -exec rm -rf {} +
# Fail the build if a core library does not import (the optional ones may be
# dropped from the package list).
python3 -c 'import numpy, pandas, requests, httpx, bs4, lxml.etree'
