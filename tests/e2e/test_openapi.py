"""test_openapi.py - the API description the service serves: GET /openapi.yaml
is valid OpenAPI 3.1 (checked by Redocly CLI, an npm package run with node
from tests/node), covers every route of the router's table (as
`isoboxctl routes` prints it) with the right method and security, and
describes the live answers; GET /llms.txt is the agents' guide.

Needs: isoboxctl (build/isoboxctl, $ISOBOX_CTL_BIN or the installed one),
python3-yaml (Debian), node + npm (tests/node/package.json pins
@redocly/cli; `npm ci --prefix tests/node` is run here when it is missing).
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest
import requests

from conftest import BASE_URL, assert_error, execute, full_url, strict_json

yaml = pytest.importorskip("yaml", reason="python3-yaml (Debian) is needed")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_DIR = os.path.join(REPO, "tests", "node")
REDOCLY = os.path.join(NODE_DIR, "node_modules", ".bin", "redocly")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def isoboxctl():
    """The isoboxctl to ask: $ISOBOX_CTL_BIN, else the one built in build/,
    else the installed one."""
    for cand in (os.environ.get("ISOBOX_CTL_BIN"),
                 os.path.join(REPO, "build", "isoboxctl"),
                 shutil.which("isoboxctl"), "/usr/local/bin/isoboxctl"):
        if cand and os.access(cand, os.X_OK):
            return cand
    pytest.fail("no isoboxctl binary (build it, or set ISOBOX_CTL_BIN)")


def router_table():
    """[(METHOD, path, name, public, limited)] of the router's own table, as
    `isoboxctl routes` prints it (src/router.c's routes[],
    router_route_public and router_route_limited). A prefix route
    ("/v1/memory*") stands for the templated paths under it
    (PREFIX_PATHS)."""
    r = subprocess.run([isoboxctl(), "routes"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "isoboxctl routes: %s%s" % (r.stdout, r.stderr)
    rows = []
    for line in r.stdout.splitlines():
        method, path, name, access, limit = line.split()
        assert access in ("public", "key"), line
        assert limit in ("limited", "unlimited"), line
        if path.endswith("*"):
            assert path in PREFIX_PATHS, "prefix route %s has no templated paths here" % path
            tmpl = PREFIX_PATHS[path]
            if isinstance(tmpl, dict):
                assert method in tmpl, "%s %s has no templated paths here" % (method, path)
                paths = tmpl[method]
            else:
                paths = [p for p in tmpl if method == "GET" or p.count("{") == 2]
        else:
            paths = [path]
        rows += [(method, p, name, access == "public", limit == "limited") for p in paths]
    assert rows, "isoboxctl routes printed no route"
    return rows


# The templated OpenAPI paths a prefix route serves: a list (GET on each,
# the other methods on the item path only) or, per method, its paths.
PREFIX_PATHS = {
    "/v1/memory*": ["/v1/memory", "/v1/memory/{namespace}",
                    "/v1/memory/{namespace}/{key}"],
    "/v1/sessions*": {
        "GET": ["/v1/sessions", "/v1/sessions/{id}", "/v1/sessions/{id}/fs"],
        "POST": ["/v1/sessions", "/v1/sessions/{id}/exec",
                 "/v1/sessions/{id}/interrupt", "/v1/sessions/{id}/fork",
                 "/v1/sessions/{id}/restart"],
        "PUT": ["/v1/sessions/{id}/fs"],
        "PATCH": ["/v1/sessions/{id}"],
        "DELETE": ["/v1/sessions/{id}", "/v1/sessions/{id}/fs"],
    },
    "/v1/volumes*": {
        "GET": ["/v1/volumes", "/v1/volumes/{id}", "/v1/volumes/{id}/fs"],
        "POST": ["/v1/volumes"],
        "PUT": ["/v1/volumes/{id}/fs"],
        "DELETE": ["/v1/volumes/{id}", "/v1/volumes/{id}/fs"],
    },
}


@pytest.fixture(scope="module")
def served():
    r = requests.get(full_url("/openapi.yaml"), timeout=30)
    assert r.status_code == 200, "GET /openapi.yaml: %d %s" % (r.status_code, r.text[:300])
    assert r.text.strip(), "GET /openapi.yaml is empty (docs/openapi.yaml not installed?)"
    return r


@pytest.fixture(scope="module")
def spec(served):
    doc = yaml.safe_load(served.text)
    assert isinstance(doc, dict), type(doc)
    return doc


@pytest.fixture(scope="module")
def redocly():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed (tests/node)")
    if not os.access(REDOCLY, os.X_OK):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", NODE_DIR],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, "npm ci in tests/node failed: %s%s" % (r.stdout, r.stderr)
    assert os.access(REDOCLY, os.X_OK), "%s is missing after npm ci" % REDOCLY
    return REDOCLY


def redocly_env():
    env = dict(os.environ)
    env.update({"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
                "NO_COLOR": "1", "FORCE_COLOR": "0"})
    return env


# --------------------------------------------------------------------------


def test_openapi_served_as_yaml(served, spec):
    ctype = served.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() in ("application/yaml", "application/x-yaml",
                                           "text/yaml"), ctype
    assert str(spec.get("openapi", "")).startswith("3.1"), spec.get("openapi")
    assert spec["info"]["title"] and spec["info"]["version"]
    with open(os.path.join(REPO, "docs", "openapi.yaml")) as f:
        assert served.text == f.read(), (
            "the served /openapi.yaml differs from docs/openapi.yaml: reinstall "
            "(scripts/quickstart or make install)")
    head = requests.head(full_url("/openapi.yaml"), timeout=30)
    assert head.status_code == 200


def test_openapi_valid_by_redocly(served, redocly):
    with tempfile.TemporaryDirectory(prefix="isobox-openapi-") as d:
        path = os.path.join(d, "openapi.yaml")
        with open(path, "w") as f:
            f.write(served.text)
        r = subprocess.run([redocly, "lint", "--format", "stylish", path], cwd=d,
                           capture_output=True, text=True, timeout=180, env=redocly_env())
    out = r.stdout + r.stderr
    print(out[-3000:])
    assert r.returncode == 0, "redocly lint failed:\n%s" % out[-6000:]
    problems = [ln for ln in out.splitlines()
                if re.search(r"\b(error|warning)\b", ln, re.I) and "Deprecation" not in ln
                and "Node.js" not in ln]
    assert not problems, "redocly lint reports problems:\n%s" % "\n".join(problems)


def test_every_route_is_described(spec):
    paths = spec.get("paths") or {}
    table = router_table()
    missing = []
    for method, path, name, _, _ in table:
        ops = paths.get(path) or {}
        if method.lower() not in ops:
            missing.append("%s %s (%s)" % (method, path, name))
    assert not missing, "routes of the router missing from the spec: %s" % missing
    # and nothing the server does not route
    routed = {(m.lower(), p) for m, p, _, _, _ in table}
    extra = ["%s %s" % (m.upper(), p) for p, ops in paths.items() for m in ops
             if m in METHODS and (m, p) not in routed]
    assert not extra, "the spec describes routes that the router does not have: %s" % extra
    print("%d routes described: %s" % (len(table), ["%s %s" % (m, p) for m, p, _, _, _ in table]))


def test_security_matches_the_router(spec):
    schemes = spec["components"]["securitySchemes"]
    kinds = {(s["type"], s.get("in"), s.get("name"), s.get("scheme")) for s in schemes.values()}
    assert ("apiKey", "header", "X-API-Key", None) in kinds, schemes
    assert ("http", None, None, "bearer") in kinds, schemes
    for method, path, _, public, limited in router_table():
        op = spec["paths"][path][method.lower()]
        sec = op.get("security", spec.get("security"))
        if public:
            assert not sec, "%s %s is public in the router but needs a key in the spec: %s" % (
                method, path, sec)
        else:
            assert sec, "%s %s needs a key (router) but the spec says none" % (method, path)
            used = {k for req in sec for k in req}
            assert used >= set(schemes), (method, path, sec)
            assert "401" in op["responses"], "%s %s lacks its 401" % (method, path)
        if limited:  # router_route_limited()
            assert "429" in op["responses"], "%s %s lacks its 429" % (method, path)


def test_documented_statuses(spec):
    ex = spec["paths"]["/execute"]["post"]
    for status in ("200", "400", "401", "403", "405", "413", "415", "429", "503"):
        assert status in ex["responses"], "POST /execute lacks %s" % status
    assert "text/event-stream" in ex["responses"]["200"]["content"]
    for method, path, _, _, _ in router_table():
        assert "405" in spec["paths"][path][method.lower()]["responses"], (method, path)
    resp = spec["components"]["responses"]
    assert "Retry-After" in resp["TooManyRequests"]["headers"]
    assert "WWW-Authenticate" in resp["Unauthorized"]["headers"]
    assert "Allow" in resp["MethodNotAllowed"]["headers"]
    assert "404" in spec["paths"]["/openapi.yaml"]["get"]["responses"]
    codes = set(spec["components"]["schemas"]["Error"]["properties"]["error"]["enum"])
    with open(os.path.join(REPO, "docs", "API.md")) as f:
        api_md = f.read()
    table = set(re.findall(r"^\|\s*\d{3}\s*\|\s*`(\w+)`", api_md, re.M))
    assert table, "no error table in docs/API.md"
    assert table <= codes, "error codes of docs/API.md missing from the spec: %s" % (table - codes)
    for c in ("unauthorized", "rate_limited", "capacity"):
        assert c in codes, c


# --------------------------------------------------------------------------
# the live answers match the schemas (a small JSON Schema subset checker:
# $ref, type, const, enum, required, properties, items, oneOf, minimum)


def _resolve(spec, ref):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _type_ok(t, v):
    return {
        "object": isinstance(v, dict), "array": isinstance(v, list),
        "string": isinstance(v, str), "boolean": isinstance(v, bool),
        "integer": isinstance(v, int) and not isinstance(v, bool),
        "number": isinstance(v, (int, float)) and not isinstance(v, bool),
        "null": v is None,
    }[t]


def conform(spec, schema, v, where="$"):
    """Problems of value v against schema (a list of strings)."""
    if "$ref" in schema:
        probs = conform(spec, _resolve(spec, schema["$ref"]), v, where)
        rest = {k: x for k, x in schema.items() if k not in ("$ref", "description")}
        return probs + (conform(spec, rest, v, where) if rest else [])
    probs = []
    if "oneOf" in schema:
        ok = [s for s in schema["oneOf"] if not conform(spec, s, v, where)]
        if len(ok) != 1:
            probs.append("%s matches %d of oneOf" % (where, len(ok)))
    if "type" in schema:
        ts = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(t, v) for t in ts):
            return probs + ["%s: %r is not %s" % (where, v, ts)]
    if "const" in schema and v != schema["const"]:
        probs.append("%s: %r != const %r" % (where, v, schema["const"]))
    if "enum" in schema and v not in schema["enum"]:
        probs.append("%s: %r not in %s" % (where, v, schema["enum"]))
    if "minimum" in schema and isinstance(v, (int, float)) and v < schema["minimum"]:
        probs.append("%s: %r < %r" % (where, v, schema["minimum"]))
    if isinstance(v, dict):
        for k in schema.get("required", []):
            if k not in v:
                probs.append("%s: missing %s" % (where, k))
        for k, s in (schema.get("properties") or {}).items():
            if k in v:
                probs += conform(spec, s, v[k], "%s.%s" % (where, k))
    if isinstance(v, list) and "items" in schema:
        for i, x in enumerate(v):
            probs += conform(spec, schema["items"], x, "%s[%d]" % (where, i))
    return probs


def _schema_of(spec, path, method, status, ctype="application/json"):
    r = spec["paths"][path][method]["responses"][status]
    if "$ref" in r:
        r = _resolve(spec, r["$ref"])
    return r["content"][ctype]["schema"]


def _assert_conforms(spec, path, method, status, resp):
    body = strict_json(resp)
    probs = conform(spec, _schema_of(spec, path, method, str(status)), body)
    assert not probs, "%s %s %s does not match the spec: %s\n%s" % (
        method.upper(), path, status, probs, resp.text[:1500])


def test_live_answers_match_the_schemas(spec):
    for path in ("/healthz", "/runtimes", "/readyz", "/api/v2/runtimes"):
        r = requests.get(full_url(path), timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        _assert_conforms(spec, path, "get", 200, r)

    r = execute({"language": "python", "code": "print('spec')"})
    assert r.status_code == 200, r.text
    _assert_conforms(spec, "/execute", "post", 200, r)
    r = execute({"language": "python", "code": "import sys; sys.exit(3)"})
    _assert_conforms(spec, "/execute", "post", 200, r)
    assert r.json()["run"]["exitCode"] == 3

    r = execute({"language": "no-such-language", "code": "x"})
    assert_error(r, 400, "unknown_language")
    _assert_conforms(spec, "/execute", "post", 400, r)
    r = execute({"language": "python", "code": "print(1)", "network": True})
    assert_error(r, 403, "network_unavailable")
    _assert_conforms(spec, "/execute", "post", 403, r)
    r = execute("text", headers={"Content-Type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type")
    _assert_conforms(spec, "/execute", "post", 415, r)
    r = requests.get(full_url("/execute"), timeout=30)
    assert_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers.get("Allow", ""), r.headers
    _assert_conforms(spec, "/execute", "post", 405, r)
    r = requests.get(full_url("/no/such/route"), timeout=30)
    assert_error(r, 404, "not_found")
    probs = conform(spec, {"$ref": "#/components/schemas/Error"}, r.json())
    assert not probs, probs

    text = requests.get(full_url("/metrics"), timeout=30)
    assert text.status_code == 200
    assert text.headers.get("Content-Type", "").startswith("text/plain")


def test_llms_txt():
    r = requests.get(full_url("/llms.txt"), timeout=30)
    assert r.status_code == 200, r.status_code
    ctype = r.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "text/plain", ctype
    text = r.text
    assert text.startswith("# isobox"), text[:100]
    for needle in ("/execute", "/runtimes", "/openapi.yaml", "exitCode", "timedOut",
                   "oomKilled", "truncated", "text/event-stream", "Retry-After",
                   "X-API-Key", "429", "limits"):
        assert needle in text, "llms.txt does not mention %s" % needle
    with open(os.path.join(REPO, "docs", "llms.txt")) as f:
        assert text == f.read(), "the served /llms.txt differs from docs/llms.txt: reinstall"
    print("llms.txt: %d bytes from %s" % (len(text), BASE_URL))
