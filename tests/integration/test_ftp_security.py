"""Security properties a user (or an attacker) can observe: confinement to the home directory
(lexical and symlink escapes, a symlink swapped in between commands), per-directory and
anonymous permissions, login throttling, secrets kept out of the log, and the data channel
refusing FXP/bounce targets and connections from other hosts."""

import os
import socket
import stat
import threading
import time

import pytest

from conftest import (PASSWORDS, Control, ConnectionClosed, parse_epsv, parse_pasv, plant_outside_links,
                      transfer, wait_until)

SECRET = b"TOP-SECRET outside the FTP root\n"


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory.start(anonymous=True)


@pytest.fixture
def ctl(server):
    with Control.to(server) as c:
        c.login()
        yield c


def assert_secret_untouched(server):
    outside = server.outside
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"], \
        f"something was created outside the root: {list(outside.iterdir())}"
    assert (outside / "secret.txt").read_bytes() == SECRET


def assert_not_served(c, command, mode="EPSV"):
    """A download/listing command that must not reveal the secret file."""
    data, first, final = transfer(c, command, mode)
    assert SECRET not in data and b"TOP-SECRET" not in data, f"{command} leaked the secret"
    return first, final


# ---------------------------------------------------------------------------- lexical escapes

def test_cwd_up_from_root_stays_at_root(ctl):
    for command in ("CWD ..", "CWD ../..", "CWD /..", "CDUP", "CWD ../../../../.."):
        assert ctl.cmd(command).code in (200, 250, 550)
        assert ctl.cmd("PWD").text.startswith('257 "/"'), command


def test_listing_the_parent_of_root_lists_root(server, ctl):
    (server.home("alice") / "marker-in-home").write_bytes(b"x")
    for command in ("NLST ..", "NLST ../..", "LIST /..", "MLSD ../"):
        data, first, final = transfer(ctl, command)
        assert final.code == 226, (command, final)
        assert b"marker-in-home" in data, command
        for sibling in (b"outside", b"bob", b"pub", b"filegate.yaml"):
            assert sibling not in data, f"{command} listed {sibling!r} beside the home"


@pytest.mark.parametrize("path", [
    "../outside/secret.txt", "../../outside/secret.txt", "/../outside/secret.txt",
    "/./../outside/secret.txt", "..//outside/secret.txt", "..\\outside\\secret.txt",
    "{outside}/secret.txt", "{root}/outside/secret.txt", "../../../../etc/passwd", "/etc/passwd",
])
def test_paths_outside_the_home_are_not_reachable(server, ctl, path):
    path = path.format(outside=server.outside, root=server.root)
    first, final = assert_not_served(ctl, f"RETR {path}")
    assert first.code == 550, (path, first)
    assert ctl.cmd(f"SIZE {path}").code == 550
    assert ctl.cmd(f"MDTM {path}").code == 550
    assert ctl.cmd(f"MLST {path}").code == 550
    assert ctl.cmd(f"DELE {path}").code == 550
    assert_secret_untouched(server)


def test_absolute_host_paths_are_virtual(server, ctl):
    assert ctl.cmd(f"CWD {server.outside}").code == 550
    assert ctl.cmd(f"CWD {server.home('alice')}").code == 550
    assert ctl.cmd("PWD").text.startswith('257 "/"')


def test_other_users_home_is_not_reachable(server):
    (server.home("alice") / "alice-only").write_bytes(b"alice's data")
    with Control.to(server) as c:
        c.login("bob")
        for path in ("../alice/alice-only", "/../alice/alice-only",
                     f"{server.home('alice')}/alice-only"):
            data, first, _ = transfer(c, f"RETR {path}")
            assert first.code == 550 and data == b"", path


@pytest.mark.parametrize("name", ["/", ".", "..", "/..", "./"])
def test_root_itself_cannot_be_removed_or_replaced(server, ctl, name):
    home = server.home("alice")
    assert ctl.cmd(f"RMD {name}").code in (550, 553)
    assert ctl.cmd(f"DELE {name}").code in (550, 553)
    _, first, final = transfer(ctl, f"STOR {name}", upload=b"x")
    assert first.code in (550, 553) or final.code in (550, 553), (first, final)
    assert ctl.cmd(f"RNFR {name}").code == 550
    assert ctl.cmd("RNTO /renamed-root").code == 503
    assert home.is_dir() and (home / "inbox").is_dir()
    assert not (home / "renamed-root").exists()


# ---------------------------------------------------------------------------- symlinks

@pytest.fixture
def links(server):
    """Symlinks inside alice's home that point outside it."""
    home = server.home("alice")
    made = plant_outside_links(server, home)
    (home / "mine.txt").write_bytes(b"alice's own file")
    yield home
    for name in made:
        os.unlink(home / name)


@pytest.mark.parametrize("path", ["/abs_file", "/rel_file", "/abs_dir/secret.txt",
                                  "/rel_dir/secret.txt"])
def test_symlinked_file_outside_cannot_be_read(server, ctl, links, path):
    first, _ = assert_not_served(ctl, f"RETR {path}")
    assert first.code == 550
    assert ctl.cmd(f"SIZE {path}").code == 550
    assert ctl.cmd(f"MDTM {path}").code == 550
    r = ctl.cmd(f"MLST {path}")
    assert r.code == 550, r.text
    r = ctl.cmd(f"STAT {path}")
    assert "secret" not in r.text.replace(path, ""), r.text


@pytest.mark.parametrize("link", ["/abs_dir", "/rel_dir"])
def test_symlinked_directory_outside_cannot_be_listed_or_entered(server, ctl, links, link):
    assert ctl.cmd(f"CWD {link}").code == 550
    assert ctl.cmd("PWD").text.startswith('257 "/"')
    for command in ("LIST", "NLST", "MLSD"):
        data, first, final = transfer(ctl, f"{command} {link}")
        assert b"secret" not in data, f"{command} {link} listed the outside directory"
    r = ctl.cmd(f"STAT {link}")
    assert "secret.txt" not in r.text, r.text


@pytest.mark.parametrize("link", ["/abs_dir", "/rel_dir"])
def test_symlinked_directory_outside_cannot_be_written(server, ctl, links, link):
    _, first, final = transfer(ctl, f"STOR {link}/planted", upload=b"planted")
    assert first.code in (550, 553) or final.code != 226, (first, final)
    assert ctl.cmd(f"MKD {link}/newdir").code in (550, 553)
    assert ctl.cmd(f"DELE {link}/secret.txt").code == 550
    assert ctl.cmd(f"RNFR {link}/secret.txt").code == 550
    assert ctl.cmd("RNFR /mine.txt").code == 350
    assert ctl.cmd(f"RNTO {link}/stolen.txt").code in (550, 553)
    assert (links / "mine.txt").exists()
    assert ctl.cmd(f"SITE CHMOD 666 {link}/secret.txt").code == 550
    assert ctl.cmd(f"MFMT 20000101000000 {link}/secret.txt").code == 550
    assert_secret_untouched(server)


@pytest.mark.parametrize("link", ["/abs_file", "/rel_file"])
def test_symlinked_file_outside_cannot_be_modified(server, ctl, links, link):
    secret = server.outside / "secret.txt"
    mode, mtime = stat.S_IMODE(secret.stat().st_mode), secret.stat().st_mtime
    target = os.readlink(links / link[1:])
    for verb in ("STOR", "APPE"):
        _, first, final = transfer(ctl, f"{verb} {link}", upload=b"overwritten")
        if final.code == 226:
            # Acceptable only if the link itself was replaced, never followed.
            assert not os.path.islink(links / link[1:])
            os.unlink(links / link[1:])
            os.symlink(target, links / link[1:])
        assert_secret_untouched(server)
    assert ctl.cmd(f"SITE CHMOD 666 {link}").code in (550, 553)
    assert ctl.cmd(f"MFMT 20000101000000 {link}").code in (550, 553)
    assert stat.S_IMODE(secret.stat().st_mode) == mode
    assert secret.stat().st_mtime == mtime
    assert_secret_untouched(server)


def test_directory_swapped_for_a_symlink_between_commands(server, ctl):
    home = server.home("alice")
    swap = home / "swap"
    swap.mkdir()
    (swap / "inside.txt").write_bytes(b"inside")
    assert ctl.cmd("TYPE I").code == 200
    assert ctl.cmd("CWD /swap").code == 250
    assert ctl.cmd("SIZE inside.txt").text == "213 6"
    # Replace the directory by a symlink to the outside while the session sits in it.
    (swap / "inside.txt").unlink()
    swap.rmdir()
    os.symlink(server.outside, swap)
    try:
        first, _ = assert_not_served(ctl, "RETR secret.txt")
        assert first.code == 550
        assert ctl.cmd("SIZE secret.txt").code == 550
        assert ctl.cmd("MLST secret.txt").code == 550
        for command in ("LIST", "NLST", "MLSD"):
            data, _, _ = transfer(ctl, command)
            assert b"secret" not in data, command
        _, first, final = transfer(ctl, "STOR planted", upload=b"planted")
        assert ctl.cmd("MKD planted-dir").code in (550, 553)
        assert ctl.cmd("DELE secret.txt").code == 550
        assert_secret_untouched(server)
    finally:
        os.unlink(swap)


# ---------------------------------------------------------------------------- per-directory rules

def test_inbox_is_upload_only(server, ctl):
    """/inbox has "ew": enter and upload, but neither list nor download."""
    inbox = server.home("alice") / "inbox"
    (inbox / "sub").mkdir(exist_ok=True)
    assert ctl.cmd("CWD /inbox").code == 250
    _, first, final = transfer(ctl, "STOR up.txt", upload=b"uploaded")
    assert first.code in (125, 150) and final.code == 226
    assert (inbox / "up.txt").read_bytes() == b"uploaded"
    _, first, final = transfer(ctl, "STOR /inbox/sub/deep.txt", upload=b"deep")
    assert final.code == 226, "the /inbox rule is recursive"
    for path in ("/inbox/up.txt", "/inbox/sub/deep.txt"):
        data, first, _ = transfer(ctl, f"RETR {path}")
        assert first.code == 550 and data == b"", path
    for command in ("LIST /inbox", "NLST /inbox", "MLSD /inbox", "LIST /inbox/sub"):
        data, first, _ = transfer(ctl, command)
        assert first.code == 550 and data == b"", command
    assert ctl.cmd("DELE /inbox/up.txt").code == 550
    assert (inbox / "up.txt").exists()


def test_outbox_is_download_only(server, ctl):
    outbox = server.home("alice") / "outbox"
    (outbox / "report.txt").write_bytes(b"report")
    data, first, final = transfer(ctl, "RETR /outbox/report.txt")
    assert first.code in (125, 150) and (final.code, data) == (226, b"report")
    listing, _, final = transfer(ctl, "NLST /outbox")
    assert final.code == 226 and b"report.txt" in listing
    _, first, _ = transfer(ctl, "STOR /outbox/new.txt", upload=b"x")
    assert first.code == 550
    _, first, _ = transfer(ctl, "APPE /outbox/report.txt", upload=b"x")
    assert first.code == 550
    assert ctl.cmd("DELE /outbox/report.txt").code == 550
    assert ctl.cmd("MKD /outbox/dir").code == 550
    assert ctl.cmd("RNFR /outbox/report.txt").code == 550
    (server.home("alice") / "to-move.txt").write_bytes(b"m")
    assert ctl.cmd("RNFR /to-move.txt").code == 350
    assert ctl.cmd("RNTO /outbox/moved.txt").code == 550, "rename into a download-only dir"
    assert sorted(p.name for p in outbox.iterdir()) == ["report.txt"]
    assert (outbox / "report.txt").read_bytes() == b"report"


# ---------------------------------------------------------------------------- anonymous

@pytest.mark.parametrize("name", ["anonymous", "ftp"])
def test_anonymous_is_read_only(server, name):
    pub = server.home("anonymous")
    (pub / "readme.txt").write_bytes(b"public")
    with Control.to(server) as c:
        assert c.cmd(f"USER {name}").code == 331
        assert c.cmd("PASS guest@example.com").code == 230
        data, _, final = transfer(c, "RETR readme.txt")
        assert (final.code, data) == (226, b"public")
        listing, _, final = transfer(c, "NLST")
        assert final.code == 226 and b"readme.txt" in listing
        _, first, _ = transfer(c, "STOR upload.txt", upload=b"x")
        assert first.code == 550
        _, first, _ = transfer(c, "APPE readme.txt", upload=b"x")
        assert first.code == 550
        assert c.cmd("MKD dir").code == 550
        assert c.cmd("DELE readme.txt").code == 550
        assert c.cmd("RNFR readme.txt").code == 550
        assert c.cmd("SITE CHMOD 777 readme.txt").code == 550
        assert c.cmd("CWD ..").code in (250, 550)
        assert c.cmd("PWD").text.startswith('257 "/"')
    assert sorted(p.name for p in pub.iterdir()) == ["readme.txt"]
    assert (pub / "readme.txt").read_bytes() == b"public"


def test_anonymous_logins_share_one_session_cap(server_factory):
    """anonymous.max_sessions caps all anonymous sessions together, whichever name they use."""
    srv = server_factory.start(anonymous=True, extra={"anonymous": {"max_sessions": 2}})
    first, second = Control.to(srv), Control.to(srv)
    try:
        first.login("anonymous", "a@example.com")
        second.login("ftp", "b@example.com")
        with Control.to(srv) as third:
            assert third.cmd("USER anonymous").code == 331
            r = third.cmd("PASS c@example.com")
            assert r.code == 530 and "Too many sessions" in r.text, r.text
            first.cmd("QUIT")
            first.close()
            # The first session's end frees its place.
            assert wait_until(lambda: third.cmd("USER ftp").code == 331 and
                              third.cmd("PASS c@example.com").code == 230)
        assert srv.events("login", user="anonymous", result="ok")
    finally:
        first.close()
        second.close()


def test_anonymous_disabled_cannot_log_in(server_factory):
    srv = server_factory.start(anonymous=False)
    for name in ("anonymous", "ftp"):
        with Control.to(srv) as c:
            r = c.cmd(f"USER {name}")
            if r.code == 331:
                r = c.cmd("PASS guest@example.com")
            assert r.code == 530, r.text
            assert c.cmd("PWD").code == 530


# ---------------------------------------------------------------------------- logins and logs

def test_password_never_appears_in_the_log(server):
    wrong = "Wr0ng-Distinctive-Passw0rd-4711"
    ended = len(server.events("session_end"))
    with Control.to(server) as c:
        c.login("alice")
        c.cmd("QUIT")
    with Control.to(server) as c:
        c.cmd("USER alice")
        assert c.cmd(f"PASS {wrong}").code == 530
    with Control.to(server) as c:
        c.cmd("USER nosuchuser")  # an unknown name with a real password
        assert c.cmd(f"PASS {PASSWORDS['alice']}").code == 530
    ok = server.wait_for_event("login", user="alice", timeout=10)
    results = {e.get("result") for e in ok}
    assert results & {"ok", "success"}, ok
    assert results - {"ok", "success"}, f"the failed login was not logged: {ok}"
    server.wait_for_event("session_end", count=ended + 3)
    out = server.output()
    for secret in (PASSWORDS["alice"], wrong):
        assert secret not in out, "a password appeared in the log"
    for user in ("alice", "bob"):
        hashed = next(u["password_hash"] for u in server.config["users"] if u["name"] == user)
        assert hashed not in out and hashed.split("$")[-1] not in out


def test_session_start_and_end_are_logged(server):
    before = len(server.events("session_end"))
    with Control.to(server) as c:
        c.login()
        c.cmd("QUIT")
    server.wait_for_event("session_end", count=before + 1)
    assert server.events("session_start")


def test_failed_login_delay_does_not_slow_other_sessions(server):
    timings = {}

    def bad_login():
        with Control.to(server) as c:
            c.cmd("USER alice")
            timings["bad_sent"] = time.monotonic()
            code = c.cmd("PASS definitely-wrong").code
            timings["bad_reply"] = time.monotonic()
            timings["bad_code"] = code

    t = threading.Thread(target=bad_login)
    t.start()
    assert wait_until(lambda: "bad_sent" in timings, 10)
    time.sleep(0.1)
    start = time.monotonic()
    with Control.to(server) as c:
        c.login("bob")
        timings["good_done"] = time.monotonic()
    t.join(20)
    assert timings["bad_code"] == 530
    assert timings["bad_reply"] - timings["bad_sent"] >= 0.9, "no failed-login delay"
    assert timings["good_done"] < timings["bad_reply"], \
        "a good login waited for another session's failed-login delay"
    assert timings["good_done"] - start < 0.9


def test_connection_closed_after_max_login_failures(server):
    with Control.to(server) as c:
        for attempt in range(3):
            assert c.cmd("USER alice").code == 331
            try:
                r = c.cmd(f"PASS wrong-{attempt}")
            except ConnectionClosed:
                pytest.fail(f"connection closed before the reply to failure {attempt + 1}")
            assert r.code in ((530,) if attempt < 2 else (530, 421)), r.text
        assert c.closed_by_server(5), "the session stayed open after 3 failed logins"


def test_login_succeeds_after_fewer_failures(server):
    with Control.to(server) as c:
        for attempt in range(2):
            c.cmd("USER alice")
            assert c.cmd("PASS wrong").code == 530
        c.login()
        assert c.cmd("PWD").code == 257


# ---------------------------------------------------------------------------- data channel

def test_disabled_account_and_protocol_restriction(server_factory, password_hashes):
    home = server_factory.base_dir / "shared-home"
    home.mkdir()
    users = [
        {"name": "alice", "password_hash": password_hashes["alice"], "home": str(home),
         "disabled": True},
        {"name": "bob", "password_hash": password_hashes["bob"], "home": str(home),
         "protocols": ["sftp"]},
    ]
    srv = server_factory.start(users=users)
    for user in ("alice", "bob"):
        with Control.to(srv) as c:
            assert c.cmd(f"USER {user}").code == 331
            assert c.cmd(f"PASS {PASSWORDS[user]}").code == 530, user
            assert c.cmd("PWD").code == 530
    reasons = {e["user"]: e.get("reason", "") for e in srv.events("login", result="failed")}
    assert set(reasons) == {"alice", "bob"}


def test_banner_is_configurable(server_factory):
    srv = server_factory.start(ftp={"banner": "Welcome to the test gate"})
    with Control.to(srv) as c:
        assert c.greeting.text == "220 Welcome to the test gate"


def test_active_mode_can_be_switched_off(server_factory):
    srv = server_factory.start(ftp={"active_mode": False})
    with Control.to(srv) as c, socket.socket() as listener:
        c.login()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert 500 <= c.cmd(f"PORT 127,0,0,1,{port >> 8},{port & 255}").code < 600
        assert 500 <= c.cmd(f"EPRT |1|127.0.0.1|{port}|").code < 600
        parse_epsv(c.cmd("EPSV"))  # passive still works


@pytest.fixture
def foreign_listener():
    """A listener on 127.0.0.2, the 'third host' of a bounce/FXP attack."""
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.listen(4)
    s.settimeout(0.2)
    yield s
    s.close()


def no_connection_arrives(listener, seconds=2.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        conn.close()
        return False
    return True


def test_port_bounce_to_another_host_is_refused(server, ctl, foreign_listener):
    (server.home("alice") / "bounce.txt").write_bytes(b"bounce")
    port = foreign_listener.getsockname()[1]
    for command in (f"PORT 127,0,0,2,{port >> 8},{port & 255}", f"EPRT |1|127.0.0.2|{port}|"):
        assert 500 <= ctl.cmd(command).code < 600, command
        r = ctl.cmd("RETR bounce.txt")
        if 100 <= r.code < 200:
            r = ctl.reply()
        assert r.code >= 400, r.text
        assert no_connection_arrives(foreign_listener), f"the server connected after {command}"
    assert ctl.cmd("NOOP").code == 200


def test_fxp_allowed_when_configured(server_factory, foreign_listener):
    srv = server_factory.start(ftp={"active_allow_fxp": True})
    (srv.home("alice") / "fxp.txt").write_bytes(b"fxp data")
    port = foreign_listener.getsockname()[1]
    foreign_listener.settimeout(10)
    with Control.to(srv) as c:
        c.login()
        assert c.cmd(f"EPRT |1|127.0.0.2|{port}|").code == 200
        assert c.cmd("RETR fxp.txt").code in (125, 150)
        conn, _ = foreign_listener.accept()
        conn.settimeout(10)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        conn.close()
        assert c.reply().code == 226
        assert data == b"fxp data"


def test_privileged_port_is_refused(server, ctl):
    for command in ("PORT 127,0,0,1,0,21", "PORT 127,0,0,1,3,255", "EPRT |1|127.0.0.1|22|",
                    "EPRT |1|127.0.0.1|1023|"):
        assert 500 <= ctl.cmd(command).code < 600, command
    with socket.socket() as listener:  # 1024 is fine (some servers connect at once)
        try:
            listener.bind(("127.0.0.1", 1024))
        except OSError:
            return
        listener.listen(1)
        assert ctl.cmd("PORT 127,0,0,1,4,0").code == 200


@pytest.mark.skipif(os.geteuid() != 0, reason="binding a port below 1024 needs root")
def test_privileged_port_allowed_when_configured(server_factory):
    srv = server_factory.start(ftp={"active_allow_privileged_ports": True})
    (srv.home("alice") / "p.txt").write_bytes(b"priv")
    listener = socket.socket()
    for port in range(1000, 1023):
        try:
            listener.bind(("127.0.0.1", port))
            break
        except OSError:
            continue
    else:
        pytest.skip("no free port below 1024")
    listener.listen(1)
    listener.settimeout(10)
    with Control.to(srv) as c, listener:
        c.login()
        assert c.cmd(f"EPRT |1|127.0.0.1|{port}|").code == 200
        assert c.cmd("RETR p.txt").code in (125, 150)
        conn, _ = listener.accept()
        conn.settimeout(10)
        assert conn.recv(100) == b"priv"
        conn.close()
        assert c.reply().code == 226


@pytest.fixture
def steal_server(server_factory):
    srv = server_factory.start(limits={"data_connect_timeout": 2})
    (srv.home("alice") / "private.txt").write_bytes(b"PRIVATE-DATA " * 1000)
    return srv


def passive_port(c, mode):
    if mode == "PASV":
        return parse_pasv(c.cmd("PASV"))[1]
    return parse_epsv(c.cmd("EPSV"))


def thief_data(thief):
    thief.settimeout(5)
    got = b""
    try:
        while chunk := thief.recv(65536):
            got += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return got


@pytest.mark.parametrize("mode", ["PASV", "EPSV"])
def test_passive_connection_from_another_host_is_refused(steal_server, mode):
    with Control.to(steal_server) as c:
        c.login()
        port = passive_port(c, mode)
        thief = socket.create_connection(("127.0.0.1", port), timeout=10,
                                         source_address=("127.0.0.2", 0))
        r = c.cmd("RETR private.txt")
        if 100 <= r.code < 200:
            r = c.reply()
        assert r.code == 425, f"expected 425 when only a foreign host connected: {r.text}"
        assert thief_data(thief) == b""
        thief.close()
        assert c.cmd("NOOP").code == 200


def test_passive_thief_does_not_block_the_real_client(steal_server):
    with Control.to(steal_server) as c:
        c.login()
        port = passive_port(c, "EPSV")
        thief = socket.create_connection(("127.0.0.1", port), timeout=10,
                                         source_address=("127.0.0.2", 0))
        time.sleep(0.3)
        data = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert c.cmd("RETR private.txt").code in (125, 150)
        data.settimeout(10)
        got = b""
        while chunk := data.recv(65536):
            got += chunk
        data.close()
        assert c.reply().code == 226
        assert got == b"PRIVATE-DATA " * 1000
        assert thief_data(thief) == b""
        thief.close()
