#!/usr/bin/env bash
# Installs what Syncr needs to build and test on Debian 12, by package name.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev libssl-dev
  libprotobuf-dev protobuf-compiler libsqlite3-dev libsystemd-dev libgtest-dev
  python3 openssh-server openssh-client diffutils rsync acl attr faketime
  clang-14 libclang-rt-14-dev clang-format
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
