#!/usr/bin/env bash
# Installs the Debian 12 packages filegate needs to build and run (the demo), and with --tests
# also the clients the tests drive. Only packages that are missing are installed; nothing is
# downloaded otherwise.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libssl-dev libssh-dev libyaml-cpp-dev libcrypt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  curl lftp python3 python3-pytest python3-paramiko python3-cryptography openssl openssh-client sshpass
)
if [ "${1:-}" = "--tests" ]; then
  # A Java FTPS client (tests/integration/clients/JavaFtps.java) on Apache Commons Net, and the
  # classic BSD ftp client (tnftp) whose mget expands patterns with the server's NLST.
  packages+=(default-jdk-headless libcommons-net-java tnftp)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "filegate: installing missing packages: ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
