#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need.
# Idempotent: only missing packages are installed; apt-get update runs first
# when something is missing (the package lists may be absent or stale).
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool linux-libc-dev
  libnl-3-dev libnl-route-3-dev libcpp-httplib-dev nlohmann-json3-dev libabsl-dev
  libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libpcap-dev libssl-dev openssl
  libgtest-dev libgmock-dev googletest
  # tests, lab, demo, benchmarks
  iproute2 iputils-ping iperf3 ethtool tshark netcat-openbsd procps util-linux
  podman runc containernetworking-plugins busybox-static jq python3 iptables nftables
  # chart render test: helm's engine (Go text/template + sprig) and the CRD
  # schema check
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev
  golang-github-ghodss-yaml-dev python3-yaml python3-jsonschema
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get install -y -qq --no-install-recommends "${missing[@]}"
