"""One server with FTP and SFTP listeners: both front-ends share the files and take the same
permission decisions for the same user, request and path."""

import copy
import errno
import ftplib
import io
import os
import resource
import signal
import subprocess

import paramiko
import pytest

from conftest import (PASSWORDS, SSH_CLIENT_OPTIONS, TIMEOUT, SshKeys, close_sftp, ftp_login,
                      load_paramiko_key, make_random_file, paramiko_transport, rewrite_config, run_passwd,
                      sftp_batch, sftp_client, unique_name, wait_until)

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory.start(sftp=True)


@pytest.fixture(scope="module")
def clients(server):
    """{user: (ftplib client, paramiko SFTP client)} for alice and bob, shared by the module."""
    made = {}
    for user in ("alice", "bob"):
        ftp = ftp_login(server, user)
        ftp.voidcmd("TYPE I")
        made[user] = (ftp, sftp_client(server, user, key=user))
    yield made
    for ftp, sftp in made.values():
        try:
            ftp.quit()
        except (OSError, EOFError, ftplib.Error):
            ftp.close()
        close_sftp(sftp)


def ftp_download(ftp, path):
    out = io.BytesIO()
    ftp.retrbinary(f"RETR {path}", out.write)
    return out.getvalue()


def sftp_download(sftp, path):
    with sftp.open(path, "rb") as f:
        f.prefetch()
        return f.read()


def ftp_upload_cut_short(ftp, path, size):
    """STOR of `size` random bytes that the server ends early: raises the final reply's error
    (the server may close the data connection while the client is still sending)."""
    try:
        ftp.storbinary(f"STOR {path}", io.BytesIO(os.urandom(size)))
    except OSError:
        ftp.getresp()


def sftp_upload(sftp, path, data):
    with sftp.open(path, "wb") as f:
        f.set_pipelined(True)
        f.write(data)


# --------------------------------------------------------------------------------------------
# One set of files
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["plain.bin", "with space é ü.bin"])
def test_stored_over_ftp_read_over_sftp_and_back(server, clients, name):
    ftp, sftp = clients["alice"]
    data = os.urandom(MIB + 333)
    ftp.storbinary(f"STOR /{name}", io.BytesIO(data))
    assert sftp.stat(f"/{name}").st_size == len(data)
    assert sftp_download(sftp, f"/{name}") == data
    # Overwritten over SFTP, read over FTP.
    other = os.urandom(MIB // 2 + 7)
    sftp_upload(sftp, f"/{name}", other)
    assert ftp.size(f"/{name}") == len(other)
    assert ftp_download(ftp, f"/{name}") == other
    assert (server.home("alice") / name).read_bytes() == other
    # Appended over FTP after the SFTP upload: one file.
    ftp.storbinary(f"APPE /{name}", io.BytesIO(b"tail"))
    assert sftp_download(sftp, f"/{name}") == other + b"tail"


def test_directories_renames_and_deletes_are_seen_by_the_other(server, clients):
    ftp, sftp = clients["alice"]
    by_ftp, by_sftp = unique_name("ftpdir"), unique_name("sftpdir")
    ftp.mkd(f"/{by_ftp}")
    sftp.mkdir(f"/{by_sftp}")
    assert {by_ftp, by_sftp} <= set(sftp.listdir("/"))
    assert {by_ftp, by_sftp} <= {os.path.basename(n) for n in ftp.nlst("/")}
    ftp.storbinary(f"STOR /{by_ftp}/a.txt", io.BytesIO(b"from ftp"))
    sftp_upload(sftp, f"/{by_sftp}/b.txt", b"from sftp")
    assert sftp.listdir(f"/{by_ftp}") == ["a.txt"]
    assert [os.path.basename(n) for n in ftp.nlst(f"/{by_sftp}")] == ["b.txt"]

    # Renamed over FTP, seen over SFTP; renamed over SFTP, seen over FTP.
    ftp.rename(f"/{by_ftp}/a.txt", f"/{by_sftp}/a-moved.txt")
    assert sorted(sftp.listdir(f"/{by_sftp}")) == ["a-moved.txt", "b.txt"]
    assert sftp_download(sftp, f"/{by_sftp}/a-moved.txt") == b"from ftp"
    sftp.rename(f"/{by_sftp}/b.txt", f"/{by_ftp}/b-moved.txt")
    assert [os.path.basename(n) for n in ftp.nlst(f"/{by_ftp}")] == ["b-moved.txt"]
    assert ftp_download(ftp, f"/{by_ftp}/b-moved.txt") == b"from sftp"

    # Deleted by one, gone for the other.
    sftp.remove(f"/{by_ftp}/b-moved.txt")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.size(f"/{by_ftp}/b-moved.txt")
    ftp.delete(f"/{by_sftp}/a-moved.txt")
    with pytest.raises(IOError) as excinfo:
        sftp.stat(f"/{by_sftp}/a-moved.txt")
    assert excinfo.value.errno == errno.ENOENT
    ftp.rmd(f"/{by_sftp}")
    sftp.rmdir(f"/{by_ftp}")
    assert not {by_ftp, by_sftp} & set(sftp.listdir("/"))
    assert not {by_ftp, by_sftp} & {os.path.basename(n) for n in ftp.nlst("/")}


def test_names_with_line_breaks_made_over_sftp_cannot_forge_ftp_listings(server, clients):
    """SFTP frames names by length, so a partner can upload a name holding CR LF. FTP listings
    are lines: there its control characters show as '?', so the name is one entry, and in a
    STAT reply it cannot end the reply early."""
    ftp, sftp = clients["alice"]
    folder = unique_name("forge")
    sftp.mkdir(f"/{folder}")
    hostile = "x\r\n213 End of status.\r\n-rw-r--r--   1 ftp ftp 9 Jan  1  2020 forged\x1b[2J"
    sftp_upload(sftp, f"/{folder}/{hostile}", b"payload")
    assert sftp.listdir(f"/{folder}") == [hostile]
    shown = "x??213 End of status.??-rw-r--r--   1 ftp ftp 9 Jan  1  2020 forged?[2J"

    assert [os.path.basename(n) for n in ftp.nlst(f"/{folder}")] == [shown]
    lines = []
    ftp.retrlines(f"LIST /{folder}", lines.append)
    assert len(lines) == 1 and lines[0].endswith(" " + shown), lines
    assert [name for name, _facts in ftp.mlsd(f"/{folder}")] == [shown]
    status = ftp.sendcmd(f"STAT /{folder}").split("\n")
    assert len(status) == 3 and status[1].endswith(" " + shown) and status[2].startswith("213 End"), status
    assert ftp.sendcmd("NOOP").startswith("200")  # replies and commands are still in step

    sftp.remove(f"/{folder}/{hostile}")
    sftp.rmdir(f"/{folder}")


def test_timestamps_and_modes_agree(server, clients):
    ftp, sftp = clients["alice"]
    name = unique_name("meta")
    sftp_upload(sftp, f"/{name}", b"m")
    sftp.utime(f"/{name}", (1_500_000_000, 1_500_000_000))
    sftp.chmod(f"/{name}", 0o640)
    assert ftp.voidcmd(f"MDTM /{name}") == "213 20170714024000"
    facts = ftp.sendcmd(f"MLST /{name}")
    assert "UNIX.mode=0640" in facts and "modify=20170714024000" in facts, facts
    ftp.voidcmd(f"SITE CHMOD 600 /{name}")
    ftp.voidcmd(f"MFMT 20200101000000 /{name}")
    st = sftp.stat(f"/{name}")
    assert (st.st_mode & 0o7777, st.st_mtime) == (0o600, 1_577_836_800)
    sftp.remove(f"/{name}")


# --------------------------------------------------------------------------------------------
# One set of permissions
# --------------------------------------------------------------------------------------------

def ftp_attempt(ftp, op, path, path2=None):
    """True if the FTP server allowed the operation, False if it refused it with 550/553."""
    try:
        if op == "upload":
            ftp.storbinary(f"STOR {path}", io.BytesIO(b"uploaded"))
        elif op == "append":
            ftp.storbinary(f"APPE {path}", io.BytesIO(b"appended"))
        elif op == "download":
            ftp.retrbinary(f"RETR {path}", lambda _: None)
        elif op == "list":
            ftp.retrlines(f"LIST {path}", lambda _: None)
        elif op == "delete":
            ftp.delete(path)
        elif op == "mkdir":
            ftp.mkd(path)
        elif op == "rmdir":
            ftp.rmd(path)
        elif op == "rename":
            ftp.rename(path, path2)
        elif op == "chmod":
            ftp.voidcmd(f"SITE CHMOD 600 {path}")
        else:
            raise AssertionError(op)
    except ftplib.error_perm as e:
        assert str(e)[:3] in ("550", "553"), e
        return False
    return True


def sftp_attempt(sftp, op, path, path2=None):
    """True if the SFTP server allowed the operation, False if it answered PERMISSION_DENIED."""
    try:
        if op in ("upload", "append"):
            with sftp.open(path, "w" if op == "upload" else "a") as f:
                f.write(b"uploaded" if op == "upload" else b"appended")
        elif op == "download":
            sftp_download(sftp, path)
        elif op == "list":
            sftp.listdir(path)
        elif op == "delete":
            sftp.remove(path)
        elif op == "mkdir":
            sftp.mkdir(path)
        elif op == "rmdir":
            sftp.rmdir(path)
        elif op == "rename":
            sftp.rename(path, path2)
        elif op == "chmod":
            sftp.chmod(path, 0o600)
        else:
            raise AssertionError(op)
    except IOError as e:
        assert e.errno == errno.EACCES, (op, path, e)
        return False
    return True


def decide_both(ftp, sftp, op, path, path2):
    """Tries the operation over FTP, then over SFTP; returns {"ftp": allowed, "sftp": allowed}.
    "{p}" in a path becomes the protocol, so that what one protocol is allowed to create does
    not change what the other sees."""
    return {proto: attempt(client, op, path.format(p=proto), path2 and path2.format(p=proto))
            for proto, attempt, client in (("ftp", ftp_attempt, ftp), ("sftp", sftp_attempt, sftp))}


@pytest.fixture(scope="module")
def alice_tree(server):
    """alice: /inbox is "ew" (recursive), /outbox "elr"; a link in /inbox leads into /outbox and
    one in /outbox into /inbox."""
    home = server.home("alice")
    (home / "inbox" / "dropped.txt").write_bytes(b"dropped")
    (home / "inbox" / "sub").mkdir()
    (home / "outbox" / "report.txt").write_bytes(b"report")
    (home / "outbox" / "olddir").mkdir()
    os.symlink("../outbox", home / "inbox" / "to-outbox")
    os.symlink("../inbox/dropped.txt", home / "outbox" / "to-dropped")
    return home


def disk_snapshot(root):
    """{relative path: contents (files), link target (symlinks) or None (directories)}."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                out[os.path.relpath(full, root)] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                out[os.path.relpath(full, root)] = None
            else:
                with open(full, "rb") as f:
                    out[os.path.relpath(full, root)] = f.read()
    return out


# (op, path, second path, allowed); "{p}": see decide_both.
ALICE_CASES = [
    ("upload", "/inbox/up-{p}.txt", None, True),
    ("upload", "/inbox/sub/deep-{p}.txt", None, True),
    ("download", "/inbox/dropped.txt", None, False),
    ("list", "/inbox", None, False),
    ("append", "/inbox/dropped.txt", None, False),
    ("delete", "/inbox/dropped.txt", None, False),
    ("mkdir", "/inbox/dir-{p}", None, False),
    ("rename", "/inbox/dropped.txt", "/inbox/renamed-{p}.txt", False),
    ("download", "/outbox/report.txt", None, True),
    ("list", "/outbox", None, True),
    ("upload", "/outbox/up-{p}.txt", None, False),
    ("upload", "/outbox/report.txt", None, False),
    ("append", "/outbox/report.txt", None, False),
    ("delete", "/outbox/report.txt", None, False),
    ("mkdir", "/outbox/dir-{p}", None, False),
    ("rmdir", "/outbox/olddir", None, False),
    ("rename", "/outbox/report.txt", "/outbox/renamed-{p}.txt", False),
    ("chmod", "/outbox/report.txt", None, False),
    # Through the links: the letters of the name AND of the place it leads to.
    ("upload", "/inbox/to-outbox/up-{p}.txt", None, False),
    ("upload", "/inbox/to-outbox/report.txt", None, False),
    ("download", "/inbox/to-outbox/report.txt", None, False),
    ("list", "/inbox/to-outbox", None, False),
    ("download", "/outbox/to-dropped", None, False),
    ("upload", "/outbox/to-dropped", None, False),
]


@pytest.mark.parametrize("op, path, path2, allowed", ALICE_CASES,
                         ids=[f"{c[0]}:{c[1]}" for c in ALICE_CASES])
def test_per_directory_rules_decide_the_same_over_ftp_and_sftp(server, clients, alice_tree, op, path, path2,
                                                               allowed):
    ftp, sftp = clients["alice"]
    before = disk_snapshot(server.home("alice"))
    assert decide_both(ftp, sftp, op, path, path2) == {"ftp": allowed, "sftp": allowed}
    if not allowed:
        assert disk_snapshot(server.home("alice")) == before, "a refused request changed the files"


BOB_CASES = [
    ("download", "/bob.txt", None, True),
    ("list", "/", None, True),
    ("upload", "/new-{p}.txt", None, False),
    ("upload", "/bob.txt", None, False),
    ("append", "/bob.txt", None, False),
    ("delete", "/bob.txt", None, False),
    ("mkdir", "/dir-{p}", None, False),
    ("rmdir", "/bobdir", None, False),
    ("rename", "/bob.txt", "/renamed-{p}.txt", False),
    ("chmod", "/bob.txt", None, False),
]


@pytest.mark.parametrize("op, path, path2, allowed", BOB_CASES, ids=[f"{c[0]}:{c[1]}" for c in BOB_CASES])
def test_read_only_user_is_refused_the_same_over_ftp_and_sftp(server, clients, op, path, path2, allowed):
    home = server.home("bob")
    (home / "bob.txt").write_bytes(b"bob's file")
    (home / "bobdir").mkdir(exist_ok=True)
    ftp, sftp = clients["bob"]
    before = disk_snapshot(home)
    assert decide_both(ftp, sftp, op, path, path2) == {"ftp": allowed, "sftp": allowed}
    assert disk_snapshot(home) == before


def test_user_without_sftp_in_protocols_uses_ftp_only(server_factory):
    server = server_factory.start(sftp=True, user_extra={"bob": {"protocols": ["ftp"]}})
    (server.home("bob") / "hello.txt").write_bytes(b"hello bob")
    ftp = ftp_login(server, "bob")
    try:
        assert ftp_download(ftp, "/hello.txt") == b"hello bob"
    finally:
        ftp.quit()
    for key in (None, "bob"):
        transport = paramiko_transport(server, connect=False)
        try:
            with pytest.raises(paramiko.AuthenticationException):
                if key:
                    transport.auth_publickey("bob", load_paramiko_key(SshKeys.get().private("bob")))
                else:
                    transport.auth_password("bob", PASSWORDS["bob"])
        finally:
            transport.close()
    # alice, who has no protocols list, has both.
    client = sftp_client(server, "alice")
    close_sftp(client)
    ftp_login(server, "alice").quit()


# --------------------------------------------------------------------------------------------
# SIGHUP: users taken over without a restart
# --------------------------------------------------------------------------------------------

def ftp_login_fails(server, user, password):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        with pytest.raises(ftplib.error_perm, match="530"):
            ftp.login(user, password)
    finally:
        ftp.close()


def sftp_password_login_fails(server, user, password):
    transport = paramiko_transport(server, connect=False)
    try:
        with pytest.raises(paramiko.AuthenticationException):
            transport.auth_password(user, password)
    finally:
        transport.close()


def test_sighup_reloads_users_for_new_logins(server_factory):
    server = server_factory.start(sftp=True)
    (server.home("bob") / "hello.txt").write_bytes(b"hello bob")
    # Sessions that exist before the reload: bob over both protocols, alice over FTP.
    bob_ftp, bob_sftp = ftp_login(server, "bob"), sftp_client(server, "bob", key="bob")
    alice_ftp = ftp_login(server, "alice")
    try:
        config = copy.deepcopy(server.config)
        carol_password = "carol-Pass-7"
        carol_hash = run_passwd(carol_password).stdout.strip()
        (server.root / "carol").mkdir()
        users = [u for u in config["users"] if u["name"] != "bob"]  # bob leaves
        for u in users:
            if u["name"] == "alice":
                u["permissions"] = "elr"  # alice may no longer upload
                u.pop("directories", None)
        users.append({"name": "carol", "password_hash": carol_hash, "home": str(server.root / "carol"),
                      "permissions": "elradfmwMT"})  # carol joins
        config["users"] = users
        rewrite_config(server, config)
        server.proc.send_signal(signal.SIGHUP)
        reloaded = server.wait_for_event("config_reloaded")[-1]
        assert reloaded["users"] == 2 and reloaded["config"] == str(server.config_path)
        assert not server.events("config_restart_needed")

        # carol logs in over FTP and SFTP, and both see the same files.
        carol = ftplib.FTP()
        carol.connect("127.0.0.1", server.port, timeout=TIMEOUT)
        carol.login("carol", carol_password)
        try:
            carol.storbinary("STOR /from-ftp.txt", io.BytesIO(b"carol was here"))
        finally:
            carol.quit()
        transport = paramiko_transport(server, "carol", password=carol_password)
        carol_sftp = paramiko.SFTPClient.from_transport(transport)
        try:
            assert sftp_download(carol_sftp, "/from-ftp.txt") == b"carol was here"
        finally:
            close_sftp(carol_sftp)
        # bob can no longer log in, by password or by key...
        ftp_login_fails(server, "bob", PASSWORDS["bob"])
        sftp_password_login_fails(server, "bob", PASSWORDS["bob"])
        transport = paramiko_transport(server, connect=False)
        try:
            with pytest.raises(paramiko.AuthenticationException):
                transport.auth_publickey("bob", load_paramiko_key(SshKeys.get().private("bob")))
        finally:
            transport.close()
        # ...but his sessions from before go on, as with sshd, vsftpd and ProFTPD.
        assert ftp_download(bob_ftp, "/hello.txt") == b"hello bob"
        assert sftp_download(bob_sftp, "/hello.txt") == b"hello bob"
        # alice's new sessions get her new permissions; the one from before keeps hers.
        alice_new = ftp_login(server, "alice")
        try:
            with pytest.raises(ftplib.error_perm, match="550"):
                alice_new.storbinary("STOR /new.txt", io.BytesIO(b"refused"))
        finally:
            alice_new.quit()
        alice_ftp.storbinary("STOR /old-session.txt", io.BytesIO(b"allowed"))
        assert (server.home("alice") / "old-session.txt").read_bytes() == b"allowed"
        assert not (server.home("alice") / "new.txt").exists()
    finally:
        for ftp in (bob_ftp, alice_ftp):
            try:
                ftp.quit()
            except (OSError, EOFError, ftplib.Error):
                ftp.close()
        close_sftp(bob_sftp)
    assert server.alive()


def test_sighup_with_a_broken_config_changes_nothing(server_factory):
    server = server_factory.start(sftp=True)
    config = copy.deepcopy(server.config)
    config["users"][0]["permissions"] = "elrx"  # not a permission letter
    config["users"].append({"name": "carol", "password_hash": config["users"][0]["password_hash"],
                            "home": str(server.root / "alice")})
    rewrite_config(server, config)
    server.proc.send_signal(signal.SIGHUP)
    failed = server.wait_for_event("config_reload_failed")[-1]
    # The error names the file, the line and the key.
    assert f"{server.config_path}:" in failed["error"] and "users[0].permissions" in failed["error"]
    assert server.alive()
    # The users as they were: alice logs in with her rights, carol does not exist.
    ftp = ftp_login(server, "alice")
    try:
        ftp.storbinary("STOR /still.txt", io.BytesIO(b"still here"))
    finally:
        ftp.quit()
    ftp_login_fails(server, "carol", PASSWORDS["alice"])
    assert not server.events("config_reloaded")


def test_sighup_reports_sections_that_need_a_restart(server_factory):
    server = server_factory.start(sftp=True)
    ftp_login(server, "alice").quit()
    server.wait_for_event("login", result="ok", user="alice")  # logged at info before the reload
    config = copy.deepcopy(server.config)
    config["limits"]["max_command_line"] = 512
    config["ftp"]["banner"] = "a new banner"
    config["log"]["level"] = "warn"
    rewrite_config(server, config)
    server.proc.send_signal(signal.SIGHUP)
    server.wait_for_event("config_reloaded")
    needed = server.wait_for_event("config_restart_needed")[-1]
    assert needed["sections"] == "limits,ftp"
    # Not taken over: the greeting is the one from start-up.
    ftp = ftplib.FTP()
    welcome = ftp.connect("127.0.0.1", server.port, timeout=TIMEOUT)
    assert "a new banner" not in welcome
    # The log level is: a successful login (info) is no longer logged.
    logins = len(server.events("login", result="ok"))
    ftp.login("alice", PASSWORDS["alice"])
    ftp.quit()
    bob = ftp_login(server, "bob")
    bob.quit()
    assert len(server.events("login", result="ok")) == logins


# --------------------------------------------------------------------------------------------
# One client's crash is nobody else's problem
# --------------------------------------------------------------------------------------------

def test_sftp_client_killed_mid_upload_while_ftp_downloads(server, clients, workdir):
    ftp, sftp = clients["alice"]
    home = server.home("alice")
    make_random_file(workdir / "big.bin", 64 * MIB)
    steady = os.urandom(8 * MIB)
    (home / "steady.bin").write_bytes(steady)
    # OpenSSH sftp uploading at about 10 MB/s (-l is in Kbit/s), so that the kill lands mid-way.
    proc = subprocess.Popen(
        ["sftp", "-P", str(server.sftp_port), *SSH_CLIENT_OPTIONS, "-i", str(SshKeys.get().private("alice")),
         "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-l", "80000", "-b", "-", "alice@127.0.0.1"],
        cwd=workdir, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        proc.stdin.write(b"put big.bin /killed.bin\n")
        proc.stdin.close()
        assert wait_until(lambda: (home / "killed.bin").exists()
                          and (home / "killed.bin").stat().st_size > 2 * MIB, timeout=30)
        os.killpg(proc.pid, signal.SIGKILL)  # sftp and its ssh: gone without a word
        proc.wait(20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(20)
    # FTP and the other SFTP session go on.
    assert ftp_download(ftp, "/steady.bin") == steady
    assert sftp_download(sftp, "/steady.bin") == steady
    # The upload's handle was closed by the server: logged as aborted, and what arrived is a
    # prefix of the file that anyone can replace.
    event = server.wait_for_event("transfer", protocol="sftp", path="/killed.bin", direction="upload")[-1]
    assert event["result"] == "aborted" and 2 * MIB < event["bytes"] < 64 * MIB, event
    partial = (home / "killed.bin").read_bytes()
    assert len(partial) == event["bytes"]
    assert partial == (workdir / "big.bin").read_bytes()[:len(partial)]
    ftp.storbinary("STOR /killed.bin", io.BytesIO(b"replaced"))
    assert sftp_download(sftp, "/killed.bin") == b"replaced"
    ftp.delete("/killed.bin")
    ftp.delete("/steady.bin")


def test_upload_past_the_file_size_limit_fails_only_that_upload(server_factory):
    """Under a file size limit (`ulimit -f`, systemd's LimitFSIZE=) an upload that passes it
    fails with a clear error over FTP and SFTP. It does not kill the server (SIGXFSZ) and with
    it everyone's sessions."""
    srv = server_factory.start(sftp=True)
    resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (MIB, MIB))
    bystander = ftp_login(srv, "bob")
    ftp = ftp_login(srv, "alice")
    ftp.voidcmd("TYPE I")
    with pytest.raises(ftplib.error_perm, match="^552 File too large"):
        ftp_upload_cut_short(ftp, "big.bin", 3 * MIB)
    event = srv.wait_for_event("transfer", path="/big.bin")[0]
    assert event["result"] == "failed", event
    ftp.storbinary("STOR small.bin", io.BytesIO(b"fits"))  # the session goes on

    sftp = sftp_client(srv, "alice", key="alice")
    try:
        with pytest.raises(IOError, match="File too large"):
            with sftp.open("/big-sftp.bin", "wb") as f:
                f.write(os.urandom(3 * MIB))
        assert sftp.stat("/small.bin").st_size == 4
    finally:
        close_sftp(sftp)
    assert bystander.sendcmd("NOOP").startswith("200")
    assert srv.alive()
    for client in (ftp, bystander):
        client.quit()


@pytest.fixture
def full_disk(server_factory):
    """A server whose user alice has /small, a 1 MiB file system of its own (a tmpfs mounted
    there; needs root)."""
    srv = server_factory.start(sftp=True)
    small = srv.home("alice") / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", str(small)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield srv
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_full_disk_fails_the_upload_and_logs_why(full_disk):
    """A disk that fills during an upload fails that upload with the reason, over SFTP and FTP,
    and the transfer log says failed with the error, even when the SFTP client then closes its
    handle as usual. The sessions go on."""
    srv = full_disk
    sftp = sftp_client(srv, "alice", key="alice")
    try:
        with pytest.raises(IOError, match="No space left on device"):
            with sftp.open("/small/by-sftp.bin", "wb") as f:
                f.write(os.urandom(3 * MIB))
        event = srv.wait_for_event("transfer", path="/small/by-sftp.bin")[0]
        assert event["result"] == "failed" and event["error"] == "no space left on device", event
        sftp.remove("/small/by-sftp.bin")
    finally:
        close_sftp(sftp)

    ftp = ftp_login(srv, "alice")
    ftp.voidcmd("TYPE I")
    with pytest.raises(ftplib.error_temp, match="^452"):
        ftp_upload_cut_short(ftp, "/small/by-ftp.bin", 3 * MIB)
    event = srv.wait_for_event("transfer", path="/small/by-ftp.bin")[0]
    assert event["result"] == "failed" and event["error"] == "no space left on device", event
    ftp.delete("/small/by-ftp.bin")
    ftp.storbinary("STOR /small/fits.bin", io.BytesIO(b"room again"))
    assert ftp_download(ftp, "/small/fits.bin") == b"room again"
    ftp.quit()


def test_sessions_per_user_are_counted_over_both_protocols(server_factory):
    """limits.max_sessions_per_user (bob: 1) and users[].max_sessions (alice: 2) count logged-in
    sessions over FTP and SFTP together. One more login gets FTP 530 or an SSH disconnect that
    says why, costs no login failure, and works again once a session has ended."""
    srv = server_factory.start(sftp=True, limits={"max_sessions_per_user": 1},
                               user_extra={"alice": {"max_sessions": 2}})
    ftp = ftp_login(srv, "alice")
    sftp = sftp_client(srv, "alice", key="alice")
    try:
        for attempt in range(4):  # more than max_login_failures: these are not failures
            third = ftplib.FTP()
            third.connect("127.0.0.1", srv.port, timeout=TIMEOUT)
            with pytest.raises(ftplib.error_perm, match="^530 Too many sessions"):
                third.login("alice", PASSWORDS["alice"])
            assert third.voidcmd("NOOP").startswith("200")  # still connected
            third.close()
        with pytest.raises(paramiko.SSHException):
            paramiko_transport(srv, "alice", key="alice")
        r = sftp_batch(srv, "ls", key="alice")
        assert r.returncode != 0 and "Too many sessions for this user" in r.stderr, r.stderr
        refused = srv.wait_for_event("login", user="alice", result="failed", count=6)
        assert all(e["reason"] == "too many sessions for this user" for e in refused), refused
        assert srv.wait_for_event("session_end", protocol="sftp", reason="too many sessions for this user")
        # bob, under the global limit of one; other users are not affected by alice's count.
        bob = ftp_login(srv, "bob")
        with pytest.raises(paramiko.SSHException):
            paramiko_transport(srv, "bob", key="bob")
        bob.quit()
        close_sftp(paramiko.SFTPClient.from_transport(paramiko_transport(srv, "bob", key="bob")))
    finally:
        ftp.quit()
    # alice's FTP session has ended: a new login takes its place.
    assert wait_until(lambda: ftp_login_works(srv, "alice"))
    close_sftp(sftp)


def ftp_login_works(srv, user):
    try:
        ftp_login(srv, user).quit()
        return True
    except ftplib.error_perm:
        return False
