#!/usr/bin/env bash
# Installs every build and test dependency of Portcullis with apt on Debian 12.
# Usage: install/deps.sh [--build-only]
#   --build-only   only what building and the unit tests need (no kube-apiserver toolchain)
# Idempotent: packages already present are skipped by apt; safe to run on every CI start.
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config git
  libgit2-dev libyaml-dev nlohmann-json3-dev libcpp-httplib-dev libssl-dev zlib1g-dev
  libspdlog-dev libfmt-dev catch2 libcli11-dev libpcre2-dev libdeflate-dev
  # the static archives portcullis-hook links (PORTCULLIS_STATIC_HOOK): libgit2's own dependencies
  libssh2-1-dev libmbedtls-dev libhttp-parser-dev
)
test_pkgs=(
  openssh-client curl jq time hyperfine libyaml-cpp-dev strace python3
  golang-go etcd-server rsync dpkg-dev systemd
  openssh-server nginx fcgiwrap apache2-utils
  gitolite3 chromium docker-registry
)

want=("${build_pkgs[@]}")
if [[ "${1:-}" != "--build-only" ]]; then
  want+=("${test_pkgs[@]}")
fi

# Node.js and npm (for the bench's ajv peer) come with the machine image; Debian's npm
# conflicts with the image's nodejs, so it is only installed where npm is absent.
if [[ "${1:-}" != "--build-only" ]] && ! command -v npm >/dev/null; then
  want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)

# kube-apiserver is built from Debian's source package (tests/env/kube.sh): enable deb-src
# lines derived from the existing deb822 sources file, never typed by hand.
if [[ "${1:-}" != "--build-only" ]]; then
  src=/etc/apt/sources.list.d/debian.sources
  if [[ -f $src ]] && ! grep -q '^Types:.*deb-src' "$src"; then
    "${sudo_cmd[@]}" sed -i 's/^Types: deb$/Types: deb deb-src/' "$src"
    need_update=1
  fi
fi

if ((${#missing[@]})) || [[ -n "${need_update:-}" ]]; then
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  if ((${#missing[@]})); then
    echo "install/deps.sh: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
echo "install/deps.sh: dependencies present"
