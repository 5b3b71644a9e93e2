#!/usr/bin/python3
"""Side-by-side SFTP benchmark: filegate against OpenSSH (sshd + sftp-server) and ProFTPD
mod_sftp on loopback.

Starts the three servers with the same system user, the same Ed25519 client key, the same
Ed25519 host key (all made at run time) and the same home on /dev/shm, and measures

  1. get / put of one 1 GiB file with the OpenSSH sftp client, once with
     aes128-gcm@openssh.com and once with chacha20-poly1305@openssh.com: MB/s and server
     CPU s/GiB,
  2. 1000 x 4 KiB files with lftp over sftp://: mirror -R up, then mirror down: seconds,
  3. sessions per second (connect, curve25519 key exchange, public key auth, SFTP
     INIT/VERSION, quit) with 8 parallel paramiko client processes,
  4. memory per idle logged-in SFTP session (PSS of the server's process tree),

and prints one table with the ratios of filegate to OpenSSH and to ProFTPD, the targets, and
the figures quoted in the issue. Needs root (it adds a system user and starts sshd).
Standard library, python3-paramiko and Debian tools only. See bench/README.md.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import resource
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench_common import (GIB, MB, PASSWORD, PEER_ROOT, PROFTPD_DEBS, PROFTPD_MODULES,
                          PROFTPD_NEEDED, USER, WORK, Figure, Server, SystemUser, begin_run,
                          bench_password_hash, deb_version, ensure_peers, free_port,
                          fresh_dir, git_describe, hold_until_interrupted, idle_session_kib,
                          launch, log, make_plan, parse_args, peer_env, print_table,
                          process_tree, proftpd_command, proftpd_global_config, run,
                          sessions_per_second, setup_user, stop_server, teardown_user,
                          tree_cpu_seconds, wait_tree_settles, tcp_congestion_control)

ALL_SERVERS = ("filegate", "openssh", "proftpd")
ONLY_CHOICES = ("get_put", "small", "sessions", "memory")
# openssh-server's sshd links libwrap.
PEER_DEBS = ("openssh-server", "openssh-sftp-server", "libwrap0", *PROFTPD_DEBS)
SSHD = PEER_ROOT / "usr/sbin/sshd"
SFTP_SERVER = PEER_ROOT / "usr/lib/openssh/sftp-server"

SFTP_WORK = WORK / "sftp"
SFTP_SHM = Path("/dev/shm/fgbench-sftp")
HOME = SFTP_SHM / "home"

CIPHERS = {"aes": "aes128-gcm@openssh.com", "chacha": "chacha20-poly1305@openssh.com"}
KEX = "curve25519-sha256"
HOST_KEY_ALG = "ssh-ed25519"
PRIVSEP_DIR = Path("/run/sshd")


# --------------------------------------------------------------------------------------------
# Keys and the OpenSSH client


@dataclass
class Keys:
    host: Path          # Ed25519 host key (OpenSSH format), one for all three servers
    client: Path        # the bench user's Ed25519 key
    authorized: Path    # its public half, OpenSSH authorized_keys format
    authorized_rfc4716: Path  # the same for ProFTPD, which reads only RFC 4716 files
    public_line: str


def make_keys() -> Keys:
    k = Keys(SFTP_WORK / "host_ed25519", SFTP_WORK / "client_ed25519",
             SFTP_WORK / "authorized_keys", SFTP_WORK / "authorized_keys.rfc4716", "")
    for p in (k.host, k.client):
        p.unlink(missing_ok=True)
        Path(f"{p}.pub").unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "filegate bench host", "-f", str(k.host)])
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{USER}@bench", "-f", str(k.client)])
    k.public_line = Path(f"{k.client}.pub").read_text().strip()
    k.authorized.write_text(k.public_line + "\n")
    k.authorized_rfc4716.write_text(run(["ssh-keygen", "-e", "-f", f"{k.client}.pub"]).stdout)
    for p in (k.authorized, k.authorized_rfc4716):
        os.chmod(p, 0o644)
    return k


def remove_keys() -> None:
    for name in ("host_ed25519", "host_ed25519.pub", "client_ed25519", "client_ed25519.pub",
                 "authorized_keys", "authorized_keys.rfc4716"):
        (SFTP_WORK / name).unlink(missing_ok=True)


def ssh_options(s: Server, key: Path, cipher: str | None = None, debug: bool = False,
                password: bool = False) -> list[str]:
    """ssh -o options (sftp passes them on): no config file, no host key checking, only the
    bench key, curve25519 and an Ed25519 host key. DEBUG1 logs the negotiated algorithms."""
    opts = {
        "BatchMode": "no" if password else "yes",
        "StrictHostKeyChecking": "no",
        "UserKnownHostsFile": "/dev/null",
        "GlobalKnownHostsFile": "/dev/null",
        "IdentitiesOnly": "yes",
        "PreferredAuthentications": "password" if password else "publickey",
        "KexAlgorithms": KEX,
        "HostKeyAlgorithms": HOST_KEY_ALG,
        "Compression": "no",
        "ConnectTimeout": "10",
        "LogLevel": "DEBUG1" if debug else "ERROR",
        "Port": str(s.port),
        "User": USER,
    }
    if password:
        opts["NumberOfPasswordPrompts"] = "1"
    else:
        opts["IdentityFile"] = str(key)
    if cipher:
        opts["Ciphers"] = cipher
    out = ["-F", "/dev/null"]
    for k, v in opts.items():
        out += ["-o", f"{k}={v}"]
    return out


def sftp_cmd(s: Server, key: Path, batch: str, sftp_debug: bool = False, **kw) -> list[str]:
    """sftp_debug: -vvv, so sftp itself logs the request sizes it settled on."""
    # Options before -b: sftp adds -oBatchMode=yes for -b, and ssh keeps the first value.
    return ["sftp", *(["-vvv"] if sftp_debug else []), *ssh_options(s, key, **kw), "-b", batch,
            "127.0.0.1"]


class Unsupported(Exception):
    """The server does not offer what the client asked for (a cipher): the cell says n/a."""


def negotiated(stderr: str) -> dict[str, str]:
    """What ssh -o LogLevel=DEBUG1 says about the connection."""
    out = {}
    for pattern, key in ((r"kex: algorithm: (\S+)", "kex"),
                         (r"kex: host key algorithm: (\S+)", "host key"),
                         (r"kex: client->server cipher: (\S+)", "c->s"),
                         (r"kex: server->client cipher: (\S+)", "s->c"),
                         (r"Authenticated to .* using \"(\S+)\"", "auth"),
                         (r"remote software version (\S+)", "server")):
        m = re.search(pattern, stderr)
        if m:
            out[key] = m.group(1)
    return out


def describe(n: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in n.items())


# --------------------------------------------------------------------------------------------
# Servers


def ensure_privsep() -> dict[str, bool]:
    """sshd's privilege separation needs the `sshd` user and /run/sshd. Creates what is
    missing and says what it created (only that is removed at the end)."""
    made = {"user": False, "dir": False}
    try:
        pwd.getpwnam("sshd")
    except KeyError:
        run(["useradd", "--system", "--no-create-home", "--home-dir", str(PRIVSEP_DIR),
             "--shell", "/usr/sbin/nologin", "sshd"])
        made["user"] = True
    if not PRIVSEP_DIR.exists():
        PRIVSEP_DIR.mkdir(mode=0o755)
        made["dir"] = True
    return made


def remove_privsep(made: dict[str, bool] | None) -> None:
    if not made:
        return
    if made["dir"]:
        try:
            PRIVSEP_DIR.rmdir()
        except OSError:
            pass
    if made["user"]:
        subprocess.run(["userdel", "sshd"], check=False, capture_output=True)


def write_configs(servers: dict[str, Server], keys: Keys, password_hash: str, max_conn: int) -> None:
    SFTP_WORK.mkdir(parents=True, exist_ok=True)
    if "filegate" in servers:
        s = servers["filegate"]
        cfg = SFTP_WORK / "filegate.yaml"
        # The sftp: section as the SFTP front-end is expected to read it (listen, host_keys).
        cfg.write_text(f"""# generated by bench/sftp_bench.py
log:
  level: warn
limits:
  max_connections: {max_conn}
  max_connections_per_ip: {max_conn}
  control_idle_timeout: 600
sftp:
  listen: ["127.0.0.1:{s.port}"]
  host_keys: [{keys.host}]
users:
  - name: {USER}
    password_hash: "{password_hash}"
    home: {HOME}
    permissions: elradfmwMT
    protocols: [sftp]
    authorized_keys: ["{keys.public_line}"]
""")
        s.extra["config"] = cfg
    if "openssh" in servers:
        s = servers["openssh"]
        cfg = SFTP_WORK / "sshd_config"
        # StrictModes no: the AuthorizedKeysFile lives in the work dir, whose parents need not
        # satisfy sshd's ownership checks (and /dev/shm is world-writable).
        cfg.write_text(f"""# generated by bench/sftp_bench.py
Port {s.port}
ListenAddress 127.0.0.1
HostKey {keys.host}
PidFile {SFTP_WORK / "sshd.pid"}
AuthorizedKeysFile {keys.authorized}
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin no
AllowUsers {USER}
PermitTTY no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PrintMotd no
PrintLastLog no
Subsystem sftp {SFTP_SERVER}
""")
        s.extra["config"] = cfg
    if "proftpd" in servers:
        s = servers["proftpd"]
        cfg = SFTP_WORK / "proftpd.conf"
        # An SFTP-only virtual host; the main server is disabled (Port 0). No chacha20 in
        # mod_sftp 1.3.8, so only the AES ciphers are listed.
        cfg.write_text(proftpd_global_config("bench/sftp_bench.py", SFTP_WORK, max_conn,
                                             ["mod_sftp.c"]) + f"""<VirtualHost 127.0.0.1>
  Port {s.port}
  SFTPEngine on
  SFTPHostKey {keys.host}
  SFTPAuthorizedUserKeys file:{keys.authorized_rfc4716}
  SFTPAuthMethods publickey password
  SFTPCiphers aes128-gcm@openssh.com aes256-gcm@openssh.com aes128-ctr aes256-ctr
  SFTPKeyExchanges curve25519-sha256 curve25519-sha256@libssh.org ecdh-sha2-nistp256
  RequireValidShell off
  AllowOverwrite on
  Umask 022
  TimeoutIdle 600
  TimeoutNoTransfer 600
  MaxClients none
</VirtualHost>
""")
        s.extra["config"] = cfg


def filegate_config_problem(filegate_bin: Path, cfg: Path) -> str | None:
    """None if `filegate check` accepts the config, else its complaint."""
    done = subprocess.run([str(filegate_bin), "check", "--config", str(cfg)],
                          text=True, capture_output=True)
    if done.returncode == 0:
        return None
    return (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]


def start_server(s: Server, keys: Keys, filegate_bin: Path) -> None:
    if s.name == "filegate":
        cmd, env = [str(filegate_bin), "run", "--config", str(s.extra["config"])], None
    elif s.name == "openssh":
        # Root, in the foreground, logging to stderr; re-executes itself per connection
        # (hence the absolute path).
        cmd, env = [str(SSHD), "-D", "-e", "-f", str(s.extra["config"])], peer_env()
    else:
        cmd, env = proftpd_command(s.extra["config"]), peer_env()

    def ready() -> None:
        run(sftp_cmd(s, keys.client, "/dev/null"), stdin=subprocess.DEVNULL, timeout=10)

    launch(s, cmd, env, ready)


# --------------------------------------------------------------------------------------------
# Figures


def probe(s: Server, keys: Keys) -> list[str]:
    """What a default connection negotiates, and whether password login works too."""
    done = subprocess.run(sftp_cmd(s, keys.client, "/dev/null", sftp_debug=True, debug=True),
                          stdin=subprocess.DEVNULL, text=True, capture_output=True, timeout=30)
    n = negotiated(done.stderr)
    # The OpenSSH client sizes its reads and writes from the server's limits@openssh.com
    # reply when there is one, else it uses its 32 KiB default.
    m = re.search(r"buffer sizes \d+ / \d+; using (\d+) / (\d+)", done.stderr)
    n["requests"] = (f"write {m.group(1)} / read {m.group(2)} bytes (limits@openssh.com)" if m
                     else "write / read 32768 bytes (the client's default, no limits@openssh.com)")
    pw = subprocess.run(["sshpass", "-p", PASSWORD, *sftp_cmd(s, keys.client, "/dev/null", password=True)],
                        stdin=subprocess.DEVNULL, text=True, capture_output=True, timeout=30)
    import paramiko
    pkey = paramiko.Ed25519Key.from_private_key_file(str(keys.client))
    return [f"sftp default connection: {describe(n)}",
            f"password login (sshpass): {'ok' if pw.returncode == 0 else 'refused'}",
            f"sessions/s client: {paramiko_session(s.port, pkey)}"]


def transfer(s: Server, keys: Keys, direction: str, cipher: str, src: Path,
             size: int) -> tuple[float, float, dict[str, str]]:
    """One sftp process moving one file; returns (MB/s, server CPU s/GiB, negotiated). The
    time is taken between two local `!date` commands around the get/put in the batch, so it
    leaves out ssh's start-up, the key exchange and the login; the CPU figure covers the
    whole connection."""
    batch = SFTP_WORK / f"batch-{direction}"
    target = HOME / f"up-{s.name}.bin"
    command = f"put {src} {target.name}" if direction == "put" else "get big.bin /dev/null"
    target.unlink(missing_ok=True)
    batch.write_text(f"!date +T%s.%N\n{command}\n!date +T%s.%N\n")
    base_procs = len(process_tree(s.pid))
    cpu0 = tree_cpu_seconds(s.pid)
    limit = 60 + size / (10 * MB)  # a stalled server fails the cell
    try:
        done = subprocess.run(sftp_cmd(s, keys.client, str(batch), cipher=cipher, debug=True),
                              stdin=subprocess.DEVNULL, text=True, capture_output=True, timeout=limit)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{s.name} {direction} {cipher}: not done after {limit:.0f} s") from None
    if done.returncode != 0:
        if "no matching cipher" in done.stderr:
            raise Unsupported(f"{s.name} offers no {cipher}")
        errors = [ln for ln in done.stderr.splitlines() if not ln.startswith("debug")]
        raise RuntimeError(f"{s.name} {direction} {cipher}: sftp exited with {done.returncode}: "
                           + " | ".join(errors[-5:]))
    wait_tree_settles(s.pid, base_procs)
    cpu = tree_cpu_seconds(s.pid) - cpu0
    stamps = [float(ln[1:]) for ln in done.stdout.splitlines() if re.fullmatch(r"T[0-9.]+", ln)]
    if len(stamps) != 2:
        raise RuntimeError(f"{s.name} {direction}: no timestamps in sftp's output {done.stdout!r}")
    n = negotiated(done.stderr)
    if n.get("c->s") != cipher or n.get("s->c") != cipher or n.get("kex") != KEX:
        raise RuntimeError(f"{s.name}: negotiated {describe(n)}, wanted {cipher} with {KEX}")
    if direction == "put":
        got = target.stat().st_size
        if got != size:
            raise RuntimeError(f"{s.name} put: file has {got} bytes, expected {size}")
        target.unlink()
    return size / MB / (stamps[1] - stamps[0]), cpu / (size / GIB), n


def children_cpu_seconds() -> float:
    """user+system CPU of this script's reaped children (lftp and its ssh)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def make_small_files(folder: Path, count: int, size: int) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"f{i:05d}.bin").write_bytes(os.urandom(size))


def small_files(s: Server, keys: Keys, src: Path, count: int, size: int) -> tuple[float, float]:
    """lftp: mirror -R src to HOME/small, then mirror it back, in one session; the time of
    each mirror is taken between two `!date` commands (after the connection is up)."""
    remote = HOME / "small"
    dst = SFTP_SHM / "small-down"
    for p in (remote, dst):
        shutil.rmtree(p, ignore_errors=True)
    dst.mkdir()
    ssh = " ".join(["ssh", "-a", "-x", *ssh_options(s, keys.client)])
    script = SFTP_WORK / "lftp-small"
    script.write_text(f"""set cmd:fail-exit yes
set net:max-retries 1
set net:timeout 30
set sftp:auto-confirm yes
set sftp:connect-program "{ssh}"
open -u {USER}, sftp://127.0.0.1:{s.port}
cls -1 > /dev/null
!echo T $(date +%s.%N)
mirror -R {src} small
!echo T $(date +%s.%N)
mirror small {dst}
!echo T $(date +%s.%N)
bye
""")
    cpu0, client0 = tree_cpu_seconds(s.pid), children_cpu_seconds()
    try:
        done = subprocess.run(["lftp", "-f", str(script)], stdin=subprocess.DEVNULL, text=True,
                              capture_output=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{s.name} small files: lftp not done after 600 s") from None
    if done.returncode != 0:
        raise RuntimeError(f"{s.name} small files: lftp exited with {done.returncode}: "
                           f"{(done.stderr or done.stdout).strip()[-1000:]}")
    stamps = [float(ln.split()[1]) for ln in done.stdout.splitlines() if ln.startswith("T ")]
    if len(stamps) != 3:
        raise RuntimeError(f"{s.name} small files: lftp printed {done.stdout!r}")
    for folder in (remote, dst):
        files = list(folder.iterdir())
        if len(files) != count or any(f.stat().st_size != size for f in files):
            raise RuntimeError(f"{s.name} small files: {folder} has {len(files)} files, "
                               f"expected {count} of {size} bytes")
    wait_tree_settles(s.pid, s.base_procs)
    log(f"{s.name} small files: server CPU {tree_cpu_seconds(s.pid) - cpu0:.2f} s, "
        f"client (lftp + ssh) CPU {children_cpu_seconds() - client0:.2f} s for the whole lftp run")
    shutil.rmtree(remote)
    shutil.rmtree(dst)
    return stamps[1] - stamps[0], stamps[2] - stamps[1]


def paramiko_session(port: int, pkey) -> str:
    """One SFTP session with paramiko: connect (TCP_NODELAY, so the client's own small
    writes never wait for a delayed ACK), curve25519 key exchange, Ed25519 host key, public
    key auth, sftp subsystem with INIT/VERSION, close. Returns what was negotiated."""
    import paramiko
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = paramiko.Transport(sock)
    try:
        opts = t.get_security_options()
        opts.kex = ["curve25519-sha256@libssh.org"]
        opts.key_types = [HOST_KEY_ALG]
        opts.ciphers = ["aes128-ctr"]
        opts.digests = ["hmac-sha2-256"]
        t.connect(username=USER, pkey=pkey)
        sftp = paramiko.SFTPClient.from_transport(t)
        used = (f"paramiko {paramiko.__version__}: kex curve25519-sha256@libssh.org, host key "
                f"{t.host_key_type}, c->s {t.local_cipher} {t.local_mac}, "
                f"s->c {t.remote_cipher} {t.remote_mac}, server {t.remote_version}")
        sftp.close()
    finally:
        t.close()
    return used


def paramiko_setup(port: int, key: Path):
    """For sessions_per_second: each worker loads the key once, then loops paramiko_session."""
    def setup():
        import paramiko
        pkey = paramiko.Ed25519Key.from_private_key_file(str(key))
        return lambda: paramiko_session(port, pkey)
    return setup


class IdleClient:
    """One `sftp -b -` process that stays connected; `pwd` round trips show it is logged in."""

    def __init__(self, s: Server, keys: Keys):
        # stdbuf: sftp's stdout is a pipe, so without it the answer would sit in stdio's buffer.
        self.proc = subprocess.Popen(["stdbuf", "-oL", *sftp_cmd(s, keys.client, "-")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, bufsize=0)
        self.buf = b""
        try:
            self.pwd()
        except RuntimeError:
            self.close()
            raise

    def pwd(self, timeout: float = 30) -> None:
        self.proc.stdin.write(b"pwd\n")
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"Remote working directory" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise RuntimeError("no answer to pwd")
            data = os.read(fd, 4096)
            if not data:
                raise RuntimeError(f"sftp exited with {self.proc.wait()}")
            self.buf += data
        self.buf = b""

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def sftp_idle_kib(s: Server, keys: Keys, count: int) -> float:
    # One at a time (IdleClient waits for its pwd): sshd drops unauthenticated connections
    # past MaxStartups (10 by default).
    return idle_session_kib(s, count, lambda: IdleClient(s, keys), IdleClient.pwd, IdleClient.close)


# --------------------------------------------------------------------------------------------
# Table


FIGURES = [Figure(f"{d}_{c}_mbs", f"{d} 1 file, MB/s ({CIPHERS[c].split('@')[0]})", True, "{:.0f}")
           for c in CIPHERS for d in ("get", "put")]
FIGURES += [Figure(f"{d}_{c}_cpu", f"{d} server CPU s/GiB ({CIPHERS[c].split('@')[0]})", False, "{:.3f}")
            for c in CIPHERS for d in ("get", "put")]
FIGURES += [
    Figure("small_up", "small files up, s (lftp mirror -R)", False, "{:.2f}"),
    Figure("small_down", "small files down, s (lftp mirror)", False, "{:.2f}"),
    Figure("sessions", "sessions/s (8 clients)", True, "{:.0f}"),
    Figure("sessions_cpu", "server CPU ms per session", False, "{:.2f}"),
    Figure("idle_kib", "KiB per idle session", False, "{:.1f}"),
]

# The issue's figures (2 cores, OpenSSH sftp client, 1 GiB on tmpfs): OpenSSH / ProFTPD.
# It gives one ProFTPD get/put pair without naming the cipher; shown on the AES rows.
ISSUE = {"get_aes_mbs": "684 / 283", "put_aes_mbs": "453 / 220",
         "get_chacha_mbs": "531 / -", "put_chacha_mbs": "340 / -",
         "small_up": "0.54 / -", "small_down": "0.45 / -",
         "sessions": "45 / -", "idle_kib": "2220 / 1751"}


def target_check(key: str, res: dict[str, dict[str, float]]) -> str:
    fg = res.get("filegate", {}).get(key)
    ossh = res.get("openssh", {}).get(key)
    if fg is None:
        return "-"

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    if key.endswith("_mbs"):
        return ">= openssh: " + (verdict(fg >= ossh) if ossh else "n/a")
    if key in ("small_up", "small_down"):
        return "<= openssh: " + (verdict(fg <= ossh) if ossh else "n/a")
    if key == "sessions":
        if not ossh:
            return ">= 2x openssh: n/a"
        return f">= 2x openssh ({fg / ossh:.2f}x): " + verdict(fg >= 2 * ossh)
    if key == "idle_kib":
        return "<= 128 KiB: " + verdict(fg <= 128)
    return "-"


# --------------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args(
        __doc__, ALL_SERVERS, ONLY_CHOICES,
        quick_help="smoke run: 64 MiB file, 100 small files, 2 s of sessions, 50 idle sessions, 1 repetition",
        reps_help="repetitions per figure (median); default 5 for get/put, 3 otherwise, quick 1",
        json_default=SFTP_WORK / "results.json",
        why_root="it adds a system user and runs sshd and proftpd")
    servers_wanted, only = args.servers_wanted, args.only_set
    for tool in ("sftp", "ssh", "ssh-keygen", "lftp", "sshpass", "stdbuf"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} missing (apt-get install openssh-client lftp sshpass coreutils)")
    try:
        import paramiko  # the sessions/s client
        del paramiko
    except ImportError:
        sys.exit("paramiko missing: apt-get install python3-paramiko, and run this with /usr/bin/python3")

    (big, n_small, small_size, session_seconds, session_clients, n_idle, reps,
     transfer_reps) = make_plan(args, n_idle=(50, 200))
    max_conn = 5000

    begin_run(nofile=8 * n_idle + 1024)
    if any(s != "filegate" for s in servers_wanted):
        ensure_peers([SSHD, SFTP_SERVER, *PROFTPD_NEEDED, PROFTPD_MODULES / "mod_sftp.so"],
                     PEER_DEBS, "openssh-server and proftpd")
    SFTP_WORK.mkdir(parents=True, exist_ok=True)
    fresh_dir(SFTP_SHM)

    revision = git_describe()  # now, not at the end: others may edit the tree meanwhile
    password_hash = bench_password_hash(args.filegate)

    servers: dict[str, Server] = {}
    user: SystemUser | None = None
    privsep: dict[str, bool] | None = None
    results: dict[str, dict[str, float]] = {n: {} for n in servers_wanted}
    raw: dict[str, dict[str, list[float]]] = {n: {} for n in servers_wanted}
    cells: dict[str, dict[str, str]] = {n: {} for n in servers_wanted}
    used: dict[str, set[str]] = {n: set() for n in servers_wanted}
    probes: dict[str, list[str]] = {}
    notes: list[str] = []
    load = os.getloadavg()
    try:
        # One home for all servers; sshd's sftp-server and ProFTPD's sessions run as the user
        # (so its shell must run sftp-server: /bin/sh), filegate as root.
        HOME.mkdir(mode=0o755)
        user = setup_user(password_hash, HOME, shell="/bin/sh")
        os.chown(HOME, user.uid, user.gid)
        if "openssh" in servers_wanted:
            privsep = ensure_privsep()
        keys = make_keys()
        for name in servers_wanted:
            servers[name] = Server(name=name, home=HOME, port=free_port())
        write_configs(servers, keys, password_hash, max_conn)
        if "filegate" in servers:
            problem = filegate_config_problem(args.filegate, servers["filegate"].extra["config"])
            if problem:
                notes.append(f"filegate skipped: its config check rejects the sftp set-up: {problem}")
                log(notes[-1])
                del servers["filegate"]
        for s in list(servers.values()):
            try:
                start_server(s, keys, args.filegate)
            except RuntimeError as e:
                if s.name != "filegate":
                    raise
                notes.append(f"filegate skipped: {str(e).splitlines()[0][:300]}")
                log(notes[-1])
                stop_server(s)
                del servers["filegate"]
        for s in servers.values():
            try:
                probes[s.name] = probe(s, keys)
            except Exception as e:  # noqa: BLE001 (paramiko raises its own types); the figures say more
                probes[s.name] = [f"probe failed: {e!r}"]
            log(f"{s.name}: " + "; ".join(probes[s.name]))

        src = SFTP_SHM / "source.bin"
        if "get_put" in only or args.hold:
            log(f"writing a {big >> 20} MiB source file on /dev/shm")
            block = os.urandom(1 << 20)
            with open(src, "wb") as f:
                for _ in range(big >> 20):
                    f.write(block)
            os.chmod(src, 0o644)
            os.link(src, HOME / "big.bin")
        small_src = SFTP_SHM / "small-up"
        if "small" in only:
            make_small_files(small_src, n_small, small_size)

        if args.hold:
            for s in servers.values():
                print(f"{s.name}: pid {s.server_pid}  port {s.port}  config {s.extra['config']}", flush=True)
            print(f"home {HOME} (big.bin); client: "
                  f"sftp {' '.join(ssh_options(next(iter(servers.values())), keys.client))} 127.0.0.1 "
                  "(with that server's Port); ^C (or SIGTERM) tears down", flush=True)
            hold_until_interrupted()
            return 0

        load = os.getloadavg()
        log(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

        def record(name: str, key: str, value: float) -> None:
            raw[name].setdefault(key, []).append(value)
            results[name][key] = statistics.median(raw[name][key])

        def mark(name: str, figure_keys: list[str], text: str, why: str) -> None:
            """Cells that have no value: n/a (not offered) or FAILED; the run goes on."""
            for k in figure_keys:
                cells[name][k] = text
            notes.append(f"{text}: {why}")
            log(notes[-1])

        failures = (RuntimeError, OSError)
        # Memory first, while every server is fresh.
        if "memory" in only:
            for s in servers.values():
                try:
                    record(s.name, "idle_kib", sftp_idle_kib(s, keys, n_idle))
                except failures as e:
                    mark(s.name, ["idle_kib"], "FAILED", f"{s.name} idle sessions: {e}")
        # Figure by figure, servers interleaved within each repetition, so a burst of load from
        # elsewhere on the machine hits all servers rather than one.
        if "get_put" in only:
            for rep in range(transfer_reps):
                for c, cipher in CIPHERS.items():
                    for s in servers.values():
                        for d in ("get", "put"):
                            key = f"{d}_{c}"
                            if key + "_mbs" in cells[s.name]:
                                continue
                            try:
                                mbs, cpu, n = transfer(s, keys, d, cipher, src, big)
                            except Unsupported as e:
                                mark(s.name, [f"{x}_{c}_{y}" for x in ("get", "put") for y in ("mbs", "cpu")],
                                     "n/a", str(e))
                                break
                            except failures as e:
                                mark(s.name, [key + "_mbs", key + "_cpu"], "FAILED", str(e))
                                continue
                            used[s.name].add(describe(n))
                            record(s.name, key + "_mbs", mbs)
                            record(s.name, key + "_cpu", cpu)
                            log(f"{s.name} {d} {cipher} {rep + 1}/{transfer_reps}: "
                                f"{mbs:.0f} MB/s, {cpu:.3f} CPU s/GiB")
        if "small" in only:
            for rep in range(reps):
                for s in servers.values():
                    if "small_up" in cells[s.name]:
                        continue
                    try:
                        up, down = small_files(s, keys, small_src, n_small, small_size)
                    except failures as e:
                        mark(s.name, ["small_up", "small_down"], "FAILED", str(e))
                        continue
                    record(s.name, "small_up", up)
                    record(s.name, "small_down", down)
                    log(f"{s.name} small files {rep + 1}/{reps}: up {up:.2f} s, down {down:.2f} s")
        if "sessions" in only:
            import paramiko
            for rep in range(reps):
                for s in servers.values():
                    per_s, cpu_ms = sessions_per_second(
                        s, session_clients, session_seconds, paramiko_setup(s.port, keys.client),
                        (OSError, paramiko.SSHException))
                    record(s.name, "sessions", per_s)
                    record(s.name, "sessions_cpu", cpu_ms)
    finally:
        for s in servers.values():
            stop_server(s)
        remove_keys()
        teardown_user(user)
        remove_privsep(privsep)
        shutil.rmtree(SFTP_SHM, ignore_errors=True)

    versions = (f"OpenSSH {deb_version('openssh-server')} (client {ssh_version()}), "
                f"ProFTPD {deb_version('proftpd-core')} mod_sftp, lftp {lftp_version()}")
    title = (f"SFTP: filegate {revision} (tree at start; binary {args.filegate}) vs {versions}; "
             f"{'quick' if args.quick else 'full'} mode, median of {transfer_reps} (get/put) / {reps}; "
             f"{big >> 20} MiB file, {n_small} x {small_size >> 10} KiB, "
             f"{session_clients} clients x {session_seconds:.0f} s, {n_idle} idle sessions; "
             f"{os.cpu_count()} CPUs, TCP {tcp_congestion_control()}, load {load[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    active = [n for n in servers_wanted if results.get(n) or cells.get(n)]
    print_table(results, title, FIGURES, [n for n in ALL_SERVERS if n in active],
                [(f"vs {p}", [p]) for p in ("openssh", "proftpd") if p in active],
                lambda key: ({"FAILED": "MISSED (filegate failed)", "n/a": "MISSED (not offered)"}
                             .get(cells.get("filegate", {}).get(key, ""), target_check(key, results))),
                cells,
                extra=[("issue: openssh / proftpd", lambda key: ISSUE.get(key, ""))])
    print("Negotiated (the sftp client's debug output; paramiko's transport):")
    for name in servers_wanted:
        if name in probes:
            for line in probes[name]:
                print(f"  {name} {line}")
        for u in sorted(used.get(name, ())):
            print(f"  {name} get/put: {u}")
    for note in notes:
        print(note)
    print()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"title": title, "median": results, "runs": raw,
                                     "cells": cells, "negotiated": {n: sorted(u) for n, u in used.items()},
                                     "probes": probes, "notes": notes}, indent=2))
    return 0


def ssh_version() -> str:
    done = subprocess.run(["ssh", "-V"], text=True, capture_output=True)
    return (done.stderr or done.stdout).strip().split(",")[0]


def lftp_version() -> str:
    done = subprocess.run(["lftp", "--version"], text=True, capture_output=True)
    m = re.search(r"Version (\S+)", done.stdout)
    return m.group(1) if m else "?"


if __name__ == "__main__":
    sys.exit(main())
