"""Every SFTP v3 operation and every advertised extension, end to end with paramiko (and
OpenSSH's sftp for the big transfer), checked against the files on disk.

Extensions paramiko has no method for are sent with SFTPClient._request(CMD_EXTENDED, ...)
(private but stable since paramiko 1.x): a plain int goes on the wire as uint32, a
paramiko.py3compat.long as uint64, bytes/str as a string. Errors come back as paramiko's
status mapping: NO_SUCH_FILE -> IOError(ENOENT), PERMISSION_DENIED -> IOError(EACCES), any
other status -> IOError(message) with no errno.
"""

import errno
import hashlib
import os
import random
import stat
import struct

import paramiko
import pytest
from paramiko.py3compat import long
from paramiko.sftp import CMD_EXTENDED, CMD_EXTENDED_REPLY, CMD_OPENDIR, CMD_READDIR, CMD_CLOSE, CMD_NAME, CMD_STATUS

from conftest import (MIB, TIMEOUT, close_sftp, make_random_file, paramiko_transport, sftp_batch,
                      sftp_client, sha256_file, unique_name)

EXTENSIONS = {
    "posix-rename@openssh.com": b"1",
    "statvfs@openssh.com": b"2",
    "fstatvfs@openssh.com": b"2",
    "hardlink@openssh.com": b"1",
    "fsync@openssh.com": b"1",
    "lsetstat@openssh.com": b"1",
    "limits@openssh.com": b"1",
    "expand-path@openssh.com": b"1",
    "copy-data": b"1",
    "home-directory": b"1",
    "check-file-handle": b"1",
    "check-file-name": b"1",
}


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory.start(ftp=False, sftp=True)


@pytest.fixture
def sftp(server):
    client = sftp_client(server, "alice", key="alice")
    yield client
    close_sftp(client)


@pytest.fixture
def area(server, sftp):
    """A fresh directory in alice's home: (its virtual path, its path on disk)."""
    name = unique_name("ops")
    disk = server.home("alice") / name
    disk.mkdir()
    return "/" + name, disk


def extended(client, name, *args, reply=CMD_EXTENDED_REPLY):
    """Sends an extension request; returns the paramiko Message of its reply, which must be of
    type `reply` (None for a STATUS ok). Error statuses raise as for any request."""
    t, msg = client._request(CMD_EXTENDED, name, *args)
    if t == CMD_STATUS:
        return None  # paramiko raised for anything but OK
    assert t == reply, t
    return msg


def u64(value):
    return long(value)


def assert_io_error(excinfo, code=None, message=None):
    """paramiko's mapping of a status: code is an errno (ENOENT/EACCES) or None for FAILURE and
    OP_UNSUPPORTED, which carry only the server's message."""
    e = excinfo.value
    assert e.errno == code, (e.errno, e.args)
    if message is not None:
        assert message in str(e), str(e)


# --------------------------------------------------------------------------------------------
# Version exchange
# --------------------------------------------------------------------------------------------

def raw_init(server):
    """INIT by hand on an sftp subsystem channel; returns (version, {extension: data})."""
    transport = paramiko_transport(server, "alice", key="alice")
    try:
        chan = transport.open_session(timeout=TIMEOUT)
        chan.settimeout(TIMEOUT)
        chan.invoke_subsystem("sftp")
        chan.sendall(struct.pack(">IBI", 5, 1, 6))  # INIT, client version 6: the server says 3
        reply = b""
        while len(reply) < 4 or len(reply) < 4 + struct.unpack(">I", reply[:4])[0]:
            chunk = chan.recv(65536)
            assert chunk, "channel closed before VERSION"
            reply += chunk
    finally:
        transport.close()
    length, kind, version = struct.unpack(">IBI", reply[:9])
    assert kind == 2  # SSH_FXP_VERSION
    body, pos, pairs = reply[9:4 + length], 0, {}
    while pos < len(body):
        n = struct.unpack(">I", body[pos:pos + 4])[0]
        name = body[pos + 4:pos + 4 + n].decode()
        pos += 4 + n
        n = struct.unpack(">I", body[pos:pos + 4])[0]
        pairs[name] = body[pos + 4:pos + 4 + n]
        pos += 4 + n
    return version, pairs


def test_version_3_advertises_every_extension(server):
    version, pairs = raw_init(server)
    assert version == 3
    assert pairs == EXTENSIONS


# --------------------------------------------------------------------------------------------
# Files: open, read, write, append, close
# --------------------------------------------------------------------------------------------

def test_random_offset_writes_and_reads(sftp, area):
    path, disk = area
    rng = random.Random(1234)
    model = bytearray(os.urandom(MIB))
    with sftp.open(f"{path}/random.bin", "wb") as f:
        f.write(bytes(model))
    with sftp.open(f"{path}/random.bin", "r+b") as f:
        for _ in range(40):
            offset = rng.randrange(0, len(model) + 4096)
            data = os.urandom(rng.randrange(1, 70000))
            f.seek(offset)
            f.write(data)
            if offset > len(model):
                model.extend(b"\0" * (offset - len(model)))  # a write past the end leaves a hole
            model[offset:offset + len(data)] = data
        f.flush()
        assert f.stat().st_size == len(model)
        for _ in range(40):
            offset = rng.randrange(0, len(model))
            length = rng.randrange(1, 300000)
            f.seek(offset)
            assert f.read(length) == bytes(model[offset:offset + length])
        # Reading at or past the end: EOF, an empty read.
        f.seek(len(model) + 10)
        assert f.read(100) == b""
        # readv: several ranges in one go (pipelined READs).
        ranges = [(rng.randrange(0, len(model) - 5000), rng.randrange(1, 5000)) for _ in range(20)]
        for (offset, length), chunk in zip(ranges, f.readv(ranges)):
            assert chunk == bytes(model[offset:offset + length])
    assert (disk / "random.bin").read_bytes() == bytes(model)


def test_append_mode_appends_whatever_the_offset(sftp, area):
    path, disk = area
    (disk / "log.txt").write_bytes(b"first\n")
    with sftp.open(f"{path}/log.txt", "a") as f:
        f.write(b"second\n")
        # A WRITE at offset 0 on a handle opened with APPEND still goes to the end (as
        # OpenSSH's sftp-server: O_APPEND).
        sftp._request(paramiko.sftp.CMD_WRITE, f.handle, u64(0), b"third\n")
    assert (disk / "log.txt").read_bytes() == b"first\nsecond\nthird\n"


def test_open_flags(sftp, area):
    path, disk = area
    (disk / "exists.txt").write_bytes(b"old content")
    # "x": CREATE|EXCL refuses an existing file.
    with pytest.raises(IOError) as excinfo:
        sftp.open(f"{path}/exists.txt", "x")
    assert_io_error(excinfo, None, "File exists")
    # "w": TRUNC empties it.
    with sftp.open(f"{path}/exists.txt", "w") as f:
        f.write(b"new")
    assert (disk / "exists.txt").read_bytes() == b"new"
    # Reading a missing file: ENOENT; a handle opened for reading cannot write.
    with pytest.raises(IOError) as excinfo:
        sftp.open(f"{path}/missing.txt", "r")
    assert_io_error(excinfo, errno.ENOENT)
    with sftp.open(f"{path}/exists.txt", "r") as f:
        with pytest.raises(IOError):
            sftp._request(paramiko.sftp.CMD_WRITE, f.handle, u64(0), b"x")
    assert (disk / "exists.txt").read_bytes() == b"new"
    # The permissions sent with OPEN are the new file's mode.
    with sftp.open(f"{path}/private.txt", "w") as f:
        f.chmod(0o600)
    assert stat.S_IMODE((disk / "private.txt").stat().st_mode) == 0o600


@pytest.mark.parametrize("size", [0, MIB])
def test_round_trip_with_paramiko(sftp, area, workdir, size):
    path, disk = area
    digest = make_random_file(workdir / "up.bin", size)
    attrs = sftp.put(str(workdir / "up.bin"), f"{path}/up.bin")
    assert attrs.st_size == size
    sftp.get(f"{path}/up.bin", str(workdir / "down.bin"))
    assert sha256_file(workdir / "down.bin") == digest
    assert sha256_file(disk / "up.bin") == digest


def test_256_mib_round_trip_with_openssh_sftp(server, area, workdir):
    path, disk = area
    digest = make_random_file(workdir / "big.bin", 256 * MIB)
    proc = sftp_batch(server, [f"put big.bin {path}/big.bin", f"get {path}/big.bin big-back.bin"],
                      key="alice", cwd=workdir, timeout=300,
                      options=["-o", "Ciphers=aes128-gcm@openssh.com"])
    assert proc.returncode == 0, proc.stderr
    assert sha256_file(disk / "big.bin") == digest
    assert sha256_file(workdir / "big-back.bin") == digest
    (disk / "big.bin").unlink()


# --------------------------------------------------------------------------------------------
# Attributes
# --------------------------------------------------------------------------------------------

def test_stat_lstat_fstat(sftp, area):
    path, disk = area
    (disk / "file.txt").write_bytes(b"12345")
    os.chmod(disk / "file.txt", 0o640)
    os.utime(disk / "file.txt", (1_000_000_000, 1_234_567_890))
    os.symlink("file.txt", disk / "link")
    st = sftp.stat(f"{path}/file.txt")
    assert (st.st_size, st.st_mtime, st.st_atime) == (5, 1_234_567_890, 1_000_000_000)
    assert st.st_mode == stat.S_IFREG | 0o640
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    followed = sftp.stat(f"{path}/link")
    assert followed.st_mode == st.st_mode and followed.st_size == 5
    link = sftp.lstat(f"{path}/link")
    assert stat.S_ISLNK(link.st_mode) and link.st_size == len("file.txt")
    assert stat.S_ISDIR(sftp.stat(path).st_mode)
    with sftp.open(f"{path}/file.txt", "r") as f:
        fst = f.stat()
        assert (fst.st_size, fst.st_mode, fst.st_mtime) == (5, st.st_mode, st.st_mtime)
    with pytest.raises(IOError) as excinfo:
        sftp.stat(f"{path}/nothing")
    assert_io_error(excinfo, errno.ENOENT)
    with pytest.raises(IOError) as excinfo:
        sftp.stat(f"{path}/file.txt/below")  # ENOTDIR reads as "no such file" in v3
    assert_io_error(excinfo, errno.ENOENT)


def test_setstat_chmod_truncate_utime(sftp, area):
    path, disk = area
    (disk / "f.bin").write_bytes(b"0123456789")
    sftp.chmod(f"{path}/f.bin", 0o604)
    assert stat.S_IMODE((disk / "f.bin").stat().st_mode) == 0o604
    sftp.truncate(f"{path}/f.bin", 4)
    assert (disk / "f.bin").read_bytes() == b"0123"
    sftp.truncate(f"{path}/f.bin", 8)  # growing pads with zeros
    assert (disk / "f.bin").read_bytes() == b"0123\0\0\0\0"
    sftp.utime(f"{path}/f.bin", (1_111_111_111, 1_222_222_222))
    st = (disk / "f.bin").stat()
    assert (int(st.st_atime), int(st.st_mtime)) == (1_111_111_111, 1_222_222_222)
    # The owner may be "set" to what it is (put -p does that), never given away.
    sftp.chown(f"{path}/f.bin", os.getuid(), os.getgid())
    with pytest.raises(IOError) as excinfo:
        sftp.chown(f"{path}/f.bin", os.getuid() + 1, os.getgid())
    assert_io_error(excinfo, errno.EACCES)
    assert (disk / "f.bin").stat().st_uid == os.getuid()
    with pytest.raises(IOError) as excinfo:
        sftp.chmod(f"{path}/missing", 0o600)
    assert_io_error(excinfo, errno.ENOENT)


def test_fsetstat_chmod_truncate_utime(sftp, area):
    path, disk = area
    (disk / "g.bin").write_bytes(b"abcdefgh")
    with sftp.open(f"{path}/g.bin", "r+") as f:
        f.chmod(0o611)
        f.truncate(3)
        f.utime((1_300_000_000, 1_400_000_000))
        assert f.stat().st_size == 3
    st = (disk / "g.bin").stat()
    assert stat.S_IMODE(st.st_mode) == 0o611
    assert (disk / "g.bin").read_bytes() == b"abc"
    assert int(st.st_mtime) == 1_400_000_000


# --------------------------------------------------------------------------------------------
# Directories
# --------------------------------------------------------------------------------------------

def read_directory_batches(client, path):
    """OPENDIR + READDIR until EOF by hand; returns the list of NAME batches (lists of names)."""
    t, msg = client._request(CMD_OPENDIR, path)
    handle = msg.get_binary()
    batches = []
    try:
        while True:
            try:
                t, msg = client._request(CMD_READDIR, handle)
            except EOFError:
                return batches
            assert t == CMD_NAME
            names = []
            for _ in range(msg.get_int()):
                names.append(msg.get_text())
                msg.get_text()  # longname
                paramiko.SFTPAttributes._from_msg(msg)
            batches.append(names)
    finally:
        client._request(CMD_CLOSE, handle)


def test_listing_500_entries_comes_in_batches(sftp, area):
    path, disk = area
    expected = {}
    for i in range(500):
        name = f"entry-{i:03d}.dat"
        (disk / name).write_bytes(b"x" * i)
        expected[name] = i
    (disk / "subdir").mkdir()
    listed = {a.filename: a for a in sftp.listdir_attr(path)}
    assert set(listed) == set(expected) | {"subdir"}  # no "." or ".." either
    for name, size in expected.items():
        assert listed[name].st_size == size and stat.S_ISREG(listed[name].st_mode)
        assert name in listed[name].longname and listed[name].longname.startswith("-")
    assert stat.S_ISDIR(listed["subdir"].st_mode) and listed["subdir"].longname.startswith("d")
    batches = read_directory_batches(sftp, path)
    assert sum(len(b) for b in batches) == 501
    assert len(batches) >= 6 and all(0 < len(b) <= 100 for b in batches)
    assert len({n for b in batches for n in b}) == 501  # no entry twice


def test_mkdir_rmdir_remove(sftp, area):
    path, disk = area
    sftp.mkdir(f"{path}/d", 0o750)
    assert (disk / "d").is_dir() and stat.S_IMODE((disk / "d").stat().st_mode) == 0o750
    with pytest.raises(IOError) as excinfo:
        sftp.mkdir(f"{path}/d")
    assert_io_error(excinfo, None, "File exists")
    (disk / "d" / "inner.txt").write_bytes(b"x")
    with pytest.raises(IOError) as excinfo:
        sftp.rmdir(f"{path}/d")
    assert_io_error(excinfo, None, "Directory not empty")
    assert (disk / "d" / "inner.txt").exists()
    with pytest.raises(IOError) as excinfo:
        sftp.remove(f"{path}/d")  # REMOVE is for files
    assert (disk / "d").is_dir()
    sftp.remove(f"{path}/d/inner.txt")
    assert not (disk / "d" / "inner.txt").exists()
    with pytest.raises(IOError) as excinfo:
        sftp.remove(f"{path}/d/inner.txt")
    assert_io_error(excinfo, errno.ENOENT)
    sftp.rmdir(f"{path}/d")
    assert not (disk / "d").exists()
    with pytest.raises(IOError) as excinfo:
        sftp.rmdir(f"{path}/d")
    assert_io_error(excinfo, errno.ENOENT)


def test_realpath(sftp, area):
    path, disk = area
    (disk / "b").mkdir()
    os.symlink("b", disk / "to-b")
    assert sftp.normalize(".") == "/"
    assert sftp.normalize("..") == "/"
    assert sftp.normalize("/..") == "/"
    assert sftp.normalize("") == "/"
    assert sftp.normalize(f"{path}/a/../b") == f"{path}/b"
    assert sftp.normalize(f"{path[1:]}/./b/") == f"{path}/b"
    assert sftp.normalize(f"{path}/to-b") == f"{path}/b"  # symlinks resolved
    assert sftp.normalize(f"{path}/b/new-file") == f"{path}/b/new-file"  # last part may be missing
    with pytest.raises(IOError) as excinfo:
        sftp.normalize(f"{path}/missing/new-file")
    assert_io_error(excinfo, errno.ENOENT)


def test_rename_refuses_an_existing_target_posix_rename_replaces(sftp, area):
    path, disk = area
    (disk / "a.txt").write_bytes(b"A")
    (disk / "b.txt").write_bytes(b"B")
    with pytest.raises(IOError) as excinfo:
        sftp.rename(f"{path}/a.txt", f"{path}/b.txt")
    assert_io_error(excinfo, None, "File exists")
    assert (disk / "a.txt").read_bytes() == b"A" and (disk / "b.txt").read_bytes() == b"B"
    sftp.rename(f"{path}/a.txt", f"{path}/c.txt")
    assert not (disk / "a.txt").exists() and (disk / "c.txt").read_bytes() == b"A"
    sftp.posix_rename(f"{path}/c.txt", f"{path}/b.txt")
    assert sorted(p.name for p in disk.iterdir()) == ["b.txt"]
    assert (disk / "b.txt").read_bytes() == b"A"
    with pytest.raises(IOError) as excinfo:
        sftp.rename(f"{path}/gone.txt", f"{path}/x.txt")
    assert_io_error(excinfo, errno.ENOENT)


def test_symlink_and_readlink(sftp, area):
    path, disk = area
    (disk / "target.txt").write_bytes(b"pointed at")
    sftp.symlink("target.txt", f"{path}/link")  # paramiko: (source=target, dest=new link)
    assert os.readlink(disk / "link") == "target.txt"
    assert sftp.readlink(f"{path}/link") == "target.txt"
    with sftp.open(f"{path}/link", "r") as f:
        assert f.read() == b"pointed at"
    with pytest.raises(IOError) as excinfo:
        sftp.readlink(f"{path}/target.txt")  # not a link: EINVAL, BAD_MESSAGE as in OpenSSH
    assert_io_error(excinfo, None, "Invalid argument")
    with pytest.raises(IOError) as excinfo:
        sftp.symlink("target.txt", f"{path}/link")  # the name is taken
    assert_io_error(excinfo, None, "File exists")


# --------------------------------------------------------------------------------------------
# Extensions
# --------------------------------------------------------------------------------------------

def read_statvfs(msg):
    return [msg.get_int64() for _ in range(11)]


def test_statvfs_and_fstatvfs(sftp, server, area):
    path, disk = area
    (disk / "f").write_bytes(b"x")
    local = os.statvfs(disk)
    bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flags, namemax = \
        read_statvfs(extended(sftp, "statvfs@openssh.com", path))
    assert (bsize, frsize, blocks, files, namemax) == \
        (local.f_bsize, local.f_frsize, local.f_blocks, local.f_files, local.f_namemax)
    assert 0 < bavail <= bfree <= blocks and 0 < favail <= ffree <= files
    with sftp.open(f"{path}/f", "r") as f:
        assert read_statvfs(extended(sftp, "fstatvfs@openssh.com", f.handle))[2] == blocks
    with pytest.raises(IOError) as excinfo:
        extended(sftp, "statvfs@openssh.com", f"{path}/missing")
    assert_io_error(excinfo, errno.ENOENT)


def test_hardlink(sftp, area):
    path, disk = area
    (disk / "orig").write_bytes(b"linked")
    assert extended(sftp, "hardlink@openssh.com", f"{path}/orig", f"{path}/twin") is None
    assert (disk / "twin").stat().st_ino == (disk / "orig").stat().st_ino
    assert (disk / "orig").stat().st_nlink == 2
    with pytest.raises(IOError) as excinfo:
        extended(sftp, "hardlink@openssh.com", f"{path}/orig", f"{path}/twin")
    assert_io_error(excinfo, None, "File exists")


def test_fsync(sftp, area):
    path, disk = area
    with sftp.open(f"{path}/synced", "w") as f:
        f.write(b"durable")
        f.flush()
        assert extended(sftp, "fsync@openssh.com", f.handle) is None
        assert (disk / "synced").read_bytes() == b"durable"
    with pytest.raises(IOError) as excinfo:
        extended(sftp, "fsync@openssh.com", f.handle)  # closed: the handle is stale
    assert_io_error(excinfo, None, "Invalid handle")


def test_lsetstat_changes_the_link_not_its_target(sftp, area):
    path, disk = area
    (disk / "target").write_bytes(b"t")
    os.utime(disk / "target", (1_000_000_000, 1_000_000_000))
    os.symlink("target", disk / "link")
    attrs = paramiko.SFTPAttributes()
    attrs.st_atime, attrs.st_mtime = 1_500_000_000, 1_600_000_000
    assert extended(sftp, "lsetstat@openssh.com", f"{path}/link", attrs) is None
    assert int(os.lstat(disk / "link").st_mtime) == 1_600_000_000
    assert int((disk / "target").stat().st_mtime) == 1_000_000_000
    # setstat on the same link follows it.
    sftp.utime(f"{path}/link", (1_700_000_000, 1_700_000_000))
    assert int((disk / "target").stat().st_mtime) == 1_700_000_000
    assert int(os.lstat(disk / "link").st_mtime) == 1_600_000_000


def test_limits(sftp):
    msg = extended(sftp, "limits@openssh.com")
    max_packet, max_read, max_write, max_handles = (msg.get_int64() for _ in range(4))
    assert max_packet >= 34000 and 32768 <= max_read < max_packet and 32768 <= max_write < max_packet
    assert max_handles > 0
    # The advertised maximum read is what a READ answers at most.
    data = os.urandom(max_read + 4096)
    with sftp.open("limits-probe.bin", "w") as f:
        f.write(data)
    with sftp.open("limits-probe.bin", "r") as f:
        t, reply = sftp._request(paramiko.sftp.CMD_READ, f.handle, u64(0), max_read + 4096)
        assert reply.get_binary() == data[:max_read]
    sftp.remove("limits-probe.bin")


def name_reply(client, name, *args):
    """The one name of a NAME reply to an extension (expand-path, home-directory)."""
    msg = extended(client, name, *args, reply=CMD_NAME)
    assert msg.get_int() == 1
    return msg.get_text()


def test_expand_path_and_home_directory(sftp, area):
    path, disk = area
    for request, expected in (("~", "/"), ("~/", "/"), (f"~{path}", path), (f"~alice{path}/x", f"{path}/x"),
                              (".", "/"), (f"{path}/../{path[1:]}", path)):
        assert name_reply(sftp, "expand-path@openssh.com", request) == expected, request
    with pytest.raises(IOError) as excinfo:
        extended(sftp, "expand-path@openssh.com", "~bob")  # another user's home is not revealed
    assert_io_error(excinfo, errno.ENOENT)
    assert name_reply(sftp, "home-directory", "") == "/"
    assert name_reply(sftp, "home-directory", "alice") == "/"
    with pytest.raises(IOError) as excinfo:
        extended(sftp, "home-directory", "bob")
    assert_io_error(excinfo, None, "No such user")


def test_copy_data(sftp, area):
    path, disk = area
    source = os.urandom(300_000)
    (disk / "src").write_bytes(source)
    (disk / "dst").write_bytes(b"D" * 10)
    with sftp.open(f"{path}/src", "r") as src, sftp.open(f"{path}/dst", "r+") as dst:
        # A range into the middle of the target, then the whole rest (length 0: to EOF).
        extended(sftp, "copy-data", src.handle, u64(1000), u64(5000), dst.handle, u64(4))
        extended(sftp, "copy-data", src.handle, u64(200_000), u64(0), dst.handle, u64(10_000))
        # Source not opened for writing as a target: refused.
        with pytest.raises(IOError) as excinfo:
            extended(sftp, "copy-data", dst.handle, u64(0), u64(1), src.handle, u64(0))
        assert_io_error(excinfo, errno.EACCES)
        # Overlapping ranges of one file: refused.
        with pytest.raises(IOError) as excinfo:
            extended(sftp, "copy-data", dst.handle, u64(0), u64(100), dst.handle, u64(50))
        assert_io_error(excinfo, None, "Source and destination overlap")
    expected = bytearray(b"D" * 10)
    expected[4:5004] = source[1000:6000]
    expected.extend(b"\0" * (10_000 - len(expected)))
    expected[10_000:] = source[200_000:]
    assert (disk / "dst").read_bytes() == bytes(expected)


def check_file_hashes(msg):
    algorithm = msg.get_text()
    rest = msg.get_remainder()
    return algorithm, rest


@pytest.mark.parametrize("algorithm, hasher", [("sha256", hashlib.sha256), ("sha1", hashlib.sha1),
                                               ("md5", hashlib.md5)])
def test_check_file_name_and_handle(sftp, area, algorithm, hasher):
    path, disk = area
    data = os.urandom(10_000)
    (disk / "h.bin").write_bytes(data)

    def expected(offset, length, block):
        piece = data[offset:offset + length] if length else data[offset:]
        if not block:
            return hasher(piece).digest()
        return b"".join(hasher(piece[i:i + block]).digest() for i in range(0, len(piece), block))

    cases = [(0, 0, 0), (100, 5000, 0), (0, 0, 4096), (1, 9000, 256), (9999, 0, 0)]
    for offset, length, block in cases:
        got = check_file_hashes(extended(sftp, "check-file-name", f"{path}/h.bin", f"{algorithm}",
                                         u64(offset), u64(length), block))
        assert got == (algorithm, expected(offset, length, block)), (offset, length, block)
    with sftp.open(f"{path}/h.bin", "r") as f:
        for offset, length, block in cases:
            got = check_file_hashes(extended(sftp, "check-file-handle", f.handle, algorithm,
                                             u64(offset), u64(length), block))
            assert got == (algorithm, expected(offset, length, block))
    # The first algorithm of the client's list that the server knows is used.
    got = check_file_hashes(extended(sftp, "check-file-name", f"{path}/h.bin", f"crc32,{algorithm}",
                                     u64(0), u64(0), 0))
    assert got == (algorithm, hasher(data).digest())


def test_check_file_refusals(sftp, area):
    path, disk = area
    (disk / "h.bin").write_bytes(b"x" * 1000)
    with pytest.raises(IOError) as excinfo:
        extended(sftp, "check-file-name", f"{path}/h.bin", "crc32", u64(0), u64(0), 0)
    assert_io_error(excinfo, None, "No supported hash algorithm")
    with pytest.raises(IOError) as excinfo:
        extended(sftp, "check-file-name", f"{path}/h.bin", "sha256", u64(0), u64(0), 255)
    assert_io_error(excinfo, None, "Block size below 256")
    with pytest.raises(IOError) as excinfo:
        extended(sftp, "check-file-name", f"{path}/missing", "sha256", u64(0), u64(0), 0)
    assert_io_error(excinfo, errno.ENOENT)
    with sftp.open(f"{path}/w.bin", "w") as f:  # write-only handle: no hashing through it
        with pytest.raises(IOError) as excinfo:
            extended(sftp, "check-file-handle", f.handle, "sha256", u64(0), u64(0), 0)
        assert_io_error(excinfo, errno.EACCES)


def test_a_long_check_file_does_not_hold_up_other_sessions(server_factory):
    """With one worker thread, a check-file over 2 GiB runs in slices: another user's session is
    served while it hashes, and the hash is still that of the whole file."""
    srv = server_factory.start(ftp=False, sftp=True,
                               extra={"runtime": {"worker_threads": 1},
                                      "limits": {"sftp_request_slice": MIB}})
    size = 2048 * MIB
    with open(srv.home("alice") / "big.bin", "wb") as f:
        f.truncate(size)  # sparse: no disk space, and reading it is quick for the server
    alice, bob = sftp_client(srv, "alice"), sftp_client(srv, "bob")
    try:
        num = alice._async_request(type(None), CMD_EXTENDED, "check-file-name", "/big.bin", "sha256",
                                   u64(0), u64(0), 0)
        for _ in range(5):
            assert bob.listdir("/") is not None
        # Bob was served while alice's hash was still running: its reply has not arrived.
        assert not alice.sock.recv_ready()
        t, msg = alice._read_response(num)
        assert t == CMD_EXTENDED_REPLY
        expected = hashlib.sha256()
        zeros = bytes(16 * MIB)
        for _ in range(size // len(zeros)):
            expected.update(zeros)
        assert check_file_hashes(msg) == ("sha256", expected.digest())
    finally:
        close_sftp(alice)
        close_sftp(bob)


# --------------------------------------------------------------------------------------------
# Error statuses as the client sees them
# --------------------------------------------------------------------------------------------

def test_error_mapping(sftp, area, server):
    path, disk = area
    with pytest.raises(IOError) as excinfo:
        sftp.open(f"{path}/no/such/file", "r")
    assert_io_error(excinfo, errno.ENOENT, "No such file")
    # /outbox is download-only (elr) for alice: PERMISSION_DENIED.
    with pytest.raises(IOError) as excinfo:
        sftp.open("/outbox/new.txt", "w")
    assert_io_error(excinfo, errno.EACCES, "Permission denied")
    assert not (server.home("alice") / "outbox" / "new.txt").exists()
    # FAILURE: a plain IOError with the server's message.
    (disk / "dir").mkdir()
    with pytest.raises(IOError) as excinfo:
        sftp.open(f"{path}/dir", "w")
    assert_io_error(excinfo, None, "Is a directory")
    # OP_UNSUPPORTED: an extension nobody implements.
    with pytest.raises(IOError) as excinfo:
        extended(sftp, "nonexistent@example.com", "arg")
    assert_io_error(excinfo, None, "Unsupported extension")
    # The session goes on after every one of them.
    assert sftp.normalize(".") == "/"
