"""Hostile and unlucky clients: over-long lines, NUL and garbage bytes, clients that vanish
mid-transfer, 50 concurrent clients, idle/stall/connect timeouts and connection limits. After
each, the server must still serve everyone else."""

import concurrent.futures
import io
import json
import os
import random
import socket
import threading
import time

import pytest

from conftest import (MIB, Control, ConnectionClosed, abort_socket, ftp_login, parse_epsv,
                      sha256_bytes, transfer, wait_until)


@pytest.fixture
def server(server_factory):
    """A server per test: a crash shows up in the test that caused it, not in the next ones."""
    return server_factory.start()


def assert_serving(server, source=None):
    """A fresh client can log in and round-trip a file."""
    with Control.to(server, source=source) as c:
        assert c.greeting.code == 220
        c.login("alice")
        name = f"/alive-{time.monotonic_ns()}"
        _, _, final = transfer(c, f"STOR {name}", upload=b"alive")
        assert final.code == 226
        data, _, final = transfer(c, f"RETR {name}")
        assert (final.code, data) == (226, b"alive")
        c.expect(f"DELE {name}", 250)


# ---------------------------------------------------------------------------- malformed input

@pytest.mark.parametrize("length", [4097, 5000, 65536, MIB])
def test_over_long_line_is_500_and_the_session_continues(server, length):
    with Control.to(server) as c:
        c.login()
        line = b"NOOP " + b"A" * (length - len(b"NOOP ") - 2)
        r = c.cmd(line)
        assert r.code == 500, r.text
        assert c.cmd("NOOP").code == 200
        assert c.cmd("PWD").code == 257


def test_line_just_under_the_limit_is_accepted(server):
    with Control.to(server) as c:
        c.login()
        path = "/" + "/".join(["d" * 200] * 19)  # 3819 bytes: a valid but missing path
        line = f"CWD {path}"
        assert len(line) + 2 < 4096
        assert c.cmd(line).code == 550
        assert c.cmd("NOOP").code == 200


@pytest.mark.parametrize("line", [b"NO\x00OP", b"\x00", b"CWD a\x00b", b"USER al\x00ice"])
def test_nul_byte_is_refused_and_the_session_continues(server, line):
    with Control.to(server) as c:
        c.login()
        r = c.cmd(line)
        assert 500 <= r.code < 600, r.text
        assert c.cmd("NOOP").code == 200
        assert c.cmd("PWD").text.startswith('257 "/"')


def test_pipelined_commands_each_get_a_reply(server):
    with Control.to(server) as c:
        c.login()
        c.send(b"NOOP\r\n" * 200 + b"PWD\r\n")
        for _ in range(200):
            assert c.reply().code == 200
        assert c.reply().code == 257


def test_command_sent_byte_by_byte(server):
    with Control.to(server) as c:
        for byte in b"USER alice\r\n":
            c.send(bytes([byte]))
            time.sleep(0.005)
        assert c.reply().code == 331


def test_garbage_bytes(server):
    rng = random.Random(1234)
    for round_ in range(5):
        with Control.to(server) as c:
            if round_ % 2:
                c.login()
            try:
                for _ in range(20):
                    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 800)))
                    junk = junk.replace(b"\r", b"").replace(b"\n", b"")
                    r = c.cmd(junk)
                    assert r.code >= 500 or junk[:4].upper() in (b"NOOP",), r.text
            except ConnectionClosed:
                pass  # ending a session on malformed input is acceptable
    assert_serving(server)


def test_hostile_names_cannot_forge_log_lines(server):
    evil = 'evil"\\name\x1b[31m\x7f{"event":"forged"}\xe9'
    with Control.to(server) as c:
        c.login()
        c.cmd(b"MKD /" + evil.encode("latin-1"))  # invalid UTF-8 included
        c.cmd("MKD /" + evil)
        _, _, final = transfer(c, "STOR /" + evil + ".txt", upload=b"x")
        assert final.code == 226
    with Control.to(server) as c:
        c.cmd(b"USER \xc0\xaf" + evil.encode())  # invalid UTF-8 (0xFF would be telnet IAC)
        assert c.cmd("PASS x").code == 530
    # The hostile names come back out of the JSON exactly (invalid UTF-8 as U+FFFD).
    server.wait_for_event("transfer", path="/" + evil + ".txt")
    server.wait_for_event("login", user="\ufffd\ufffd" + evil, result="failed")
    bad = []
    for line in server.lines():
        try:
            obj = json.loads(line)
            assert isinstance(obj, dict) and "event" in obj
        except (ValueError, AssertionError):
            bad.append(line)
    assert not bad, f"non-JSON lines on stderr: {bad[:5]}"
    assert not server.events("forged")
    assert_serving(server)


# ---------------------------------------------------------------------------- vanishing clients

def round_trips(server, count, size, errors):
    try:
        ftp = ftp_login(server)
        try:
            for i in range(count):
                data = os.urandom(size)
                name = f"/steady-{threading.get_ident()}-{i}"
                ftp.storbinary(f"STOR {name}", io.BytesIO(data), blocksize=MIB)
                got = bytearray()
                ftp.retrbinary(f"RETR {name}", got.extend, blocksize=MIB)
                if sha256_bytes(bytes(got)) != sha256_bytes(data):
                    errors.append(f"round trip {i}: content differs")
                ftp.delete(name)
        finally:
            ftp.quit()
    except Exception as e:  # noqa: BLE001 - reported by the test thread
        errors.append(repr(e))


def test_client_vanishing_mid_transfer_does_not_disturb_others(server):
    home = server.home("alice")
    (home / "vanish-big.bin").write_bytes(os.urandom(32 * MIB))
    errors = []
    steady = threading.Thread(target=round_trips, args=(server, 4, 8 * MIB, errors))
    steady.start()

    # Upload: send some data, then both sockets vanish with a reset.
    c = Control.to(server)
    c.login()
    port = parse_epsv(c.cmd("EPSV"))
    data = socket.create_connection(("127.0.0.1", port), timeout=20)
    assert c.cmd("STOR /vanish-up.bin").code in (125, 150)
    data.sendall(os.urandom(4 * MIB))
    abort_socket(data)
    abort_socket(c.sock)

    # Download: read a little, then vanish.
    c = Control.to(server)
    c.login()
    port = parse_epsv(c.cmd("EPSV"))
    data = socket.create_connection(("127.0.0.1", port), timeout=20)
    assert c.cmd("RETR /vanish-big.bin").code in (125, 150)
    data.recv(65536)
    abort_socket(data)
    abort_socket(c.sock)

    steady.join(120)
    assert not steady.is_alive(), "the steady client hung"
    assert errors == []
    up = server.wait_for_event("transfer", path="/vanish-up.bin")[0]
    down = server.wait_for_event("transfer", path="/vanish-big.bin")[0]
    assert up["result"] in ("failed", "aborted") and down["result"] in ("failed", "aborted")
    assert_serving(server)


def test_many_vanishing_downloads_do_not_kill_the_server(server):
    """Each client resets its sockets in the middle of a download (a write to a reset socket
    raises SIGPIPE unless the server guards against it)."""
    (server.home("alice") / "big.bin").write_bytes(os.urandom(32 * MIB))
    for i in range(40):
        c = Control.to(server)
        c.login()
        data = socket.create_connection(("127.0.0.1", parse_epsv(c.cmd("EPSV"))), timeout=20)
        assert c.cmd("RETR big.bin").code in (125, 150)
        data.recv(65536)
        abort_socket(data)
        if i % 2:
            abort_socket(c.sock)
        else:
            c.close()
        time.sleep(0.05)
        assert server.alive(), f"filegate died after {i + 1} vanishing downloads " \
                               f"(exit status {server.proc.returncode})"
    assert_serving(server)


def test_fifty_concurrent_clients(server):
    def client(i):
        data = os.urandom(128 * 1024 + i)
        name = f"/concurrent-{i}.bin"
        ftp = ftp_login(server, user="alice")
        try:
            ftp.storbinary(f"STOR {name}", io.BytesIO(data), blocksize=65536)
            got = bytearray()
            ftp.retrbinary(f"RETR {name}", got.extend)
        finally:
            ftp.quit()
        assert sha256_bytes(bytes(got)) == sha256_bytes(data), f"client {i}: download differs"
        assert (server.home("alice") / name[1:]).read_bytes() == data, f"client {i}: disk differs"
        return i

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        done = sorted(f.result(timeout=180) for f in
                      [pool.submit(client, i) for i in range(50)])
    assert done == list(range(50))
    for i in range(50):
        events = server.events("transfer", path=f"/concurrent-{i}.bin")
        assert sorted(e["direction"] for e in events) == ["download", "upload"], events
        assert all(e["result"] == "ok" and e["bytes"] == 128 * 1024 + i for e in events)
    assert time.monotonic() - start < 150
    assert_serving(server)


# ---------------------------------------------------------------------------- timeouts

def test_idle_timeout_is_421_and_close(server_factory):
    srv = server_factory.start(limits={"control_idle_timeout": 2})
    for login in (False, True):
        with Control.to(srv) as c:
            if login:
                c.login()
            start = time.monotonic()
            r = c.reply()
            assert r.code == 421, r.text
            assert 1.5 <= time.monotonic() - start < 10
            assert c.closed_by_server(5)
    with Control.to(srv) as c:  # activity resets the timer
        c.login()
        for _ in range(4):
            time.sleep(1)
            assert c.cmd("NOOP").code == 200
    assert_serving(srv)


def test_idle_control_during_a_long_transfer_is_not_cut(server_factory):
    srv = server_factory.start(limits={"control_idle_timeout": 2})
    payload = os.urandom(16 * MIB)
    (srv.home("alice") / "slow.bin").write_bytes(payload)
    with Control.to(srv) as c:
        c.login()
        c.expect("TYPE I", 200)
        port = parse_epsv(c.cmd("EPSV"))
        data = socket.create_connection(("127.0.0.1", port), timeout=20)
        assert c.cmd("RETR slow.bin").code in (125, 150)
        got = bytearray()
        deadline = time.monotonic() + 4  # twice the idle timeout, reading slowly
        while time.monotonic() < deadline:
            got += data.recv(64 * 1024)
            time.sleep(0.1)
        while chunk := data.recv(MIB):
            got += chunk
        data.close()
        r = c.reply()
        assert r.code == 226, f"a transfer longer than the idle timeout was cut: {r.text}"
        assert sha256_bytes(bytes(got)) == sha256_bytes(payload)


def test_login_timeout_ends_sessions_that_never_log_in(server_factory):
    srv = server_factory.start(limits={"login_timeout": 2, "control_idle_timeout": 60})
    with Control.to(srv) as c:
        start = time.monotonic()
        codes = []
        while time.monotonic() - start < 10:
            try:
                codes.append(c.cmd("NOOP").code)  # activity does not extend the login grace
            except ConnectionClosed:
                break
            if codes[-1] == 421:
                break
            time.sleep(0.3)
        assert codes and codes[-1] == 421 or c.closed_by_server(1), codes
        assert 1.5 <= time.monotonic() - start < 10
    with Control.to(srv) as c:  # logging in in time is fine, and then the grace is over
        c.login()
        time.sleep(3)
        assert c.cmd("NOOP").code == 200


def test_configured_max_command_line(server_factory):
    srv = server_factory.start(limits={"max_command_line": 512})
    with Control.to(srv) as c:
        c.login()
        assert c.cmd("CWD /" + "/".join(["a" * 120] * 4)).code == 550  # 490 bytes: accepted
        assert c.cmd("CWD /" + "/".join(["a" * 120] * 5)).code == 500  # 611 bytes: too long
        assert c.cmd("NOOP").code == 200


def test_stalled_upload_is_aborted(server_factory):
    srv = server_factory.start(limits={"transfer_stall_timeout": 2})
    with Control.to(srv) as c:
        c.login()
        port = parse_epsv(c.cmd("EPSV"))
        data = socket.create_connection(("127.0.0.1", port), timeout=20)
        assert c.cmd("STOR stalled.bin").code in (125, 150)
        data.sendall(b"x" * 1000)
        start = time.monotonic()
        r = c.reply()  # nothing more is sent: the server must give up by itself
        assert r.code in (426, 451), r.text
        assert time.monotonic() - start < 15
        data.close()
        assert c.cmd("NOOP").code == 200
    event = srv.wait_for_event("transfer", path="/stalled.bin")[0]
    assert event["result"] == "stalled"  # README: ok, failed, aborted (ABOR) or stalled


def test_passive_listener_nobody_connects_to_is_425(server_factory):
    srv = server_factory.start(limits={"data_connect_timeout": 2})
    (srv.home("alice") / "f").write_bytes(b"x")
    with Control.to(srv) as c:
        c.login()
        parse_epsv(c.cmd("EPSV"))
        start = time.monotonic()
        r = c.cmd("RETR f")
        if 100 <= r.code < 200:
            r = c.reply()
        assert r.code == 425, r.text
        assert time.monotonic() - start < 15
        assert c.cmd("NOOP").code == 200


def test_active_connect_to_a_closed_port_is_425(server):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    (server.home("alice") / "active-f").write_bytes(b"x")
    with Control.to(server) as c:
        c.login()
        r = c.cmd(f"EPRT |1|127.0.0.1|{port}|")
        if r.code == 200:  # a server may also connect at once and answer EPRT with 425
            r = c.cmd("RETR active-f")
            if 100 <= r.code < 200:
                r = c.reply()
        assert r.code == 425, r.text
        assert c.cmd("NOOP").code == 200


# ---------------------------------------------------------------------------- limits

def test_connection_limits(server_factory):
    srv = server_factory.start(limits={"max_connections": 4, "max_connections_per_ip": 2})
    opened = []

    def connect(source):
        c = Control(srv.host, srv.port, source=source, greeting=False)
        opened.append(c)
        return c

    try:
        for _ in range(2):
            assert connect("127.0.0.1").reply().code == 220
        over_ip = connect("127.0.0.1")
        assert over_ip.reply().code == 421
        assert over_ip.closed_by_server(5)
        for _ in range(2):
            assert connect("127.0.0.2").reply().code == 220
        over_all = connect("127.0.0.3")
        assert over_all.reply().code == 421
        assert over_all.closed_by_server(5)

        opened[0].cmd("QUIT")
        opened[0].close()

        def can_connect():
            c = connect("127.0.0.3")
            code = c.reply().code
            c.close()
            return code == 220
        assert wait_until(can_connect, 10, 0.3), "a freed slot was not reused"
    finally:
        for c in opened:
            c.close()
    time.sleep(0.5)
    assert_serving(srv)


def test_sigterm_during_transfers_exits_promptly(server_factory):
    srv = server_factory.start()
    (srv.home("alice") / "big.bin").write_bytes(os.urandom(16 * MIB))
    c = Control.to(srv)
    c.login()
    port = parse_epsv(c.cmd("EPSV"))
    data = socket.create_connection(("127.0.0.1", port), timeout=20)
    assert c.cmd("RETR big.bin").code in (125, 150)
    data.recv(1024)  # the transfer is running and blocked on us
    idle = Control.to(srv)
    start = time.monotonic()
    srv.stop()  # asserts a prompt exit and a clean sanitizer report
    assert time.monotonic() - start < 15
    for sock in (data, c.sock, idle.sock):
        sock.close()
