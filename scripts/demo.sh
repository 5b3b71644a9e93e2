#!/usr/bin/env bash
# Builds filegate (Release) and runs it in the foreground on a demo configuration:
# FTP on 127.0.0.1:2121, a user "demo" whose home is demo/files/demo, and anonymous read-only
# access to demo/files/public. The demo password is generated and printed on the first run only;
# only its hash is stored (demo/filegate.yaml). Delete demo/ to start again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFILEGATE_TESTS=OFF >/dev/null
cmake --build build/release --target filegate -j "$(nproc)"
bin=build/release/src/filegate

mkdir -p demo/files/demo demo/files/public
chmod 700 demo
if [ ! -f demo/filegate.yaml ]; then
  password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  hash=$(printf '%s\n' "$password" | "$bin" passwd)
  [ -f demo/files/public/README.txt ] || echo "Welcome to the filegate demo." > demo/files/public/README.txt
  cat > demo/filegate.yaml <<YAML
# Demo configuration written by scripts/demo.sh. See docs/configuration.md.
log: {level: info}
ftp:
  listen: ["127.0.0.1:2121", "[::1]:2121"]
  passive_ports: "50000-50100"
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
cat <<MSG
  filegate is starting on 127.0.0.1:2121 (FTP). Try, from another terminal:
    curl -T README.md ftp://demo:PASSWORD@127.0.0.1:2121/
    curl ftp://demo:PASSWORD@127.0.0.1:2121/
    lftp -u demo -p 2121 127.0.0.1
    curl ftp://127.0.0.1:2121/README.txt          (anonymous, read-only)
  Stop with Ctrl-C.

MSG
exec "$bin" run --config demo/filegate.yaml
