"""What ftp_bench.py and sftp_bench.py share: paths, the bench user, peers unpacked from Debian
packages, servers started under a subreaper wrapper, CPU time and PSS of a server's process
tree from /proc, and the results table. Standard library only. See bench/README.md."""

from __future__ import annotations

import argparse
import fcntl
import multiprocessing
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple, Sequence

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS = BENCH / ".peers"
PEER_ROOT = PEERS / "root"
WORK = BENCH / ".work"
SHM = Path("/dev/shm/fgbench")

USER = "fgbench"
PASSWORD = "fgbench-Pass-42"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MB = 1_000_000
GIB = 1 << 30
KIB = 1024


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# /proc helpers: process trees, CPU time, PSS


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2:].split()


def process_tree(root: int) -> list[int]:
    """root and all its live descendants (zombies included: their times are still there)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """utime+stime of every live process in the tree plus cutime+cstime (children already
    reaped). Each CPU tick is counted once: a reaped child's time moves into its parent's
    c-fields and the child leaves the tree. Threads are included in their process's fields."""
    ticks = 0
    for pid in process_tree(root):
        f = _stat_fields(pid)
        if f is not None:
            # fields after ')': state=0 ppid=1 ... utime=11 stime=12 cutime=13 cstime=14
            ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return ticks / CLK_TCK


def tree_context_switches(root: int) -> int:
    """Voluntary and involuntary context switches of every thread of every live process in the
    tree (threads hand work to each other through wake-ups, and each costs two). Processes
    already reaped are not counted."""
    total = 0
    for pid in process_tree(root):
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            try:
                for line in status.read_text().splitlines():
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
            except OSError:
                pass
    return total


def tree_pss_kib(root: int) -> int:
    total = 0
    for pid in process_tree(root):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            pass
    return total


def wait_tree_settles(root: int, baseline: int, timeout: float = 5.0) -> None:
    """Wait until a forking server has reaped the session processes of finished clients."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(process_tree(root)) > baseline:
        time.sleep(0.02)
    time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# Command line


def parse_args(doc: str, servers: Sequence[str], only_choices: Sequence[str], quick_help: str,
               reps_help: str, json_default: Path, why_root: str,
               more: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The options both benchmarks share, and a benchmark's own (`more` adds them). Adds
    servers_wanted (list) and only_set (set)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if more is not None:
        more(ap)
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument("--servers", default=",".join(servers),
                    help="comma-separated subset of: " + ", ".join(servers))
    ap.add_argument("--filegate", type=Path, default=REPO / "build/release/src/filegate",
                    help="filegate binary (default: build/release/src/filegate)")
    ap.add_argument("--reps", type=int, help=reps_help)
    ap.add_argument("--only", default=",".join(only_choices),
                    help="comma-separated subset of: " + ", ".join(only_choices))
    ap.add_argument("--hold", action="store_true",
                    help="set up and start the servers, print how to reach them, wait for ^C, "
                         "tear down (for strace/perf investigations); measures nothing")
    ap.add_argument("--json", type=Path, default=json_default, help="also write results here")
    args = ap.parse_args()

    args.servers_wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in args.servers_wanted:
        if s not in servers:
            ap.error(f"unknown server {s!r}")
    args.only_set = {s.strip() for s in args.only.split(",") if s.strip()}
    for o in args.only_set:
        if o not in only_choices:
            ap.error(f"unknown --only value {o!r}")
    if os.geteuid() != 0:
        ap.error(f"run as root: {why_root}")
    if "filegate" in args.servers_wanted and not args.filegate.exists():
        ap.error(f"{args.filegate} missing; build it with:\n  cd {REPO} && "
                 "cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFILEGATE_TESTS=OFF && "
                 "cmake --build build/release --target filegate")
    return args


class Plan(NamedTuple):
    big: int               # bytes of the one large file
    n_small: int           # small files
    small_size: int        # bytes each
    session_seconds: float
    session_clients: int
    n_idle: int            # idle sessions for the memory figure
    reps: int              # repetitions of the other figures (median)
    transfer_reps: int     # repetitions of the large-file transfers (median)


def make_plan(args: argparse.Namespace, n_idle: tuple[int, int]) -> Plan:
    """The sizes of a run; n_idle = (quick, full)."""
    q = args.quick
    # A 1 GiB transfer takes about a second and is the noisiest figure: more repetitions.
    return Plan(big=(64 << 20) if q else GIB, n_small=100 if q else 1000, small_size=4 * KIB,
                session_seconds=2.0 if q else 5.0, session_clients=8,
                n_idle=n_idle[0] if q else n_idle[1], reps=args.reps or (1 if q else 3),
                transfer_reps=args.reps or (1 if q else 5))


def hold_until_interrupted() -> None:
    """--hold: wait for ^C or SIGTERM (after interrupt_on_sigterm)."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


# --------------------------------------------------------------------------------------------
# Processes, ports, peers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, text=True, capture_output=True, **kw)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited with {done.returncode}: {done.stderr.strip()}")
    return done


def ensure_peers(needed: Iterable[Path], packages: Sequence[str], what: str) -> None:
    """apt-get download `packages` into .peers/debs and unpack every .deb there into
    .peers/root (never installed), unless all `needed` files are there already."""
    needed = list(needed)
    if all(p.exists() for p in needed):
        return
    debs = PEERS / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    log(f"fetching {what} with apt-get download (not installed, only unpacked)")
    subprocess.run(["apt-get", "download", *packages], cwd=debs, check=True,
                   stdout=subprocess.DEVNULL)
    for deb in sorted(debs.glob("*.deb")):
        run(["dpkg-deb", "-x", str(deb), str(PEER_ROOT)])
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise SystemExit(f"peer binaries missing after unpacking: {missing}")


def peer_env() -> dict:
    env = dict(os.environ)
    libs = [PEER_ROOT / "usr/lib/x86_64-linux-gnu", PEER_ROOT / "lib/x86_64-linux-gnu"]
    env["LD_LIBRARY_PATH"] = ":".join(str(p) for p in libs)
    return env


# ProFTPD 1.3.8 from Debian 12, which both scripts run: ftp_bench.py with mod_tls, sftp_bench.py
# with mod_sftp (both modules are in proftpd-mod-crypto). proftpd-core needs the
# memcached/redis/pcre2-posix libraries, which a Debian 12 base system lacks.
PROFTPD_DEBS = ("proftpd-core", "proftpd-mod-crypto", "libhiredis0.14", "libmemcached11",
                "libmemcachedutil2", "libhashkit2", "libpcre2-posix3")
PROFTPD = PEER_ROOT / "usr/sbin/proftpd"
PROFTPD_MODULES = PEER_ROOT / "usr/lib/proftpd"
PROFTPD_NEEDED = (PROFTPD, PEER_ROOT / "usr/lib/x86_64-linux-gnu/libpcre2-posix.so.3")


def proftpd_command(config: Path) -> list[str]:
    """In the foreground (-n), nothing on stderr (-q)."""
    return [str(PROFTPD), "-n", "-q", "-c", str(config)]


def proftpd_global_config(generator: str, work: Path, max_conn: int,
                          modules: Sequence[str]) -> str:
    """The server-config part of a proftpd.conf: standalone, the main server off (Port 0: the
    caller adds one <VirtualHost 127.0.0.1>), no reverse DNS, pid/scoreboard/delay files and
    the system log in `work`, no transfer or wtmp log, MaxInstances `max_conn`, and the
    shared `modules` (e.g. mod_tls.c) loaded from the unpacked packages."""
    load = "".join(f"  LoadModule {m}\n" for m in modules)
    return f"""# generated by {generator}
ServerType standalone
ServerName "proftpd bench"
Port 0
UseIPv6 off
UseReverseDNS off
User nobody
Group nogroup
PidFile {work / "proftpd.pid"}
ScoreboardFile {work / "proftpd.scoreboard"}
DelayTable {work / "proftpd.delay"}
SystemLog {work / "proftpd-system.log"}
TransferLog none
WtmpLog off
MaxInstances {max_conn}
ModulePath {PROFTPD_MODULES}
""" + (f"<IfModule mod_dso.c>\n{load}</IfModule>\n" if modules else "")


def deb_version(pkg: str) -> str:
    """Version of the newest downloaded .deb of `pkg` (apt-get download writes an epoch's
    colon as %3a)."""
    found = sorted((PEERS / "debs").glob(f"{pkg}_*.deb"), key=lambda p: p.stat().st_mtime)
    if not found:
        return "?"
    return urllib.parse.unquote(found[-1].name.split("_")[1])


def fresh_dir(path: Path) -> None:
    """An empty directory, mode 0755, in place of whatever was at `path`."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)


def bench_password_hash(filegate_bin: Path) -> str:
    """sha512-crypt (5000 rounds) of PASSWORD, from filegate's own tool when it is there."""
    if filegate_bin.exists():
        cmd = [str(filegate_bin), "passwd", "--method", "sha512crypt"]
    else:
        cmd = ["openssl", "passwd", "-6", "-stdin"]
    password_hash = run(cmd, input=PASSWORD + "\n").stdout.strip()
    assert password_hash.startswith("$6$"), password_hash
    return password_hash


def raise_nofile(want: int) -> None:
    """Raise the soft RLIMIT_NOFILE (the servers inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, want)), hard))


def _raise_interrupt(*_args) -> None:
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> None:
    """Default SIGTERM would skip the callers' finally blocks."""
    signal.signal(signal.SIGTERM, _raise_interrupt)


_LOCK = None


def single_run_lock() -> None:
    """Hold an exclusive lock on WORK/.lock until the process exits: ftp_bench.py and
    sftp_bench.py share the bench user and must not run at the same time."""
    global _LOCK
    WORK.mkdir(parents=True, exist_ok=True)
    _LOCK = open(WORK / ".lock", "w")
    try:
        fcntl.flock(_LOCK, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit("another ftp_bench.py or sftp_bench.py run holds bench/.work/.lock; "
                         "they share the bench user, so wait for it to finish")


def begin_run(nofile: int) -> None:
    """Before a run sets anything up: raise RLIMIT_NOFILE to `nofile` (the servers inherit
    it), turn SIGTERM into KeyboardInterrupt (so the teardown in the callers' finally blocks
    runs), take the single-run lock."""
    raise_nofile(nofile)
    interrupt_on_sigterm()
    single_run_lock()


def tcp_congestion_control() -> str:
    """The kernel's default TCP congestion control. It shapes loopback figures: with BBR the
    sender paces its segments and spends more CPU per byte than with CUBIC (all servers alike)."""
    try:
        return Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip()
    except OSError:
        return "unknown"


def git_describe() -> str:
    try:
        rev = run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no",
                     "--", "src"]).stdout.strip()
        return rev + (" + uncommitted changes in src/" if dirty else "")
    except (RuntimeError, FileNotFoundError):
        return "?"


# --------------------------------------------------------------------------------------------
# Servers


@dataclass
class Server:
    name: str
    home: Path
    port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    version: str = ""
    extra: dict = field(default_factory=dict)

    server_pid: int = 0  # the server's main process, a child of the reaper (self.pid)
    base_procs: int = 0  # processes in the tree while the server is idle

    @property
    def pid(self) -> int:
        """The reaper wrapper's pid: the root of the tree whose CPU time is measured."""
        assert self.proc is not None
        return self.proc.pid


# Each server runs under this wrapper. It is a child subreaper: a session process whose own
# parent exits without reaping it (vsftpd's session processes do this) is re-parented to the
# wrapper, not to init, and reaped here, so its CPU time lands in the wrapper's
# cutime/cstime and stays in the measured tree. (Making the listener itself the subreaper
# does not work: vsftpd's listener aborts when it reaps a pid it did not fork.)
REAPER = r"""
import ctypes, os, signal, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
server = os.fork()
if server == 0:
    os.execv(sys.argv[1], sys.argv[1:])
def forward(sig, _frame):
    try:
        os.kill(server, sig)
    except ProcessLookupError:
        pass
signal.signal(signal.SIGTERM, forward)
signal.signal(signal.SIGINT, forward)
while True:
    pid, status = os.wait()
    if pid == server:
        sys.exit(min(abs(os.waitstatus_to_exitcode(status)), 255))
"""


def launch(s: Server, cmd: list[str], env: dict | None, ready: Callable[[], None],
           timeout: float = 15) -> None:
    """Start `cmd` under the reaper with its output in WORK/<name>.log, then call `ready()`
    until it returns without raising OSError or RuntimeError."""
    s.log_path = WORK / f"{s.name}.log"
    out = open(s.log_path, "w+")
    # Own session: a terminal ^C reaches only this script, which then tears down in order.
    # stdin is the log too: vsftpd writes its "500 OOPS" start-up errors to fd 0.
    s.proc = subprocess.Popen([sys.executable, "-c", REAPER, *cmd], stdin=out, stdout=out,
                              stderr=out, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while True:
        if s.proc.poll() is not None:
            raise RuntimeError(f"{s.name} exited with {s.proc.returncode}: "
                               f"{s.log_path.read_text()[-2000:]}")
        try:
            ready()
            break
        except (OSError, RuntimeError) as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{s.name} not ready on port {s.port}: {e}; "
                                   f"log: {s.log_path.read_text()[-2000:]}")
            time.sleep(0.1)
    wait_tree_settles(s.pid, 2)
    s.base_procs = len(process_tree(s.pid))
    s.server_pid = process_tree(s.pid)[1]
    log(f"{s.name} pid {s.server_pid} ready on 127.0.0.1:{s.port}")


def stop_server(s: Server) -> None:
    if s.proc is None or s.proc.poll() is not None:
        s.proc = None
        return
    tree = process_tree(s.pid)
    s.proc.terminate()
    try:
        s.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        s.proc.kill()
        s.proc.wait()
    # Session processes of forking servers that outlived their listener.
    for pid in tree[1:]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    s.proc = None


# --------------------------------------------------------------------------------------------
# Session figures


def _session_worker(setup: Callable[[], Callable[[], None]], errors: tuple, start: float,
                    stop: float, queue) -> None:
    one_session = setup()
    done = failed = 0
    while time.time() < start:
        time.sleep(0.001)
    end = start
    cpu0 = time.process_time()
    while time.time() < stop:
        try:
            one_session()
            done += 1
        except errors:
            failed += 1
        end = time.time()
    queue.put((done, failed, end, time.process_time() - cpu0))


def sessions_per_second(s: Server, clients: int, seconds: float,
                        setup: Callable[[], Callable[[], None]],
                        errors: tuple = (OSError, RuntimeError)) -> tuple[float, float]:
    """`clients` forked processes, each calling setup() once and then the session function it
    returns in a loop, all from one start time for `seconds`. A session that raises one of
    `errors` counts as failed. Returns (sessions/s, server CPU ms per session); the log line
    also has the clients' CPU ms per session."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start = time.time() + 0.3
    cpu0 = tree_cpu_seconds(s.pid)
    procs = [ctx.Process(target=_session_worker, args=(setup, errors, start, start + seconds, queue))
             for _ in range(clients)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results) - start
    client_ms = sum(r[3] for r in results) * 1000 / max(done, 1)
    if failed:
        log(f"{s.name}: {failed} failed sessions during the sessions/s run")
    wait_tree_settles(s.pid, s.base_procs, timeout=30)
    cpu_ms = (tree_cpu_seconds(s.pid) - cpu0) * 1000 / max(done, 1)
    log(f"{s.name}: {done} sessions in {elapsed:.2f} s, server CPU {cpu_ms:.2f} ms/session, "
        f"client CPU {client_ms:.2f} ms/session")
    return done / elapsed, cpu_ms


def idle_session_kib(s: Server, count: int, open_session: Callable[[], Any],
                     check: Callable[[Any], None], close: Callable[[Any], None]) -> float:
    """(PSS of the server's tree with `count` logged-in idle sessions - PSS before) / count.
    open_session() returns a logged-in session; check(session) makes it answer once more
    before the measurement, so none is half set up; close(session) ends it."""
    wait_tree_settles(s.pid, s.base_procs)
    time.sleep(0.5)
    base = tree_pss_kib(s.server_pid)  # the server's tree, without the reaper
    sessions = []
    try:
        for _ in range(count):
            sessions.append(open_session())
        time.sleep(1.0)  # let forked session processes finish logging in and settle
        for c in sessions:
            check(c)
        loaded = tree_pss_kib(s.server_pid)
        procs = len(process_tree(s.server_pid))
    finally:
        for c in sessions:
            close(c)
        # A forking server's session processes end after this returns; their exit work
        # would otherwise land in the CPU reading of the next figure.
        wait_tree_settles(s.pid, s.base_procs, timeout=30)
    log(f"{s.name}: PSS {base} KiB -> {loaded} KiB with {count} sessions ({procs} processes)")
    return (loaded - base) / count


# --------------------------------------------------------------------------------------------
# The shared system user


@dataclass
class SystemUser:
    added: bool = False
    uid: int = 0
    gid: int = 0


def setup_user(password_hash: str, home: Path, shell: str | None = None) -> SystemUser:
    """Adds USER (or reuses it) with `password_hash` and `home`. `shell`: the login shell
    (default: nologin for a new user, unchanged for an existing one)."""
    u = SystemUser()
    try:
        pwd.getpwnam(USER)
        log(f"system user {USER} already exists (left by an earlier run?); reusing it")
        run(["usermod", "-d", str(home), *(["-s", shell] if shell else []), USER])
    except KeyError:
        run(["useradd", "--system", "--no-create-home", "--home-dir", str(home),
             "--shell", shell or "/usr/sbin/nologin", USER])
        u.added = True
    run(["usermod", "-p", password_hash, USER])
    entry = pwd.getpwnam(USER)
    u.uid, u.gid = entry.pw_uid, entry.pw_gid
    return u


def teardown_user(u: SystemUser | None) -> None:
    if u is not None and u.added:
        subprocess.run(["userdel", USER], check=False, capture_output=True)


# --------------------------------------------------------------------------------------------
# Table


@dataclass
class Figure:
    key: str
    label: str
    higher_is_better: bool
    unit_fmt: str


def print_table(res: dict[str, dict[str, float]], title: str, figures: Sequence[Figure],
                servers: Sequence[str], ratios: Sequence[tuple[str, Sequence[str] | None]],
                target: Callable[[str], str], cells: dict[str, dict[str, str]] | None = None,
                extra: Sequence[tuple[str, Callable[[str], str]]] = ()) -> None:
    """One row per figure that any server has a value (or a cell text) for.
    ratios: (header, peers) columns with filegate / the best of those peers (None: every
    server but filegate). target(key) fills the target column. cells[server][key] replaces a
    missing value (FAILED, n/a ...). extra: (header, text(key)) columns after the target."""
    cells = cells or {}
    cols = ["figure", *servers, *(h for h, _ in ratios), "target", *(h for h, _ in extra)]
    rows = []
    for f in figures:
        if not any(f.key in r for r in res.values()) and not any(f.key in c for c in cells.values()):
            continue
        row = [f.label]
        for name in servers:
            v = res.get(name, {}).get(f.key)
            if f.key in cells.get(name, {}):
                row.append(cells[name][f.key])
            else:
                row.append("-" if v is None else f.unit_fmt.format(v))
        fg = res.get("filegate", {}).get(f.key)
        for _header, names in ratios:
            peers = [r[f.key] for n, r in res.items()
                     if n != "filegate" and f.key in r and (names is None or n in names)]
            if fg is None or not peers:
                row.append("-")
            else:
                best = max(peers) if f.higher_is_better else min(peers)
                row.append(f"{fg / best:.2f}x" if best else "-")
        row.append(target(f.key))
        row += [text(f.key) for _, text in extra]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in rows + [cols]) for i in range(len(cols))]
    print()
    print(title)
    line = " | ".join(c.ljust(w) for c, w in zip(cols, widths))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print()
