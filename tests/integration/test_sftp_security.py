"""Confinement over SFTP: `..` beyond the root, host paths, symlinks placed in the home that
point outside it, and symlinks the client makes itself. Nothing outside the home is read,
listed, written or revealed, and REALPATH never names a path outside "/".

Each test runs for alice (who has per-directory rules, so the permission layer resolves
where paths lead) and for bob (given every letter and no rules here, so only the filesystem
layer stands between him and the host).
"""

import errno
import os
import stat

import paramiko
import pytest
from paramiko.py3compat import long
from paramiko.sftp import CMD_EXTENDED

from conftest import close_sftp, plant_outside_links, sftp_client

SECRET = b"TOP-SECRET outside the FTP root\n"
USERS = ["alice", "bob"]


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory.start(ftp=False, sftp=True,
                                       user_extra={"bob": {"permissions": "elradfmwMT"}})


@pytest.fixture(params=USERS)
def user(request):
    return request.param


@pytest.fixture
def sftp(server, user):
    client = sftp_client(server, user, key=user)
    yield client
    close_sftp(client)


def assert_outside_untouched(server):
    outside = server.outside
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"], list(outside.iterdir())
    assert (outside / "secret.txt").read_bytes() == SECRET
    assert stat.S_IMODE((outside / "secret.txt").stat().st_mode) == 0o644


@pytest.fixture
def links(server, user):
    """Symlinks in the user's home pointing outside it, absolute and relative."""
    home = server.home(user)
    os.chmod(server.outside / "secret.txt", 0o644)
    made = plant_outside_links(server, home)
    (home / "mine.txt").write_bytes(b"mine")
    yield home
    for name in made:
        if os.path.lexists(home / name):
            os.unlink(home / name)
    assert_outside_untouched(server)


def refused(call, *args):
    """Runs an SFTP call that must fail; returns the IOError."""
    with pytest.raises(IOError) as excinfo:
        call(*args)
    return excinfo.value


def assert_cannot_read(sftp, path):
    e = refused(lambda: sftp.open(path, "r").read())
    assert e.errno in (errno.ENOENT, errno.EACCES), (path, e)
    refused(sftp.stat, path)


def extended(sftp, name, *args):
    return sftp._request(CMD_EXTENDED, name, *args)


# --------------------------------------------------------------------------------------------
# Lexical escapes and host paths
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "../outside/secret.txt", "../../outside/secret.txt", "/../outside/secret.txt",
    "/./../outside/secret.txt", "..//outside/secret.txt", "{outside}/secret.txt",
    "{root}/outside/secret.txt", "../../../../etc/passwd", "/etc/passwd", "/proc/self/environ",
])
def test_paths_outside_the_home_are_not_reachable(server, sftp, path):
    path = path.format(outside=server.outside, root=server.root)
    assert_cannot_read(sftp, path)
    assert refused(sftp.remove, path).errno in (errno.ENOENT, errno.EACCES)
    refused(sftp.chmod, path, 0o666)
    refused(extended, sftp, "check-file-name", path, "sha256", long(0), long(0), 0)
    assert_outside_untouched(server)


def test_writes_to_host_paths_stay_inside(server, sftp, user):
    outside = str(server.outside)
    refused(lambda: sftp.open(f"{outside}/planted.txt", "w"))
    refused(sftp.mkdir, f"{outside}/planted-dir")
    # "../x" is "/x": created in the home, not beside it.
    with sftp.open("../../climbed.txt", "w") as f:
        f.write(b"inside")
    assert (server.home(user) / "climbed.txt").read_bytes() == b"inside"
    assert not (server.root / "climbed.txt").exists()
    sftp.remove("/climbed.txt")
    assert_outside_untouched(server)


def test_parent_of_root_lists_the_home(server, sftp, user):
    (server.home(user) / "marker-in-home").write_bytes(b"x")
    for path in ("..", "../..", "/..", "/../../"):
        names = sftp.listdir(path)
        assert "marker-in-home" in names, path
        for sibling in ("outside", "alice", "bob", "pub", "filegate.yaml"):
            assert sibling not in names, (path, sibling)


@pytest.mark.parametrize("path", [".", "..", "/..", "../../..", "/a/../../..", "..//..", ""])
def test_realpath_never_leaves_the_root(sftp, path):
    assert sftp.normalize(path) == "/"


# --------------------------------------------------------------------------------------------
# Symlinks placed on the host
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/abs_file", "/rel_file", "/abs_dir/secret.txt", "/rel_dir/secret.txt"])
def test_symlinked_file_outside_cannot_be_read(server, sftp, links, path):
    assert_cannot_read(sftp, path)
    refused(extended, sftp, "check-file-name", path, "sha256", long(0), long(0), 0)
    # REALPATH does not reveal where the link leads.
    try:
        resolved = sftp.normalize(path)
    except IOError:
        resolved = None
    assert resolved is None or (resolved.startswith("/") and str(server.root) not in resolved)


@pytest.mark.parametrize("link", ["/abs_dir", "/rel_dir"])
def test_symlinked_directory_outside_cannot_be_listed(server, sftp, links, link):
    refused(sftp.listdir, link)
    refused(sftp.listdir, link + "/")
    refused(sftp.listdir, link + "/.")
    refused(extended, sftp, "statvfs@openssh.com", link)


@pytest.mark.parametrize("link", ["/abs_dir", "/rel_dir"])
def test_symlinked_directory_outside_cannot_be_written(server, sftp, links, link):
    refused(lambda: sftp.open(f"{link}/planted", "w"))
    refused(sftp.mkdir, f"{link}/newdir")
    refused(sftp.remove, f"{link}/secret.txt")
    refused(sftp.rename, f"{link}/secret.txt", "/stolen.txt")
    refused(sftp.rename, "/mine.txt", f"{link}/moved.txt")
    refused(sftp.posix_rename, "/mine.txt", f"{link}/secret.txt")
    refused(sftp.symlink, "/mine.txt", f"{link}/planted-link")
    refused(extended, sftp, "hardlink@openssh.com", f"{link}/secret.txt", "/stolen-hard")
    refused(extended, sftp, "hardlink@openssh.com", "/mine.txt", f"{link}/planted-hard")
    refused(sftp.chmod, f"{link}/secret.txt", 0o666)
    refused(sftp.utime, f"{link}/secret.txt", (0, 0))
    refused(sftp.truncate, f"{link}/secret.txt", 0)
    assert (links / "mine.txt").read_bytes() == b"mine"
    assert not (links / "stolen.txt").exists() and not (links / "stolen-hard").exists()


@pytest.mark.parametrize("link", ["/abs_file", "/rel_file"])
def test_symlinked_file_outside_cannot_be_modified(server, sftp, user, links, link):
    target = os.readlink(links / link[1:])
    for mode in ("w", "a", "r+"):
        try:
            with sftp.open(link, mode) as f:
                f.write(b"overwritten")
        except IOError:
            continue
        # Acceptable only if the link itself was replaced, never followed.
        assert not os.path.islink(links / link[1:])
        os.unlink(links / link[1:])
        os.symlink(target, links / link[1:])
    refused(sftp.chmod, link, 0o666)
    refused(sftp.utime, link, (0, 0))
    refused(sftp.truncate, link, 0)
    # lsetstat acts on the link itself, which lives in the home: whatever it does, the
    # target keeps its times.
    before = os.stat(server.outside / "secret.txt").st_mtime
    attrs = paramiko.SFTPAttributes()
    attrs.st_atime = attrs.st_mtime = 1_000_000_000
    try:
        extended(sftp, "lsetstat@openssh.com", link, attrs)
    except IOError:
        pass
    assert os.stat(server.outside / "secret.txt").st_mtime == before
    # Removing or renaming the link touches the link, never the file. (With per-directory
    # rules a link that leads nowhere inside the home gets no letters, so alice is refused.)
    try:
        sftp.rename(link, link + "-renamed")
        sftp.remove(link + "-renamed")
    except IOError as e:
        assert e.errno == errno.EACCES and user == "alice", e
        assert os.readlink(links / link[1:]) == target
    else:
        assert not os.path.lexists(links / link[1:])
        assert not os.path.lexists(links / (link[1:] + "-renamed"))
        os.symlink(target, links / link[1:])  # for the fixture's clean-up


def test_directory_swapped_for_a_symlink_under_an_open_handle(server, sftp, user):
    home = server.home(user)
    swap = home / "swap"
    swap.mkdir()
    (swap / "inside.txt").write_bytes(b"inside")
    assert sftp.stat("/swap/inside.txt").st_size == 6
    (swap / "inside.txt").unlink()
    swap.rmdir()
    os.symlink(server.outside, swap)
    try:
        assert_cannot_read(sftp, "/swap/secret.txt")
        refused(sftp.listdir, "/swap")
        refused(lambda: sftp.open("/swap/planted", "w"))
        assert_outside_untouched(server)
    finally:
        os.unlink(swap)


# --------------------------------------------------------------------------------------------
# Symlinks made over SFTP
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["{outside}", "{outside}/secret.txt", "../../outside",
                                    "../../outside/secret.txt", "/../../outside", "/etc/passwd"])
def test_symlink_made_over_sftp_cannot_reach_outside(server, sftp, user, target):
    target = target.format(outside=server.outside)
    home = server.home(user)
    name = "made-link"
    try:
        sftp.symlink(target, f"/{name}")
    except IOError:
        assert not os.path.lexists(home / name)
        return
    try:
        # On the host the link stays below the home for any program that follows it.
        real = os.path.realpath(home / name)
        assert real == str(home) or real.startswith(str(home) + os.sep), (target, os.readlink(home / name))
        assert_cannot_read(sftp, f"/{name}")
        assert_cannot_read(sftp, f"/{name}/secret.txt")
        refused(sftp.listdir, f"/{name}")
        refused(lambda: sftp.open(f"/{name}/planted", "w"))
        assert sftp.normalize(f"/{name}").startswith("/")
        try:
            assert str(server.root) not in sftp.readlink(f"/{name}")
        except IOError as e:  # a link leading nowhere gets no letters under per-directory rules
            assert e.errno == errno.EACCES and user == "alice", e
        assert_outside_untouched(server)
    finally:
        os.unlink(home / name)


def test_symlink_made_over_sftp_with_an_absolute_target_points_into_the_home(server, sftp, user):
    home = server.home(user)
    (home / "docs").mkdir(exist_ok=True)
    (home / "docs" / "a.txt").write_bytes(b"a")
    sftp.mkdir("/deep")
    try:
        sftp.symlink("/docs/a.txt", "/deep/abs-link")
        # "/" is the home: the link works over SFTP and on the host alike.
        with sftp.open("/deep/abs-link", "r") as f:
            assert f.read() == b"a"
        assert os.path.realpath(home / "deep" / "abs-link") == str(home / "docs" / "a.txt")
    finally:
        for leftover in (home / "deep" / "abs-link",):
            if os.path.lexists(leftover):
                os.unlink(leftover)
        (home / "deep").rmdir()
