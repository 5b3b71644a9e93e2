"""Everyday SFTP clients against filegate: OpenSSH's `sftp -b` (key login) for each of its
commands that has a server side, and curl's sftp:// (libssh2), with byte-identical results."""

import os
import re
import shutil
import stat

import pytest

from conftest import (MIB, PASSWORDS, curl, make_random_file, sftp_batch, sha256_file, unique_name)


@pytest.fixture(scope="module")
def server(module_server_factory):
    # Debug logging shows which request each client command became (sftp_request lines).
    return module_server_factory.start(ftp=False, sftp=True, extra={"log": {"level": "debug"}})


@pytest.fixture
def area(server):
    """A fresh remote directory: (its name, its path on disk)."""
    name = unique_name("cli")
    disk = server.home("alice") / name
    disk.mkdir()
    return name, disk


def batch(server, lines, workdir, expect_ok=True):
    """`sftp -b` with alice's key, run in workdir; asserts its exit status."""
    proc = sftp_batch(server, lines, key="alice", cwd=workdir)
    assert (proc.returncode == 0) == expect_ok, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def requests_seen(server):
    return [e["op"] for e in server.events("sftp_request")]


# --------------------------------------------------------------------------------------------
# OpenSSH sftp
# --------------------------------------------------------------------------------------------

def test_put_get_ls(server, area, workdir):
    name, disk = area
    digest = make_random_file(workdir / "data.bin", 3 * MIB + 17)
    (workdir / "empty").write_bytes(b"")
    proc = batch(server, [f"cd {name}", "put data.bin", "put empty", "ls -l", "get data.bin back.bin",
                          "get empty empty-back"], workdir)
    assert sha256_file(disk / "data.bin") == digest
    assert sha256_file(workdir / "back.bin") == digest
    assert (workdir / "empty-back").read_bytes() == b""
    # ls -l shows the long names: mode, size, name.
    line = next(l for l in proc.stdout.splitlines() if l.endswith(" data.bin") and not l.startswith("sftp>"))
    assert line.startswith("-rw-") and f" {3 * MIB + 17} " in line, line


def test_reput_and_reget_resume(server, area, workdir):
    name, disk = area
    digest = make_random_file(workdir / "whole.bin", 2 * MIB + 5)
    whole = (workdir / "whole.bin").read_bytes()
    # The server holds the first part from an interrupted upload; reput sends only the rest.
    (disk / "whole.bin").write_bytes(whole[:700_000])
    # The client holds the first part of an interrupted download.
    (disk / "remote.bin").write_bytes(whole)
    (workdir / "partial.bin").write_bytes(whole[:1_234_567])
    batch(server, [f"cd {name}", "reput whole.bin", "reget remote.bin partial.bin"], workdir)
    assert sha256_file(disk / "whole.bin") == digest
    assert sha256_file(workdir / "partial.bin") == digest
    # reput resumed (an append-style OPEN, no truncation): the transfer log counts only the rest.
    uploads = [e for e in server.events("transfer", direction="upload") if e["path"].endswith(f"{name}/whole.bin")]
    assert uploads and uploads[-1]["bytes"] == len(whole) - 700_000, uploads
    downloads = [e for e in server.events("transfer", direction="download")
                 if e["path"].endswith(f"{name}/remote.bin")]
    assert downloads and downloads[-1]["bytes"] == len(whole) - 1_234_567, downloads


def test_rename_uses_posix_rename_and_rename_l_the_v3_one(server, area, workdir):
    name, disk = area
    (disk / "a").write_bytes(b"A")
    (disk / "b").write_bytes(b"B")
    before = len(requests_seen(server))
    # OpenSSH 9.2 renames with posix-rename@openssh.com when the server offers it: the target
    # is replaced.
    batch(server, [f"cd {name}", "rename a b"], workdir)
    assert sorted(p.name for p in disk.iterdir()) == ["b"] and (disk / "b").read_bytes() == b"A"
    assert "posix-rename@openssh.com" in requests_seen(server)[before:]
    # "rename -l" forces the v3 RENAME, which refuses an existing target.
    (disk / "c").write_bytes(b"C")
    before = len(requests_seen(server))
    proc = batch(server, [f"cd {name}", "rename -l c b"], workdir, expect_ok=False)
    assert "rename" in requests_seen(server)[before:]
    assert "posix-rename@openssh.com" not in requests_seen(server)[before:]
    assert (disk / "b").read_bytes() == b"A" and (disk / "c").read_bytes() == b"C"
    assert f'remote rename "/{name}/c" to "/{name}/b": Failure' in proc.stderr, proc.stderr
    batch(server, [f"cd {name}", "rename -l c d"], workdir)
    assert (disk / "d").read_bytes() == b"C" and not (disk / "c").exists()


def test_ln_ln_s_cp_chmod(server, area, workdir):
    name, disk = area
    (disk / "orig.txt").write_bytes(b"original\n")
    # "-" lets the batch go on after that command fails.
    proc = batch(server, [f"cd {name}", "ln -s orig.txt soft", "ln orig.txt hard", "cp orig.txt copy.txt",
                          "chmod 600 copy.txt", "-chmod -h 640 soft", "chmod -h 604 hard"], workdir)
    assert os.readlink(disk / "soft") == "orig.txt"
    assert (disk / "hard").stat().st_ino == (disk / "orig.txt").stat().st_ino
    assert (disk / "copy.txt").read_bytes() == b"original\n"
    assert (disk / "copy.txt").stat().st_ino != (disk / "orig.txt").stat().st_ino
    assert stat.S_IMODE((disk / "copy.txt").stat().st_mode) == 0o600
    # chmod -h is lsetstat: Linux has no modes on symlinks, so on a link it fails and the target
    # keeps its mode; on a file it works.
    assert f'remote lsetstat "/{name}/soft": Operation unsupported' in proc.stderr, proc.stderr
    assert stat.S_IMODE((disk / "orig.txt").stat().st_mode) == 0o604  # "hard" is the same file
    seen = requests_seen(server)
    for op in ("symlink", "hardlink@openssh.com", "copy-data", "setstat", "lsetstat@openssh.com"):
        assert op in seen, op


def test_df_mkdir_rmdir_rm(server, area, workdir):
    name, disk = area
    (disk / "gone.txt").write_bytes(b"x")
    proc = batch(server, [f"cd {name}", "df", "df -i", "mkdir sub", "mkdir sub/deeper", "rmdir sub/deeper",
                          "rm gone.txt", "ls"], workdir)
    local = os.statvfs(disk)
    # df prints Size/Used/Avail/(Root)/%Capacity in KiB; the size is the filesystem's.
    sizes = [int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s+\d+\s+\d+\s+\d+\s+\d+%", proc.stdout, re.M)]
    assert sizes and sizes[0] == local.f_blocks * local.f_frsize // 1024, proc.stdout
    assert "Inodes" in proc.stdout
    assert (disk / "sub").is_dir() and not (disk / "sub" / "deeper").exists()
    assert not (disk / "gone.txt").exists()
    # rmdir of a non-empty directory fails, and so does the batch.
    (disk / "sub" / "keep").write_bytes(b"k")
    proc = batch(server, [f"cd {name}", "rmdir sub"], workdir, expect_ok=False)
    assert (disk / "sub" / "keep").exists()
    assert f'remote rmdir "/{name}/sub": Failure' in proc.stderr, proc.stderr


def test_refusals_reach_the_sftp_user(server, workdir):
    (workdir / "up.txt").write_bytes(b"x")
    (server.home("alice") / "outbox" / "report.txt").write_bytes(b"report\n")
    proc = batch(server, ["put up.txt /outbox/up.txt"], workdir, expect_ok=False)
    assert "Permission denied" in proc.stderr, proc.stderr
    proc = batch(server, ["get /outbox/nothing.txt"], workdir, expect_ok=False)
    assert "not found" in proc.stderr or "No such file" in proc.stderr, proc.stderr
    batch(server, ["get /outbox/report.txt"], workdir)
    assert (workdir / "report.txt").read_bytes() == b"report\n"
    assert not (server.home("alice") / "outbox" / "up.txt").exists()


# --------------------------------------------------------------------------------------------
# curl (libssh2)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def curl_sftp():
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    proc = curl("-V", timeout=30)
    if "sftp" not in proc.stdout.split("Protocols:")[-1].split("\n")[0].split():
        pytest.skip("this curl has no sftp support")


def curl_sftp_url(server, path, user="alice"):
    # --insecure: libssh2 does not know the test host key (there is no known_hosts entry).
    return ["--insecure", "-u", f"{user}:{PASSWORDS[user]}", f"sftp://127.0.0.1:{server.sftp_port}{path}"]


def test_curl_upload_and_download(server, area, workdir, curl_sftp):
    name, disk = area
    digest = make_random_file(workdir / "c.bin", 2 * MIB + 3)
    proc = curl("-T", str(workdir / "c.bin"), *curl_sftp_url(server, f"/{name}/c.bin"))
    assert proc.returncode == 0, proc.stderr
    assert sha256_file(disk / "c.bin") == digest
    proc = curl("-o", str(workdir / "c-back.bin"), *curl_sftp_url(server, f"/{name}/c.bin"))
    assert proc.returncode == 0, proc.stderr
    assert sha256_file(workdir / "c-back.bin") == digest
    # A directory URL lists it.
    proc = curl("-l", *curl_sftp_url(server, f"/{name}/"))
    assert proc.returncode == 0 and "c.bin" in proc.stdout.split(), proc
    # Refusals: a missing file and a download-only directory.
    proc = curl("-o", str(workdir / "none"), *curl_sftp_url(server, f"/{name}/missing.bin"))
    assert proc.returncode == 78, proc  # CURLE_REMOTE_FILE_NOT_FOUND
    proc = curl("-T", str(workdir / "c.bin"), *curl_sftp_url(server, "/outbox/c.bin"))
    assert proc.returncode == 9, proc  # CURLE_REMOTE_ACCESS_DENIED
    assert not (server.home("alice") / "outbox" / "c.bin").exists()
