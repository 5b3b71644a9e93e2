#!/usr/bin/env bash
# Builds filegate (Release) and runs it in the foreground on a demo configuration:
# FTP and explicit FTPS (AUTH TLS) on 127.0.0.1:2121, implicit FTPS on 127.0.0.1:2990, SFTP on
# 127.0.0.1:2222, a user "demo" whose home is demo/files/demo, and anonymous read-only FTP
# access to demo/files/public.
# The demo password, a self-signed certificate and the SSH host keys (Ed25519 and ECDSA) are
# generated on the first run only; the password is printed once and only its hash is stored
# (demo/filegate.yaml). Nothing under demo/ is ever committed. Delete demo/ to start again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFILEGATE_TESTS=OFF >/dev/null
cmake --build build/release --target filegate -j "$(nproc)"
bin=build/release/src/filegate

mkdir -p demo/files/demo demo/files/public demo/tls demo/ssh
chmod 700 demo demo/tls demo/ssh
if [ ! -f demo/tls/server.pem ]; then
  # Self-signed, for the demo only: ECDSA P-256, valid for 127.0.0.1, ::1 and localhost.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=filegate demo" -addext "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" \
    -keyout demo/tls/server.key -out demo/tls/server.pem 2>/dev/null
  chmod 600 demo/tls/server.key
fi
# SSH host keys for SFTP: made once and kept, so clients see the same host key every run.
[ -f demo/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -C "filegate demo" -f demo/ssh/ssh_host_ed25519_key
[ -f demo/ssh/ssh_host_ecdsa_key ] || ssh-keygen -q -t ecdsa -b 256 -N '' -C "filegate demo" -f demo/ssh/ssh_host_ecdsa_key
if [ ! -f demo/filegate.yaml ]; then
  password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  hash=$(printf '%s\n' "$password" | "$bin" passwd)
  [ -f demo/files/public/README.txt ] || echo "Welcome to the filegate demo." > demo/files/public/README.txt
  cat > demo/filegate.yaml <<YAML
# Demo configuration written by scripts/demo.sh. See docs/configuration.md.
log: {level: info}
ftp:
  listen:
    - "127.0.0.1:2121"                                  # FTP, and FTPS with AUTH TLS
    - "[::1]:2121"
    - {address: "127.0.0.1:2990", implicit_tls: true}   # implicit FTPS
  passive_ports: "50000-50100"
  tls:
    certificate: tls/server.pem
    private_key: tls/server.key
    # The demo also serves plain FTP; a production server keeps the defaults (required).
    control: optional
    data: optional
users:
  - name: demo
    password_hash: "$hash"
    home: files/demo
    permissions: elradfmwMT
anonymous:
  enabled: true
  home: files/public
  permissions: elr
YAML
  cat <<MSG

  Demo user created.   user: demo   password: $password
  (printed once; only its hash is stored in demo/filegate.yaml)

MSG
fi
# Demo folders made before SFTP existed get the section too.
if ! grep -q '^sftp:' demo/filegate.yaml; then
  cat >> demo/filegate.yaml <<YAML
sftp:
  listen: ["127.0.0.1:2222"]
  host_keys: [ssh/ssh_host_ed25519_key, ssh/ssh_host_ecdsa_key]
YAML
fi
cat <<MSG
  filegate is starting: FTP and FTPS (AUTH TLS) on 127.0.0.1:2121, implicit FTPS on 127.0.0.1:2990,
  SFTP on 127.0.0.1:2222 (host keys:
$(for k in demo/ssh/ssh_host_*_key.pub; do printf '    %s\n' "$(ssh-keygen -l -f "$k")"; done)
  ).
  Try, from another terminal:
    sftp -P 2222 demo@127.0.0.1                   (password as above; put, get, ls, mkdir ...)
    curl -T README.md ftp://demo:PASSWORD@127.0.0.1:2121/
    curl ftp://demo:PASSWORD@127.0.0.1:2121/
    curl --ssl-reqd --cacert demo/tls/server.pem ftp://demo:PASSWORD@127.0.0.1:2121/
    curl --cacert demo/tls/server.pem ftps://demo:PASSWORD@127.0.0.1:2990/
    lftp -u demo -p 2121 -e "set ssl:ca-file demo/tls/server.pem; set ftp:ssl-force true" 127.0.0.1
    curl ftp://127.0.0.1:2121/README.txt          (anonymous, read-only)
  Stop with Ctrl-C.

MSG
exec "$bin" run --config demo/filegate.yaml
