"""Shared fixtures and helpers for filegate's integration tests.

The tests drive the real `filegate` binary (env FILEGATE_BIN) with real clients: Python's
ftplib, a raw socket client for byte-exact protocol checks, curl and lftp; for SFTP, OpenSSH's
sftp/ssh (with sshpass for passwords) and paramiko (`server_factory.start(sftp=True)`, then
sftp_client() / sftp_batch()). Everything runs on
loopback; listeners bind port 0 and the real port is read from the server's "listening" log
line, so there is no port race. Every socket operation has a timeout: a hung server fails a
test instead of hanging it.
"""

import contextlib
import datetime
import ftplib
import hashlib
import ipaddress
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import warnings

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "build" / "test" / "src" / "filegate"

# Seconds any single socket operation may take before the test fails.
TIMEOUT = 20.0
# Seconds the server may take to start (ASan start-up is slow) and to stop on SIGTERM.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0

PASSWORDS = {"alice": "Alice-pw-7f3a9c1e", "bob": "Bob-pw-2d8e4b60"}

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

MIB = 1024 * 1024


def filegate_bin():
    return os.environ.get("FILEGATE_BIN", str(DEFAULT_BIN))


# --------------------------------------------------------------------------------------------
# Password hashes
# --------------------------------------------------------------------------------------------

def run_passwd(password, method="sha512crypt"):
    """Runs `filegate passwd --method METHOD` with the password on stdin."""
    return subprocess.run([filegate_bin(), "passwd", "--method", method],
                          input=password + "\n", capture_output=True, text=True, timeout=60)


def python_sha512_crypt(password):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # deprecated in 3.11, still present in Debian 12's Python
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def python_crypt_verify(password, hashed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
        return crypt.crypt(password, hashed) == hashed


@pytest.fixture(scope="session")
def password_hashes():
    """sha512-crypt hashes of PASSWORDS, computed once per session by `filegate passwd`.

    If `filegate passwd` itself is broken, the hashes come from Python's crypt module so the
    FTP tests still say something; test_passwd_* in test_ftp_commands.py fails on its own then.
    """
    hashes = {}
    for user, password in PASSWORDS.items():
        try:
            proc = run_passwd(password)
            hashed = proc.stdout.strip()
            ok = proc.returncode == 0 and hashed.startswith("$6$")
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        hashes[user] = hashed if ok else python_sha512_crypt(password)
    return hashes


# --------------------------------------------------------------------------------------------
# Config files
# --------------------------------------------------------------------------------------------

def _yaml_scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid double-quoted YAML scalar


def _yaml_lines(value, indent):
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml_lines(item, indent + 1))
            elif isinstance(item, dict):
                lines.append(f"{pad}{key}: {{}}")
            elif isinstance(item, list):
                lines.append(f"{pad}{key}: []")
            else:
                lines.append(f"{pad}{key}: {_yaml_scalar(item)}")
    else:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                sub = _yaml_lines(item, indent + 1)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    return lines


def to_yaml(value):
    """Block-style YAML for dicts/lists/scalars (no PyYAML needed)."""
    return "\n".join(_yaml_lines(value, 0)) + "\n"


def rewrite_config(server, config):
    """Replaces the server's config file the way an editor or a deploy tool would (rename)."""
    tmp = server.config_path.with_suffix(".tmp")
    tmp.write_text(to_yaml(config))
    os.replace(tmp, server.config_path)


def deep_merge(base, override):
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


DEFAULT_LIMITS = {
    "control_idle_timeout": 120,
    "data_connect_timeout": 10,
    "transfer_stall_timeout": 30,
    "max_command_line": 4096,
    "max_connections": 1000,
    "max_connections_per_ip": 100,
    "failed_login_delay_ms": 1000,
    "max_login_failures": 3,
}


# --------------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------------

def parse_address(text):
    """'127.0.0.1:2121' or '[::1]:2121' -> (host, port)."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class FilegateServer:
    """One `filegate run` process with its temporary tree:

        root/alice  root/bob  root/pub (anonymous)  root/outside (never served)
    """

    def __init__(self, root, config):
        self.root = pathlib.Path(root)
        self.config = config
        self.config_path = self.root / "filegate.yaml"
        self.config_path.write_text(to_yaml(config))
        self.proc = None
        self._lines = []  # stderr: the JSON log
        self._stdout = []
        self._lock = threading.Lock()
        self._threads = []
        self.endpoints = []  # (host, port) per FTP listener, in log (= config) order
        self.implicit = []   # implicit_tls flag per entry of self.endpoints
        self.sftp_endpoints = []  # (host, port) per SFTP listener
        self.stopped = False

    # ---- paths
    def home(self, user="alice"):
        return self.root / ("pub" if user == "anonymous" else user)

    @property
    def outside(self):
        return self.root / "outside"

    # ---- endpoints
    @property
    def host(self):
        return self.endpoints[0][0]

    @property
    def port(self):
        """The first IPv4 listener that is not implicit FTPS."""
        for (host, port), implicit in zip(self.endpoints, self.implicit):
            if ":" not in host and not implicit:
                return port
        return self.endpoints[0][1]

    @property
    def implicit_port(self):
        for (host, port), implicit in zip(self.endpoints, self.implicit):
            if implicit:
                return port
        raise AssertionError("the server has no implicit FTPS listener")

    @property
    def sftp_port(self):
        """The first IPv4 SFTP listener."""
        for host, port in self.sftp_endpoints:
            if ":" not in host:
                return port
        raise AssertionError("the server has no IPv4 SFTP listener")

    @property
    def port6(self):
        for host, port in self.endpoints:
            if ":" in host:
                return port
        raise AssertionError("the server has no IPv6 listener")

    # ---- process
    def start(self):
        self.proc = subprocess.Popen(
            [filegate_bin(), "run", "--config", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for stream, sink in ((self.proc.stderr, self._lines), (self.proc.stdout, self._stdout)):
            t = threading.Thread(target=self._drain, args=(stream, sink), daemon=True)
            t.start()
            self._threads.append(t)
        wanted = len(self.config.get("ftp", {}).get("listen", []))
        wanted_sftp = len(self.config.get("sftp", {}).get("listen", []))
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            listening = [e for e in self.events("listening") if e.get("protocol") == "ftp"]
            listening_sftp = [e for e in self.events("listening") if e.get("protocol") == "sftp"]
            if len(listening) >= wanted and len(listening_sftp) >= wanted_sftp:
                self.endpoints = [parse_address(e["address"]) for e in listening]
                self.implicit = [bool(e.get("implicit_tls")) for e in listening]
                self.sftp_endpoints = [parse_address(e["address"]) for e in listening_sftp]
                return self
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the drain threads catch the last lines
                raise AssertionError(
                    f"filegate exited with {self.proc.returncode} before listening:\n"
                    + self.output_tail())
            time.sleep(0.05)
        self.kill()
        raise AssertionError("filegate logged no 'listening' line for every listener in "
                             f"{START_TIMEOUT}s:\n" + self.output_tail())

    def _drain(self, stream, sink):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                sink.append(line)
        stream.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)

    def stop(self):
        """SIGTERM; asserts a prompt exit and no sanitizer report in the output."""
        if self.stopped or self.proc is None:
            return
        self.stopped = True
        problems = []
        if self.proc.poll() is not None:
            problems.append(f"filegate died during the test (exit status {self.proc.returncode})")
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
                problems.append(f"filegate did not exit within {STOP_TIMEOUT}s of SIGTERM")
            else:
                if self.proc.returncode not in (0, -signal.SIGTERM):
                    problems.append(f"filegate exited with status {self.proc.returncode} "
                                    "after SIGTERM")
        for t in self._threads:
            t.join(5)
        with self._lock:
            everything = self._lines + self._stdout
        report = sanitizer_report(everything)
        if report:
            problems.append("sanitizer report in filegate's output (filegate frames only):\n"
                            + report)
        if problems:
            tail = [l[:300] for l in self.lines() if not l.startswith("    #")][-30:]
            raise AssertionError("\n".join(problems) + "\n--- output tail ---\n"
                                 + "\n".join(tail))

    # ---- logs
    def lines(self):
        with self._lock:
            return list(self._lines)

    def output(self):
        return "\n".join(self.lines())

    def output_tail(self, n=40):
        return "\n".join(self.lines()[-n:])

    def logs(self):
        """Every JSON log object printed so far."""
        out = []
        for line in self.lines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def events(self, name, **fields):
        return [e for e in self.logs()
                if e.get("event") == name and all(e.get(k) == v for k, v in fields.items())]

    def wait_for_event(self, name, timeout=15.0, count=1, **fields):
        """Waits until at least `count` events match; returns the matching events."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(name, **fields)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {count} log event(s) {name!r} with {fields} within {timeout}s; "
                    f"got {found}\n--- output tail ---\n{self.output_tail()}")
            time.sleep(0.05)


def sanitizer_report(lines, limit=60):
    """The sanitizer reports in `lines`, cut down to their headers and filegate's own frames."""
    out = []
    inside = False
    src = str(REPO / "src") + "/"
    for line in lines:
        if any(m in line for m in SANITIZER_MARKERS):
            inside = True
            out.append(line[:300])
        elif inside:
            if line.startswith("    #"):
                if src in line:
                    out.append("    " + re.sub(r"^\s*#\d+ 0x[0-9a-f]+ in ", "", line)[:300])
            elif line.startswith("SUMMARY"):
                out.append(line[:300])
                inside = False
            elif line.startswith("Shadow bytes"):
                inside = False  # the shadow map says nothing to a reader of this test
            elif line.strip() and not line.startswith("{"):
                out.append(line[:300])
    return "\n".join(out[:limit])


class ServerFactory:
    """Creates servers with a default config (alice, bob, optional anonymous) plus overrides."""

    def __init__(self, base_dir, hashes):
        self.base_dir = pathlib.Path(base_dir)
        self.hashes = hashes
        self.servers = []

    def config_for(self, root, *, anonymous=False, listen=None, limits=None, ftp=None,
                   users=None, extra=None, tls=None, user_tls=None, user_extra=None, sftp=None):
        alice_home, bob_home, pub_home = root / "alice", root / "bob", root / "pub"
        config = {
            "log": {"level": "info"},
            "limits": dict(DEFAULT_LIMITS),
            "ftp": {
                "listen": listen or ["127.0.0.1:0"],
                "active_mode": True,
                "active_allow_privileged_ports": False,
                "active_allow_fxp": False,
                "atomic_uploads": False,
            },
            "users": users if users is not None else [
                {
                    "name": "alice",
                    "password_hash": self.hashes["alice"],
                    "home": str(alice_home),
                    "permissions": "elradfmwMT",
                    "directories": [
                        {"path": "/inbox", "permissions": "ew", "recursive": True},
                        {"path": "/outbox", "permissions": "elr"},
                    ],
                },
                {
                    "name": "bob",
                    "password_hash": self.hashes["bob"],
                    "home": str(bob_home),
                    "permissions": "elr",
                },
            ],
            "anonymous": {"enabled": bool(anonymous), "home": str(pub_home),
                          "permissions": "elr"},
        }
        if limits:
            config["limits"].update(limits)
        if ftp is False:
            del config["ftp"]  # an SFTP-only server
        elif ftp:
            config["ftp"].update(ftp)
        if sftp:
            # sftp=True: one listener on port 0 with the test host keys; a dict adds or
            # overrides sftp keys. Users get their test public keys (SshKeys.USERS).
            keys = SshKeys.get()
            config["sftp"] = {"listen": ["127.0.0.1:0"], "host_keys": keys.host_keys()}
            if isinstance(sftp, dict):
                config["sftp"].update(sftp)
            for user in config["users"]:
                if user["name"] in keys.USERS and "authorized_keys" not in user:
                    user["authorized_keys"] = [keys.public_line(user["name"])]
        if tls:
            config["ftp"]["tls"] = dict(tls)  # ftp.tls: certificate, private_key, policies...
        for user in config["users"]:
            if user_tls and user["name"] in user_tls:
                user["tls"] = dict(user_tls[user["name"]])  # per-user TLS overrides
            if user_extra and user["name"] in user_extra:
                user.update(user_extra[user["name"]])  # more keys for that user's entry
        if extra:
            config = deep_merge(config, extra)
        return config

    def make_root(self):
        root = self.base_dir / f"srv{len(self.servers)}"
        for sub in ("alice/inbox", "alice/outbox", "bob", "pub", "outside"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "outside" / "secret.txt").write_bytes(b"TOP-SECRET outside the FTP root\n")
        return root

    def start(self, **kwargs):
        root = self.make_root()
        server = FilegateServer(root, self.config_for(root, **kwargs))
        self.servers.append(server)
        return server.start()

    def stop_all(self):
        errors = []
        for server in self.servers:
            try:
                server.stop()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def server_factory(tmp_path, password_hashes):
    """Per-test servers: `server_factory.start(limits={...}, ftp={...}, anonymous=True)`."""
    factory = ServerFactory(tmp_path, password_hashes)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory, password_hashes):
    factory = ServerFactory(tmp_path_factory.mktemp("filegate"), password_hashes)
    yield factory
    factory.stop_all()


@pytest.fixture
def workdir(tmp_path):
    """A scratch directory on the client side."""
    d = tmp_path / "client"
    d.mkdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)  # downloads of up to 64 MiB: do not keep them


# --------------------------------------------------------------------------------------------
# TLS certificates (FTPS), generated at test time with the openssl CLI; never committed
# --------------------------------------------------------------------------------------------

class TlsCerts:
    """A test CA, a server certificate for 127.0.0.1/localhost, a client certificate from the
    same CA and an unrelated ("rogue") client certificate from a CA the server does not trust.
    EC P-256 keys: quick to generate."""

    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._serial = 1000
        self.ca, self.ca_key = self._self_signed("ca", "filegate test CA")
        self.server_cert, self.server_key = self.issue("server", "filegate-test-server", server=True)
        self.client_cert, self.client_key = self.issue("client", "filegate-test-client")
        rogue_ca, rogue_ca_key = self._self_signed("rogue-ca", "unrelated CA")
        self.rogue_cert, self.rogue_key = self.issue("rogue-client", "rogue-client",
                                                     ca=(rogue_ca, rogue_ca_key))

    def _openssl(self, *args):
        proc = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60,
                              cwd=self.dir)
        assert proc.returncode == 0, f"openssl {' '.join(args)} failed:\n{proc.stderr}"
        return proc

    def _self_signed(self, stem, cn):
        cert, key = self.dir / f"{stem}.pem", self.dir / f"{stem}.key"
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "3",
                      "-subj", f"/CN={cn}",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return cert, key

    def issue(self, stem, cn, *, server=False, ca=None, intermediate=False, rsa=False):
        """A key and a certificate signed by `ca` (default: the test CA); returns (cert, key).
        `intermediate`: a CA certificate (an intermediate when `ca` is not the root). `rsa`: an
        RSA-2048 key instead of EC P-256. Every certificate gets a fresh serial number."""
        ca_cert, ca_key = ca or (self.ca, self.ca_key)
        cert, key, csr = (self.dir / f"{stem}.pem", self.dir / f"{stem}.key",
                          self.dir / f"{stem}.csr")
        ext = self.dir / f"{stem}.ext"
        if intermediate:
            ext.write_text("basicConstraints=critical,CA:TRUE,pathlen:0\n"
                           "keyUsage=critical,keyCertSign,cRLSign\n")
        elif server:
            ext.write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                           "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n")
        else:
            ext.write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
        self._serial += 1
        key_type = ["rsa:2048"] if rsa else ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        self._openssl("req", "-new", "-newkey", *key_type,
                      "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}")
        self._openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
                      "-set_serial", str(self._serial), "-days", "3", "-out", str(cert),
                      "-extfile", str(ext))
        return cert, key

    def _ca_for_python(self, ca=None):
        """The test CA, or `ca` = (certificate file, key file), as cryptography objects."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        cert_file, key_file = ca or (self.ca, self.ca_key)
        return (x509.load_pem_x509_certificate(pathlib.Path(cert_file).read_bytes()),
                serialization.load_pem_private_key(pathlib.Path(key_file).read_bytes(), password=None))

    def crl(self, path, revoked=(), *, issued_days_ago=0, valid_days=1, ca=None):
        """Writes a CRL of the test CA (or of `ca`, as issue() takes it) to `path` revoking the
        certificate files `revoked`, issued `issued_days_ago` days (and a minute) ago, next
        update `valid_days` after that (so issued_days_ago > valid_days makes an expired list).
        Returns `path`."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        ca, ca_key = self._ca_for_python(ca)
        now = datetime.datetime.now(datetime.timezone.utc)
        last = now - datetime.timedelta(days=issued_days_ago, minutes=1)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
                   .last_update(last).next_update(last + datetime.timedelta(days=valid_days)))
        for cert_file in revoked:
            serial = x509.load_pem_x509_certificate(pathlib.Path(cert_file).read_bytes()).serial_number
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(last).build())
        crl = builder.sign(ca_key, hashes.SHA256())
        pathlib.Path(path).write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return path

    def issue_dated(self, stem, cn, *, started_days_ago, valid_days, rsa=False):
        """A server certificate of the test CA valid from `started_days_ago` days ago for
        `valid_days` days (openssl x509 cannot set a start in the past); returns (cert, key).
        `rsa`: an RSA-2048 key instead of EC P-256."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys
        from cryptography.x509.oid import NameOID
        ca, ca_key = self._ca_for_python()
        key = (rsa_keys.generate_private_key(public_exponent=65537, key_size=2048) if rsa
               else ec.generate_private_key(ec.SECP256R1()))
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=started_days_ago)
        self._serial += 1
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(ca.subject).public_key(key.public_key()).serial_number(self._serial)
                .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=valid_days))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), False)
                .sign(ca_key, hashes.SHA256()))
        cert_path, key_path = self.dir / f"{stem}.pem", self.dir / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path

    def server_tls(self, **policy):
        """An ftp.tls section using the server certificate, plus policy keys."""
        return {"certificate": str(self.server_cert), "private_key": str(self.server_key),
                **policy}


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line tool is not installed")
    return TlsCerts(tmp_path_factory.mktemp("tls"))


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------

def ftp_connect(server, host=None, port=None, source=None, timeout=TIMEOUT):
    ftp = ftplib.FTP(timeout=timeout)
    host = host or "127.0.0.1"
    if port is None:
        port = server.port6 if ":" in host else server.port
    ftp.connect(host, port, timeout=timeout, source_address=(source, 0) if source else None)
    return ftp


def ftp_login(server, user="alice", password=None, **kwargs):
    """A logged-in ftplib client (passive mode, binary transfers)."""
    ftp = ftp_connect(server, **kwargs)
    if password is None:
        password = PASSWORDS.get(user, "guest@example.com")
    ftp.login(user, password)
    return ftp


class Reply:
    def __init__(self, lines):
        self.lines = lines
        self.code = int(lines[-1][:3])
        self.text = "\n".join(lines)

    def __repr__(self):
        return f"Reply({self.text!r})"


class ConnectionClosed(Exception):
    pass


class Control:
    """A raw FTP control connection: exact bytes out, exact replies in."""

    def __init__(self, host, port, source=None, timeout=TIMEOUT, greeting=True):
        self.host = host
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.greeting = self.reply() if greeting else None

    @classmethod
    def to(cls, server, host="127.0.0.1", **kwargs):
        port = server.port6 if ":" in host else server.port
        return cls(host, port, **kwargs)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def readline(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise ConnectionClosed(f"server closed the control connection; pending "
                                       f"{self.buf!r}")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        first = self.readline()
        assert re.match(r"^\d{3}[ -]", first), f"malformed reply line {first!r}"
        lines = [first]
        if first[3] == "-":
            code = first[:3]
            while True:
                line = self.readline()
                lines.append(line)
                if line.startswith(code + " "):
                    break
        return Reply(lines)

    def cmd(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return self.reply()

    def expect(self, line, *codes):
        r = self.cmd(line)
        assert r.code in codes, f"{line!r}: expected {codes}, got {r.text!r}"
        return r

    def login(self, user="alice", password=None):
        if password is None:
            password = PASSWORDS.get(user, "guest@example.com")
        self.expect(f"USER {user}", 331)
        self.expect(f"PASS {password}", 230)
        return self

    def closed_by_server(self, timeout=TIMEOUT):
        """True if the server closes the connection within `timeout` (pending replies are
        consumed)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(TIMEOUT)
        return False

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------------------------
# SSH / SFTP: keys generated at test time with ssh-keygen (never committed), paramiko and the
# OpenSSH sftp client
# --------------------------------------------------------------------------------------------

class SshKeys:
    """Host keys (Ed25519 + ECDSA) and user keys, made once per test run in a temporary folder.

    Users: alice (Ed25519), bob (ECDSA); "stranger" is a key nobody authorized."""

    USERS = {"alice": "ed25519", "bob": "ecdsa"}
    _instance = None

    @classmethod
    def get(cls):
        if cls._instance is None:
            if shutil.which("ssh-keygen") is None:
                pytest.skip("ssh-keygen is not installed")
            cls._instance = cls()
        return cls._instance

    def __init__(self):
        import atexit
        import tempfile
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="filegate-ssh-"))
        atexit.register(shutil.rmtree, self.dir, True)
        self._make("host_ed25519", "ed25519")
        self._make("host_ecdsa", "ecdsa")
        for user, kind in self.USERS.items():
            self._make(user, kind)
        self._make("stranger", "ed25519")

    def _make(self, name, kind):
        path = self.dir / name
        args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"{name}@filegate-test", "-f", str(path)]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"ssh-keygen failed: {proc.stderr}"
        return path

    def host_keys(self):
        return [str(self.dir / "host_ed25519"), str(self.dir / "host_ecdsa")]

    def private(self, name):
        """The private key file of a user ("alice", "bob", "stranger")."""
        return self.dir / name

    def public_line(self, name):
        return (self.dir / f"{name}.pub").read_text().strip()


SSH_CLIENT_OPTIONS = ["-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
                      "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                      "-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=0"]


def sftp_batch(server, commands, user="alice", password=None, key=None, options=(), cwd=None,
               timeout=120):
    """Runs OpenSSH's `sftp -b -` with `commands` (a list of lines, or one string).

    With `key` (a user name or a path) it logs in with that key only; otherwise with the
    password through sshpass (the user's test password unless given)."""
    if isinstance(commands, (list, tuple)):
        commands = "\n".join(commands) + "\n"
    args = ["sftp", "-P", str(server.sftp_port), *SSH_CLIENT_OPTIONS, *options]
    if key is not None:
        path = SshKeys.get().private(key) if isinstance(key, str) and "/" not in key else key
        args += ["-i", str(path), "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no",
                 "-o", "KbdInteractiveAuthentication=no"]
    else:
        args = ["sshpass", "-p", PASSWORDS.get(user, "") if password is None else password, *args,
                "-o", "BatchMode=no", "-o", "PubkeyAuthentication=no"]
    args += ["-b", "-", f"{user}@127.0.0.1"]
    return subprocess.run(args, input=commands, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def ssh_command(server, *remote, user="alice", password=None, options=(), timeout=60):
    """Runs OpenSSH's `ssh` against the SFTP port (for requests that must be refused)."""
    args = ["sshpass", "-p", PASSWORDS.get(user, "") if password is None else password,
            "ssh", "-p", str(server.sftp_port), *SSH_CLIENT_OPTIONS, "-o", "BatchMode=no",
            "-o", "PubkeyAuthentication=no", *options, f"{user}@127.0.0.1", *remote]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def paramiko_transport(server, user="alice", password=None, key=None, connect=True):
    """A paramiko Transport to the SFTP port; authenticated unless connect=False.

    `key` is a user name of SshKeys or a paramiko PKey."""
    import paramiko
    sock = socket.create_connection(("127.0.0.1", server.sftp_port), timeout=TIMEOUT)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = TIMEOUT
    transport.auth_timeout = TIMEOUT
    transport.start_client(timeout=TIMEOUT)
    if connect:
        if key is not None:
            if isinstance(key, str):
                key = load_paramiko_key(SshKeys.get().private(key))
            transport.auth_publickey(user, key)
        else:
            transport.auth_password(user, PASSWORDS.get(user, "") if password is None else password)
    return transport


def load_paramiko_key(path):
    import paramiko
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key_file(str(path))
        except (paramiko.SSHException, ValueError):
            continue
    raise AssertionError(f"paramiko cannot read {path}")


def sftp_client(server, user="alice", password=None, key=None):
    """A logged-in paramiko SFTPClient; close it (and its transport) with close_sftp()."""
    import paramiko
    transport = paramiko_transport(server, user, password, key)
    client = paramiko.SFTPClient.from_transport(transport)
    client.get_channel().settimeout(TIMEOUT)
    return client


def close_sftp(client):
    transport = client.get_channel().get_transport()
    with contextlib.suppress(Exception):
        client.close()
    with contextlib.suppress(Exception):
        transport.close()


def parse_pasv(reply):
    m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", reply.text)
    assert reply.code == 227 and m, f"bad PASV reply {reply.text!r}"
    n = [int(x) for x in m.groups()]
    return ".".join(map(str, n[:4])), n[4] * 256 + n[5]


def parse_epsv(reply):
    m = re.search(r"\((.)\1\1(\d+)\1\)", reply.text)
    assert reply.code == 229 and m, f"bad EPSV reply {reply.text!r}"
    return int(m.group(2))


def open_data(ctl, mode):
    """Sets up a data channel before a transfer command.

    Returns a callable that yields the connected data socket once the command was sent (for
    active modes it accepts the server's connection)."""
    if mode in ("PASV", "EPSV"):
        if mode == "PASV":
            host, port = parse_pasv(ctl.cmd("PASV"))
        else:
            host, port = ctl.host, parse_epsv(ctl.cmd("EPSV"))
        data = socket.create_connection((host, port), timeout=TIMEOUT)
        data.settimeout(TIMEOUT)
        return lambda: data, data
    family = ctl.sock.family
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((ctl.sock.getsockname()[0], 0))
    listener.listen(1)
    listener.settimeout(TIMEOUT)
    host, port = listener.getsockname()[:2]
    if mode == "PORT":
        arg = ",".join(host.split(".") + [str(port >> 8), str(port & 255)])
        ctl.expect(f"PORT {arg}", 200)
    else:
        proto = 2 if family == socket.AF_INET6 else 1
        ctl.expect(f"EPRT |{proto}|{host}|{port}|", 200)

    def accept():
        conn, _ = listener.accept()
        listener.close()
        conn.settimeout(TIMEOUT)
        return conn
    return accept, listener


def recv_all(sock):
    chunks = []
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def transfer(ctl, command, mode="EPSV", upload=None):
    """Runs one transfer command over a raw control connection.

    Returns (data received, preliminary reply, final reply). If the preliminary reply is not
    1xx it is also the final reply and no data moves."""
    get_data, handle = open_data(ctl, mode)
    first = ctl.cmd(command)
    if not 100 <= first.code < 200:
        handle.close()
        return b"", first, first
    data_sock = get_data()
    received = b""
    try:
        if upload is not None:
            data_sock.sendall(upload)
        else:
            received = recv_all(data_sock)
    finally:
        data_sock.close()
    final = ctl.reply()
    return received, first, final


# --------------------------------------------------------------------------------------------
# Files and tools
# --------------------------------------------------------------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def make_random_file(path, size):
    """Writes `size` random bytes to `path` in 1 MiB chunks; returns its sha256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left > 0:
            chunk = os.urandom(min(left, MIB))
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def run_tool(args, timeout=180, **kwargs):
    """Runs curl/lftp; returns CompletedProcess (text)."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kwargs)


def lftp(server, script, user="alice", password=None, host="127.0.0.1", passive=True,
         timeout=180, cwd=None):
    """Runs an lftp script against the server; cmd:fail-exit makes any failed command fatal."""
    if password is None:
        password = PASSWORDS[user]
    port = server.port6 if ":" in host else server.port
    settings = ("set cmd:fail-exit yes; set ftp:ssl-allow no; set net:max-retries 1; "
                "set net:timeout 20; set net:reconnect-interval-base 1; set xfer:clobber on; "
                f"set ftp:passive-mode {'on' if passive else 'off'}; ")
    return run_tool(["lftp", "-u", f"{user},{password}", "-p", str(port),
                     "-e", settings + script + "; bye", host], timeout=timeout, cwd=cwd)


def curl_url(server, path, user="alice", host="127.0.0.1"):
    port = server.port6 if ":" in host else server.port
    hostpart = f"[{host}]" if ":" in host else host
    return f"ftp://{user}:{PASSWORDS[user]}@{hostpart}:{port}{path}"


def curl(*args, timeout=180):
    return run_tool(["curl", "-sS", "-g", "--max-time", str(timeout - 5), *args],
                    timeout=timeout)


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def wait_until(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def abort_socket(sock):
    """Closes with RST (SO_LINGER 0): the peer sees a reset, not a clean end of file."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def plant_outside_links(server, home):
    """Symlinks in `home` that point outside it (escape tests): abs_dir/abs_file to
    server.outside and its secret.txt, rel_dir/rel_file the same relative. Returns
    {name: target}; an existing entry of that name is replaced."""
    made = {
        "abs_dir": server.outside,
        "abs_file": server.outside / "secret.txt",
        "rel_dir": os.path.relpath(server.outside, home),
        "rel_file": os.path.relpath(server.outside / "secret.txt", home),
    }
    for name, target in made.items():
        if os.path.lexists(home / name):
            os.unlink(home / name)
        os.symlink(target, home / name)
    return made


def unique_name(prefix="f"):
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns()}"


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
