#!/usr/bin/env bash
# Builds filegate (Release) and runs it in the foreground on a demo configuration:
# FTP and explicit FTPS (AUTH TLS) on 127.0.0.1:2121, implicit FTPS on 127.0.0.1:2990, SFTP on
# 127.0.0.1:2222, a user "demo" whose home is demo/files/demo, and anonymous read-only FTP
# access to demo/files/public.
# The demo password, a self-signed certificate and the SSH host keys (Ed25519 and ECDSA) are
# generated on the first run only; the password is printed once and only its hash is stored
# (demo/filegate.yaml). Nothing under demo/ is ever committed. Delete demo/ to start again.
#
# Ports taken on this machine? These are read on the first run (the folder's config keeps them):
#   DEMO_DIR (demo), DEMO_FTP_PORT (2121), DEMO_FTPS_PORT (2990), DEMO_SFTP_PORT (2222),
#   DEMO_PASSIVE_PORTS (50000-50100)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFILEGATE_TESTS=OFF >/dev/null
cmake --build build/release --target filegate -j "$(nproc)"
bin=$PWD/build/release/src/filegate
demo=${DEMO_DIR:-demo}
ftp_port=${DEMO_FTP_PORT:-2121}
ftps_port=${DEMO_FTPS_PORT:-2990}
sftp_port=${DEMO_SFTP_PORT:-2222}

mkdir -p "$demo"
cd "$demo"
mkdir -p files/demo files/public tls ssh
chmod 700 . tls ssh
if [ ! -f tls/server.pem ]; then
  # Self-signed, for the demo only: ECDSA P-256, valid for 127.0.0.1, ::1 and localhost.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=filegate demo" -addext "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" \
    -keyout tls/server.key -out tls/server.pem 2>/dev/null
  chmod 600 tls/server.key
fi
# SSH host keys for SFTP: made once and kept, so clients see the same host key every run.
[ -f ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -C "filegate demo" -f ssh/ssh_host_ed25519_key
[ -f ssh/ssh_host_ecdsa_key ] || ssh-keygen -q -t ecdsa -b 256 -N '' -C "filegate demo" -f ssh/ssh_host_ecdsa_key
if [ ! -f filegate.yaml ]; then
  password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  hash=$(printf '%s\n' "$password" | "$bin" passwd)
  [ -f files/public/README.txt ] || echo "Welcome to the filegate demo." > files/public/README.txt
  cat > filegate.yaml <<YAML
# Demo configuration written by scripts/demo.sh. See docs/configuration.md.
log: {level: info}
ftp:
  listen:
    - "127.0.0.1:$ftp_port"                                  # FTP, and FTPS with AUTH TLS
    - "[::1]:$ftp_port"
    - {address: "127.0.0.1:$ftps_port", implicit_tls: true}   # implicit FTPS
  passive_ports: "${DEMO_PASSIVE_PORTS:-50000-50100}"
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
  (printed once; only its hash is stored in $demo/filegate.yaml)

MSG
fi
# Demo folders made before SFTP existed get the section too.
if ! grep -q '^sftp:' filegate.yaml; then
  cat >> filegate.yaml <<YAML
sftp:
  listen: ["127.0.0.1:$sftp_port"]
  host_keys: [ssh/ssh_host_ed25519_key, ssh/ssh_host_ecdsa_key]
YAML
fi
cat <<MSG
  filegate is starting: FTP and FTPS (AUTH TLS) on 127.0.0.1:$ftp_port, implicit FTPS on 127.0.0.1:$ftps_port,
  SFTP on 127.0.0.1:$sftp_port (host keys:
$(for k in ssh/ssh_host_*_key.pub; do printf '    %s\n' "$(ssh-keygen -l -f "$k")"; done)
  ).
  Try, from another terminal:
    sftp -P $sftp_port demo@127.0.0.1                   (password as above; put, get, ls, mkdir ...)
    curl -T README.md ftp://demo:PASSWORD@127.0.0.1:$ftp_port/
    curl ftp://demo:PASSWORD@127.0.0.1:$ftp_port/
    curl --ssl-reqd --cacert $demo/tls/server.pem ftp://demo:PASSWORD@127.0.0.1:$ftp_port/
    curl --cacert $demo/tls/server.pem ftps://demo:PASSWORD@127.0.0.1:$ftps_port/
    lftp -u demo -p $ftp_port -e "set ssl:ca-file $demo/tls/server.pem; set ftp:ssl-force true" 127.0.0.1
    curl ftp://127.0.0.1:$ftp_port/README.txt          (anonymous, read-only)
  Stop with Ctrl-C.

MSG
exec "$bin" run --config filegate.yaml
