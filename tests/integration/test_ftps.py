"""FTPS (RFC 4217) with real clients: curl (explicit and implicit), lftp, Python's ftplib and ssl,
`openssl s_client`, and Java's Apache Commons Net (clients/JavaFtps.java). Certificates come from the tls_certs fixture (generated at test time).

The module server has three listeners:
    0  explicit FTPS, TLS required on both channels (the defaults)
    1  implicit FTPS
    2  explicit FTPS with tls_control/tls_data optional
and two users: alice (the server's policy) and bob (tls: control optional, session_reuse false).

Most data transfers below start the data channel's TLS handshake right after sending the transfer
command ("eager"); the tests named *_waits_for_150* use clients that wait for the 1xx reply first
(ftplib as shipped, lftp), which RFC 4217 allows, and *handshake*_before_* ones complete the
handshake before sending the command (Go's jlaffaye/ftp; curl starts it then too).
"""

import concurrent.futures
import contextlib
import copy
import ftplib
import io
import os
import pty
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import (MIB, PASSWORDS, TIMEOUT, Control, curl, filegate_bin, ipv6_available,
                      make_random_file, parse_epsv, recv_all, rewrite_config, run_tool, sha256_bytes,
                      sha256_file, to_yaml, unique_name)

ALICE, BOB = PASSWORDS["alice"], PASSWORDS["bob"]
HOST = "127.0.0.1"

# How long a client that waits for the 1xx reply before its data handshake gives the server.
WAIT_FOR_150 = 3.0


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------

def client_context(certs, cert=None, key=None):
    """Verifies the test CA. Unlike Python's default, a connection closed without TLS
    close_notify is an error (SSLEOFError), so the tests see whether the server sent one."""
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """ftplib.FTP_TLS that resumes the control connection's TLS session on data connections
    (stock ftplib does not). Like ftplib, it starts the data handshake after the 1xx reply."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size


class EagerFTP_TLS(ftplib.FTP_TLS):
    """Passive-mode FTP_TLS that starts the data handshake right after sending the transfer
    command, before reading the 1xx reply. `data_session` picks the session to resume: "own"
    (the control connection's), None (a full handshake), or an SSLSession. With
    `handshake_first` it completes the handshake before it sends the command, as Go's
    jlaffaye/ftp does (curl starts it then too): the server must answer it without waiting for
    the command, or this client would wait for a server waiting for it."""

    data_session = "own"
    handshake_first = False

    def secure(self, conn):
        session = self.sock.session if self.data_session == "own" else self.data_session
        return self.context.wrap_socket(conn, server_hostname=self.host, session=session)

    def ntransfercmd(self, cmd, rest=None):
        host, port = self.makepasv()
        conn = socket.create_connection((host, port), self.timeout)
        try:
            if self._prot_p and self.handshake_first:
                conn = self.secure(conn)
            if rest is not None:
                self.sendcmd(f"REST {rest}")
            self.putcmd(cmd)
            if self._prot_p and not self.handshake_first:
                try:
                    conn = self.secure(conn)
                except (ssl.SSLError, OSError):
                    # The server refused the handshake; its reply says why.
                    conn.close()
                    resp = self.getresp()  # raises error_temp/error_perm for 4xx/5xx
                    raise ftplib.error_reply(resp)
            resp = self.getresp()
            if resp[0] == "2":
                resp = self.getresp()
            if resp[0] != "1":
                raise ftplib.error_reply(resp)
        except BaseException:
            conn.close()
            raise
        return conn, None


class HandshakeFirstFTP_TLS(EagerFTP_TLS):
    handshake_first = True


def ftps_login(port, certs, cls=EagerFTP_TLS, user="alice", password=None, prot_p=True,
               timeout=TIMEOUT, context=None):
    """AUTH TLS, login, PBSZ 0/PROT P, and one NOOP round trip so that a TLS 1.3 session ticket
    has arrived before the first data connection."""
    ftp = cls(context=context or client_context(certs), timeout=timeout)
    ftp.connect(HOST, port)
    ftp.auth()
    ftp.login(user, password if password is not None else PASSWORDS[user])
    if prot_p:
        ftp.prot_p()
    ftp.voidcmd("NOOP")
    return ftp


def close_ftp(ftp):
    with contextlib.suppress(Exception):
        ftp.quit()
    with contextlib.suppress(Exception):
        ftp.close()


def stor_bytes(ftp, remote, data):
    ftp.storbinary(f"STOR {remote}", io.BytesIO(data), blocksize=MIB)


def retr_bytes(ftp, remote):
    out = io.BytesIO()
    ftp.retrbinary(f"RETR {remote}", out.write, blocksize=MIB)
    return out.getvalue()


def starttls(ctl, ctx):
    """AUTH TLS on a raw Control, then TLS on its socket."""
    r = ctl.cmd("AUTH TLS")
    assert r.code == 234, r.text
    assert ctl.buf == b"", f"bytes after the 234 before the handshake: {ctl.buf!r}"
    ctl.sock = ctx.wrap_socket(ctl.sock, server_hostname=HOST)
    return ctl


def tls_control(port, certs, login=None, ctx=None):
    ctl = starttls(Control(HOST, port), ctx or client_context(certs))
    if login:
        ctl.login(login)
    return ctl


def s_client(port, certs, *args, starttls_ftp=True, send="NOOP\r\nQUIT\r\n", timeout=30):
    """`openssl s_client`; sends `send` once the handshake is done and reads until the server
    closes. Returns (returncode, stdout+stderr)."""
    cmd = ["openssl", "s_client", "-connect", f"{HOST}:{port}", "-CAfile", str(certs.ca),
           "-verify_return_error", "-ign_eof", "-brief", *args]
    if starttls_ftp:
        cmd[2:2] = ["-starttls", "ftp"]
    try:
        proc = subprocess.run(cmd, input=send, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return None, out + "\n[s_client timed out]"
    return proc.returncode, proc.stdout + "\n" + proc.stderr


def negotiated(output):
    """(version, cipher) from s_client -brief's report of an established connection, or None."""
    if "CONNECTION ESTABLISHED" not in output:
        return None
    fields = dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)
    return fields.get("Protocol version"), fields.get("Ciphersuite")


def served(output):
    """Did the server answer the NOOP sent over TLS?"""
    return re.search(r"(^|\n)200 ", output) is not None


def curl_tls(certs, *args, timeout=120):
    return curl("--cacert", str(certs.ca), *args, timeout=timeout)


def url(port, path, scheme="ftp", user="alice"):
    return f"{scheme}://{user}:{PASSWORDS[user]}@{HOST}:{port}{path}"


def server_certificate_der(port, certs):
    """The certificate the server presents after AUTH TLS on `port`."""
    with Control(HOST, port) as ctl:
        starttls(ctl, client_context(certs))
        der = ctl.sock.getpeercert(binary_form=True)
        ctl.cmd("QUIT")
        return der


def cert_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_hello_bytes():
    """A real TLS ClientHello, as Python would send it."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16" and len(hello) > 100, hello[:16]
    return hello


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------

LISTENERS = [
    "127.0.0.1:0",
    {"address": "127.0.0.1:0", "implicit_tls": True},
    {"address": "127.0.0.1:0", "tls_control": "optional", "tls_data": "optional"},
]


@pytest.fixture(scope="module")
def server(module_server_factory, tls_certs):
    srv = module_server_factory.start(
        listen=LISTENERS, tls=tls_certs.server_tls(min_version="TLSv1.2"),
        user_tls={"bob": {"control": "optional", "session_reuse": False, "allow_ccc": True}})
    srv.optional_port = srv.endpoints[2][1]
    (srv.home("bob") / "readme.txt").write_bytes(b"for bob\n")
    (srv.home("alice") / "readme-alice.txt").write_bytes(b"for alice\n")
    return srv


@pytest.fixture
def area(server, request):
    name = unique_name(request.node.name[:40].replace("[", "_").replace("]", "_"))
    disk = server.home("alice") / name
    disk.mkdir()
    yield "/" + name, disk
    shutil.rmtree(disk, ignore_errors=True)


@pytest.fixture(scope="module")
def payload_1mib(tmp_path_factory):
    path = tmp_path_factory.mktemp("ftps-payload") / "one-mib"
    return path, make_random_file(path, MIB)


def transfers(server, **fields):
    return server.events("transfer", **fields)


# --------------------------------------------------------------------------------------------
# curl
# --------------------------------------------------------------------------------------------

def test_curl_explicit_round_trip(server, tls_certs, area, workdir, payload_1mib):
    vpath, disk = area
    src, digest = payload_1mib
    empty = workdir / "empty"
    empty.write_bytes(b"")
    for local, name, want in ((src, "big.bin", digest), (empty, "empty.bin", sha256_bytes(b""))):
        r = curl_tls(tls_certs, "--ssl-reqd", "-T", str(local), url(server.port, f"{vpath}/{name}"))
        assert r.returncode == 0, r.stderr
        assert sha256_file(disk / name) == want
        back = workdir / f"back-{name}"
        r = curl_tls(tls_certs, "--ssl-reqd", "-o", str(back), url(server.port, f"{vpath}/{name}"))
        assert r.returncode == 0, r.stderr
        assert sha256_file(back) == want
    r = curl_tls(tls_certs, "--ssl-reqd", url(server.port, f"{vpath}/"))
    assert r.returncode == 0, r.stderr
    assert "big.bin" in r.stdout and "empty.bin" in r.stdout
    up = server.wait_for_event("transfer", path=f"{vpath}/big.bin", direction="upload")[0]
    assert up["protocol"] == "ftps" and up["result"] == "ok" and up["bytes"] == MIB
    assert server.events("tls", channel="control"), "no 'tls' log line for the control handshake"


def test_curl_implicit_round_trip(server, tls_certs, area, workdir, payload_1mib):
    vpath, disk = area
    src, digest = payload_1mib
    port = server.implicit_port
    r = curl_tls(tls_certs, "-T", str(src), url(port, f"{vpath}/up.bin", scheme="ftps"))
    assert r.returncode == 0, r.stderr
    assert sha256_file(disk / "up.bin") == digest
    r = curl_tls(tls_certs, "-o", str(workdir / "back"), url(port, f"{vpath}/up.bin", scheme="ftps"))
    assert r.returncode == 0, r.stderr
    assert sha256_file(workdir / "back") == digest
    r = curl_tls(tls_certs, url(port, f"{vpath}/", scheme="ftps"))
    assert r.returncode == 0 and "up.bin" in r.stdout, r.stderr


def test_curl_rejects_a_server_it_cannot_verify(server, area):
    # Sanity check of the set-up: without our CA, curl must not talk to the server.
    vpath, _ = area
    r = curl("--ssl-reqd", url(server.port, f"{vpath}/"), timeout=60)
    assert r.returncode != 0


# --------------------------------------------------------------------------------------------
# lftp
# --------------------------------------------------------------------------------------------

def lftp_tls(server, certs, script, extra="", timeout=120):
    settings = ("set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 20; "
                "set net:reconnect-interval-base 1; set xfer:clobber on; "
                "set ftp:ssl-force true; set ftp:ssl-protect-data true; "
                f"set ssl:ca-file {certs.ca}; set ssl:verify-certificate true; {extra}")
    return run_tool(["lftp", "-u", f"alice,{ALICE}", "-p", str(server.port), "-e",
                     settings + script + "; bye", HOST], timeout=timeout)


def lftp_round_trip(server, certs, area, workdir, payload, extra):
    vpath, disk = area
    src, digest = payload
    script = f"cd {vpath}; put {src} -o up.bin; get up.bin -o {workdir}/back; ls"
    r = lftp_tls(server, certs, script, extra)
    events = [e for e in transfers(server) if e["path"] == f"{vpath}/up.bin"]
    assert r.returncode == 0, r.stderr + "\n".join(map(str, events))
    assert sha256_file(disk / "up.bin") == digest
    assert sha256_file(workdir / "back") == digest
    assert "up.bin" in r.stdout
    # Each transfer went through at the first attempt (lftp retries cut uploads with REST).
    assert [e["direction"] for e in events] == ["upload", "download"], "\n".join(map(str, events))
    assert all(e["protocol"] == "ftps" and e["result"] == "ok" for e in events), events


# lftp waits up to ftp:waiting-150-timeout (5 s) for the 150 before its data handshake; 0 makes
# it start the handshake at once, like curl (see test_client_that_waits_for_150_* for the wait).
LFTP_EAGER = "set ftp:waiting-150-timeout 0; "


def test_lftp_round_trip_tls12(server, tls_certs, area, workdir, payload_1mib):
    lftp_round_trip(server, tls_certs, area, workdir, payload_1mib,
                    LFTP_EAGER + "set ssl:priority NORMAL:-VERS-TLS1.3; ")
    assert server.events("tls", channel="control", version="TLSv1.2")


def test_lftp_round_trip_tls13(server, tls_certs, area, workdir, payload_1mib):
    lftp_round_trip(server, tls_certs, area, workdir, payload_1mib, LFTP_EAGER)


def test_lftp_active_mode(server, tls_certs, area, workdir, payload_1mib):
    """(See test_ftplib_active_mode_with_session_reuse.)"""
    log = workdir / "lftp-debug.log"
    lftp_round_trip(server, tls_certs, area, workdir, payload_1mib,
                    f"set ftp:passive-mode false; debug -o {log} 9; ")
    dialog = log.read_text()
    assert re.search(r"---> (EPRT|PORT) ", dialog) and not re.search(r"---> (EPSV|PASV)", dialog), dialog


# --------------------------------------------------------------------------------------------
# ftplib
# --------------------------------------------------------------------------------------------

def test_ftplib_round_trip_with_session_reuse(server, tls_certs, area):
    vpath, disk = area
    data = os.urandom(MIB + 123)
    ftp = ftps_login(server.port, tls_certs)
    try:
        stor_bytes(ftp, f"{vpath}/a.bin", data)
        assert sha256_file(disk / "a.bin") == sha256_bytes(data)
        assert retr_bytes(ftp, f"{vpath}/a.bin") == data
        lines = []
        ftp.retrlines(f"LIST {vpath}", lines.append)
        assert any(l.endswith(" a.bin") for l in lines), lines
        facts = dict(ftp.mlsd(vpath))
        assert facts["a.bin"]["type"] == "file" and int(facts["a.bin"]["size"]) == len(data)
        stor_bytes(ftp, f"{vpath}/empty.bin", b"")
        assert (disk / "empty.bin").stat().st_size == 0
        assert retr_bytes(ftp, f"{vpath}/empty.bin") == b""
    finally:
        close_ftp(ftp)
    assert not server.events("tls_failed", channel="data")


def test_protected_uploads_resume(server, tls_certs, area, workdir):
    """A cut-short upload picked up again over FTPS: REST + STOR and APPE (ftplib), and curl's
    --continue-at - (SIZE, then APPE). A protected upload opens its file only after the data
    handshake; the offset must survive that."""
    vpath, disk = area
    data = os.urandom(MIB + 7)
    for name in ("rest.bin", "appe.bin", "curl.bin"):
        (disk / name).write_bytes(data[:300_000])
    ftp = ftps_login(server.port, tls_certs)
    try:
        ftp.storbinary(f"STOR {vpath}/rest.bin", io.BytesIO(data[300_000:]), rest=300_000)
        ftp.storbinary(f"APPE {vpath}/appe.bin", io.BytesIO(data[300_000:]))
        ftp.storbinary(f"APPE {vpath}/new.bin", io.BytesIO(b"created"))
    finally:
        close_ftp(ftp)
    (workdir / "whole").write_bytes(data)
    r = curl_tls(tls_certs, "--ssl-reqd", "-C", "-", "-T", str(workdir / "whole"), url(server.port, f"{vpath}/curl.bin"))
    assert r.returncode == 0, r.stderr
    for name in ("rest.bin", "appe.bin", "curl.bin"):
        assert sha256_file(disk / name) == sha256_bytes(data), name
    assert (disk / "new.bin").read_bytes() == b"created"
    events = [e for e in transfers(server) if e["path"].startswith(vpath)]
    assert all(e["result"] == "ok" for e in events), events
    assert {e["path"]: e["offset"] for e in events}[f"{vpath}/rest.bin"] == 300_000, events
    # curl sent only the missing part.
    assert {e["path"]: e["bytes"] for e in events}[f"{vpath}/curl.bin"] == len(data) - 300_000, events


# Active mode under TLS: the server connects to the client, which is still the TLS client on
# the data connection (RFC 4217) and must resume the control connection's session. (curl 7.88,
# Debian 12's, cannot do active FTPS: curl/curl#10666.)
def test_ftplib_active_mode_with_session_reuse(server, tls_certs, area):
    vpath, disk = area
    data = os.urandom(300_001)
    failed_before = len(server.events("tls_failed", channel="data"))
    ftp = ftps_login(server.port, tls_certs, cls=ReusingFTP_TLS)
    ftp.set_pasv(False)
    try:
        stor_bytes(ftp, f"{vpath}/a.bin", data)
        assert sha256_file(disk / "a.bin") == sha256_bytes(data)
        assert retr_bytes(ftp, f"{vpath}/a.bin") == data
        assert [name for name, _ in ftp.mlsd(vpath)] == ["a.bin"]
    finally:
        close_ftp(ftp)
    assert len(server.events("tls_failed", channel="data")) == failed_before
    events = transfers(server, path=f"{vpath}/a.bin")
    assert [(e["direction"], e["protocol"], e["result"]) for e in events] == \
        [("upload", "ftps", "ok"), ("download", "ftps", "ok")], events


def test_active_data_connection_without_session_reuse_is_refused(server, tls_certs, area):
    """In active mode the server connects out, so the address check cannot tell who answers:
    the session check alone keeps another party from taking the file."""
    vpath, disk = area
    (disk / "keep.txt").write_bytes(b"original\n")
    ftp = ftps_login(server.port, tls_certs, cls=ftplib.FTP_TLS)  # stock: full data handshakes
    ftp.set_pasv(False)
    try:
        reply = refused_transfer(ftp, lambda: stor_bytes(ftp, f"{vpath}/keep.txt", b"overwritten\n"))
        assert reply.startswith("425"), reply
        reply = refused_transfer(ftp, lambda: retr_bytes(ftp, f"{vpath}/keep.txt"))
        assert reply.startswith("425"), reply
    finally:
        close_ftp(ftp)
    assert (disk / "keep.txt").read_bytes() == b"original\n"


@pytest.mark.parametrize("cls", [EagerFTP_TLS, ReusingFTP_TLS], ids=["tls-before-150", "tls-after-150"])
@pytest.mark.parametrize("size", [1, 65536, 65537, 300_000])
def test_protected_downloads_around_the_read_ahead_size(server, tls_certs, area, cls, size):
    """Small files are read with their open and sent without another disk read; the bytes are
    the same on either side of that 64 KiB limit, from any REST offset."""
    vpath, disk = area
    data = os.urandom(size)
    (disk / "f").write_bytes(data)
    ftp = ftps_login(server.port, tls_certs, cls=cls)
    try:
        for offset in sorted({0, size // 2, size}):
            out = io.BytesIO()
            ftp.retrbinary(f"RETR {vpath}/f", out.write, rest=offset or None)
            assert out.getvalue() == data[offset:], f"REST {offset}"
    finally:
        close_ftp(ftp)


def held_finished_retr(ftp, remote, session, finish=True):
    """RETR `remote` with a data connection whose client holds its TLS Finished back until it
    has read everything the server sent on its own. Returns (file bytes that came before the
    Finished, file bytes after it, whether the stream ended with close_notify). With
    finish=False the client closes the connection instead of sending its Finished."""
    host, port = ftp.makepasv()
    sock = socket.create_connection((host, port), TIMEOUT)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()

    def take_in(wait):  # False: nothing arrived within `wait` seconds
        sock.settimeout(wait)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False
        if chunk:
            incoming.write(chunk)
        else:
            incoming.write_eof()
        return True

    def read_all(tls):  # (the data taken in so far, whether close_notify came)
        out = b""
        with contextlib.suppress(ssl.SSLWantReadError):
            while chunk := tls.read(65536):
                out += chunk
            return out, True  # b"": close_notify (an EOF without it raises SSLEOFError)
        return out, False

    try:
        assert ftp.sendcmd(f"RETR {remote}").startswith("150")
        tls = ftp.context.wrap_bio(incoming, outgoing, server_hostname=HOST, session=session)
        with pytest.raises(ssl.SSLWantReadError):
            tls.do_handshake()
        sock.sendall(outgoing.read())  # the hello
        while take_in(0.3):  # until the server has gone quiet
            pass
        tls.do_handshake()  # complete on our side; the Finished waits in `outgoing`
        before, closed = read_all(tls)
        if not finish:
            return before, b"", closed
        sock.sendall(outgoing.read())
        after = b""
        while not closed:
            assert take_in(TIMEOUT), "the server stopped sending without ending the stream"
            more, closed = read_all(tls)
            after += more
        sock.settimeout(TIMEOUT)
        assert sock.recv(1) == b"", "the data connection stays open after close_notify"
    finally:
        sock.close()
    return before, after, closed


@pytest.mark.parametrize("size", [4096, 300_000])
def test_download_travels_with_the_data_handshake(server, tls_certs, area, size):
    """TLS 1.3 lets the server send data right after its first handshake flight, before the
    client's Finished: a download's first 64 KiB go out then (a round trip sooner), to a client
    that resumed the control connection's session."""
    vpath, disk = area
    data = os.urandom(size)
    (disk / "f").write_bytes(data)
    ftp = ftps_login(server.port, tls_certs, cls=ReusingFTP_TLS)
    try:
        before, after, closed = held_finished_retr(ftp, f"{vpath}/f", ftp.sock.session)
        assert ftp.voidresp().startswith("226")
        assert before + after == data and closed
        assert before == data[:65536]  # the whole head, not only its first TLS record
        # The session goes on as usual.
        assert retr_bytes(ftp, f"{vpath}/f") == data
    finally:
        close_ftp(ftp)


def test_download_whose_client_never_finishes_the_handshake_fails(server, tls_certs, area):
    """The head went out with the handshake, but a client that never sends its Finished has not
    completed TLS: the transfer is reported as failed (425), not 226, and the session goes on."""
    vpath, disk = area
    (disk / "f").write_bytes(b"small file\n")
    ftp = ftps_login(server.port, tls_certs, cls=ReusingFTP_TLS)
    try:
        held_finished_retr(ftp, f"{vpath}/f", ftp.sock.session, finish=False)
        with pytest.raises(ftplib.error_temp) as failed:
            ftp.voidresp()
        assert failed.value.args[0].startswith("425"), failed.value
        assert retr_bytes(ftp, f"{vpath}/f") == b"small file\n"
    finally:
        close_ftp(ftp)
    server.wait_for_event("tls_failed", channel="data")


@pytest.mark.parametrize("case", ["full-handshake-exempt-user", "ascii"])
def test_download_waits_for_the_handshake_otherwise(server, tls_certs, case):
    """SECURITY: nothing goes before the client's Finished to a client that did not resume the
    control connection's session (here: a user exempt from session reuse, with a full
    handshake); ASCII transfers convert their data in the transfer and do not use it."""
    user = "bob" if case.startswith("full") else "alice"
    ftp = ftps_login(server.port, tls_certs, cls=ReusingFTP_TLS, user=user)
    try:
        if case == "ascii":
            (server.home("alice") / "lines.txt").write_bytes(b"a\nb\n")
            ftp.voidcmd("TYPE A")
            before, after, closed = held_finished_retr(ftp, "/lines.txt", ftp.sock.session)
            expected = b"a\r\nb\r\n"
        else:
            before, after, closed = held_finished_retr(ftp, "/readme.txt", None)
            expected = b"for bob\n"
        assert ftp.voidresp().startswith("226")
        assert before == b"" and after == expected and closed
    finally:
        close_ftp(ftp)


@pytest.mark.parametrize("cls", [EagerFTP_TLS, ReusingFTP_TLS], ids=["tls-before-150", "tls-after-150"])
def test_protected_upload_into_a_missing_folder_is_refused_before_150(server, tls_certs, area, cls):
    """A protected upload opens its file only after the data handshake, but a folder that does
    not exist is refused before 150, as for a plain upload: the client gets the reason, not a
    reset data connection. The session goes on."""
    vpath, disk = area
    ftp = ftps_login(server.port, tls_certs, cls=cls)
    try:
        with pytest.raises(ftplib.error_perm) as refused:
            stor_bytes(ftp, f"{vpath}/no-such-dir/f.bin", b"data")
        assert refused.value.args[0][:3] == "550", refused.value
        stor_bytes(ftp, f"{vpath}/ok.bin", b"fine")
        assert retr_bytes(ftp, f"{vpath}/ok.bin") == b"fine"
    finally:
        close_ftp(ftp)
    assert (disk / "ok.bin").read_bytes() == b"fine"
    assert not (disk / "no-such-dir").exists()
    # The STOR's first reply is the refusal, not 150.
    with tls_control(server.port, tls_certs, login="alice") as ctl:
        assert ctl.cmd("PBSZ 0").code == 200 and ctl.cmd("PROT P").code == 200
        port = parse_epsv(ctl.cmd("EPSV"))
        with socket.create_connection((HOST, port), timeout=TIMEOUT):
            r = ctl.cmd(f"STOR {vpath}/no-such-dir/g.bin")
            assert r.code == 550, r.text
        assert ctl.cmd("NOOP").code == 200


@pytest.mark.parametrize("cls", [EagerFTP_TLS, ReusingFTP_TLS], ids=["tls-before-150", "tls-after-150"])
def test_protected_upload_that_cannot_be_opened_is_refused_after_150(server, tls_certs, area, cls):
    """A name that exists as a folder fails only at the open, after the data handshake (after
    150): the upload is refused then, with the reason on the control connection, and the session
    goes on. The client may be sending when the data connection closes (so may see it reset, as
    with vsftpd or ProFTPD when a write fails); the reply still says why."""
    vpath, disk = area
    (disk / "folder.bin").mkdir()
    ftp = ftps_login(server.port, tls_certs, cls=cls)
    try:
        with pytest.raises((ftplib.error_perm, OSError)) as refused:
            stor_bytes(ftp, f"{vpath}/folder.bin", b"data")
        if not isinstance(refused.value, ftplib.error_perm):
            with pytest.raises(ftplib.error_perm) as refused:
                ftp.voidresp()
        assert refused.value.args[0][:3] == "550", refused.value
        stor_bytes(ftp, f"{vpath}/ok.bin", b"fine")
        assert retr_bytes(ftp, f"{vpath}/ok.bin") == b"fine"
    finally:
        close_ftp(ftp)
    assert (disk / "folder.bin").is_dir() and not any((disk / "folder.bin").iterdir())


@pytest.mark.parametrize("client", ["ftplib-reusing-alice", "ftplib-stock-bob-exempt", "lftp"])
def test_client_that_waits_for_150_before_the_data_handshake(server, tls_certs, client):
    # RFC 4217 clients commonly send the command, wait for the 1xx reply and only then start
    # TLS on the data connection (Python's ftplib, lftp). The brief's ReusingFTP_TLS subclass
    # and stock FTP_TLS (for the user exempt from session reuse) are both such clients.
    if client == "lftp":
        # lftp waits ftp:waiting-150-timeout for the 150, then starts TLS anyway: it gets its
        # file, but only after that wait.
        begin = time.monotonic()
        r = lftp_tls(server, tls_certs, "cat /readme-alice.txt",
                     f"set ftp:waiting-150-timeout {WAIT_FOR_150}; ")
        elapsed = time.monotonic() - begin
        assert r.returncode == 0 and r.stdout == "for alice\n", r.stderr
        assert elapsed < WAIT_FOR_150, f"lftp waited {elapsed:.1f}s for the 150 reply"
        return
    if client == "ftplib-reusing-alice":
        ftp = ftps_login(server.port, tls_certs, cls=ReusingFTP_TLS, timeout=WAIT_FOR_150)
        path = "/"
    else:
        ftp = ftps_login(server.port, tls_certs, cls=ftplib.FTP_TLS, user="bob",
                         timeout=WAIT_FOR_150)
        path = "/readme.txt"
    try:
        if path == "/":
            ftp.retrlines("LIST")
        else:
            assert retr_bytes(ftp, path) == b"for bob\n"
    finally:
        ftp.sock.settimeout(TIMEOUT)
        close_ftp(ftp)


def test_client_that_handshakes_before_the_transfer_command(server, tls_certs, area):
    vpath, disk = area
    data = os.urandom(100_000)
    ftp = ftps_login(server.port, tls_certs, cls=HandshakeFirstFTP_TLS, timeout=WAIT_FOR_150)
    try:
        stor_bytes(ftp, f"{vpath}/f.bin", data)
        assert sha256_file(disk / "f.bin") == sha256_bytes(data)
        assert retr_bytes(ftp, f"{vpath}/f.bin") == data
        out = io.BytesIO()
        ftp.retrbinary(f"RETR {vpath}/f.bin", out.write, rest=99_000)
        assert out.getvalue() == data[99_000:]
        assert ftp.nlst(vpath) == ["f.bin"] or ftp.nlst(vpath) == [f"{vpath}/f.bin"]
        assert "f.bin" in dict(ftp.mlsd(vpath))
    finally:
        ftp.sock.settimeout(TIMEOUT)
        close_ftp(ftp)


def test_handshake_before_the_command_without_session_reuse_is_refused(server, tls_certs, area):
    vpath, disk = area
    (disk / "keep.txt").write_bytes(b"original\n")
    ftp = ftps_login(server.port, tls_certs, cls=HandshakeFirstFTP_TLS, timeout=WAIT_FOR_150)
    ftp.data_session = None  # a full handshake: no proof of holding the control's session
    try:
        reply = refused_transfer(ftp, lambda: stor_bytes(ftp, f"{vpath}/keep.txt", b"overwritten\n"))
        assert reply.startswith("425"), reply
        ftp.data_session = "own"
        assert retr_bytes(ftp, f"{vpath}/keep.txt") == b"original\n"
    finally:
        ftp.sock.settimeout(TIMEOUT)
        close_ftp(ftp)
    assert (disk / "keep.txt").read_bytes() == b"original\n"


@pytest.mark.parametrize("then", ["EPSV", "ABOR", "PROT C"])
def test_an_early_data_connection_is_dropped_when_the_setup_changes(server, tls_certs, then):
    """A data connection that completed its handshake before any command used it is closed by
    a new EPSV, by ABOR and by PROT C (on the listener where data TLS is optional); the session
    goes on."""
    ftp = ftps_login(server.optional_port, tls_certs, cls=HandshakeFirstFTP_TLS, timeout=WAIT_FOR_150)
    try:
        host, port = ftp.makepasv()
        early = ftp.context.wrap_socket(socket.create_connection((host, port), WAIT_FOR_150),
                                        server_hostname=ftp.host, session=ftp.sock.session)
        assert ftp.sendcmd(then).startswith("2")
        try:
            assert early.recv(1) == b"", "the early data connection stayed open"
        except (ssl.SSLError, OSError):
            pass  # closed without close_notify
        early.close()
        if then == "PROT C":
            ftp.prot_p()
        assert retr_bytes(ftp, "/readme-alice.txt") == b"for alice\n"
    finally:
        ftp.sock.settimeout(TIMEOUT)
        close_ftp(ftp)


def refused_transfer(ftp, transfer):
    """Runs a transfer the server must refuse; returns the final reply text. The refusal comes
    after 150, once the data connection's TLS handshake showed no session reuse: the client sees
    it as the 425 reply, or first as a broken data connection with the 425 still to be read."""
    try:
        transfer()
    except (ftplib.error_temp, ftplib.error_reply) as e:
        return str(e)
    except (OSError, EOFError):
        try:
            ftp.getresp()
        except (ftplib.error_temp, ftplib.error_reply) as e:
            return str(e)
    pytest.fail("the transfer was not refused")


def test_data_connection_without_session_reuse_is_refused(server, tls_certs, area):
    vpath, disk = area
    (disk / "keep.txt").write_bytes(b"original\n")
    failed_before = len(server.events("tls_failed", channel="data"))
    ftp = ftps_login(server.port, tls_certs)
    ftp.data_session = None  # a full handshake: no proof of holding the control's session
    try:
        reply = refused_transfer(ftp, lambda: stor_bytes(ftp, f"{vpath}/keep.txt", b"overwritten\n"))
        assert reply.startswith("425"), reply
        reply = refused_transfer(ftp, lambda: stor_bytes(ftp, f"{vpath}/new.txt", b"created\n"))
        assert reply.startswith("425"), reply
        reply = refused_transfer(ftp, lambda: retr_bytes(ftp, f"{vpath}/keep.txt"))
        assert reply.startswith("425"), reply
        # The session goes on, and resuming its own session works.
        ftp.data_session = "own"
        assert retr_bytes(ftp, f"{vpath}/keep.txt") == b"original\n"
    finally:
        close_ftp(ftp)
    assert (disk / "keep.txt").read_bytes() == b"original\n"
    assert not (disk / "new.txt").exists()
    server.wait_for_event("tls_failed", channel="data", count=failed_before + 3)


def test_session_ticket_from_another_control_connection_is_refused(server, tls_certs, area):
    vpath, disk = area
    (disk / "keep.txt").write_bytes(b"original\n")
    ctx = client_context(tls_certs)  # one context: Python only resumes within a context
    a = ftps_login(server.port, tls_certs, context=ctx)
    b = ftps_login(server.port, tls_certs, context=ctx)
    try:
        assert a.sock.session is not None and a.sock.session.has_ticket, \
            "session A received no TLS session ticket after a NOOP round trip"
        b.data_session = a.sock.session
        reply = refused_transfer(b, lambda: stor_bytes(b, f"{vpath}/keep.txt", b"overwritten by B with A's ticket\n"))
        assert reply.startswith("425"), reply
        reply = refused_transfer(b, lambda: retr_bytes(b, f"{vpath}/keep.txt"))
        assert reply.startswith("425"), reply
        # Each still works with its own session.
        b.data_session = "own"
        assert retr_bytes(b, f"{vpath}/keep.txt") == b"original\n"
        assert retr_bytes(a, f"{vpath}/keep.txt") == b"original\n"
    finally:
        close_ftp(a)
        close_ftp(b)
    assert (disk / "keep.txt").read_bytes() == b"original\n"


def test_user_exempt_from_session_reuse(server, tls_certs):
    before = len(server.events("tls_session_reuse_exempt", user="bob"))
    ftp = ftps_login(server.port, tls_certs, user="bob")
    ftp.data_session = None  # stock ftplib behaviour: a full handshake per data connection
    try:
        assert retr_bytes(ftp, "/readme.txt") == b"for bob\n"
        lines = []
        ftp.retrlines("LIST", lines.append)
        assert any(l.endswith(" readme.txt") for l in lines), lines
    finally:
        close_ftp(ftp)
    events = server.wait_for_event("tls_session_reuse_exempt", count=before + 2, user="bob")
    assert events[-1]["reused"] is False


def test_session_idle_past_the_ticket_lifetime_keeps_transferring(server_factory, tls_certs, tmp_path):
    """A session that outlives the session it got at login, idling with keep-alive commands in
    between (as FileZilla does), must still transfer afterwards: ProFTPD's FileZilla failure
    after the ticket lifetime. ftplib (OpenSSL) and lftp (GnuTLS), each over TLS 1.3 and
    TLS 1.2, run side by side against a 60 s lifetime (the shortest allowed); each uploads,
    sends one NOOP at 32 s, and uploads again at 63 s, when the login's session has expired.
    One more ftplib session does the same over TLS 1.2 after CCC: its data connections resume
    the login's session, bound to its control connection. (After CCC over TLS 1.3 no fresh
    ticket can reach the client, and clients do not offer expired ones.)"""
    srv = server_factory.start(tls=tls_certs.server_tls(session_lifetime=60, allow_ccc=True))
    first, second = os.urandom(200_000), os.urandom(300_001)
    (tmp_path / "first").write_bytes(first)
    (tmp_path / "second").write_bytes(second)

    def lftp_session(name, extra=""):
        script = (f"put {tmp_path}/first -o {name}-1.bin; sleep 32; quote NOOP; sleep 31; "
                  f"put {tmp_path}/second -o {name}-2.bin")
        r = lftp_tls(srv, tls_certs, script, LFTP_EAGER + extra, 150)
        assert r.returncode == 0, f"{name}: {r.stderr}"

    def ftplib_session(name, tls12=False, ccc=False):
        context = client_context(tls_certs)
        if tls12:
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        ftp = ftps_login(srv.port, tls_certs, context=context)
        start = time.monotonic()
        try:
            login_session = ftp.sock.session
            if ccc:
                ftp.data_session = login_session
                ftp.ccc()
            stor_bytes(ftp, f"/{name}-1.bin", first)
            time.sleep(max(0.0, start + 32 - time.monotonic()))
            ftp.voidcmd("NOOP")
            time.sleep(max(0.0, start + 63 - time.monotonic()))
            stor_bytes(ftp, f"/{name}-2.bin", second)
            assert retr_bytes(ftp, f"/{name}-2.bin") == second
            if not tls12:
                # The login's tickets really have expired: a data connection offering one is
                # refused. (TLS 1.2 cannot renew a session: its data connections may resume
                # their control connection's session as long as that connection lives.)
                ftp.data_session = login_session
                reply = refused_transfer(ftp, lambda: stor_bytes(ftp, f"/{name}-1.bin", b"overwritten\n"))
                assert reply.startswith("425"), reply
        finally:
            close_ftp(ftp)

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        runs = [pool.submit(ftplib_session, "ftplib13"), pool.submit(ftplib_session, "ftplib12", True),
                pool.submit(lftp_session, "lftp13"),
                pool.submit(lftp_session, "lftp12", "set ssl:priority NORMAL:-VERS-TLS1.3; "),
                pool.submit(ftplib_session, "ccc12", True, True)]
        for run in runs:
            run.result()
    names = ("ftplib13", "ftplib12", "lftp13", "lftp12", "ccc12")
    home = srv.home("alice")
    for name in names:
        assert (home / f"{name}-1.bin").read_bytes() == first, name
        assert (home / f"{name}-2.bin").read_bytes() == second, name
    assert len(srv.events("tls", channel="control", version="TLSv1.2")) == 3
    assert len(srv.events("tls_cleared")) == 1
    # Each client's uploads went through at the first attempt, on the control connection it
    # logged in with (lftp reconnects and retries a failed transfer).
    events = srv.events("transfer", direction="upload")
    assert sorted(e["path"] for e in events) == sorted(f"/{n}-{i}.bin" for n in names for i in (1, 2)), events
    assert all(e["result"] == "ok" for e in events), events
    session = {e["path"]: e["session"] for e in events}
    for name in names:
        assert session[f"/{name}-1.bin"] == session[f"/{name}-2.bin"], events


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_explicit_ftps_over_ipv6(server_factory, tls_certs, tmp_path):
    """EPSV, the data connection's address check and session binding over ::1, with curl and
    with ftplib resuming the control connection's session; the certificate names ::1."""
    srv = server_factory.start(listen=["127.0.0.1:0", "[::1]:0"], tls=tls_certs.server_tls())
    data = os.urandom(300_000)
    (tmp_path / "up.bin").write_bytes(data)
    base = f"ftp://alice:{ALICE}@[::1]:{srv.port6}"
    r = curl_tls(tls_certs, "--ssl-reqd", "-T", str(tmp_path / "up.bin"), f"{base}/v6.bin")
    assert r.returncode == 0, r.stderr
    assert (srv.home() / "v6.bin").read_bytes() == data
    r = curl_tls(tls_certs, "--ssl-reqd", "-o", str(tmp_path / "down.bin"), f"{base}/v6.bin")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "down.bin").read_bytes() == data

    ftp = EagerFTP_TLS(context=client_context(tls_certs), timeout=TIMEOUT)
    ftp.connect("::1", srv.port6)
    try:
        ftp.auth()
        ftp.login("alice", ALICE)
        ftp.prot_p()
        ftp.voidcmd("NOOP")  # the TLS 1.3 ticket arrives
        assert retr_bytes(ftp, "/v6.bin") == data
        stor_bytes(ftp, "/v6-ftplib.bin", data[:1000])
        ftp.data_session = None  # a full handshake is refused over IPv6 too
        reply = refused_transfer(ftp, lambda: retr_bytes(ftp, "/v6.bin"))
        assert reply.startswith("425"), reply
    finally:
        close_ftp(ftp)
    assert (srv.home() / "v6-ftplib.bin").read_bytes() == data[:1000]
    transfers = srv.events("transfer", result="ok")
    assert len(transfers) == 4 and all(e["client"] == "::1" for e in transfers), transfers


# Java partners: Apache Commons Net's FTPSClient. The JDK resumes TLS sessions per host and
# port, so its data connections (a new port each) never resume the control connection's
# session: the client the per-user exemption is for.
JAVA_FTPS = os.path.join(os.path.dirname(__file__), "clients", "JavaFtps.java")
COMMONS_NET = "/usr/share/java/commons-net.jar"


def java_ftps(mode, port, user, password, certs, *commands, cwd):
    if shutil.which("java") is None or not os.path.exists(COMMONS_NET):
        pytest.skip("java or libcommons-net-java is not installed (scripts/deps.sh installs them)")
    return subprocess.run(["java", "-cp", COMMONS_NET, JAVA_FTPS, mode, str(port), user, password,
                           str(certs.ca), *commands],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_java_client_is_refused_data_without_session_reuse(server, tls_certs, area, tmp_path):
    vpath, disk = area
    (disk / "keep.txt").write_bytes(b"original\n")
    (tmp_path / "up.bin").write_bytes(b"from java\n")
    failed_before = len(server.events("tls_failed", channel="data"))
    # alice has the default policy: TLS on both channels and session reuse required.
    proc = java_ftps("explicit", server.port, "alice", ALICE, tls_certs,
                     f"put up.bin {vpath}/keep.txt", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"put up.bin {vpath}/keep.txt failed: 425" in proc.stderr, proc.stderr
    assert (disk / "keep.txt").read_bytes() == b"original\n"
    server.wait_for_event("tls_failed", channel="data", count=failed_before + 1)


@pytest.mark.parametrize("mode", ["explicit", "implicit"])
def test_java_client_works_for_a_user_exempt_from_session_reuse(server, tls_certs, tmp_path, mode):
    before = len(server.events("tls_session_reuse_exempt", user="bob"))
    port = server.port if mode == "explicit" else server.implicit_port
    proc = java_ftps(mode, port, "bob", BOB, tls_certs, "list /", "get /readme.txt got.txt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "names: " in proc.stdout and "readme.txt" in proc.stdout.split("names: ")[1].splitlines()[0].split(",")
    assert "ok: get /readme.txt got.txt: 226" in proc.stdout
    assert (tmp_path / "got.txt").read_bytes() == b"for bob\n"
    events = server.wait_for_event("tls_session_reuse_exempt", count=before + 2, user="bob")
    assert events[-1]["reused"] is False


def test_mlsd_and_list_over_implicit_tls(server, tls_certs, area):
    vpath, disk = area
    (disk / "x.txt").write_bytes(b"x" * 10)

    class Implicit(EagerFTP_TLS):
        def connect(self, host, port, timeout=TIMEOUT, source_address=None):
            self.host, self.port = host, port
            raw = socket.create_connection((host, port), timeout)
            self.sock = self.context.wrap_socket(raw, server_hostname=host)
            self.af = self.sock.family
            self.file = self.sock.makefile("r", encoding=self.encoding)
            self.welcome = self.getresp()
            return self.welcome

    ftp = Implicit(context=client_context(tls_certs), timeout=TIMEOUT)
    try:
        assert ftp.connect(HOST, server.implicit_port).startswith("220")
        ftp.login("alice", ALICE, secure=False)  # already TLS
        ftp._prot_p = True  # implicit FTPS: data channels are protected from the start
        ftp.voidcmd("NOOP")
        facts = dict(ftp.mlsd(vpath))
        assert int(facts["x.txt"]["size"]) == 10
        lines = []
        ftp.retrlines(f"LIST {vpath}", lines.append)
        assert any(l.endswith(" x.txt") for l in lines), lines
        with pytest.raises(ftplib.error_perm, match="^503"):
            ftp.sendcmd("AUTH TLS")  # already TLS
    finally:
        close_ftp(ftp)


# --------------------------------------------------------------------------------------------
# openssl s_client: versions and ciphers
# --------------------------------------------------------------------------------------------

def test_s_client_explicit_tls13(server, tls_certs):
    rc, out = s_client(server.port, tls_certs)
    version, cipher = negotiated(out) or (None, None)
    assert version == "TLSv1.3" and cipher.startswith("TLS_"), out
    assert "Verification: OK" in out, out
    assert served(out), out
    event = server.wait_for_event("tls", channel="control", version="TLSv1.3", cipher=cipher)
    assert event


def test_s_client_implicit(server, tls_certs):
    rc, out = s_client(server.implicit_port, tls_certs, starttls_ftp=False)
    assert (negotiated(out) or [None])[0] == "TLSv1.3", out
    assert "220 " in out and served(out), out


def test_tls12_accepted_when_min_version_is_tls12(server, tls_certs):
    rc, out = s_client(server.port, tls_certs, "-tls1_2")
    version, cipher = negotiated(out) or (None, None)
    assert version == "TLSv1.2", out
    assert served(out), out
    server.wait_for_event("tls", channel="control", version="TLSv1.2", cipher=cipher)


@pytest.mark.parametrize("port_kind", ["explicit", "implicit"])
def test_tls11_refused(server, tls_certs, port_kind):
    port = server.port if port_kind == "explicit" else server.implicit_port
    # SECLEVEL=0 lets this OpenSSL client offer TLS 1.1 at all, so that the refusal is the
    # server's.
    rc, out = s_client(port, tls_certs, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
                       starttls_ftp=port_kind == "explicit")
    assert "no protocols available" not in out, "the client did not offer TLS 1.1:\n" + out
    assert rc != 0 and negotiated(out) is None and not served(out), out


def test_default_ciphers_are_ecdhe_with_aead_only(server_factory, tls_certs):
    """With an RSA certificate, which would allow them, TLS 1.2 key exchange without ECDHE
    (plain RSA, finite-field DHE) and CBC ciphers are refused by default."""
    cert, key = tls_certs.issue(f"rsa-{time.monotonic_ns()}", "filegate-test-rsa", server=True, rsa=True)
    srv = server_factory.start(tls={"certificate": str(cert), "private_key": str(key)})
    rc, out = s_client(srv.port, tls_certs, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    assert negotiated(out) == ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256") and served(out), out
    for cipher in ("AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA256",
                   "ECDHE-RSA-AES256-SHA"):
        rc, out = s_client(srv.port, tls_certs, "-tls1_2", "-cipher", cipher)
        assert negotiated(out) is None and not served(out), f"{cipher} accepted:\n{out}"


def temp_key(output):
    """s_client's "Server Temp Key" line (the key exchange), or None."""
    m = re.search(r"Server Temp Key: (.*)", output)
    return m.group(1).strip() if m else None


def test_key_exchange_is_elliptic_curve_only(server, tls_certs):
    """TLS 1.3 negotiates its key exchange group apart from the suite; a client that offers only
    finite-field groups (which OpenSSL's own defaults accept) is refused."""
    rc, out = s_client(server.port, tls_certs, "-tls1_3", "-groups", "ffdhe2048:ffdhe3072")
    assert negotiated(out) is None and not served(out), out
    rc, out = s_client(server.port, tls_certs, "-tls1_2", "-groups", "ffdhe2048")
    assert negotiated(out) is None and not served(out), out
    rc, out = s_client(server.port, tls_certs)
    assert temp_key(out).startswith("X25519") and served(out), out


def test_configured_groups(server_factory, tls_certs):
    srv = server_factory.start(tls=tls_certs.server_tls(groups="P-384"))
    rc, out = s_client(srv.port, tls_certs, "-groups", "X25519:P-256")
    assert negotiated(out) is None and not served(out), out
    for version in ("-tls1_3", "-tls1_2"):
        rc, out = s_client(srv.port, tls_certs, version)
        assert temp_key(out) == "ECDH, secp384r1, 384 bits" and served(out), (version, out)


@pytest.mark.parametrize("key,value,message", [
    ("groups", "X25519:ffdhe2048", "'ffdhe2048' is not an elliptic-curve group"),
    ("ciphers", "ECDHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256",
     "AES128-GCM-SHA256 is not an ECDHE cipher with a certificate"),
])
def test_key_exchange_without_ecdhe_is_a_start_up_error(tls_certs, tmp_path, key, value, message):
    """Lists that would allow key exchange without ECDHE stop the start (and filegate check)
    with the config file, the line and the key."""
    tls = {"certificate": str(tls_certs.server_cert), "private_key": str(tls_certs.server_key), key: value}
    config = {"ftp": {"listen": ["127.0.0.1:0"], "tls": tls}, "users": [{"name": "u", "home": str(tmp_path)}]}
    text = to_yaml(config)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    line = 1 + next(i for i, l in enumerate(text.splitlines()) if l.strip().startswith(key + ":"))
    for command in ("check", "run"):
        proc = subprocess.run([filegate_bin(), command, "--config", str(path)], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2, (command, proc.stderr)
        assert f"c.yaml:{line}: ftp.tls.{key}: {message}" in proc.stderr, (command, proc.stderr)


def test_configured_cipher_lists(server_factory, tls_certs):
    srv = server_factory.start(tls=tls_certs.server_tls(
        ciphersuites="TLS_CHACHA20_POLY1305_SHA256", ciphers="ECDHE-ECDSA-AES256-GCM-SHA384"))
    rc, out = s_client(srv.port, tls_certs)
    assert negotiated(out) == ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256") and served(out), out
    rc, out = s_client(srv.port, tls_certs, "-ciphersuites", "TLS_AES_128_GCM_SHA256")
    assert negotiated(out) is None and not served(out), out
    rc, out = s_client(srv.port, tls_certs, "-tls1_2")
    assert negotiated(out) == ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384") and served(out), out
    rc, out = s_client(srv.port, tls_certs, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert negotiated(out) is None and not served(out), out


def test_tls12_renegotiation_is_refused(server, tls_certs):
    # s_client renegotiates when it reads a line "R" (interactive mode: no -ign_eof).
    cmd = ["openssl", "s_client", "-starttls", "ftp", "-connect", f"{HOST}:{server.port}",
           "-CAfile", str(tls_certs.ca), "-verify_return_error", "-brief", "-tls1_2"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        seen = ""
        while "220 " not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
        assert "220 " in seen and negotiated(seen)[0] == "TLSv1.2", seen
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write("R\n")
            proc.stdin.flush()
            time.sleep(0.5)
            proc.stdin.write("NOOP\r\n")
            proc.stdin.flush()
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "RENEGOTIATING" in out, out
    assert "no renegotiation" in out and not served(out), out
    # The refusal cost only that connection.
    rc, out = s_client(server.port, tls_certs, "-tls1_2")
    assert served(out), out


def test_tls12_refused_when_min_version_is_tls13(server_factory, tls_certs):
    srv = server_factory.start(listen=["127.0.0.1:0", {"address": "127.0.0.1:0",
                                                       "implicit_tls": True}],
                               tls=tls_certs.server_tls(min_version="TLSv1.3"))
    for port, starttls_ftp in ((srv.port, True), (srv.implicit_port, False)):
        rc, out = s_client(port, tls_certs, "-tls1_2", starttls_ftp=starttls_ftp)
        assert rc != 0 and negotiated(out) is None and not served(out), out
        rc, out = s_client(port, tls_certs, starttls_ftp=starttls_ftp)
        assert (negotiated(out) or [None])[0] == "TLSv1.3" and served(out), out
    assert srv.events("tls_failed", channel="control")


# --------------------------------------------------------------------------------------------
# Commands and policy
# --------------------------------------------------------------------------------------------

def features(ctl):
    r = ctl.cmd("FEAT")
    assert r.code == 211, r.text
    return {l.strip().upper() for l in r.lines[1:-1]}


def test_feat_advertises_tls(server, tls_certs):
    with Control(HOST, server.port) as ctl:
        feats = features(ctl)
        assert {"AUTH TLS", "PBSZ", "PROT"} <= feats, feats


def test_auth_pbsz_prot_ccc_replies(server, tls_certs):
    with Control(HOST, server.port) as ctl:
        assert ctl.cmd("PBSZ 0").code == 503
        assert ctl.cmd("PROT P").code == 503
        assert ctl.cmd("AUTH KERBEROS_V4").code == 504
        starttls(ctl, client_context(tls_certs))
        assert ctl.cmd("AUTH TLS").code == 503, "AUTH again"
        assert ctl.cmd("PROT P").code == 503, "PROT before PBSZ"
        assert ctl.cmd("PBSZ x").code == 501
        assert ctl.cmd("PROT P").code == 503, "PROT after a malformed PBSZ"
        assert ctl.cmd("PBSZ 1024").text.startswith("200 PBSZ=0")
        r = ctl.cmd("PBSZ 0")
        assert r.code == 200 and "PBSZ=0" in r.text, r.text
        ctl.login()
        assert ctl.cmd("PROT C").code == 534, "PROT C when the data policy is required"
        assert ctl.cmd("PROT S").code == 536
        assert ctl.cmd("PROT E").code == 536
        assert ctl.cmd("CCC").code == 534
        port = parse_epsv(ctl.cmd("EPSV"))
        with socket.create_connection((HOST, port), timeout=TIMEOUT):
            assert ctl.cmd("LIST").code == 521, "LIST without PROT P"
        assert ctl.cmd("PROT P").code == 200
        assert ctl.cmd("NOOP").code == 200  # still over TLS, still talking


def strict_tls_control(port, certs):
    """AUTH TLS on a raw Control whose reads report an end without close_notify as an error."""
    ctl = Control(HOST, port)
    assert ctl.cmd("AUTH TLS").code == 234
    ctl.sock = client_context(certs).wrap_socket(ctl.sock, server_hostname=HOST, suppress_ragged_eofs=False)
    return ctl


@pytest.mark.parametrize("login", [True, False], ids=["logged-in", "before-login"])
def test_quit_ends_tls_with_close_notify(server, tls_certs, login):
    with strict_tls_control(server.port, tls_certs) as ctl:
        if login:
            ctl.login()
        assert ctl.cmd("QUIT").code == 221
        assert ctl.sock.recv(1024) == b""  # close_notify, then the end of the stream


def test_idle_timeout_ends_tls_with_close_notify(server_factory, tls_certs):
    srv = server_factory.start(tls=tls_certs.server_tls(), limits={"control_idle_timeout": 1})
    with strict_tls_control(srv.port, tls_certs) as ctl:
        ctl.login()
        assert ctl.reply().code == 421
        assert ctl.sock.recv(1024) == b""


def test_auth_ssl_is_accepted(server, tls_certs):
    with Control(HOST, server.port) as ctl:
        r = ctl.cmd("AUTH SSL")
        assert r.code == 234, r.text
        ctl.sock = client_context(tls_certs).wrap_socket(ctl.sock, server_hostname=HOST)
        ctl.login()


def test_login_before_auth_is_refused_when_control_tls_is_required(server, tls_certs):
    with Control(HOST, server.port) as ctl:
        r = ctl.cmd("USER alice")
        assert r.code == 530, r.text
        r = ctl.cmd(f"PASS {ALICE}")
        assert r.code in (530, 503), f"PASS in cleartext: {r.text}"
        assert ctl.cmd("PWD").code == 530, "logged in without TLS"
        # An unknown name gets the same answer: the policy does not reveal accounts.
        assert ctl.cmd("USER nosuchuser").code == 530
    assert not server.events("login", user="alice", protocol="ftp", result="ok")


def test_pass_before_auth_is_530(server, tls_certs):
    with Control(HOST, server.port) as ctl:
        assert ctl.cmd("USER alice").code == 530
        r = ctl.cmd(f"PASS {ALICE}")
        assert r.code == 530, r.text


def test_plain_login_on_a_listener_with_optional_tls(server, tls_certs, area):
    vpath, disk = area
    (disk / "clear.txt").write_bytes(b"clear text\n")
    with Control(HOST, server.optional_port) as ctl:
        ctl.login()
        port = parse_epsv(ctl.cmd("EPSV"))
        data = socket.create_connection((HOST, port), timeout=TIMEOUT)
        assert ctl.cmd(f"RETR {vpath}/clear.txt").code == 150
        assert recv_all(data) == b"clear text\n"
        data.close()
        assert ctl.reply().code == 226


def test_prot_c_transfer_on_a_listener_with_optional_data_tls(server, tls_certs, area):
    vpath, disk = area
    with tls_control(server.optional_port, tls_certs, login="alice") as ctl:
        ctl.expect("PBSZ 0", 200)
        ctl.expect("PROT C", 200)
        port = parse_epsv(ctl.cmd("EPSV"))
        data = socket.create_connection((HOST, port), timeout=TIMEOUT)
        assert ctl.cmd(f"STOR {vpath}/c.txt").code == 150
        data.sendall(b"sent in the clear\n")
        data.close()
        assert ctl.reply().code == 226
    assert (disk / "c.txt").read_bytes() == b"sent in the clear\n"


def test_plain_login_for_a_user_with_optional_control_tls(server, tls_certs):
    with Control(HOST, server.port) as ctl:  # the listener requires TLS; bob's account does not
        ctl.login("bob", BOB)
        port = parse_epsv(ctl.cmd("EPSV"))
        with socket.create_connection((HOST, port), timeout=TIMEOUT):
            assert ctl.cmd("LIST").code == 521, "bob's data channel policy is still required"
    server.wait_for_event("login", user="bob", protocol="ftp", result="ok")


def test_starttls_command_injection_is_discarded(server, tls_certs):
    # Bytes that follow AUTH TLS in the same packet were sent in the clear: they must never be
    # executed, neither before nor after the handshake.
    target = server.home("alice") / "injected"
    with Control(HOST, server.optional_port) as ctl:
        ctl.login()  # the clear-text login this listener allows: injected commands could act
        ctl.send("AUTH TLS\r\nMKD /injected\r\nMKD /injected2\r\n")
        r = ctl.reply()
        assert r.code == 234, r.text
        assert ctl.buf == b"", f"replies to injected commands before the handshake: {ctl.buf!r}"
        ctl.sock = client_context(tls_certs).wrap_socket(ctl.sock, server_hostname=HOST)
        r = ctl.cmd("USER alice")
        assert r.code == 331, f"first reply after the handshake is not USER's: {r.text}"
        ctl.expect(f"PASS {ALICE}", 230)
        assert ctl.cmd("NOOP").code == 200
        assert ctl.cmd("MKD /injected").code == 257  # it really did not exist
    assert not (server.home("alice") / "injected2").exists()
    shutil.rmtree(target, ignore_errors=True)


def test_starttls_injection_before_login_on_required_listener(server, tls_certs):
    with Control(HOST, server.port) as ctl:
        ctl.send("AUTH TLS\r\nUSER alice\r\n")
        assert ctl.reply().code == 234
        assert ctl.buf == b""
        ctl.sock = client_context(tls_certs).wrap_socket(ctl.sock, server_hostname=HOST)
        # Had "USER alice" been kept, PASS would complete a login now; it must be out of order.
        r = ctl.cmd(f"PASS {ALICE}")
        assert r.code == 503, f"PASS after an injected USER: {r.text}"
        ctl.login()


# --------------------------------------------------------------------------------------------
# CCC: back to a cleartext control connection after a protected login (ftp.tls.allow_ccc)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ccc_server(module_server_factory, tls_certs):
    """CCC allowed for everyone but bob; TLS required on both channels, with session reuse."""
    srv = module_server_factory.start(
        tls=tls_certs.server_tls(min_version="TLSv1.2", allow_ccc=True),
        user_tls={"bob": {"allow_ccc": False}})
    (srv.home("alice") / "before.txt").write_bytes(b"written before the CCC\n")
    return srv


def test_curl_clears_the_control_connection(ccc_server, tls_certs, workdir):
    """curl --ftp-ssl-ccc-mode active answers the server's close_notify with its own and keeps
    the TLS session: later commands go in cleartext, and protected transfers resume it."""
    srv = ccc_server
    src = workdir / "ccc.bin"
    data = os.urandom(300_000)
    src.write_bytes(data)
    ccc = ["--ftp-ssl-ccc", "--ftp-ssl-ccc-mode", "active"]
    r = curl_tls(tls_certs, "--ssl-reqd", *ccc, "-T", str(src), url(srv.port, "/ccc.bin"))
    assert r.returncode == 0, r.stderr
    assert (srv.home("alice") / "ccc.bin").read_bytes() == data
    r = curl_tls(tls_certs, "--ssl-reqd", *ccc, "-o", str(workdir / "back"), url(srv.port, "/ccc.bin"))
    assert r.returncode == 0, r.stderr
    assert (workdir / "back").read_bytes() == data
    assert len(srv.wait_for_event("tls_cleared", user="alice", count=2)) >= 2
    assert not srv.events("tls_failed"), srv.events("tls_failed")


def test_clients_that_drop_the_session_with_ccc_work_when_exempt_from_reuse(server, tls_certs, workdir):
    """curl's default CCC mode ends TLS without its own close_notify, after which OpenSSL will
    not resume the session; lftp forgets it. Their data connections cannot resume the control
    connection's session, so they need a user exempt from session reuse (bob, who also has
    CCC allowed on a server that refuses it by default)."""
    r = curl_tls(tls_certs, "--ssl-reqd", "--ftp-ssl-ccc", url(server.port, "/readme.txt", user="bob"))
    assert r.returncode == 0 and r.stdout == "for bob\n", r.stderr
    r = run_tool(["lftp", "-u", f"bob,{BOB}", "-p", str(server.port), "-e",
                  "set cmd:fail-exit yes; set net:max-retries 1; set ftp:ssl-force true; "
                  "set ftp:ssl-protect-data true; set ftp:ssl-use-ccc yes; "
                  f"set ssl:ca-file {tls_certs.ca}; get readme.txt -o {workdir}/readme; cls -1; bye",
                  HOST], timeout=60)
    assert r.returncode == 0, r.stderr
    assert "readme.txt" in r.stdout.split()
    assert (workdir / "readme").read_bytes() == b"for bob\n"
    assert len(server.wait_for_event("tls_cleared", user="bob", count=2)) >= 2


def test_ccc_keeps_data_connections_protected_and_bound(ccc_server, tls_certs):
    """After CCC, commands and replies travel in cleartext, but data connections still need
    PROT P and must resume the control connection's TLS session; no new login is accepted
    without TLS, and AUTH cannot come back on that connection."""
    srv = ccc_server
    with tls_control(srv.port, tls_certs, login="alice") as ctl:
        ctl.expect("PBSZ 0", 200)
        ctl.expect("PROT P", 200)
        assert ctl.cmd("NOOP").code == 200  # a TLS 1.3 ticket has arrived
        session, context = ctl.sock.session, ctl.sock.context
        assert ctl.cmd("CCC").code == 200
        ctl.sock = ctl.sock.unwrap()  # close_notify both ways; the same TCP connection goes on
        assert ctl.buf == b""
        r = ctl.cmd("PWD")
        assert r.code == 257, r.text
        # A protected download on a data connection resuming the control's session.
        port = parse_epsv(ctl.cmd("EPSV"))
        raw = socket.create_connection((HOST, port), timeout=TIMEOUT)
        ctl.send("RETR /before.txt\r\n")
        data = context.wrap_socket(raw, server_hostname=HOST, session=session)
        assert ctl.reply().code == 150
        assert data.session_reused
        assert recv_all(data) == b"written before the CCC\n"
        data.close()
        assert ctl.reply().code == 226
        # A data connection with a full handshake is still refused, before the file is touched.
        port = parse_epsv(ctl.cmd("EPSV"))
        raw = socket.create_connection((HOST, port), timeout=TIMEOUT)
        ctl.send("STOR /before.txt\r\n")
        with contextlib.suppress(ssl.SSLError, OSError):
            stranger = context.wrap_socket(raw, server_hostname=HOST)
            stranger.sendall(b"overwritten")
            stranger.close()
        reply = ctl.reply()
        if reply.code == 150:
            reply = ctl.reply()
        assert reply.code == 425, reply.text
        assert (srv.home("alice") / "before.txt").read_bytes() == b"written before the CCC\n"
        assert ctl.cmd("PROT C").code == 534, "the data policy still holds"
        assert ctl.cmd("AUTH TLS").code == 503
        # No login in cleartext: the listener requires TLS for it.
        assert ctl.cmd("REIN").code == 220
        assert ctl.cmd("USER alice").code == 530
        assert ctl.cmd("PASS " + ALICE).code == 530
        assert ctl.cmd("QUIT").code == 221
        assert recv_all(ctl.sock) == b""  # a plain FIN: no TLS left to close
    event = srv.wait_for_event("tls_cleared", user="alice")[-1]
    assert event["client"] == HOST


def test_after_ccc_abor_and_the_idle_timeout_speak_cleartext(server_factory, tls_certs):
    """An urgent ABOR (Telnet IP/DM, then ABOR) in cleartext stops a protected download, and
    the idle timeout's 421 and the end of the connection come in cleartext, with no TLS record
    left over: the client reads the reply, then a plain end of stream."""
    srv = server_factory.start(tls=tls_certs.server_tls(allow_ccc=True), limits={"control_idle_timeout": 2})
    (srv.home("alice") / "big.bin").write_bytes(os.urandom(20 * MIB))
    with tls_control(srv.port, tls_certs, login="alice") as ctl:
        ctl.expect("PBSZ 0", 200)
        ctl.expect("PROT P", 200)
        assert ctl.cmd("NOOP").code == 200
        session, context = ctl.sock.session, ctl.sock.context
        assert ctl.cmd("CCC").code == 200
        ctl.sock = ctl.sock.unwrap()
        assert ctl.cmd("CCC").code == 533, "CCC again, without TLS"
        port = parse_epsv(ctl.cmd("EPSV"))
        raw = socket.create_connection((HOST, port), timeout=TIMEOUT)
        ctl.send("RETR /big.bin\r\n")
        data = context.wrap_socket(raw, server_hostname=HOST, session=session)
        assert ctl.reply().code == 150
        assert data.recv(65536)
        ctl.send(b"\xff\xf4\xff\xf2ABOR\r\n")
        assert ctl.reply().code == 426
        assert ctl.reply().code == 226
        data.close()
        assert ctl.cmd("NOOP").code == 200
        ctl.sock.settimeout(10)
        assert recv_all(ctl.sock) == b"421 Timeout: closing control connection.\r\n"
    event = srv.wait_for_event("transfer", path="/big.bin")[0]
    assert event["result"] == "aborted", event


def test_ccc_policy_replies(ccc_server, server, tls_certs):
    with Control(HOST, ccc_server.port) as ctl:
        assert ctl.cmd("CCC").code == 533, "CCC on a connection without TLS"
        starttls(ctl, client_context(tls_certs))
        assert ctl.cmd("CCC").code == 503, "CCC before login"
        assert ctl.cmd("NOOP").code == 200, "still over TLS"
        ctl.login("bob", BOB)
        assert ctl.cmd("CCC").code == 534, "bob's account does not allow CCC"
        assert ctl.cmd("NOOP").code == 200, "still over TLS"
    with tls_control(server.port, tls_certs, login="alice") as ctl:
        assert ctl.cmd("CCC").code == 534, "refused by default"
        assert ctl.cmd("NOOP").code == 200


class BioClient:
    """TLS over a memory BIO on a raw socket, so a test decides what goes into each packet."""

    def __init__(self, sock, ctx):
        self.sock, self.incoming, self.outgoing = sock, ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname=HOST)
        self.buf = b""

    def flush(self, extra=b""):
        self.sock.sendall(self.outgoing.read() + extra)

    def pump(self, step):
        while True:
            try:
                result = step()
                self.flush()
                return result
            except ssl.SSLWantReadError:
                self.flush()
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed")
                self.incoming.write(chunk)

    def cmd(self, line):
        self.pump(lambda: self.tls.write(line.encode() + b"\r\n"))
        while b"\r\n" not in self.buf:
            self.buf += self.pump(lambda: self.tls.read(65536))
        reply, self.buf = self.buf.split(b"\r\n", 1)
        return int(reply[:3])


def test_cleartext_right_behind_the_clients_close_notify_is_not_lost(ccc_server, tls_certs):
    """A client that sends its close_notify and its next command in one packet, without waiting
    for the server's close_notify, must get that command executed in cleartext."""
    sock = socket.create_connection((HOST, ccc_server.port), timeout=TIMEOUT)
    with contextlib.closing(sock):
        f = sock.makefile("rb")
        assert f.readline().startswith(b"220")
        sock.sendall(b"AUTH TLS\r\n")
        assert f.readline().startswith(b"234")
        client = BioClient(sock, client_context(tls_certs))
        client.pump(client.tls.do_handshake)
        assert client.cmd("USER alice") == 331
        assert client.cmd("PASS " + ALICE) == 230
        assert client.cmd("CCC") == 200
        with contextlib.suppress(ssl.SSLWantReadError):
            client.tls.unwrap()  # queues our close_notify
        client.flush(b"PWD\r\n")
        # The server's close_notify, then the reply to PWD in cleartext.
        client.pump(client.tls.unwrap)
        rest = client.incoming.read()  # whatever came after the server's close_notify
        while b"\r\n" not in rest:
            chunk = sock.recv(65536)
            assert chunk, f"closed; got {rest!r}"
            rest += chunk
        assert rest.startswith(b"257 "), rest


# --------------------------------------------------------------------------------------------
# Truncation: a protected upload cut without close_notify
# --------------------------------------------------------------------------------------------

def test_upload_cut_without_close_notify_is_not_226(server, tls_certs, area):
    vpath, disk = area
    ctx = client_context(tls_certs)
    with tls_control(server.port, tls_certs, login="alice", ctx=ctx) as ctl:
        ctl.expect("PBSZ 0", 200)
        ctl.expect("PROT P", 200)
        ctl.expect("NOOP", 200)  # a TLS 1.3 ticket arrives
        port = parse_epsv(ctl.cmd("EPSV"))
        raw = socket.create_connection((HOST, port), timeout=TIMEOUT)
        ctl.send(f"STOR {vpath}/cut.bin\r\n")
        data = ctx.wrap_socket(raw, server_hostname=HOST, session=ctl.sock.session)
        assert ctl.reply().code == 150
        data.sendall(os.urandom(256 * 1024))
        time.sleep(0.2)
        data.shutdown(socket.SHUT_RDWR)  # TCP FIN without TLS close_notify
        data.close()
        final = ctl.reply()
        assert final.code != 226, f"a truncated TLS upload was reported complete: {final.text}"
        assert final.code in (426, 451), final.text
    event = server.wait_for_event("transfer", path=f"{vpath}/cut.bin", direction="upload")[0]
    assert event["result"] != "ok", event


def test_upload_with_close_notify_is_226(server, tls_certs, area):
    # The counterpart of the test above with the same raw client: an orderly end is complete.
    vpath, disk = area
    ctx = client_context(tls_certs)
    payload = os.urandom(256 * 1024)
    with tls_control(server.port, tls_certs, login="alice", ctx=ctx) as ctl:
        ctl.expect("PBSZ 0", 200)
        ctl.expect("PROT P", 200)
        ctl.expect("NOOP", 200)
        port = parse_epsv(ctl.cmd("EPSV"))
        raw = socket.create_connection((HOST, port), timeout=TIMEOUT)
        ctl.send(f"STOR {vpath}/whole.bin\r\n")
        data = ctx.wrap_socket(raw, server_hostname=HOST, session=ctl.sock.session)
        assert ctl.reply().code == 150
        data.sendall(payload)
        with contextlib.suppress(OSError, ssl.SSLError):
            data.unwrap()
        data.close()
        assert ctl.reply().code == 226
    assert (disk / "whole.bin").read_bytes() == payload


# --------------------------------------------------------------------------------------------
# Mutual TLS
# --------------------------------------------------------------------------------------------

@pytest.fixture
def mtls_server(server_factory, tls_certs):
    return server_factory.start(
        listen=["127.0.0.1:0", {"address": "127.0.0.1:0", "implicit_tls": True}],
        tls=tls_certs.server_tls(client_ca=str(tls_certs.ca), client_certificate="required"))


def test_mutual_tls(mtls_server, tls_certs, workdir):
    srv, certs = mtls_server, tls_certs
    rc, out = s_client(srv.port, certs)
    assert not served(out), "served a client without a certificate:\n" + out
    rc, out = s_client(srv.port, certs, "-cert", str(certs.rogue_cert), "-key",
                       str(certs.rogue_key))
    assert not served(out), "served a client with a certificate from an unknown CA:\n" + out
    rc, out = s_client(srv.port, certs, "-cert", str(certs.client_cert), "-key",
                       str(certs.client_key))
    assert negotiated(out) and served(out), out
    event = srv.wait_for_event("tls", channel="control")[-1]
    assert "filegate-test-client" in event.get("client_certificate", ""), event
    assert len(srv.events("tls_failed", channel="control")) >= 2

    # curl with and without the client certificate, explicit and implicit.
    (srv.home() / "m.txt").write_bytes(b"mutual\n")
    for scheme, port in (("ftp", srv.port), ("ftps", srv.implicit_port)):
        r = curl_tls(certs, "--ssl-reqd", "--cert", str(certs.client_cert), "--key",
                     str(certs.client_key), url(port, "/m.txt", scheme=scheme), timeout=60)
        assert r.returncode == 0 and r.stdout == "mutual\n", r.stderr
        r = curl_tls(certs, "--ssl-reqd", url(port, "/m.txt", scheme=scheme), timeout=60)
        assert r.returncode != 0 and r.stdout == "", "curl without a client certificate"
        r = curl_tls(certs, "--ssl-reqd", "--cert", str(certs.rogue_cert), "--key",
                     str(certs.rogue_key), url(port, "/m.txt", scheme=scheme), timeout=60)
        assert r.returncode != 0 and r.stdout == "", "curl with an unrelated certificate"


def test_revoked_client_certificates_are_refused(server_factory, tls_certs, tmp_path):
    """ftp.tls.client_crl: a certificate the CA revoked is refused, with curl over explicit and
    implicit FTPS; a new list takes effect for new connections on SIGHUP; a list past its next
    update refuses every certificate until it is renewed."""
    certs = tls_certs
    stem = f"partner-{time.monotonic_ns()}"
    first = certs.issue(stem + "-1", "partner-one")
    second = certs.issue(stem + "-2", "partner-two")
    crl = certs.crl(tmp_path / "partners.crl", [first[0]])
    srv = server_factory.start(
        listen=["127.0.0.1:0", {"address": "127.0.0.1:0", "implicit_tls": True}],
        tls=certs.server_tls(client_ca=str(certs.ca), client_certificate="required", client_crl=str(crl)))
    (srv.home() / "m.txt").write_bytes(b"partners\n")

    def fetch(cert, scheme="ftp"):
        port = srv.port if scheme == "ftp" else srv.implicit_port
        return curl_tls(certs, "--ssl-reqd", "--cert", str(cert[0]), "--key", str(cert[1]),
                        url(port, "/m.txt", scheme=scheme), timeout=60)

    for scheme in ("ftp", "ftps"):
        r = fetch(first, scheme)
        assert r.returncode != 0 and r.stdout == "", f"revoked certificate served over {scheme}"
        r = fetch(second, scheme)
        assert r.returncode == 0 and r.stdout == "partners\n", r.stderr
    failed = srv.wait_for_event("tls_handshake_failed")
    assert any(e.get("verify") == "certificate revoked" for e in failed), failed

    certs.crl(crl, [first[0], second[0]])
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for_event("tls_reloaded")
    assert fetch(second).returncode != 0, "revoked by the reloaded list"

    certs.crl(crl, [], issued_days_ago=2, valid_days=1)
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for_event("tls_reloaded", count=2)
    assert fetch(second).returncode != 0, "served under an expired list"
    assert any(e.get("verify") == "CRL has expired" for e in srv.events("tls_handshake_failed"))
    assert srv.alive()


def test_revocation_of_a_partner_intermediate_ca(server_factory, tls_certs, tmp_path):
    """Partners whose certificates come from an intermediate CA: client_crl_check: chain also
    refuses a certificate whose intermediate the root revoked, and needs a list from every CA
    of the chain; the default (leaf) checks the partner's certificate only."""
    certs = tls_certs
    stem = f"chain-{time.monotonic_ns()}"
    inter = certs.issue(stem + "-inter", "filegate test partner CA", intermediate=True)
    leaf, key = certs.issue(stem + "-leaf", "partner-chain", ca=inter)
    bundle = tmp_path / "partner.pem"
    bundle.write_text(leaf.read_text() + inter[0].read_text())  # what the partner's client sends
    inter_crl = certs.crl(tmp_path / "inter.crl", ca=inter).read_text()
    root_revokes = certs.crl(tmp_path / "root.crl", [inter[0]]).read_text()
    root_clean = certs.crl(tmp_path / "root-clean.crl").read_text()
    crl = tmp_path / "partners.crl"

    def fetch(srv):
        return curl_tls(certs, "--ssl-reqd", "--cert", str(bundle), "--key", str(key),
                        url(srv.port, "/m.txt"), timeout=60)

    def start(lists, **check):
        crl.write_text(lists)
        srv = server_factory.start(tls=certs.server_tls(client_ca=str(certs.ca), client_certificate="required",
                                                        client_crl=str(crl), **check))
        (srv.home() / "m.txt").write_bytes(b"chain\n")
        return srv

    leaf_only = start(inter_crl + root_revokes)
    r = fetch(leaf_only)
    assert r.returncode == 0 and r.stdout == "chain\n", r.stderr
    chain = start(inter_crl + root_revokes, client_crl_check="chain")
    assert fetch(chain).returncode != 0, "served with a revoked intermediate"
    assert any(e.get("verify") == "certificate revoked" for e in chain.events("tls_handshake_failed"))
    crl.write_text(inter_crl + root_clean)
    chain.proc.send_signal(signal.SIGHUP)
    chain.wait_for_event("tls_reloaded")
    r = fetch(chain)
    assert r.returncode == 0 and r.stdout == "chain\n", r.stderr
    # Without the root's list the intermediate cannot be checked: refused (fail closed).
    crl.write_text(inter_crl)
    chain.proc.send_signal(signal.SIGHUP)
    chain.wait_for_event("tls_reloaded", count=2)
    assert fetch(chain).returncode != 0, "served without the root's list"
    assert any(e.get("verify") == "unable to get certificate CRL" for e in chain.events("tls_handshake_failed"))


def test_certificates_and_revocation_lists_near_their_end_are_logged(server_factory, tls_certs, tmp_path):
    """At start and on SIGHUP (and once a day): a server certificate with less than a quarter of
    its validity left (at most 14 days) and client CRLs near or past their next update are
    logged; fresh ones are not."""
    certs = tls_certs
    fresh_crl = certs.crl(tmp_path / "fresh.crl", valid_days=7)
    fresh = server_factory.start(tls=certs.server_tls(client_ca=str(certs.ca), client_crl=str(fresh_crl)))
    assert not [e for e in fresh.logs() if e.get("event", "").startswith(("tls_certificate_exp", "tls_crl_exp"))]

    cert, key = certs.issue_dated(f"ending-{time.monotonic_ns()}", "filegate-test-ending",
                                  started_days_ago=80, valid_days=85)
    crl = certs.crl(tmp_path / "ending.crl", issued_days_ago=6, valid_days=7)
    srv = server_factory.start(tls={"certificate": str(cert), "private_key": str(key),
                                    "client_ca": str(certs.ca), "client_crl": str(crl)})
    expiring = srv.wait_for_event("tls_certificate_expiring")[-1]
    assert expiring["certificate"] == str(cert) and expiring["days_left"] in (4, 5), expiring
    ending = srv.wait_for_event("tls_crl_expiring")[-1]
    assert ending["crl"] == str(crl) and 0 < ending["hours_left"] <= 24, ending
    assert "filegate test CA" in ending["issuer"], ending
    # filegate check says so too, and still passes the file.
    proc = subprocess.run([filegate_bin(), "check", "--config", str(srv.config_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "tls_certificate_expiring" in proc.stderr and "tls_crl_expiring" in proc.stderr, proc

    certs.crl(crl, issued_days_ago=2, valid_days=1)
    srv.proc.send_signal(signal.SIGHUP)
    expired = srv.wait_for_event("tls_crl_expired")[-1]
    assert expired["crl"] == str(crl) and expired["next_update"].endswith("Z"), expired

    gone, gone_key = certs.issue_dated(f"ended-{time.monotonic_ns()}", "filegate-test-ended",
                                       started_days_ago=10, valid_days=5)
    ended = server_factory.start(tls={"certificate": str(gone), "private_key": str(gone_key)})
    assert ended.wait_for_event("tls_certificate_expired")[-1]["certificate"] == str(gone)
    assert ended.alive()


def peer_certificate(output):
    """The subject s_client -brief reports for the server's certificate."""
    return next((line.split(": ", 1)[1] for line in output.splitlines()
                 if line.startswith("Peer certificate: ")), None)


def test_ecdsa_and_rsa_certificates_side_by_side(server_factory, tls_certs, tmp_path):
    """certificate and private_key as lists that pair up: each client gets the certificate it
    can verify (ECDSA first, RSA for clients that verify RSA only), curl works, expiry is
    watched for each, SIGHUP reloads each, and two of one key type stop the start."""
    certs = tls_certs
    rsa_cert, rsa_key = certs.issue_dated(f"rsa-{time.monotonic_ns()}", "filegate-test-rsa",
                                          started_days_ago=80, valid_days=85, rsa=True)
    tls = {"certificate": [str(rsa_cert), str(certs.server_cert)],
           "private_key": [str(rsa_key), str(certs.server_key)]}
    srv = server_factory.start(tls=tls)
    ecdsa_subject = peer_certificate(s_client(srv.port, certs)[1])
    for args in ((), ("-tls1_2",)):
        rc, out = s_client(srv.port, certs, *args)
        assert served(out) and peer_certificate(out) == ecdsa_subject != "CN = filegate-test-rsa", (args, out)
        assert "Signature type: ECDSA" in out, out
    for args in (("-sigalgs", "RSA-PSS+SHA256:rsa_pss_rsae_sha384"),
                 ("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")):
        rc, out = s_client(srv.port, certs, *args)
        assert served(out) and peer_certificate(out) == "CN = filegate-test-rsa", (args, out)
    proc = curl_tls(certs, "--ssl-reqd", url(srv.port, "/"))
    assert proc.returncode == 0, proc.stderr
    # The second certificate's end is watched too.
    expiring = srv.wait_for_event("tls_certificate_expiring")
    assert [e["certificate"] for e in expiring] == [str(rsa_cert)], expiring

    renewed, renewed_key = certs.issue(f"rsa-renewed-{time.monotonic_ns()}", "filegate-test-rsa-renewed",
                                       server=True, rsa=True)
    shutil.copyfile(renewed, rsa_cert)
    shutil.copyfile(renewed_key, rsa_key)
    srv.proc.send_signal(signal.SIGHUP)
    reloaded = srv.wait_for_event("tls_reloaded")[-1]
    assert reloaded["certificate"] == f"{rsa_cert},{certs.server_cert}", reloaded
    rc, out = s_client(srv.port, certs, "-sigalgs", "RSA-PSS+SHA256")
    assert served(out) and peer_certificate(out) == "CN = filegate-test-rsa-renewed", out

    two_ecdsa = {"certificate": [str(certs.server_cert), str(certs.server_cert)],
                 "private_key": [str(certs.server_key), str(certs.server_key)]}
    config = {"ftp": {"listen": ["127.0.0.1:0"], "tls": two_ecdsa}, "users": [{"name": "u", "home": str(tmp_path)}]}
    text = to_yaml(config)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    lines = text.splitlines()
    line = 1 + [i for i, l in enumerate(lines) if l.strip().startswith("- ") and str(certs.server_cert) in l][1]
    for command in ("check", "run"):
        proc = subprocess.run([filegate_bin(), command, "--config", str(path)], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2, (command, proc.stderr)
        assert (f"c.yaml:{line}: ftp.tls.certificate[1]: {certs.server_cert}: a second ECDSA certificate"
                in proc.stderr), (command, text, proc.stderr)


def test_sighup_takes_new_tls_settings_for_new_connections(server_factory, tls_certs):
    """An edited ftp.tls (another certificate list, TLS 1.3 only) applies on SIGHUP to new
    connections without a restart; a session made before goes on with its own TLS and data
    connections. A policy change still needs a restart, and settings that do not load keep
    the running ones."""
    certs = tls_certs
    srv = server_factory.start(tls=certs.server_tls())
    tls12 = client_context(certs)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    before = ftps_login(srv.port, certs, cls=ReusingFTP_TLS, context=tls12)
    try:
        rsa_cert, rsa_key = certs.issue(f"reload-rsa-{time.monotonic_ns()}", "filegate-test-rsa-reload",
                                        server=True, rsa=True)
        config = copy.deepcopy(srv.config)
        config["ftp"]["tls"].update(certificate=[str(certs.server_cert), str(rsa_cert)],
                                    private_key=[str(certs.server_key), str(rsa_key)], min_version="TLSv1.3")
        rewrite_config(srv, config)
        srv.proc.send_signal(signal.SIGHUP)
        reloaded = srv.wait_for_event("tls_reloaded")[-1]
        assert reloaded["certificate"] == f"{certs.server_cert},{rsa_cert}", reloaded
        srv.wait_for_event("config_reloaded")
        assert not srv.events("config_restart_needed")
        rc, out = s_client(srv.port, certs, "-tls1_2")
        assert negotiated(out) is None and not served(out), out
        rc, out = s_client(srv.port, certs, "-sigalgs", "RSA-PSS+SHA256")
        assert served(out) and peer_certificate(out) == "CN = filegate-test-rsa-reload", out

        # The TLS 1.2 session from before the reload still moves files, resuming its session.
        name = unique_name("before-reload")
        payload = os.urandom(100_000)
        before.storbinary(f"STOR {name}", io.BytesIO(payload))
        got = io.BytesIO()
        before.retrbinary(f"RETR {name}", got.write)
        assert got.getvalue() == payload
        assert before.sock.version() == "TLSv1.2"

        # A policy change is not taken over, and says so.
        config["ftp"]["tls"]["control"] = "optional"
        rewrite_config(srv, config)
        srv.proc.send_signal(signal.SIGHUP)
        assert srv.wait_for_event("config_restart_needed")[-1]["sections"] == "ftp"
        # Settings that do not load change nothing.
        config["ftp"]["tls"]["certificate"][1] = str(certs.dir / "missing.pem")
        rewrite_config(srv, config)
        srv.proc.send_signal(signal.SIGHUP)
        failed = srv.wait_for_event("tls_reload_failed")[-1]
        assert "missing.pem" in failed["detail"], failed
        rc, out = s_client(srv.port, certs, "-sigalgs", "RSA-PSS+SHA256")
        assert served(out) and peer_certificate(out) == "CN = filegate-test-rsa-reload", out
        rc, out = s_client(srv.port, certs, "-tls1_2")
        assert negotiated(out) is None, out
    finally:
        close_ftp(before)


def test_ftps_and_plain_ftp_see_the_same_files(server_factory, tls_certs):
    """One filesystem and one realm: what alice uploads over FTPS is byte-identical over plain
    FTP (on a listener where TLS is optional), and the other way round."""
    srv = server_factory.start(
        listen=["127.0.0.1:0", {"address": "127.0.0.1:0", "tls_control": "optional", "tls_data": "optional"}],
        tls=tls_certs.server_tls())
    # The second listener (TLS optional), in the order the config lists them.
    plain_port = [int(e["address"].rsplit(":", 1)[1]) for e in srv.events("listening")][1]
    data_up, data_back = os.urandom(300_000), os.urandom(200_000)
    secure = ftps_login(srv.port, tls_certs)
    plain = ftplib.FTP(timeout=TIMEOUT)
    plain.connect(HOST, plain_port)
    plain.login("alice", PASSWORDS["alice"])
    try:
        stor_bytes(secure, "/cross-up.bin", data_up)
        assert retr_bytes(plain, "/cross-up.bin") == data_up
        stor_bytes(plain, "/cross-back.bin", data_back)
        assert retr_bytes(secure, "/cross-back.bin") == data_back
        assert sorted(plain.nlst("/")) == sorted(secure.nlst("/"))
        assert plain.sendcmd("SIZE /cross-up.bin") == secure.sendcmd("SIZE /cross-up.bin")
        assert plain.sendcmd("MDTM /cross-back.bin") == secure.sendcmd("MDTM /cross-back.bin")
        # The same permission letters give the same refusal over both.
        for ftp in (plain, secure):
            with pytest.raises(ftplib.error_perm) as info:
                retr_bytes(ftp, "/inbox/anything")
            assert str(info.value).startswith("550")
    finally:
        close_ftp(secure)
        close_ftp(plain)


def test_client_certificate_logs_a_user_in(server_factory, tls_certs):
    """users[].client_certificate: bob's certificate alone logs him in (232); alice needs her
    certificate and her password; neither logs in with the password alone."""
    cn = "filegate-test-client"
    srv = server_factory.start(
        tls=tls_certs.server_tls(client_ca=str(tls_certs.ca), client_certificate="optional"),
        user_extra={"alice": {"client_certificate": {"common_name": cn, "password": "required"}},
                    "bob": {"client_certificate": {"common_name": cn, "password": "not_required"}}})

    def session(with_cert):
        ctx = (client_context(tls_certs, tls_certs.client_cert, tls_certs.client_key) if with_cert
               else client_context(tls_certs))
        ftp = ftplib.FTP_TLS(context=ctx, timeout=TIMEOUT)
        ftp.connect(HOST, srv.port)
        ftp.auth()
        return ftp

    ftp = session(with_cert=True)
    try:
        assert ftp.sendcmd("USER bob").startswith("232")
        assert ftp.sendcmd("PWD").startswith("257")
    finally:
        close_ftp(ftp)
    login = srv.wait_for_event("login", user="bob", result="ok")[-1]
    assert login.get("method") == "certificate" and cn in login.get("client_certificate", ""), login

    ftp = session(with_cert=True)
    try:
        assert ftp.sendcmd("USER alice").startswith("331")
        assert ftp.sendcmd(f"PASS {PASSWORDS['alice']}").startswith("230")
    finally:
        close_ftp(ftp)
    assert srv.wait_for_event("login", user="alice", result="ok")[-1].get("method") == "certificate_and_password"

    for user in ("alice", "bob"):
        ftp = session(with_cert=False)
        try:
            assert ftp.sendcmd(f"USER {user}").startswith("331")
            with pytest.raises(ftplib.error_perm) as info:
                ftp.sendcmd(f"PASS {PASSWORDS[user]}")
            assert str(info.value).startswith("530"), info.value
        finally:
            close_ftp(ftp)
    assert any("certificate" in e.get("reason", "") for e in srv.events("login", result="failed"))


# --------------------------------------------------------------------------------------------
# SIGHUP: certificate reload
# --------------------------------------------------------------------------------------------

def test_certificate_chain_with_an_intermediate(server_factory, tls_certs, tmp_path):
    """As with a certificate from a public CA: the certificate file holds the server certificate
    and the intermediate that signed it, and clients that trust only the root verify the chain
    (curl and s_client on OpenSSL, lftp on GnuTLS). A file without the intermediate fails them,
    which shows the server sends what the file holds."""
    inter = tls_certs.issue(f"inter-{time.monotonic_ns()}", "filegate test intermediate", intermediate=True)
    leaf, key = tls_certs.issue(f"leaf-{time.monotonic_ns()}", "filegate-test-leaf", server=True, ca=inter)
    chain = tmp_path / "chain.pem"
    chain.write_text(leaf.read_text() + inter[0].read_text())
    srv = server_factory.start(tls={"certificate": str(chain), "private_key": str(key)})
    (srv.home("alice") / "f.txt").write_bytes(b"through the chain\n")
    assert server_certificate_der(srv.port, tls_certs) == cert_der(leaf)
    r = curl_tls(tls_certs, "--ssl-reqd", url(srv.port, "/f.txt"))
    assert r.returncode == 0 and r.stdout == "through the chain\n", r.stderr
    code, out = s_client(srv.port, tls_certs)
    assert code == 0 and served(out), out
    r = lftp_tls(srv, tls_certs, "cat f.txt")
    assert r.returncode == 0 and r.stdout == "through the chain\n", r.stderr
    bare = server_factory.start(tls={"certificate": str(leaf), "private_key": str(key)})
    r = curl_tls(tls_certs, "--ssl-reqd", url(bare.port, "/f.txt"))
    assert r.returncode != 0, r.stdout
    code, out = s_client(bare.port, tls_certs)
    assert not served(out), out


def test_sighup_reloads_the_certificate(server_factory, tls_certs, tmp_path):
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(tls_certs.server_cert, cert)
    shutil.copy(tls_certs.server_key, key)
    srv = server_factory.start(tls={"certificate": str(cert), "private_key": str(key)})
    (srv.home() / "f.txt").write_bytes(b"before and after\n")
    assert server_certificate_der(srv.port, tls_certs) == cert_der(tls_certs.server_cert)

    old = ftps_login(srv.port, tls_certs)
    try:
        assert retr_bytes(old, "/f.txt") == b"before and after\n"
        new_cert, new_key = tls_certs.issue(f"server-{time.monotonic_ns()}",
                                            "filegate-test-server-renewed", server=True)
        for src, dst in ((new_cert, cert), (new_key, key)):
            tmp = dst.with_suffix(".tmp")
            shutil.copy(src, tmp)
            os.replace(tmp, dst)
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_for_event("tls_reloaded")
        seen = server_certificate_der(srv.port, tls_certs)
        assert seen == cert_der(new_cert), "a new connection still gets the old certificate"
        # The session opened before the reload keeps working, data channels included.
        assert old.voidcmd("NOOP").startswith("200")
        assert retr_bytes(old, "/f.txt") == b"before and after\n"
        lines = []
        old.retrlines("LIST", lines.append)
        assert any(l.endswith(" f.txt") for l in lines)
        # And a new session works end to end with the new certificate.
        new = ftps_login(srv.port, tls_certs)
        try:
            assert retr_bytes(new, "/f.txt") == b"before and after\n"
        finally:
            close_ftp(new)
    finally:
        close_ftp(old)
    assert srv.alive()


def test_unusable_certificate_is_a_start_up_error_naming_file_line_and_key(tls_certs, tmp_path):
    """The certificate and key files are read when the server starts (and by filegate check):
    one that cannot be used stops the start with the config file, the line and the key."""
    not_pem = tmp_path / "not-a-cert.pem"
    not_pem.write_text("hello\n")
    config = {"ftp": {"listen": ["127.0.0.1:0"],
                      "tls": {"certificate": str(not_pem), "private_key": str(tls_certs.server_key)}},
              "users": [{"name": "u", "home": str(tmp_path)}]}
    text = to_yaml(config)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    line = 1 + next(i for i, l in enumerate(text.splitlines()) if "certificate:" in l)
    for command in ("check", "run"):
        proc = subprocess.run([filegate_bin(), command, "--config", str(path)], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2, (command, proc.stderr)
        assert re.search(rf"c\.yaml:{line}: ftp\.tls\.certificate: {re.escape(str(not_pem))}: ", proc.stderr), \
            (command, proc.stderr)


def test_encrypted_private_key_is_refused_without_a_prompt(tls_certs, tmp_path):
    """OpenSSL would ask for a passphrase on the terminal, stopping a start in a shell (and a
    SIGHUP reload for good). filegate refuses the key at once instead, naming file, line and key,
    even with a terminal on stdin."""
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(tls_certs.server_key), "-aes256", "-passout", "pass:secret",
                    "-out", str(encrypted)], check=True, capture_output=True, timeout=60)
    config = {"ftp": {"listen": ["127.0.0.1:0"],
                      "tls": {"certificate": str(tls_certs.server_cert), "private_key": str(encrypted)}},
              "users": [{"name": "u", "home": str(tmp_path)}]}
    text = to_yaml(config)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    line = 1 + next(i for i, l in enumerate(text.splitlines()) if "private_key:" in l)
    master, terminal = pty.openpty()
    try:
        for command in ("check", "run"):
            proc = subprocess.run([filegate_bin(), command, "--config", str(path)], stdin=terminal,
                                  capture_output=True, text=True, timeout=30)
            assert proc.returncode == 2, (command, proc.stderr)
            assert f"c.yaml:{line}: ftp.tls.private_key: {encrypted}: the key is encrypted" in proc.stderr, proc.stderr
            assert "pass phrase" not in proc.stdout + proc.stderr
    finally:
        os.close(master)
        os.close(terminal)


def test_sighup_with_a_broken_certificate_keeps_the_old_one(server_factory, tls_certs, tmp_path):
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(tls_certs.server_cert, cert)
    shutil.copy(tls_certs.server_key, key)
    srv = server_factory.start(tls={"certificate": str(cert), "private_key": str(key)})
    cert.write_text("not a certificate\n")
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for_event("tls_reload_failed")
    assert srv.alive()
    assert server_certificate_der(srv.port, tls_certs) == cert_der(tls_certs.server_cert)


# --------------------------------------------------------------------------------------------
# Robustness: garbage where a ClientHello belongs
# --------------------------------------------------------------------------------------------

GARBAGE = [
    ("garbage", lambda: b"\x00\xff GET / HTTP/1.1\r\n\r\n" + os.urandom(2000)),
    ("bad-record", lambda: b"\x16\x03\x01\xff\xff" + os.urandom(64)),
    ("truncated-hello", lambda: client_hello_bytes()[:60]),
    ("hello-then-garbage", lambda: client_hello_bytes() + os.urandom(500)),
]


@pytest.mark.parametrize("where", ["implicit", "after-auth"])
def test_garbage_instead_of_a_handshake(server, tls_certs, where):
    for name, make in GARBAGE:
        if where == "implicit":
            sock = socket.create_connection((HOST, server.implicit_port), timeout=TIMEOUT)
        else:
            ctl = Control(HOST, server.port)
            assert ctl.cmd("AUTH TLS").code == 234
            sock = ctl.sock
        sock.settimeout(TIMEOUT)
        with contextlib.suppress(OSError):
            sock.sendall(make())
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        # The server gives up on the connection (after its alert, if any).
        closed = False
        try:
            while True:
                chunk = sock.recv(65536)
                assert not chunk.startswith(b"2"), f"{name}: an FTP reply instead of TLS: {chunk!r}"
                if not chunk:
                    closed = True
                    break
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
        sock.close()
        assert closed, f"{where}/{name}: the server kept the connection open for {TIMEOUT}s"
    assert server.alive()
    # A normal FTPS client is still served on both ports.
    r = curl_tls(tls_certs, "--ssl-reqd", url(server.port, "/"), timeout=60)
    assert r.returncode == 0, r.stderr
    r = curl_tls(tls_certs, url(server.implicit_port, "/", scheme="ftps"), timeout=60)
    assert r.returncode == 0, r.stderr


def test_half_open_handshake_does_not_block_others(server, tls_certs):
    # A client that sends half a ClientHello and then waits holds only its own connection.
    stalled = socket.create_connection((HOST, server.implicit_port), timeout=TIMEOUT)
    stalled.sendall(client_hello_bytes()[:40])
    try:
        rc, out = s_client(server.implicit_port, tls_certs, starttls_ftp=False)
        assert negotiated(out) and served(out), out
    finally:
        stalled.close()
