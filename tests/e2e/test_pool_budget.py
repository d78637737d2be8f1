"""The warm pool's memory budget, once full, goes to the language in more
demand (src/pool.c evict_for): a private deployment through lighttpd, real
Docker and gVisor, whose pool_memory_budget_bytes holds one warm sandbox of
a 128 MiB language. bash is asked for and made warm; then python-slim is
asked for while bash's idle time (10 minutes) is far from over: bash's
sandbox gives way and python-slim's is made, and bash, now in less demand,
does not take it back."""
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
import isobox_deploy as dep  # noqa: E402

MiB = 1 << 20
# Two sandboxes of a 128 MiB language (128 MiB + 48 MiB for gVisor each)
# do not fit; one does.
BUDGET = 300 * MiB
COLD = {"cpus": 0.99}  # no warm sandbox has this shape


@pytest.fixture(scope="module")
def d():
    cfg = {"rate_per_min": 100000, "rate_burst": 100000, "queue_timeout_ms": 60000,
           "pool_languages": "", "pool_size": 0, "pool_max": 1,
           "pool_idle_ms": 600000, "pool_memory_budget_bytes": BUDGET, "concurrency": 2}
    yield from dep.pool_deployment("isobox-budget-", cfg)


def gauge(m, name, lang):
    return sum(v for k, v in m.items() if k.startswith('%s{language="%s",' % (name, lang)))


def ready(d, lang):
    return gauge(d.metrics(), "isobox_pool_language_ready", lang)


def run(d, lang, code, limits=None):
    body = {"language": lang, "code": code}
    if limits:
        body["limits"] = limits
    r = d.execute(body, timeout=120)
    assert r.status_code == 200, r.text[:2000]
    doc = r.json()
    assert doc["run"]["exitCode"] == 0 and doc["run"]["stdout"] == "ok\n", doc
    return d.access_entry(r.headers["X-Request-Id"])


def test_full_budget_goes_to_the_language_in_more_demand(d):
    m = d.metrics()
    assert m["isobox_pool_memory_budget_bytes"] == BUDGET, m
    run(d, "bash", "echo ok", COLD)
    assert dep.wait_for(lambda: ready(d, "bash") == 1, 90, 0.3), d.metrics()
    one = d.metrics()["isobox_pool_memory_bytes"]
    assert one <= BUDGET < 2 * one, (one, BUDGET)

    run(d, "python-slim", "print('ok')", COLD)
    assert dep.wait_for(lambda: ready(d, "python-slim") == 1, 90, 0.3), d.metrics()
    m = d.metrics()
    assert ready(d, "bash") == 0, m
    assert m["isobox_pool_memory_bytes"] <= BUDGET, m
    assert m.get("isobox_pool_evictions_total", 0) >= 1, m
    assert gauge(m, "isobox_pool_target", "bash") == 1, m
    msgs = [o.get("msg", "") for o in d.log_entries()]
    assert any(re.match(r"pool: removed \w+ \(more demand elsewhere\)", x) for x in msgs), msgs[-20:]

    # The warm sandbox serves python-slim; its refill is python-slim's
    # again, not bash's (bash still wants one, in less demand).
    acc = run(d, "python-slim", "print('ok')")
    assert acc.get("warm") is True, acc
    assert dep.wait_for(lambda: ready(d, "python-slim") == 1, 90, 0.3), d.metrics()
    assert ready(d, "bash") == 0, d.metrics()
    assert d.metrics()["isobox_pool_memory_bytes"] <= BUDGET

    # bash asked for again (and more often than python-slim lately): bash
    # takes the budget back.
    run(d, "bash", "echo ok", COLD)
    run(d, "bash", "echo ok", COLD)
    assert dep.wait_for(lambda: ready(d, "bash") == 1, 90, 0.3), d.metrics()
    assert ready(d, "python-slim") == 0, d.metrics()
