"""Rate limiter, audit log and Prometheus rendering: the proxy's plumbing, each on its own."""

import sqlite3

import pytest

from safestack.errors import BadInput
from safestack.guard.audit import AuditEvent, AuditLog
from safestack.guard.metrics import Metrics
from safestack.guard.policy import GuardConfig, load_guard_config
from safestack.guard.ratelimit import RateLimiter


def test_token_bucket():
    now = [0.0]
    rl = RateLimiter(clock=lambda: now[0])
    rl.configure("a", rate=2.0, burst=3)
    assert [rl.take("a")[0] for _ in range(4)] == [True, True, True, False]
    ok, wait = rl.take("a")
    assert not ok and wait == pytest.approx(0.5)
    now[0] += 0.5
    assert rl.take("a")[0]
    assert all(rl.take("unlimited")[0] for _ in range(100))


def test_audit_sqlite_batches_and_review_queue(tmp_path):
    db = tmp_path / "a.db"
    log = AuditLog(f"sqlite:///{db}")
    for i in range(250):
        log.record(AuditEvent(f"r{i}", "input", "flag" if i % 50 == 0 else "allow", i % 50 == 0, "k", "violence",
                              0.9, {"rules": ["x"]}, "text", 200, 1.0, review=i % 50 == 0))
    log.close()
    c = sqlite3.connect(db)
    assert c.execute("select count(distinct request_id) from decisions").fetchone()[0] == 250
    assert c.execute("select count(*) from review_queue where status='pending'").fetchone()[0] == 5


def test_audit_rejects_bad_urls():
    with pytest.raises(BadInput, match="sqlite:///"):
        AuditLog("mysql://x")


def test_metrics_text_format():
    m = Metrics()
    m.inc("requests_total", "Requests.", status="200")
    m.inc("requests_total", "Requests.", status="200")
    m.observe("guard_seconds", "Latency.", 0.003, side="input")
    txt = m.render()
    assert '# TYPE safestack_guard_requests_total counter' in txt
    assert 'safestack_guard_requests_total{status="200"} 2' in txt
    assert 'safestack_guard_guard_seconds_bucket{side="input",le="0.0025"} 0' in txt
    assert 'safestack_guard_guard_seconds_bucket{side="input",le="0.005"} 1' in txt
    assert 'safestack_guard_guard_seconds_count{side="input"} 1' in txt


def test_config_validation(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("api_keys: [{key: sk-1, rate: 1}]\ninput_action: block\noutput_pii: redact\n")
    cfg = load_guard_config(p)
    assert cfg.api_keys[0].rate == 1 and cfg.output_pii == "redact"
    p.write_text("input_acton: block\n")
    with pytest.raises(BadInput, match="unknown field.*input_acton"):
        load_guard_config(p)
    with pytest.raises(BadInput, match="output_action"):
        GuardConfig.from_dict({"output_action": "explode"})


def _pg_bin():
    import glob
    import shutil

    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True) + [""]:
        initdb = shutil.which("initdb", path=d or None)
        if initdb:
            return initdb.rsplit("/", 1)[0]
    return None


@pytest.fixture
def postgres_url():
    """A real, throw-away PostgreSQL server (initdb + pg_ctl in tmp_path, Unix socket, no TCP); skipped when the
    server binaries or psycopg are missing."""
    import os
    import pwd
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    pytest.importorskip("psycopg")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb/pg_ctl)")
    tmp = Path(tempfile.mkdtemp(prefix="safestack-pg-"))  # not under pytest's root-only tmp tree
    data, sock = tmp / "pg", tmp / "sock"
    sock.mkdir()
    pre: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the 'postgres' user
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a 'postgres' user")
        for p in (tmp, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        pre = ["runuser", "-u", "postgres", "--"]
    def run(*a):
        r = subprocess.run(pre + list(a), capture_output=True, text=True, timeout=120)
        if r.returncode:
            raise RuntimeError(f"{a[0]} failed: {r.stderr[-500:]}")
    run(f"{bindir}/initdb", "-D", str(data), "-U", "audit", "--auth=trust")
    run(f"{bindir}/pg_ctl", "-D", str(data), "-l", str(tmp / "server.log"), "-w", "-o", f"-k {sock} -c listen_addresses=''", "start")
    try:
        yield f"postgresql://audit@/postgres?host={sock}"
    finally:
        run(f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(tmp, ignore_errors=True)


def test_audit_postgresql(postgres_url):
    log = AuditLog(postgres_url)
    for i in range(120):
        log.record(AuditEvent(f"r{i}", "input", "block" if i % 40 == 0 else "allow", i % 40 == 0, "k", "violence",
                              0.9, {"rules": ["x"]}, "text", 200, 1.0, review=i % 40 == 0))
    log.flush()
    assert log.query("select count(distinct request_id) from decisions")[0][0] == 120
    assert log.query("select count(*) from review_queue where status = 'pending'")[0][0] == 3
    log.close()
    import psycopg

    with psycopg.connect(postgres_url) as c:  # committed, visible to another connection
        assert c.execute("select count(*) from decisions where action = 'block'").fetchone()[0] == 3
