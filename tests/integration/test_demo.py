"""The README's first command, scripts/demo.sh, end to end: its first run makes the demo user,
a self-signed certificate, SSH host keys and the config, and serves plain FTP, explicit FTPS
on the FTP port, implicit FTPS and SFTP to the same files; a second run keeps all of it.
It runs the Release binary the script builds (scripts/test.sh builds it first), in a scratch
folder and on ports picked here (DEMO_DIR, DEMO_*_PORT)."""

import hashlib
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

import paramiko
import pytest

from conftest import TIMEOUT, curl

REPO = pathlib.Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Demo:
    def __init__(self, folder):
        self.folder = folder
        passive = free_port()
        self.ports = {"DEMO_FTP_PORT": free_port(), "DEMO_FTPS_PORT": free_port(),
                      "DEMO_SFTP_PORT": free_port()}
        self.env = {**os.environ, "DEMO_DIR": str(folder), **{k: str(v) for k, v in self.ports.items()},
                    "DEMO_PASSIVE_PORTS": f"{passive}-{passive + 20}"}
        self.ftp, self.ftps, self.sftp = (self.ports[k] for k in ("DEMO_FTP_PORT", "DEMO_FTPS_PORT", "DEMO_SFTP_PORT"))

    def start(self, log):
        """Runs scripts/demo.sh until it listens on every port; returns what it printed."""
        self.out = open(log, "w+")
        self.proc = subprocess.Popen(["bash", str(REPO / "scripts" / "demo.sh")], cwd=REPO, env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600  # (a build, should the Release binary be missing)
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"demo.sh exited with {self.proc.returncode}:\n{self.printed()}"
            if all(self.listening(p) for p in (self.ftp, self.ftps, self.sftp)):
                return self.printed()
            time.sleep(0.2)
        pytest.fail(f"the demo did not listen on {self.ports}:\n{self.printed()}")

    def printed(self):
        self.out.flush()
        return pathlib.Path(self.out.name).read_text()

    @staticmethod
    def listening(port):
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex((HOST, port)) == 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=TIMEOUT) == 0, self.printed()
        self.out.close()


@pytest.fixture
def demo(tmp_path):
    d = Demo(tmp_path / "demo")
    yield d
    if getattr(d, "proc", None) and d.proc.poll() is None:
        d.proc.kill()
        d.proc.wait()


def test_demo_serves_ftp_ftps_and_sftp_and_keeps_its_setup(demo, tmp_path):
    printed = demo.start(tmp_path / "first.log")
    m = re.search(r"user: demo\s+password: (\S+)", printed)
    assert m, printed
    password = m.group(1)
    config = (demo.folder / "filegate.yaml").read_text()
    assert password not in config and "password_hash:" in config
    ca = demo.folder / "tls" / "server.pem"
    cert_digest = hashlib.sha256(ca.read_bytes()).hexdigest()
    assert (demo.folder / "ssh" / "ssh_host_ed25519_key").exists()
    base = f"demo:{password}@{HOST}"

    upload = tmp_path / "report.csv"
    upload.write_bytes(os.urandom(100_000))
    # Explicit FTPS on the FTP port, verifying the generated self-signed certificate.
    r = curl("--ssl-reqd", "--cacert", str(ca), "-T", str(upload), f"ftp://{base}:{demo.ftp}/report.csv")
    assert r.returncode == 0, r.stderr
    assert (demo.folder / "files" / "demo" / "report.csv").read_bytes() == upload.read_bytes()
    # Implicit FTPS.
    back = tmp_path / "back.csv"
    r = curl("--cacert", str(ca), "-o", str(back), f"ftps://{base}:{demo.ftps}/report.csv")
    assert r.returncode == 0, r.stderr
    assert back.read_bytes() == upload.read_bytes()
    # Plain FTP, anonymous and read-only.
    r = curl(f"ftp://{HOST}:{demo.ftp}/README.txt")
    assert r.returncode == 0 and "filegate demo" in r.stdout, r.stderr
    r = curl("-T", str(upload), f"ftp://{HOST}:{demo.ftp}/mine.csv")
    assert r.returncode != 0
    # SFTP with the same user and password sees the same file.
    with paramiko.Transport((HOST, demo.sftp)) as transport:
        transport.connect(username="demo", password=password)
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp.stat("/report.csv").st_size == 100_000
        host_key = transport.get_remote_server_key().get_base64()
    demo.stop()

    # A second run keeps the user, the certificate and the host key.
    printed = demo.start(tmp_path / "second.log")
    assert "password:" not in printed, printed
    assert hashlib.sha256(ca.read_bytes()).hexdigest() == cert_digest
    r = curl("--cacert", str(ca), f"ftps://{base}:{demo.ftps}/")
    assert r.returncode == 0 and "report.csv" in r.stdout, r.stderr
    with paramiko.Transport((HOST, demo.sftp)) as transport:
        transport.connect(username="demo", password=password)
        assert transport.get_remote_server_key().get_base64() == host_key
    demo.stop()
