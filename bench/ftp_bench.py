#!/usr/bin/python3
"""Side-by-side FTP benchmark: filegate against vsftpd, ProFTPD and pure-ftpd on loopback.

Starts the four servers with the same test user and the same sha512-crypt hash, measures

  1. 1 GiB RETR / STOR with curl (passive mode) from /dev/shm: MB/s and server CPU s/GiB,
  2. 1000 x 4 KiB files up then down in one ftplib session: seconds,
  3. sessions per second (connect, USER, PASS, QUIT) with 8 parallel client processes,
  4. memory per idle logged-in session (PSS of the server's process tree),

and the same over explicit FTPS (AUTH TLS, PROT P; one certificate for all four servers,
made at run time with the openssl CLI in bench/.work):

  5. 1 GiB RETR / STOR with curl --ssl-reqd: MB/s and server CPU s/GiB,
  6. 1000 x 4 KiB files up then down in one ftplib FTP_TLS session (data TLS sessions resumed),
  7. FTPS sessions per second (connect, AUTH TLS, USER, PASS, QUIT) with 8 parallel clients,

and prints one table with the ratio of filegate to the best peer and the targets.
Needs root (it adds a system user for vsftpd's PAM login). Standard library only.
See bench/README.md.
"""

from __future__ import annotations

import ftplib
import grp
import io
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from bench_common import (GIB, MB, PASSWORD, PEER_ROOT, PROFTPD_DEBS, PROFTPD_MODULES,
                          PROFTPD_NEEDED, SHM, USER, WORK, Figure, Server, SystemUser,
                          begin_run, bench_password_hash, deb_version, free_port, fresh_dir,
                          git_describe, hold_until_interrupted, idle_session_kib, launch, log,
                          make_plan, parse_args, peer_env, print_table, process_tree,
                          proftpd_command, proftpd_global_config, run, sessions_per_second,
                          setup_user, stop_server, teardown_user, tree_cpu_seconds,
                          wait_tree_settles, tcp_congestion_control)
from bench_common import ensure_peers as _ensure_peers

ALL_SERVERS = ("filegate", "vsftpd", "proftpd", "pure-ftpd")
PEER_DEBS = ("vsftpd", "pure-ftpd", "pure-ftpd-common", "libwrap0", *PROFTPD_DEBS)
ONLY_CHOICES = ("throughput", "small", "sessions", "memory",
                "ftps_throughput", "ftps_small", "ftps_sessions")


# Passive port ranges lie below the kernel's ephemeral range (32768-60999 on Debian) so a
# client's outgoing port never collides with a passive listener. They are wide because
# pure-ftpd caps its client count at half its passive range, and TIME_WAIT needs slack.
PASV_RANGES = {"filegate": (12000, 16999), "vsftpd": (17000, 21999), "pure-ftpd": (22000, 26999),
               "proftpd": (27000, 31999)}


# --------------------------------------------------------------------------------------------
# A tiny FTP control client for the session and idle-memory tests (no ftplib overhead)


class Control:
    def __init__(self, port: int, timeout: float = 30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.last = ""

    def reply(self) -> int:
        while True:
            while b"\n" not in self.buf:
                data = self.sock.recv(4096)
                if not data:
                    raise ConnectionError("server closed the control connection")
                self.buf += data
            line, _, self.buf = self.buf.partition(b"\n")
            self.last = line.decode(errors="replace").strip()
            if len(line) >= 4 and line[:3].isdigit() and line[3:4] == b" ":
                return int(line[:3])

    def command(self, text: str) -> int:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def login(self, tls: ssl.SSLContext | None = None) -> None:
        if self.reply() != 220:
            raise RuntimeError(f"no 220 greeting: {self.last!r}")
        if tls is not None:
            if self.command("AUTH TLS") != 234:
                raise RuntimeError(f"AUTH TLS refused: {self.last!r}")
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        code = self.command(f"USER {USER}")
        if code == 331:
            code = self.command(f"PASS {PASSWORD}")
        if code != 230:
            raise RuntimeError(f"login failed: {self.last!r}")

    def close(self) -> None:
        self.sock.close()


def client_tls_context(cafile: Path) -> ssl.SSLContext:
    """Verifies the bench certificate (its SAN is IP 127.0.0.1); OpenSSL defaults otherwise."""
    return ssl.create_default_context(cafile=str(cafile))


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS that resumes the control connection's TLS session on data connections, as
    filegate and ProFTPD (by default) and vsftpd (require_ssl_reuse=YES) require. Stock
    FTP_TLS does not."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size


class EagerFTP_TLS(ftplib.FTP_TLS):
    """Passive-mode FTP_TLS that starts the data connection's TLS handshake (resuming the
    control session) right after sending the transfer command, before reading the 1xx reply.
    RFC 4217 allows both orders; ReusingFTP_TLS waits for the 1xx reply first."""

    def ntransfercmd(self, cmd, rest=None):
        host, port = self.makepasv()
        conn = socket.create_connection((host, port), self.timeout)
        try:
            if rest is not None:
                self.sendcmd(f"REST {rest}")
            self.putcmd(cmd)
            if self._prot_p:
                conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                                session=self.sock.session)
            resp = self.getresp()
            if resp[0] != "1":
                raise ftplib.error_reply(resp)
        except BaseException:
            conn.close()
            raise
        return conn, None


def ftps_login(s: "Server", timeout: float = 60, eager: bool = False) -> ftplib.FTP_TLS:
    cls = EagerFTP_TLS if eager else ReusingFTP_TLS
    ftp = cls(context=client_tls_context(s.extra["cafile"]), timeout=timeout)
    ftp.connect("127.0.0.1", s.port)
    ftp.auth()
    ftp.login(USER, PASSWORD)
    ftp.prot_p()
    ftp.voidcmd("NOOP")  # a TLS 1.3 ticket arrives after the handshake: have it before PASV
    ftp.set_pasv(True)
    return ftp


KEY_TYPES = {"rsa": ["rsa:2048"], "ecdsa": ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]}


def make_certificate(key_type: str) -> tuple[Path, Path, Path]:
    """One self-signed certificate for all servers, RSA-2048 by default (--key ecdsa: ECDSA
    P-256; vsftpd 3.0.3 takes either through its rsa_cert_file, ProFTPD through
    TLSECCertificateFile). Returns (cert, key, cert+key bundle)."""
    cert, key, bundle = WORK / "bench-cert.pem", WORK / "bench-key.pem", WORK / "bench-bundle.pem"
    run(["openssl", "req", "-x509", "-newkey", *KEY_TYPES[key_type], "-nodes", "-days", "2",
         "-subj", "/CN=filegate bench", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)])
    os.chmod(key, 0o600)
    bundle.write_text(cert.read_text() + key.read_text())
    os.chmod(bundle, 0o600)
    return cert, key, bundle


def tls_probe(s: "Server") -> str:
    """Negotiated protocol and suite of the control and of one data connection (ftplib)."""
    ftp = ftps_login(s, timeout=30, eager=True)
    ctl = f"{ftp.sock.version()} {ftp.sock.cipher()[0]}"
    conn = ftp.transfercmd("LIST")
    data = f"{conn.version()} {conn.cipher()[0]}, resumed={'yes' if conn.session_reused else 'no'}"
    while conn.recv(65536):
        pass
    conn.unwrap()
    conn.close()
    ftp.voidresp()
    ftp.quit()
    return f"control {ctl}; data {data}"


# --------------------------------------------------------------------------------------------
# Servers


def url(s: Server, path: str) -> str:
    return f"ftp://{USER}:{PASSWORD}@127.0.0.1:{s.port}/{path}"


def ensure_peers() -> None:
    needed = [PEER_ROOT / "usr/sbin/vsftpd", PEER_ROOT / "usr/sbin/pure-ftpd", PEER_ROOT / "usr/bin/pure-pw",
              *PROFTPD_NEEDED, PROFTPD_MODULES / "mod_tls.so"]
    _ensure_peers(needed, PEER_DEBS, "vsftpd, proftpd and pure-ftpd")


def write_configs(servers: dict[str, Server], password_hash: str, uid: int, gid: int,
                  max_conn: int, tls: tuple[Path, Path, Path] | None = None) -> None:
    """tls = (certificate, key, certificate+key): FTPS required on both channels."""
    WORK.mkdir(parents=True, exist_ok=True)
    if "filegate" in servers:
        s = servers["filegate"]
        lo, hi = PASV_RANGES["filegate"]
        cfg = WORK / "filegate.yaml"
        # Defaults otherwise: TLS required on control and data, data sessions must resume.
        tls_yaml = (f"  tls: {{certificate: {tls[0]}, private_key: {tls[1]}}}\n" if tls else "")
        cfg.write_text(f"""# generated by bench/ftp_bench.py
log:
  level: warn
limits:
  max_connections: {max_conn}
  max_connections_per_ip: {max_conn}
  control_idle_timeout: 600
ftp:
  listen: ["127.0.0.1:{s.port}"]
  passive_ports: "{lo}-{hi}"
{tls_yaml}users:
  - name: {USER}
    password_hash: "{password_hash}"
    home: {s.home}
    permissions: elradfmwMT
    protocols: [{"ftps" if tls else "ftp"}]
""")
        s.extra["config"] = cfg
    if "vsftpd" in servers:
        s = servers["vsftpd"]
        lo, hi = PASV_RANGES["vsftpd"]
        empty = WORK / "vsftpd-empty"
        empty.mkdir(exist_ok=True)
        os.chmod(empty, 0o555)
        cfg = WORK / "vsftpd.conf"
        # pam_service_name names a service without a file in /etc/pam.d, so PAM uses
        # /etc/pam.d/other (pam_unix against /etc/shadow). isolate/isolate_network keep
        # vsftpd's defaults (as Debian ships it).
        cfg.write_text(f"""# generated by bench/ftp_bench.py
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={s.port}
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
pasv_enable=YES
pasv_min_port={lo}
pasv_max_port={hi}
pam_service_name=fgbench-vsftpd
seccomp_sandbox=NO
secure_chroot_dir={empty}
xferlog_enable=NO
dirmessage_enable=NO
max_clients={max_conn}
max_per_ip={max_conn}
idle_session_timeout=600
userlist_enable=NO
tcp_wrappers=NO
session_support=NO
ftpd_banner=vsftpd bench
""" + (f"""ssl_enable=YES
rsa_cert_file={tls[0]}
rsa_private_key_file={tls[1]}
force_local_logins_ssl=YES
force_local_data_ssl=YES
require_ssl_reuse=YES
""" if tls else ""))
        os.chmod(cfg, 0o600)
        s.extra["config"] = cfg
    if "pure-ftpd" in servers:
        s = servers["pure-ftpd"]
        passwd = WORK / "pureftpd.passwd"
        pdb = WORK / "pureftpd.pdb"
        for p in (passwd, pdb):
            p.unlink(missing_ok=True)
        pure_pw = str(PEER_ROOT / "usr/bin/pure-pw")
        # pure-pw asks for a password; put a throwaway one in, then swap in the shared hash.
        subprocess.run([pure_pw, "useradd", USER, "-u", str(uid), "-g", str(gid),
                        "-D", str(s.home), "-f", str(passwd)],
                       input="throwaway\nthrowaway\n", text=True, check=True,
                       capture_output=True, env=peer_env())
        fields = passwd.read_text().strip().split(":")
        fields[1] = password_hash
        passwd.write_text(":".join(fields) + "\n")
        subprocess.run([pure_pw, "mkdb", str(pdb), "-f", str(passwd)], check=True,
                       capture_output=True, env=peer_env())
        s.extra["pdb"] = pdb
    if "proftpd" in servers:
        write_proftpd_config(servers["proftpd"], password_hash, uid, gid, max_conn, tls)
    for s in servers.values():
        s.extra["tls"] = tls
        s.extra["cafile"] = tls[0] if tls else None


def write_proftpd_config(s: Server, password_hash: str, uid: int, gid: int, max_conn: int,
                         tls: tuple[Path, Path, Path] | None) -> None:
    """ProFTPD 1.3.8: main server off, one <VirtualHost 127.0.0.1>. The user comes from an
    AuthUserFile (passwd format, the shared hash, this server's home) checked by mod_auth_file
    alone, so neither PAM nor /etc/passwd's home is involved."""
    lo, hi = PASV_RANGES["proftpd"]
    passwd, group = WORK / "proftpd.passwd", WORK / "proftpd.group"
    passwd.write_text(f"{USER}:{password_hash}:{uid}:{gid}::{s.home}:/usr/sbin/nologin\n")
    group.write_text(f"{grp.getgrgid(gid).gr_name}:x:{gid}:\n")
    for p in (passwd, group):
        os.chmod(p, 0o600)
    tls_conf = ""
    if tls:
        text = subprocess.run(["openssl", "x509", "-in", str(tls[0]), "-noout", "-text"], check=True,
                              capture_output=True, text=True).stdout
        kind = "TLSEC" if "id-ecPublicKey" in text else "TLSRSA"
        # TLS required on control and data; data connections must resume the control
        # connection's session (mod_tls's default, no NoSessionReuseRequired).
        tls_conf = f"""  TLSEngine on
  TLSRequired on
  {kind}CertificateFile {tls[0]}
  {kind}CertificateKeyFile {tls[1]}
  TLSProtocol TLSv1.2 TLSv1.3
  TLSVerifyClient off
  TLSRenegotiate none
"""
    cfg = WORK / "proftpd.conf"
    # mod_tls is a shared module, loaded for FTPS only. mod_ident (shared) is not loaded; the
    # IfModule block keeps ident lookups off should it ever be.
    cfg.write_text(proftpd_global_config("bench/ftp_bench.py", WORK, max_conn,
                                         ["mod_tls.c"] if tls else []) + f"""<IfModule mod_ident.c>
  IdentLookups off
</IfModule>
<VirtualHost 127.0.0.1>
  Port {s.port}
  AuthOrder mod_auth_file.c
  AuthUserFile {passwd}
  AuthGroupFile {group}
  RequireValidShell off
  AllowOverwrite on
  Umask 022
  PassivePorts {lo} {hi}
  MaxClients none
  MaxClientsPerHost none
  MaxClientsPerUser none
  MaxConnectionsPerHost none
  MaxHostsPerUser none
  TimeoutIdle 600
  TimeoutNoTransfer 600
{tls_conf}</VirtualHost>
""")
    s.extra["config"] = cfg


def start_server(s: Server, filegate_bin: Path, max_conn: int) -> None:
    if s.name == "filegate":
        cmd, env = [str(filegate_bin), "run", "--config", str(s.extra["config"])], None
    elif s.name == "vsftpd":
        cmd, env = [str(PEER_ROOT / "usr/sbin/vsftpd"), str(s.extra["config"])], peer_env()
    elif s.name == "proftpd":
        cmd, env = proftpd_command(s.extra["config"]), peer_env()
    else:
        lo, hi = PASV_RANGES["pure-ftpd"]
        cmd = [str(PEER_ROOT / "usr/sbin/pure-ftpd"),
               "-l", f"puredb:{s.extra['pdb']}",
               "-S", f"127.0.0.1,{s.port}",
               "-p", f"{lo}:{hi}",
               "-c", str(max_conn), "-C", str(max_conn),
               "-E",          # no anonymous logins
               "-H",          # no reverse DNS
               "-I", "15",    # idle timeout, minutes
               "-u", "1",     # minimum uid (the bench user is a system account)
               "-g", str(WORK / "pure-ftpd.pid")]
        if s.extra.get("tls"):
            # -Y 3: TLS required on the control channel and on data channels (like the
            # others); -2: certificate and key in one PEM.
            cmd += ["-Y", "3", "-2", str(s.extra["tls"][2])]
        env = peer_env()

    def ready() -> None:
        c = Control(s.port, timeout=2)
        c.login(client_tls_context(s.extra["cafile"]) if s.extra.get("cafile") else None)
        c.command("QUIT")
        c.close()

    launch(s, cmd, env, ready)


# --------------------------------------------------------------------------------------------
# Figures


def curl_transfer(s: Server, direction: str, src: Path, size: int) -> tuple[float, float]:
    """One curl transfer; returns (MB/s, server CPU seconds per GiB)."""
    tls = ["--ssl-reqd", "--cacert", str(s.extra["cafile"]), "-v"] if s.extra.get("cafile") else []
    if direction == "STOR":
        target = s.home / "upload.bin"
        target.unlink(missing_ok=True)
        cmd = ["curl", "-sS", "--ftp-pasv", *tls, "-T", str(src),
               "-w", "%{size_upload} %{time_total}", url(s, "upload.bin")]
    else:
        cmd = ["curl", "-sS", "--ftp-pasv", *tls, "-o", "/dev/null",
               "-w", "%{size_download} %{time_total}", url(s, "big.bin")]
    base_procs = len(process_tree(s.pid))
    cpu0 = tree_cpu_seconds(s.pid)
    done = run(cmd)
    out = done.stdout.split()
    if tls:
        # curl -v: "* SSL connection using TLSv1.3 / TLS_AES_256_GCM_SHA384", once for the
        # control and once for the data connection; "PROT P" must have been accepted.
        used = [ln.split("using", 1)[1].strip() for ln in done.stderr.splitlines()
                if "SSL connection using" in ln]
        if "> PROT P" not in done.stderr:
            raise RuntimeError(f"{s.name} {direction}: curl did not send PROT P")
        s.extra.setdefault("curl_tls", set()).update(used)
    wait_tree_settles(s.pid, base_procs)
    cpu = tree_cpu_seconds(s.pid) - cpu0
    moved, seconds = int(float(out[0])), float(out[1])
    if moved != size:
        raise RuntimeError(f"{s.name} {direction}: moved {moved} bytes, expected {size}")
    if direction == "STOR":
        got = (s.home / "upload.bin").stat().st_size
        if got != size:
            raise RuntimeError(f"{s.name} STOR: file has {got} bytes, expected {size}")
        (s.home / "upload.bin").unlink()
    return size / MB / seconds, cpu / (size / GIB)


# Small files are timed in blocks of this many, servers taking turns block by block.
SMALL_BLOCK = 100


def small_files(servers: list[Server], count: int, size: int, eager: bool = False,
                stalled: Callable[[str, Exception], None] = lambda name, e: None) -> dict[str, tuple[float, float]]:
    """`count` x `size` STOR, then RETR of each, one session per server. The servers take
    turns every SMALL_BLOCK files (all upload block 1, then all block 2, ...), so a change in
    the machine's speed during the run (on this virtual machine it can double the time per file
    within minutes) hits every server alike. Returns name -> (up s, down s), the sums of the
    blocks; a server that stalls is reported to `stalled` and left out."""
    payload = os.urandom(size)
    sessions: dict[str, ftplib.FTP] = {}
    for s in servers:
        folder = s.home / "small"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        if s.name != "filegate":
            os.chown(folder, s.extra["uid"], s.extra["gid"])
        if s.extra.get("cafile"):
            # AUTH TLS, PROT P, data connections resume the TLS session. A server that stalls a
            # client waiting for 150 gets 10 s before the run counts as failed (ServerStalled).
            ftp = ftps_login(s, timeout=60 if eager else 10, eager=eager)
        else:
            ftp = ftplib.FTP()
            ftp.connect("127.0.0.1", s.port, timeout=60)
            ftp.login(USER, PASSWORD)
            ftp.set_pasv(True)
        ftp.cwd("small")
        sessions[s.name] = ftp
    up = dict.fromkeys(sessions, 0.0)
    down = dict.fromkeys(sessions, 0.0)
    received = dict.fromkeys(sessions, 0)

    def drop(name: str, e: Exception) -> None:
        sessions.pop(name).close()
        stalled(name, e)

    for start in range(0, count, SMALL_BLOCK):
        for name, ftp in list(sessions.items()):
            t0 = time.perf_counter()
            try:
                for i in range(start, min(start + SMALL_BLOCK, count)):
                    ftp.storbinary(f"STOR f{i:05d}.bin", io.BytesIO(payload))
            except (TimeoutError, ftplib.error_temp) as e:
                drop(name, ServerStalled(f"{name}: STOR {i + 1} of {count}: {e!r}"))
                continue
            up[name] += time.perf_counter() - t0
    for start in range(0, count, SMALL_BLOCK):
        for name, ftp in list(sessions.items()):
            def sink(chunk: bytes, name: str = name) -> None:
                received[name] += len(chunk)
            t0 = time.perf_counter()
            try:
                for i in range(start, min(start + SMALL_BLOCK, count)):
                    ftp.retrbinary(f"RETR f{i:05d}.bin", sink)
            except (TimeoutError, ftplib.error_temp) as e:
                drop(name, ServerStalled(f"{name}: RETR {i + 1} of {count}: {e!r}"))
                continue
            down[name] += time.perf_counter() - t0
    results = {}
    for name, ftp in sessions.items():
        ftp.quit()
        if received[name] != count * size:
            raise RuntimeError(f"{name}: downloaded {received[name]} bytes, expected {count * size}")
        results[name] = (up[name], down[name])
    for s in servers:
        shutil.rmtree(s.home / "small", ignore_errors=True)
    return results


def ftp_session_setup(port: int, cafile: Path | None):
    """For sessions_per_second: connect, greeting, (AUTH TLS,) USER, PASS, QUIT, close."""
    def setup():
        # One client context per worker: every session makes a full handshake (no resumption).
        tls = client_tls_context(cafile) if cafile else None

        def one_session() -> None:
            c = Control(port, timeout=30)
            c.login(tls)
            c.command("QUIT")
            c.close()
        return one_session
    return setup


def ftp_idle_kib(s: Server, count: int) -> float:
    def open_session() -> Control:
        c = Control(s.port, timeout=60)
        c.login()
        return c

    def check(c: Control) -> None:
        # Every session answers a NOOP, so none is half set-up while we measure.
        if c.command("NOOP") != 200:
            raise RuntimeError(f"{s.name}: NOOP refused")

    def close(c: Control) -> None:
        try:
            c.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        c.close()

    return idle_session_kib(s, count, open_session, check, close)


class ServerStalled(Exception):
    """A transfer that did not complete: the figure is shown as failed, the run goes on."""


# --------------------------------------------------------------------------------------------
# Table


FIGURES = [
    Figure("retr_mbs", "RETR 1 file, MB/s", True, "{:.0f}"),
    Figure("stor_mbs", "STOR 1 file, MB/s", True, "{:.0f}"),
    Figure("retr_cpu", "RETR server CPU s/GiB", False, "{:.3f}"),
    Figure("stor_cpu", "STOR server CPU s/GiB", False, "{:.3f}"),
    Figure("small_up", "small files up, s", False, "{:.2f}"),
    Figure("small_down", "small files down, s", False, "{:.2f}"),
    Figure("sessions", "sessions/s (8 clients)", True, "{:.0f}"),
    Figure("idle_kib", "KiB per idle session", False, "{:.1f}"),
    Figure("ftps_retr_mbs", "FTPS RETR 1 file, MB/s", True, "{:.0f}"),
    Figure("ftps_stor_mbs", "FTPS STOR 1 file, MB/s", True, "{:.0f}"),
    Figure("ftps_retr_cpu", "FTPS RETR server CPU s/GiB", False, "{:.3f}"),
    Figure("ftps_stor_cpu", "FTPS STOR server CPU s/GiB", False, "{:.3f}"),
    Figure("ftps_small_up", "FTPS small files up, s (TLS after 150)", False, "{:.2f}"),
    Figure("ftps_small_down", "FTPS small files down, s (TLS after 150)", False, "{:.2f}"),
    Figure("ftps_small_eager_up", "FTPS small files up, s (TLS before 150)", False, "{:.2f}"),
    Figure("ftps_small_eager_down", "FTPS small files down, s (TLS before 150)", False, "{:.2f}"),
    Figure("ftps_sessions", "FTPS sessions/s (8 clients)", True, "{:.0f}"),
]


def target_check(key: str, res: dict[str, dict[str, float]]) -> str:
    fg = res.get("filegate", {}).get(key)
    peers = {n: r[key] for n, r in res.items() if n != "filegate" and key in r}
    if fg is None:
        return "-"
    best_hi = max(peers.values()) if peers else None
    best_lo = min(peers.values()) if peers else None

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    if key in ("retr_mbs", "stor_mbs"):
        return f">= 1.1x best: " + (verdict(fg >= 1.1 * best_hi) if peers else "n/a")
    if key in ("retr_cpu", "stor_cpu"):
        return "< best: " + (verdict(fg < best_lo) if peers else "n/a")
    if key in ("small_up", "small_down"):
        return "<= best: " + (verdict(fg <= best_lo) if peers else "n/a")
    if key == "sessions":
        if "pure-ftpd" not in peers:
            return ">= 2x pure-ftpd: n/a"
        return f">= 2x pure-ftpd ({fg / peers['pure-ftpd']:.2f}x): " + verdict(fg >= 2 * peers["pure-ftpd"])
    if key == "idle_kib":
        return "<= 8 KiB: " + verdict(fg <= 8)
    if key in ("ftps_retr_mbs", "ftps_stor_mbs"):
        return f">= 1.3x best: " + (verdict(fg >= 1.3 * best_hi) if peers else "n/a")
    if key.startswith("ftps_small_"):
        # "1.3x faster": the best peer takes at least 1.3 times as long.
        return f"1.3x faster than best: " + (verdict(fg * 1.3 <= best_lo) if peers else "n/a")
    if key == "ftps_sessions":
        if "pure-ftpd" not in peers:
            return ">= 2x pure-ftpd: n/a"
        return f">= 2x pure-ftpd ({fg / peers['pure-ftpd']:.2f}x): " + verdict(fg >= 2 * peers["pure-ftpd"])
    return "-"


def print_ftp_table(res: dict[str, dict[str, float]], title: str,
                    failed: dict[str, set[str]] | None = None) -> None:
    failed = failed or {}
    print_table(res, title, FIGURES, ALL_SERVERS, [("ratio to best peer", None)],
                lambda key: (target_check(key, res) if key not in failed.get("filegate", set())
                             else "MISSED (filegate failed)"),
                {n: {k: "FAILED" for k in keys} for n, keys in failed.items()})


# --------------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args(
        __doc__, ALL_SERVERS, ONLY_CHOICES,
        quick_help="smoke run: 64 MiB file, 100 small files, 2 s of sessions, 100 idle sessions, 1 repetition",
        reps_help="repetitions per figure (median); default 5 for throughput, 3 otherwise, quick 1",
        json_default=WORK / "results.json",
        why_root="vsftpd logs in through PAM against a system user this script adds",
        more=lambda ap: ap.add_argument(
            "--key", choices=sorted(KEY_TYPES), default="rsa",
            help="the FTPS certificate's key, the same for every server (default: rsa)"))
    servers_wanted, only = args.servers_wanted, args.only_set

    (big, n_small, small_size, session_seconds, session_clients, n_idle, reps,
     throughput_reps) = make_plan(args, n_idle=(100, 1000))
    max_conn = 5000

    # Enough descriptors for the idle sessions; SIGTERM runs the finally block below.
    begin_run(nofile=4 * n_idle + 1024)

    if any(s != "filegate" for s in servers_wanted):
        ensure_peers()
    WORK.mkdir(parents=True, exist_ok=True)
    fresh_dir(SHM)

    revision = git_describe()  # now, not at the end: others may edit the tree meanwhile
    password_hash = bench_password_hash(args.filegate)

    plain_wanted = only & {"throughput", "small", "sessions", "memory"}
    ftps_wanted = only & {"ftps_throughput", "ftps_small", "ftps_sessions"}
    servers: dict[str, Server] = {}
    user: SystemUser | None = None
    results: dict[str, dict[str, float]] = {n: {} for n in servers_wanted}
    raw: dict[str, dict[str, list[float]]] = {n: {} for n in servers_wanted}
    tls_used: dict[str, str] = {}
    failed: dict[str, set[str]] = {n: set() for n in servers_wanted}
    load = os.getloadavg()
    try:
        for name in servers_wanted:
            home = SHM / name
            home.mkdir(mode=0o755)
            servers[name] = Server(name=name, home=home)
        user = setup_user(password_hash, servers["vsftpd"].home if "vsftpd" in servers else SHM)
        for s in servers.values():
            s.extra["uid"], s.extra["gid"] = user.uid, user.gid
            if s.name != "filegate":  # the forking peers write as the bench user
                os.chown(s.home, user.uid, user.gid)

        src = SHM / "source.bin"
        if only & {"throughput", "ftps_throughput"}:
            log(f"writing a {big >> 20} MiB source file on /dev/shm")
            block = os.urandom(1 << 20)
            with open(src, "wb") as f:
                for _ in range(big >> 20):
                    f.write(block)
            os.chmod(src, 0o644)
            for s in servers.values():
                os.link(src, s.home / "big.bin")

        load = os.getloadavg()
        log(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

        def record(name: str, key: str, value: float) -> None:
            raw[name].setdefault(key, []).append(value)
            results[name][key] = statistics.median(raw[name][key])

        def start_all(tls: tuple[Path, Path, Path] | None) -> None:
            for s in servers.values():
                s.port = free_port()
            write_configs(servers, password_hash, user.uid, user.gid, max_conn, tls)
            for s in servers.values():
                start_server(s, args.filegate, max_conn)

        # Two phases: plain FTP, then the same servers restarted with TLS required (a server
        # that requires TLS refuses the plain figures' logins, and vice versa).
        phases = ([None] if plain_wanted or (args.hold and not ftps_wanted) else [])
        if ftps_wanted:
            phases.append(make_certificate(args.key))
        for tls in phases:
            start_all(tls)
            if tls is not None:
                for s in servers.values():
                    tls_used[s.name] = tls_probe(s)
                    log(f"{s.name} FTPS: {tls_used[s.name]}")

            if args.hold:
                for s in servers.values():
                    print(f"{s.name}: pid {s.server_pid}  {url(s, '')}  home {s.home}", flush=True)
                if tls is not None:
                    print(f"FTPS required; CA file {tls[0]} (curl --ssl-reqd --cacert ...)", flush=True)
                print(f"source file: {src if src.exists() else '-'}; ^C (or SIGTERM) tears down", flush=True)
                hold_until_interrupted()
                return 0

            pre = "" if tls is None else "ftps_"
            # Memory first, while every server is fresh.
            if tls is None and "memory" in only:
                for s in servers.values():
                    record(s.name, "idle_kib", ftp_idle_kib(s, n_idle))
            # Figure by figure, servers interleaved within each repetition, so a burst of load
            # from elsewhere on the machine hits all servers rather than one.
            if pre + "throughput" in only:
                for rep in range(throughput_reps):
                    for s in servers.values():
                        for direction in ("RETR", "STOR"):
                            mbs, cpu = curl_transfer(s, direction, src, big)
                            record(s.name, pre + direction.lower() + "_mbs", mbs)
                            record(s.name, pre + direction.lower() + "_cpu", cpu)
                            log(f"{s.name} {pre}{direction} {rep + 1}/{throughput_reps}: "
                                f"{mbs:.0f} MB/s, {cpu:.3f} CPU s/GiB")
            if pre + "small" in only:
                # Over FTPS twice: ftplib's order (data TLS after the 1xx reply, the brief's
                # ReusingFTP_TLS), then curl's order (data TLS right after the command).
                variants = [(pre + "small_", False)] + ([(pre + "small_eager_", True)] if tls else [])
                for rep in range(reps):
                    for key, eager in variants:
                        def stalled(name: str, e: Exception, key: str = key) -> None:
                            log(f"FAILED {key}: {e}")
                            failed[name].update({key + "up", key + "down"})
                        running = [s for s in servers.values() if key + "up" not in failed[s.name]]
                        times = small_files(running, n_small, small_size, eager, stalled)
                        for name, (up, down) in times.items():
                            record(name, key + "up", up)
                            record(name, key + "down", down)
                            log(f"{name} {key} {rep + 1}/{reps}: up {up:.2f} s, down {down:.2f} s")
            if pre + "sessions" in only:
                for rep in range(reps):
                    for s in servers.values():
                        rate, _cpu_ms = sessions_per_second(
                            s, session_clients, session_seconds,
                            ftp_session_setup(s.port, s.extra.get("cafile")))
                        record(s.name, pre + "sessions", rate)
            for s in servers.values():
                if s.extra.get("curl_tls"):
                    tls_used[s.name] += "; curl " + ", ".join(sorted(s.extra["curl_tls"]))
                stop_server(s)
    finally:
        for s in servers.values():
            stop_server(s)
        teardown_user(user)
        shutil.rmtree(SHM, ignore_errors=True)
        for name in ("bench-key.pem", "bench-bundle.pem"):  # never leave the key lying around
            (WORK / name).unlink(missing_ok=True)

    title = (f"filegate {revision} (tree at start; binary {args.filegate}) vs vsftpd {deb_version('vsftpd')}, "
             f"ProFTPD {deb_version('proftpd-core')} (mod_tls), pure-ftpd {deb_version('pure-ftpd')}; "
             f"{'quick' if args.quick else 'full'} mode, median of {throughput_reps} (throughput) / {reps}; "
             f"{big >> 20} MiB file, {n_small} x {small_size >> 10} KiB, "
             f"{session_clients} clients x {session_seconds:.0f} s, {n_idle} idle sessions; "
             f"{os.cpu_count()} CPUs, TCP {tcp_congestion_control()}, load {load[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    print_ftp_table(results, title, failed)
    if tls_used:
        print(f"FTPS certificate: {'ECDSA P-256' if args.key == 'ecdsa' else 'RSA-2048'}, the same for every server (--key)")
        print("FTPS negotiated (ftplib probe: control, one data connection; curl: every connection of the throughput runs):")
        for name, used in tls_used.items():
            print(f"  {name}: {used}")
        print()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"title": title, "median": results, "runs": raw,
                                     "ftps_negotiated": tls_used, "ftps_key": args.key,
                                     "failed": {n: sorted(f) for n, f in failed.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
