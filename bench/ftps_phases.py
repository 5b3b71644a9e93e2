#!/usr/bin/python3
"""Where the time of an FTPS small-file download goes, step by step, as ftplib does it.

Against a server that `ftp_bench.py --only ftps_small --hold` keeps running (its port and pid
are printed there): uploads COUNT files of 4 KiB, then downloads each one the way
ftplib.FTP_TLS does with a client that resumes the control connection's TLS session (PASV,
connect, RETR and its 150, TLS handshake, read to close_notify, unwrap, 226). For each step it
prints the wall time, the client's own CPU time (time.process_time) and the difference, which
is the time the client waited for the server (its work and the wake-ups in between). With
--pid it also prints the server's CPU time per file (its whole process tree) and its context
switches per upload and per download (every thread of the tree, bench_common.tree_context_switches).

  /usr/bin/python3 bench/ftps_phases.py --port PORT --pid PID [--count 1000]

See bench/README.md ("FTPS small-file downloads mostly measure ftplib")."""

from __future__ import annotations

import argparse
import ftplib
import io
import os
import socket
import ssl
import time

from bench_common import PASSWORD, USER, WORK, tree_context_switches, tree_cpu_seconds

STEPS = ("pasv", "connect", "retr+150", "handshake", "read", "unwrap", "226")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True, help="the server's FTP port (127.0.0.1)")
    ap.add_argument("--pid", type=int, help="the server's pid, for its CPU time")
    ap.add_argument("--count", type=int, default=1000, help="files to upload, then download")
    ap.add_argument("--cafile", default=str(WORK / "bench-cert.pem"), help="the bench certificate")
    args = ap.parse_args()

    ctx = ssl.create_default_context(cafile=args.cafile)
    ftp = ftplib.FTP_TLS(context=ctx, timeout=30)
    ftp.connect("127.0.0.1", args.port)
    ftp.auth()
    ftp.login(USER, PASSWORD)
    ftp.prot_p()
    ftp.voidcmd("NOOP")  # a TLS 1.3 ticket arrives after the handshake: have it first
    ftp.voidcmd("TYPE I")  # as retrbinary/storbinary (ProFTPD starts in ASCII mode)
    folder = f"phases-{os.getpid()}"
    ftp.mkd(folder)
    ftp.cwd(folder)
    payload = os.urandom(4096)
    names = [f"f{i:05d}.bin" for i in range(args.count)]
    switches0 = tree_context_switches(args.pid) if args.pid else 0
    upload_start = time.perf_counter()
    for name in names:
        conn, _ = ftplib.FTP.ntransfercmd(ftp, f"STOR {name}")  # plain socket: TLS below
        conn = ctx.wrap_socket(conn, server_hostname="127.0.0.1", session=ftp.sock.session)
        conn.sendall(payload)
        conn.unwrap()
        conn.close()
        ftp.voidresp()
    upload_wall = time.perf_counter() - upload_start
    switches1 = tree_context_switches(args.pid) if args.pid else 0

    wall = dict.fromkeys(STEPS, 0.0)
    own = dict.fromkeys(STEPS, 0.0)
    server0 = tree_cpu_seconds(args.pid) if args.pid else 0.0
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    received = 0
    for name in names:
        marks = [(time.perf_counter(), time.process_time())]
        host, port = ftp.makepasv()
        marks.append((time.perf_counter(), time.process_time()))
        conn = socket.create_connection((host, port), 30)
        marks.append((time.perf_counter(), time.process_time()))
        ftp.sendcmd(f"RETR {name}")
        marks.append((time.perf_counter(), time.process_time()))
        conn = ctx.wrap_socket(conn, server_hostname="127.0.0.1", session=ftp.sock.session)
        marks.append((time.perf_counter(), time.process_time()))
        while chunk := conn.recv(8192):
            received += len(chunk)
        marks.append((time.perf_counter(), time.process_time()))
        conn.unwrap()
        conn.close()
        marks.append((time.perf_counter(), time.process_time()))
        ftp.voidresp()
        marks.append((time.perf_counter(), time.process_time()))
        for step, (a, b) in zip(STEPS, zip(marks, marks[1:])):
            wall[step] += b[0] - a[0]
            own[step] += b[1] - a[1]
    total_wall = time.perf_counter() - start_wall
    total_cpu = time.process_time() - start_cpu
    server = tree_cpu_seconds(args.pid) - server0 if args.pid else None
    switches2 = tree_context_switches(args.pid) if args.pid else 0
    for name in names:
        ftp.delete(name)
    ftp.cwd("..")
    ftp.rmd(folder)
    ftp.quit()
    if received != len(names) * len(payload):
        raise SystemExit(f"downloaded {received} bytes, expected {len(names) * len(payload)}")

    per = 1000 / len(names)  # seconds in total -> ms per file
    if args.pid:
        print(f"server context switches per file: upload {(switches1 - switches0) / len(names):.1f} "
              f"({upload_wall * per:.3f} ms per file), download {(switches2 - switches1) / len(names):.1f}")
    print(f"{len(names)} x 4 KiB RETR: {total_wall * per:.3f} ms per file; client CPU {total_cpu * per:.3f} ms"
          + (f"; server CPU {server * per:.3f} ms" if server is not None else ""))
    print(f"{'ms per file':<12}" + "".join(f"{s:>11}" for s in STEPS))
    print(f"{'wall':<12}" + "".join(f"{wall[s] * per:>11.3f}" for s in STEPS))
    print(f"{'client CPU':<12}" + "".join(f"{own[s] * per:>11.3f}" for s in STEPS))
    print(f"{'waited':<12}" + "".join(f"{(wall[s] - own[s]) * per:>11.3f}" for s in STEPS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
