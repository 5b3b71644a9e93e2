"""Transfers with real clients (ftplib, curl, lftp) in every data-channel mode, checked by
sha256: binary round trips of 0 B .. 64 MiB, IPv6, ASCII conversion, REST, APPE, ABOR,
listing formats and atomic uploads."""

import io
import os
import random
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import (MIB, PASSWORDS, Control, abort_socket, curl, curl_url, ftp_login, ipv6_available,
                      lftp, make_random_file, open_data, parse_epsv, parse_pasv, recv_all, sha256_bytes,
                      sha256_file, transfer, wait_until)

SIZES = [0, 1, MIB, 64 * MIB]
SIZE_IDS = ["0B", "1B", "1MiB", "64MiB"]

IPV6 = ipv6_available()


@pytest.fixture(scope="module")
def server(module_server_factory):
    listen = ["127.0.0.1:0"] + (["[::1]:0"] if IPV6 else [])
    return module_server_factory.start(listen=listen)


@pytest.fixture(scope="module")
def payloads(tmp_path_factory):
    """size -> (path, sha256) of a random file, made once per module."""
    d = tmp_path_factory.mktemp("payloads")
    out = {}
    for size in SIZES:
        path = d / f"payload-{size}"
        out[size] = (path, make_random_file(path, size))
    yield out
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def area(server, request):
    name = re.sub(r"\W", "_", request.node.name)[:100]
    disk = server.home("alice") / name
    disk.mkdir()
    yield "/" + name, disk
    shutil.rmtree(disk, ignore_errors=True)  # up to 64 MiB per test: do not keep it


def ftplib_retr(ftp, remote, local):
    with open(local, "wb") as f:
        ftp.retrbinary(f"RETR {remote}", f.write, blocksize=MIB)


def ftplib_stor(ftp, remote, local):
    with open(local, "rb") as f:
        ftp.storbinary(f"STOR {remote}", f, blocksize=MIB)


# ---------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_ftplib_round_trip(server, payloads, area, workdir, size):
    vpath, disk = area
    src, digest = payloads[size]
    remote = f"{vpath}/file.bin"
    ftp = ftp_login(server)
    try:
        ftplib_stor(ftp, remote, src)
        assert sha256_file(disk / "file.bin") == digest
        assert ftp.size(remote) == size
        ftplib_retr(ftp, remote, workdir / "back")
        assert sha256_file(workdir / "back") == digest
    finally:
        ftp.quit()
    up = server.wait_for_event("transfer", path=remote, direction="upload")[0]
    down = server.wait_for_event("transfer", path=remote, direction="download")[0]
    for event in (up, down):
        assert event["user"] == "alice"
        assert event["protocol"] == "ftp"
        assert event["result"] == "ok"
        assert event["bytes"] == size
        assert "127.0.0.1" in event["client"]
        assert isinstance(event["duration_ms"], (int, float)) and event["duration_ms"] >= 0


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_curl_round_trip(server, payloads, area, workdir, size):
    vpath, disk = area
    src, digest = payloads[size]
    up = curl("--ftp-pasv", "-T", str(src), curl_url(server, f"{vpath}/file.bin"))
    assert up.returncode == 0, up.stderr
    assert sha256_file(disk / "file.bin") == digest
    down = curl("--ftp-pasv", "-o", str(workdir / "back"), curl_url(server, f"{vpath}/file.bin"))
    assert down.returncode == 0, down.stderr
    assert sha256_file(workdir / "back") == digest


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_lftp_round_trip(server, payloads, area, workdir, size):
    vpath, disk = area
    src, digest = payloads[size]
    proc = lftp(server, f"put {src} -o {vpath}/file.bin; get {vpath}/file.bin -o {workdir}/back")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sha256_file(disk / "file.bin") == digest
    assert sha256_file(workdir / "back") == digest


def test_stor_over_a_longer_file_truncates_it(server, area):
    vpath, disk = area
    (disk / "f").write_bytes(os.urandom(MIB))
    ftp = ftp_login(server)
    try:
        ftp.storbinary(f"STOR {vpath}/f", io.BytesIO(b"short"))
    finally:
        ftp.quit()
    assert (disk / "f").read_bytes() == b"short"


# ---------------------------------------------------------------------------- data-channel modes

@pytest.mark.parametrize("mode", ["PASV", "EPSV", "PORT", "EPRT"])
def test_raw_modes_round_trip_and_list(server, area, mode):
    vpath, disk = area
    data = os.urandom(MIB + 7)
    with Control.to(server) as c:
        c.login()
        c.expect("TYPE I", 200)
        _, first, final = transfer(c, f"STOR {vpath}/f.bin", mode, upload=data)
        assert first.code in (125, 150) and final.code == 226, (first, final)
        assert sha256_file(disk / "f.bin") == sha256_bytes(data)
        got, first, final = transfer(c, f"RETR {vpath}/f.bin", mode)
        assert first.code in (125, 150) and final.code == 226, (first, final)
        assert sha256_bytes(got) == sha256_bytes(data)
        listing, first, final = transfer(c, f"NLST {vpath}", mode)
        assert final.code == 226 and b"f.bin" in listing


def test_passive_ports_come_from_the_configured_range(server_factory):
    low = random.Random().randrange(30000, 60000, 100)
    srv = server_factory.start(ftp={"passive_ports": f"{low}-{low + 49}"})
    (srv.home("alice") / "f").write_bytes(b"ranged")
    with Control.to(srv) as c:
        c.login()
        for mode in ("PASV", "EPSV"):
            r = c.cmd(mode)
            port = parse_pasv(r)[1] if mode == "PASV" else parse_epsv(r)
            assert low <= port <= low + 49, (mode, port)
            data = socket.create_connection(("127.0.0.1", port), timeout=20)
            assert c.cmd("RETR f").code in (125, 150)
            assert recv_all(data) == b"ranged"
            data.close()
            assert c.reply().code == 226


def test_passive_ports_in_time_wait_are_used_again(server_factory):
    """The server closes a download's data connection first, so its passive port spends a
    minute in TIME_WAIT; a range of 3 ports still serves many transfers a minute."""
    low = random.Random().randrange(30000, 60000, 100)
    srv = server_factory.start(ftp={"passive_ports": f"{low}-{low + 2}"})
    (srv.home("alice") / "f").write_bytes(b"again")
    with Control.to(srv) as c:
        c.login()
        for i in range(12):
            r = c.cmd("EPSV")
            assert r.code == 229, (i, r)
            data = socket.create_connection(("127.0.0.1", parse_epsv(r)), timeout=20)
            assert c.cmd("RETR f").code in (125, 150)
            assert recv_all(data) == b"again"
            data.close()
            assert c.reply().code == 226


@pytest.mark.parametrize("flags", [["--disable-epsv"], ["--ftp-port", "127.0.0.1"],
                                   ["--ftp-port", "127.0.0.1", "--disable-eprt"]],
                         ids=["pasv", "eprt", "port"])
def test_curl_modes(server, payloads, area, workdir, flags):
    vpath, disk = area
    src, digest = payloads[MIB]
    up = curl(*flags, "-T", str(src), curl_url(server, f"{vpath}/f.bin"))
    assert up.returncode == 0, up.stderr
    assert sha256_file(disk / "f.bin") == digest
    down = curl(*flags, "-o", str(workdir / "back"), curl_url(server, f"{vpath}/f.bin"))
    assert down.returncode == 0, down.stderr
    assert sha256_file(workdir / "back") == digest
    listing = curl(*flags, "-l", curl_url(server, f"{vpath}/"))
    assert listing.returncode == 0 and listing.stdout.split() == ["f.bin"], listing


def test_ftplib_active_mode(server, payloads, area, workdir):
    vpath, disk = area
    src, digest = payloads[MIB]
    ftp = ftp_login(server)
    ftp.set_pasv(False)
    try:
        ftplib_stor(ftp, f"{vpath}/f.bin", src)
        ftplib_retr(ftp, f"{vpath}/f.bin", workdir / "back")
        assert ftp.nlst(vpath) in (["f.bin"], [f"{vpath}/f.bin"])
    finally:
        ftp.quit()
    assert sha256_file(disk / "f.bin") == digest
    assert sha256_file(workdir / "back") == digest


def test_lftp_active_mode(server, payloads, area, workdir):
    vpath, disk = area
    src, digest = payloads[MIB]
    proc = lftp(server, f"put {src} -o {vpath}/f.bin; get {vpath}/f.bin -o {workdir}/back; "
                        f"cls {vpath}", passive=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sha256_file(disk / "f.bin") == digest
    assert sha256_file(workdir / "back") == digest
    assert "f.bin" in proc.stdout


def make_tree(root):
    files = {}
    for rel, size in [("a.txt", 10), ("empty", 0), ("d1/b.bin", 100_000), ("d1/d2/c.bin", 3000),
                      ("d1/d2/d3/deep.bin", 70_000), ("d4/x", 1)]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        files[rel] = make_random_file(path, size)
    (root / "emptydir").mkdir()
    return files


def tree_digests(root):
    return {str(p.relative_to(root)): sha256_file(p) for p in root.rglob("*") if p.is_file()}


def test_lftp_mirror_both_ways(server, area, workdir):
    vpath, disk = area
    local = workdir / "tree"
    files = make_tree(local)
    up = lftp(server, f"mirror -R {local} {vpath}/tree")
    assert up.returncode == 0, up.stdout + up.stderr
    assert tree_digests(disk / "tree") == files
    assert (disk / "tree" / "emptydir").is_dir()
    down = lftp(server, f"mirror {vpath}/tree {workdir}/copy")
    assert down.returncode == 0, down.stdout + down.stderr
    assert tree_digests(workdir / "copy") == files


# ---------------------------------------------------------------------------- IPv6

@pytest.mark.skipif(not IPV6, reason="no IPv6 loopback")
@pytest.mark.parametrize("passive", [True, False], ids=["epsv", "eprt"])
def test_ipv6_ftplib(server, payloads, area, workdir, passive):
    vpath, disk = area
    src, digest = payloads[MIB]
    ftp = ftp_login(server, host="::1")
    ftp.set_pasv(passive)
    try:
        ftplib_stor(ftp, f"{vpath}/f.bin", src)
        ftplib_retr(ftp, f"{vpath}/f.bin", workdir / "back")
    finally:
        ftp.quit()
    assert sha256_file(disk / "f.bin") == digest
    assert sha256_file(workdir / "back") == digest


@pytest.mark.skipif(not IPV6, reason="no IPv6 loopback")
@pytest.mark.parametrize("mode", ["EPSV", "EPRT"])
def test_ipv6_raw(server, area, mode):
    vpath, disk = area
    data = os.urandom(100_000)
    with Control.to(server, host="::1") as c:
        c.login()
        c.expect("TYPE I", 200)
        _, _, final = transfer(c, f"STOR {vpath}/f", mode, upload=data)
        assert final.code == 226
        got, _, final = transfer(c, f"RETR {vpath}/f", mode)
        assert final.code == 226 and got == data
        assert 500 <= c.cmd("EPRT |1|127.0.0.1|50000|").code < 600, \
            "EPRT to an IPv4 address from an IPv6 control connection is a foreign address"
    assert (disk / "f").read_bytes() == data


@pytest.mark.skipif(not IPV6, reason="no IPv6 loopback")
def test_ipv6_curl(server, payloads, area, workdir):
    vpath, disk = area
    src, digest = payloads[MIB]
    up = curl("-T", str(src), curl_url(server, f"{vpath}/f.bin", host="::1"))
    assert up.returncode == 0, up.stderr
    down = curl("-o", str(workdir / "back"), curl_url(server, f"{vpath}/f.bin", host="::1"))
    assert down.returncode == 0, down.stderr
    assert sha256_file(disk / "f.bin") == digest
    assert sha256_file(workdir / "back") == digest


# ---------------------------------------------------------------------------- ASCII mode

def test_ascii_download_converts_lf_to_crlf(server, area):
    vpath, disk = area
    (disk / "t.txt").write_bytes(b"one\ntwo\n\nthree")
    with Control.to(server) as c:
        c.login()
        c.expect("TYPE A", 200)
        got, _, final = transfer(c, f"RETR {vpath}/t.txt")
        assert final.code == 226
        assert got == b"one\r\ntwo\r\n\r\nthree"
        c.expect("TYPE I", 200)
        got, _, _ = transfer(c, f"RETR {vpath}/t.txt")
        assert got == b"one\ntwo\n\nthree"


def test_ascii_upload_converts_crlf_to_lf(server, area):
    vpath, disk = area
    with Control.to(server) as c:
        c.login()
        c.expect("TYPE A", 200)
        _, _, final = transfer(c, f"STOR {vpath}/t.txt", upload=b"one\r\ntwo\r\n\r\nthree\r\n")
        assert final.code == 226
    assert (disk / "t.txt").read_bytes() == b"one\ntwo\n\nthree\n"


@pytest.mark.parametrize("data, stored", [
    # A CRLF across the 64 KiB an upload gathers before its file is open.
    (b"a" * 65535 + b"\r\n" + b"b" * 100, b"a" * 65535 + b"\n" + b"b" * 100),
    # A lone CR as the last of those bytes, then more: it stays.
    (b"a" * 65535 + b"\rb", b"a" * 65535 + b"\rb"),
    # A CR as the very last byte of the upload: it stays too.
    (b"a" * 65535 + b"\r", b"a" * 65535 + b"\r"),
], ids=["crlf-split", "lone-cr", "cr-at-end"])
def test_ascii_upload_across_the_first_64k(server, area, data, stored):
    vpath, disk = area
    with Control.to(server) as c:
        c.login()
        c.expect("TYPE A", 200)
        _, _, final = transfer(c, f"STOR {vpath}/t.txt", upload=data)
        assert final.code == 226
    assert (disk / "t.txt").read_bytes() == stored


def test_upload_trickling_in_after_a_pause(server, area):
    """The first bytes of an upload are read on the event loop as they come; a client that
    waits before sending, then sends in small pieces, loses nothing."""
    vpath, disk = area
    pieces = [os.urandom(n) for n in (1, 100, 5000, 70_000, 3)]
    with Control.to(server) as c:
        c.login()
        get_data, _ = open_data(c, "EPSV")
        assert c.cmd(f"STOR {vpath}/slow").code == 150
        data = get_data()
        time.sleep(0.3)
        for piece in pieces:
            data.sendall(piece)
            time.sleep(0.05)
        data.close()
        assert c.reply().code == 226
    assert (disk / "slow").read_bytes() == b"".join(pieces)


def test_ftplib_ascii_round_trip(server, area):
    vpath, disk = area
    lines = [f"line {i} " + "x" * (i % 50) for i in range(2000)]
    ftp = ftp_login(server)
    try:
        ftp.storlines(f"STOR {vpath}/t.txt", io.BytesIO(("\n".join(lines) + "\n").encode()))
        got = []
        ftp.retrlines(f"RETR {vpath}/t.txt", got.append)
    finally:
        ftp.quit()
    assert (disk / "t.txt").read_text() == "\n".join(lines) + "\n"
    assert got == lines


# ---------------------------------------------------------------------------- REST, APPE

def test_rest_resumes_a_download(server, area):
    vpath, disk = area
    data = os.urandom(MIB)
    (disk / "f").write_bytes(data)
    ftp = ftp_login(server)
    try:
        for offset in (0, 1, 500_000, MIB - 1, MIB):
            got = bytearray()
            ftp.retrbinary(f"RETR {vpath}/f", got.extend, rest=offset)
            assert bytes(got) == data[offset:], f"REST {offset}"
    finally:
        ftp.quit()


@pytest.mark.parametrize("size", [1, 4096, 65535, 65536, 65537, 300_000])
def test_downloads_around_the_read_ahead_size(server, area, size):
    """A download's first 64 KiB are read when the file is opened; files shorter, equal and
    longer than that arrive whole, also resumed inside and past that first part."""
    vpath, disk = area
    data = os.urandom(size)
    (disk / "f").write_bytes(data)
    ftp = ftp_login(server)
    try:
        for offset in sorted({0, 1, size // 2, size - 1, size}):
            got = bytearray()
            ftp.retrbinary(f"RETR {vpath}/f", got.extend, rest=offset or None)
            assert bytes(got) == data[offset:], f"REST {offset}"
    finally:
        ftp.quit()


@pytest.mark.parametrize("size", [4096, 300_000])
def test_downloads_of_files_the_page_cache_has_dropped(server, area, size):
    """A download first tries to open and read without waiting for the disk; a file whose
    pages are not in memory (dropped with POSIX_FADV_DONTNEED once written out) is read on a
    worker instead, whole and from any offset."""
    vpath, disk = area
    data = os.urandom(size)
    path = disk / "cold"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        ftp = ftp_login(server)
        try:
            for offset in (0, 1, size - 1):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                got = bytearray()
                ftp.retrbinary(f"RETR {vpath}/cold", got.extend, rest=offset or None)
                assert bytes(got) == data[offset:], f"REST {offset}"
        finally:
            ftp.quit()
    finally:
        os.close(fd)


def test_rest_resumes_an_upload(server, area):
    vpath, disk = area
    data = os.urandom(MIB)
    (disk / "f").write_bytes(data[:300_000])
    ftp = ftp_login(server)
    try:
        ftp.storbinary(f"STOR {vpath}/f", io.BytesIO(data[300_000:]), rest=300_000)
    finally:
        ftp.quit()
    assert sha256_file(disk / "f") == sha256_bytes(data)


def test_appe_appends_and_creates(server, area):
    vpath, disk = area
    (disk / "f").write_bytes(b"abc")
    ftp = ftp_login(server)
    try:
        ftp.storbinary(f"APPE {vpath}/f", io.BytesIO(b"def"))
        ftp.storbinary(f"APPE {vpath}/new", io.BytesIO(b"created"))
    finally:
        ftp.quit()
    assert (disk / "f").read_bytes() == b"abcdef"
    assert (disk / "new").read_bytes() == b"created"


# ---------------------------------------------------------------------------- ABOR

def test_abor_during_retr(server, payloads, area):
    vpath, disk = area
    src, _ = payloads[64 * MIB]
    shutil.copyfile(src, disk / "big.bin")
    with Control.to(server) as c:
        c.login()
        c.expect("TYPE I", 200)
        port = parse_epsv_port(c)
        data = socket.create_connection(("127.0.0.1", port), timeout=20)
        assert c.cmd(f"RETR {vpath}/big.bin").code in (125, 150)
        got = len(data.recv(65536))
        c.send("ABOR\r\n")
        first = c.reply()
        assert first.code == 426, f"ABOR during RETR: expected 426 then 226, got {first.text}"
        assert c.reply().code == 226
        # The server closes the data connection: what is left is at most socket buffers.
        data.settimeout(20)
        while True:
            chunk = data.recv(MIB)
            if not chunk:
                break
            got += len(chunk)
        data.close()
        assert got < 64 * MIB
        assert c.cmd("NOOP").code == 200
        (disk / "small").write_bytes(b"still works")
        again, _, final = transfer(c, f"RETR {vpath}/small")
        assert final.code == 226 and again == b"still works"
    event = server.wait_for_event("transfer", path=f"{vpath}/big.bin")[0]
    assert event["result"] == "aborted"
    assert event["bytes"] < 64 * MIB


def parse_epsv_port(c):
    return parse_epsv(c.cmd("EPSV"))


def start_slow_download(c, remote):
    """RETR over EPSV without reading on: the transfer stays in progress. Returns the data
    socket and the bytes of its first read."""
    c.expect("TYPE I", 200)
    data = socket.create_connection(("127.0.0.1", parse_epsv_port(c)), timeout=20)
    assert c.cmd(f"RETR {remote}").code in (125, 150)
    first = data.recv(65536)
    assert len(first) > 0
    return data, first


def test_stat_during_a_transfer_reports_progress(server, payloads, area):
    vpath, disk = area
    shutil.copyfile(payloads[64 * MIB][0], disk / "big.bin")
    with Control.to(server) as c:
        c.login()
        data, first = start_slow_download(c, f"{vpath}/big.bin")
        c.send("STAT\r\n")
        r = c.reply()
        assert r.code in (211, 213) and re.search(r"\d+", r.text), r.text
        got = len(first) + len(recv_all(data))
        data.close()
        assert c.reply().code == 226
        assert got == 64 * MIB


def test_commands_during_a_transfer_run_after_it(server, payloads, area):
    vpath, disk = area
    shutil.copyfile(payloads[MIB][0], disk / "f.bin")
    with Control.to(server) as c:
        c.login()
        data, first = start_slow_download(c, f"{vpath}/f.bin")
        c.send("NOOP\r\nPWD\r\n")
        time.sleep(0.3)
        got = recv_all(data)
        data.close()
        codes = [c.reply().code for _ in range(3)]
        assert codes == [226, 200, 257], codes
        assert len(first) + len(got) == MIB


def test_quit_during_a_transfer_aborts_it_and_says_goodbye(server, payloads, area):
    vpath, disk = area
    shutil.copyfile(payloads[64 * MIB][0], disk / "big.bin")
    with Control.to(server) as c:
        c.login()
        data, first = start_slow_download(c, f"{vpath}/big.bin")
        c.send("QUIT\r\n")
        codes = []
        while not codes or codes[-1] != 221:
            codes.append(c.reply().code)
        assert codes in ([221], [426, 221], [426, 226, 221]), codes
        assert c.closed_by_server(10)
        got = recv_all(data)
        data.close()
        assert len(first) + len(got) < 64 * MIB
    event = server.wait_for_event("transfer", path=f"{vpath}/big.bin")[0]
    assert event["result"] in ("aborted", "failed")


def test_abor_during_stor(server, area):
    vpath, disk = area
    with Control.to(server) as c:
        c.login()
        port = parse_epsv_port(c)
        data = socket.create_connection(("127.0.0.1", port), timeout=20)
        assert c.cmd(f"STOR {vpath}/partial").code in (125, 150)
        data.sendall(os.urandom(256 * 1024))
        c.send("ABOR\r\n")
        codes = [c.reply().code]
        if codes[0] == 426:
            codes.append(c.reply().code)
        assert codes in ([426, 226], [226]), codes
        data.close()
        assert c.cmd("NOOP").code == 200
        _, _, final = transfer(c, f"STOR {vpath}/after", upload=b"ok")
        assert final.code == 226
    assert (disk / "after").read_bytes() == b"ok"


# ---------------------------------------------------------------------------- listings

LS_LINE = re.compile(
    r"^(?P<mode>[-dl][-r][-w][-xsS][-r][-w][-xsS][-r][-w][-xtT])\s+(?P<links>\d+)\s+(?P<owner>\S+)"
    r"\s+(?P<group>\S+)\s+(?P<size>\d+)\s+(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})\s+"
    r"(?P<timeyear>\d{2}:\d{2}|\d{4})\s(?P<name>.+)$")


@pytest.fixture
def listed(area):
    vpath, disk = area
    f = disk / "five.txt"
    f.write_bytes(b"12345")
    os.chmod(f, 0o644)
    os.utime(f, (1_600_000_000, 1_600_000_000))  # Sep 13 2020
    (disk / "sub").mkdir()
    return vpath, disk


def list_data(server, command, cwd=None):
    with Control.to(server) as c:
        c.login()
        if cwd:
            c.expect(f"CWD {cwd}", 250)
        data, first, final = transfer(c, command)
    return data, first, final


def test_list_is_ls_style(server, listed):
    vpath, _ = listed
    data, first, final = list_data(server, f"LIST {vpath}")
    assert first.code in (125, 150) and final.code == 226
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    lines = [l for l in data.decode().split("\r\n") if l and not l.startswith("total")]
    parsed = {m["name"]: m for m in map(LS_LINE.match, lines) if m}
    assert len(parsed) == len(lines) == 2, lines
    f = parsed["five.txt"]
    assert f["mode"] == "-rw-r--r--" and f["size"] == "5"
    assert (f["month"], f["day"], f["timeyear"]) == ("Sep", "13", "2020")
    assert parsed["sub"]["mode"].startswith("d")


def test_list_never_shows_host_accounts(server, listed):
    vpath, _ = listed
    data, _, _ = list_data(server, f"LIST {vpath}")
    for line in data.decode().split("\r\n")[:-1]:
        m = LS_LINE.match(line)
        assert m and (m["owner"], m["group"]) == ("ftp", "ftp"), line


def test_list_with_options_and_of_a_file(server, listed):
    vpath, _ = listed
    data, _, final = list_data(server, "LIST -la", cwd=vpath)
    assert final.code == 226 and b"five.txt" in data and b"sub" in data
    data, _, final = list_data(server, f"LIST {vpath}/five.txt")
    lines = [l for l in data.decode().split("\r\n") if l]
    assert final.code == 226 and len(lines) == 1 and lines[0].endswith(" five.txt"), lines
    assert LS_LINE.match(lines[0]), lines


def test_nlst_is_names_only(server, listed):
    vpath, _ = listed
    data, _, final = list_data(server, "NLST", cwd=vpath)
    assert final.code == 226
    assert sorted(data.decode().split("\r\n")[:-1]) == ["five.txt", "sub"]


def test_nlst_of_a_file_names_it_as_typed(server, listed):
    """As `ls five.txt` prints it: a classic client saves what NLST names under that name."""
    vpath, _ = listed
    data, _, final = list_data(server, "NLST five.txt", cwd=vpath)
    assert final.code == 226 and data == b"five.txt\r\n"
    data, _, final = list_data(server, f"NLST {vpath}/five.txt")
    assert final.code == 226 and data == f"{vpath}/five.txt\r\n".encode()


@pytest.fixture
def patterned(area):
    vpath, disk = area
    (disk / "sub").mkdir()
    for name in ("a.csv", "b.csv", "c.txt", ".hidden.csv", "sub/d.csv", "sub/e.txt", "x[1].csv"):
        (disk / name).write_bytes(name.encode())
    return vpath, disk


def test_list_and_nlst_expand_name_patterns(server, patterned):
    """Classic clients expand `mget *.csv` with NLST: the last component of a LIST/NLST/STAT
    argument may be a pattern ('*', '?', '[...]'), matched like the shell (hidden names need
    an explicit '.'), and names come back as typed, as `ls d/*.csv` prints them."""
    vpath, _ = patterned

    def nlst(command, cwd=vpath):
        data, _, final = list_data(server, command, cwd=cwd)
        assert final.code == 226, (command, final)
        return sorted(data.decode().split("\r\n")[:-1])

    assert nlst("NLST *.csv") == ["a.csv", "b.csv", "x[1].csv"]
    assert nlst("NLST sub/*.csv") == ["sub/d.csv"]
    assert nlst(f"NLST {vpath}/sub/?.txt", cwd=None) == [f"{vpath}/sub/e.txt"]
    assert nlst("NLST [ab].*") == ["a.csv", "b.csv"]
    assert nlst("NLST [!ab]*") == ["c.txt", "sub", "x[1].csv"]
    assert nlst("NLST .*.csv") == [".hidden.csv"]
    assert nlst("NLST *.pdf") == []  # nothing matches: an empty list, as vsftpd sends
    assert nlst("NLST x[1].csv") == ["x[1].csv"]  # a name that exists is itself, not a pattern
    data, _, final = list_data(server, "LIST -l *.txt", cwd=vpath)
    lines = data.decode().split("\r\n")[:-1]
    assert final.code == 226 and len(lines) == 1 and LS_LINE.match(lines[0])["name"] == "c.txt", lines
    with Control.to(server) as c:
        c.login()
        status = c.cmd(f"STAT {vpath}/sub/*.csv")
        assert status.code == 213 and len(status.lines) == 3 and status.lines[1].endswith("sub/d.csv"), status.text
        # Only the last component is a pattern, and MLSD takes a directory, never a pattern.
        _, first, final = transfer(c, f"NLST {vpath}/*/d.csv")
        assert 550 in (first.code, final.code)
        _, first, final = transfer(c, f"MLSD {vpath}/*.csv")
        assert 550 in (first.code, final.code)


def test_classic_ftp_client_mget_and_mdelete_with_patterns(server, patterned, workdir):
    """The BSD ftp client (tnftp, Debian's `ftp`) as legacy batch scripts drive it: mget and
    mdelete expand their patterns with the server's NLST."""
    if not shutil.which("tnftp"):
        pytest.skip("tnftp is not installed (scripts/deps.sh --tests installs it)")
    vpath, disk = patterned
    local = workdir / "mget"
    (local / "sub").mkdir(parents=True)
    script = (f"user alice {PASSWORDS['alice']}\nbinary\ncd {vpath}\nlcd {local}\n"
              "mget *.csv\nmget sub/*.csv\nmdelete *.txt\nbye\n")
    run = subprocess.run(["tnftp", "-n", "-i", "-p", "127.0.0.1", str(server.port)], input=script,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    fetched = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
    assert fetched == ["a.csv", "b.csv", "sub/d.csv", "x[1].csv"], (fetched, run.stdout)
    assert all((local / name).read_bytes() == (disk / name).read_bytes() for name in fetched)
    assert not (disk / "c.txt").exists() and (disk / "sub/e.txt").exists()


def test_mlsd_lines(server, listed):
    vpath, _ = listed
    data, _, final = list_data(server, f"MLSD {vpath}")
    assert final.code == 226
    entries = {}
    for line in data.decode().split("\r\n")[:-1]:
        facts_text, sep, name = line.partition(" ")
        assert sep and facts_text.endswith(";"), line
        facts = dict(f.split("=", 1) for f in facts_text.rstrip(";").split(";"))
        entries[name] = {k.lower(): v for k, v in facts.items()}
    assert {n for n, f in entries.items() if f["type"] not in ("cdir", "pdir")} == \
        {"five.txt", "sub"}
    f = entries["five.txt"]
    assert f["type"] == "file" and f["size"] == "5"
    assert f["modify"].startswith("20200913122640")
    assert f["unix.mode"] in ("0644", "644")
    assert "r" in f["perm"] and f["unique"]
    assert entries["sub"]["type"] == "dir"
    assert entries["five.txt"]["unique"] != entries["sub"]["unique"]


def test_mlsd_of_a_file_and_listing_of_missing(server, listed):
    vpath, _ = listed
    _, first, _ = list_data(server, f"MLSD {vpath}/five.txt")
    assert first.code in (501, 550)
    for command in ("LIST", "NLST", "MLSD"):
        _, first, final = list_data(server, f"{command} {vpath}/missing")
        assert first.code in (450, 550) or final.code in (450, 550), (command, first, final)


def test_list_of_an_empty_directory(server, area):
    vpath, _ = area
    data, _, final = list_data(server, f"NLST {vpath}")
    assert final.code in (226, 450, 550) and data == b""
    data, _, final = list_data(server, f"LIST {vpath}")
    assert final.code == 226 and data in (b"", b"total 0\r\n")


def test_large_directory_listing(server, area):
    vpath, disk = area
    names = {f"entry-{i:05d}-{'x' * (i % 40)}" for i in range(3000)}
    for name in names:
        (disk / name).write_bytes(b"")
    with Control.to(server) as c:
        c.login()
        data, _, final = transfer(c, f"NLST {vpath}")
        assert final.code == 226
        assert {n.rsplit("/", 1)[-1] for n in data.decode().split("\r\n")[:-1]} == names
        data, _, final = transfer(c, f"MLSD {vpath}")
        assert final.code == 226
        listed = {l.split("; ", 1)[1] for l in data.decode().split("\r\n")[:-1]
                  if "type=file" in l.lower()}
        assert listed == names
        data, _, final = transfer(c, f"LIST {vpath}")
        assert final.code == 226
        assert len([l for l in data.decode().split("\r\n") if l.startswith("-")]) == 3000


@pytest.mark.parametrize("name", ["with space.txt", "two  spaces  .txt", " leading-space",
                                  "Grüße – 日本語.txt", "semi;colon=equals.txt", "quote\"d.txt"])
def test_unusual_file_names(server, area, name):
    vpath, disk = area
    data = os.urandom(1000)
    ftp = ftp_login(server)
    try:
        ftp.cwd(vpath)
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))
        assert (disk / name).read_bytes() == data
        got = bytearray()
        ftp.retrbinary(f"RETR {name}", got.extend)
        assert bytes(got) == data
        assert name in ftp.nlst()
        facts = dict(ftp.mlsd())
        assert name in facts and facts[name]["size"] == "1000"
        ftp.rename(name, name + ".renamed")
        ftp.delete(name + ".renamed")
    finally:
        ftp.quit()
    assert list(disk.iterdir()) == []


# ---------------------------------------------------------------------------- interrupted uploads

def start_upload(server, remote):
    """Opens an upload over EPSV; returns (control, data socket)."""
    c = Control.to(server)
    c.login()
    c.expect("TYPE I", 200)
    port = parse_epsv_port(c)
    data = socket.create_connection(("127.0.0.1", port), timeout=20)
    assert c.cmd(f"STOR {remote}").code in (125, 150)
    return c, data


def new_files(directory, known):
    return [p for p in directory.rglob("*") if p.is_file() and p.name not in known]


def test_interrupted_upload_keeps_bytes_and_rest_completes_it(server, area):
    vpath, disk = area
    payload = os.urandom(8 * MIB)
    c, data = start_upload(server, f"{vpath}/big.bin")
    data.sendall(payload[:2 * MIB])
    assert wait_until(lambda: (disk / "big.bin").exists() and
                      (disk / "big.bin").stat().st_size > 0, 10)
    abort_socket(data)
    abort_socket(c.sock)
    event = server.wait_for_event("transfer", path=f"{vpath}/big.bin")[0]
    assert event["result"] in ("failed", "aborted"), event
    kept = (disk / "big.bin").read_bytes()
    assert 0 < len(kept) <= 2 * MIB
    assert kept == payload[:len(kept)]
    ftp = ftp_login(server)
    try:
        assert ftp.size(f"{vpath}/big.bin") == len(kept)
        ftp.storbinary(f"STOR {vpath}/big.bin", io.BytesIO(payload[len(kept):]), rest=len(kept))
    finally:
        ftp.quit()
    assert sha256_file(disk / "big.bin") == sha256_bytes(payload)


def test_interrupted_upload_keeps_bytes_and_appe_completes_it(server, area):
    vpath, disk = area
    payload = os.urandom(4 * MIB)
    c, data = start_upload(server, f"{vpath}/big.bin")
    data.sendall(payload[:MIB])
    assert wait_until(lambda: (disk / "big.bin").exists() and
                      (disk / "big.bin").stat().st_size > 0, 10)
    abort_socket(c.sock)  # the control connection goes first, then the data ends cleanly
    data.close()
    event = server.wait_for_event("transfer", path=f"{vpath}/big.bin")[0]
    assert event["result"] in ("failed", "aborted"), "a stream that ends without control is not ok"
    kept = (disk / "big.bin").read_bytes()
    assert 0 < len(kept) <= MIB and kept == payload[:len(kept)]
    ftp = ftp_login(server)
    try:
        ftp.storbinary(f"APPE {vpath}/big.bin", io.BytesIO(payload[len(kept):]))
    finally:
        ftp.quit()
    assert sha256_file(disk / "big.bin") == sha256_bytes(payload)


@pytest.fixture
def atomic_server(server_factory):
    return server_factory.start(ftp={"atomic_uploads": True})


def test_atomic_upload_appears_only_when_complete(atomic_server):
    home = atomic_server.home("alice")
    payload = os.urandom(4 * MIB)
    c, data = start_upload(atomic_server, "/big.bin")
    try:
        data.sendall(payload[:2 * MIB])
        # The server is writing somewhere, but not under the final name.
        assert wait_until(lambda: any(p.stat().st_size > 0 for p in new_files(home, set())), 10)
        assert not (home / "big.bin").exists()
        data.sendall(payload[2 * MIB:])
        data.close()
        assert c.reply().code == 226
    finally:
        c.close()
    assert sha256_file(home / "big.bin") == sha256_bytes(payload)
    assert [p.name for p in new_files(home, set())] == ["big.bin"], "temporary file left behind"


def test_atomic_upload_cut_off_leaves_no_file(atomic_server):
    home = atomic_server.home("alice")
    c, data = start_upload(atomic_server, "/big.bin")
    data.sendall(os.urandom(2 * MIB))
    assert wait_until(lambda: any(p.stat().st_size > 0 for p in new_files(home, set())), 10)
    abort_socket(data)
    abort_socket(c.sock)
    event = atomic_server.wait_for_event("transfer", path="/big.bin")[0]
    assert event["result"] in ("failed", "aborted"), event
    assert not (home / "big.bin").exists()
    assert wait_until(lambda: new_files(home, set()) == [], 5), \
        f"temporary file left behind: {new_files(home, set())}"


def test_atomic_upload_cut_off_keeps_the_old_file(atomic_server):
    home = atomic_server.home("alice")
    (home / "big.bin").write_bytes(b"old content")
    c, data = start_upload(atomic_server, "/big.bin")
    data.sendall(os.urandom(2 * MIB))
    assert wait_until(lambda: any(p.stat().st_size > 0 for p in new_files(home, {"big.bin"})), 10)
    abort_socket(data)
    abort_socket(c.sock)
    atomic_server.wait_for_event("transfer", path="/big.bin")
    assert (home / "big.bin").read_bytes() == b"old content"


def test_atomic_upload_ended_after_control_loss_is_not_published(atomic_server):
    home = atomic_server.home("alice")
    c, data = start_upload(atomic_server, "/big.bin")
    data.sendall(os.urandom(MIB))
    assert wait_until(lambda: any(p.stat().st_size > 0 for p in new_files(home, set())), 10)
    abort_socket(c.sock)
    data.close()  # a clean end of file, but nobody is there to be told 226
    event = atomic_server.wait_for_event("transfer", path="/big.bin")[0]
    assert event["result"] in ("failed", "aborted"), event
    assert not (home / "big.bin").exists()
    assert wait_until(lambda: new_files(home, set()) == [], 5)


def test_atomic_temporary_is_hidden_and_resume_works(atomic_server):
    home = atomic_server.home("alice")
    payload = os.urandom(2 * MIB)
    c, data = start_upload(atomic_server, "/big.bin")
    try:
        data.sendall(payload[:MIB])
        assert wait_until(lambda: any(p.stat().st_size > 0 for p in new_files(home, set())), 10)
        temps = new_files(home, set())
        assert len(temps) == 1 and temps[0].name.startswith("."), temps
        data.sendall(payload[MIB:MIB + 1000])
        data.close()
        assert c.reply().code == 226
    finally:
        c.close()
    ftp = ftp_login(atomic_server)
    try:
        assert ftp.size("/big.bin") == MIB + 1000
        ftp.storbinary("STOR /big.bin", io.BytesIO(payload[MIB + 1000:]), rest=MIB + 1000)
    finally:
        ftp.quit()
    assert sha256_file(home / "big.bin") == sha256_bytes(payload)
