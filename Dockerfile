# syntax=docker/dockerfile:1
# xvr: one image for the agent DaemonSet. It holds
#   /usr/local/bin/xvr-agent       the node agent (ENTRYPOINT); the BPF programs
#                                  are compiled into it as libbpf skeletons
#                                  (bpf/CMakeLists.txt), no .o files to ship
#   /usr/local/bin/xvrctl          inspection CLI, and `install-cni`, the
#                                  init container / postStart steps
#   /usr/local/lib/xvr/xvr-cni     the CNI plugin, copied to the host's
#                                  /opt/cni/bin by `xvrctl install-cni bin`
# Build:  docker build -t xvr:dev .        Details: docs/IMAGE.md

# ---- build: the same toolchain and dependencies as `make build` ----------
FROM debian:bookworm AS build
WORKDIR /src
# The dependency layer depends only on the install script, so it is reused
# until the script changes. It also installs the test and lab packages
# (scripts/install-deps.sh has one list); only this stage carries them.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# Release, no tests: only the three shipped binaries are built; the install
# rules (agent/ and cni-plugin/ CMakeLists.txt) lay them out under /staging.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DXVR_TESTS=OFF \
      -DCMAKE_INSTALL_PREFIX=/usr/local \
    && cmake --build /build -j"$(nproc)" --target xvr-agent xvrctl xvr-cni \
    && DESTDIR=/staging cmake --install /build --strip \
    && test -x /staging/usr/local/bin/xvr-agent \
    && test -x /staging/usr/local/bin/xvrctl \
    && test -x /staging/usr/local/lib/xvr/xvr-cni

# ---- runtime ---------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="xvr" \
      org.opencontainers.image.description="XDP vRouter CNI for Kubernetes: xvr-agent, xvrctl and the xvr-cni plugin" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/xvr-dev/xvr" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
# Exactly the shared libraries xvr-agent and xvrctl load (ldd build/bin/*,
# mapped to packages with dpkg -S; checked by test/image/check_runtime_libs.py;
# xvr-cni is static, it runs on the host).
# Their own dependencies (libelf1, libbrotli1, ...) come with them; libc6,
# libgcc-s1, libstdc++6 and zlib1g are already in bookworm-slim. No iproute2:
# the agent does everything over netlink and bpf(2), it never execs ip or tc.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
         libabsl20220623 \
         libbpf1 \
         libcpp-httplib0.11 \
         libfmt9 \
         libnl-3-200 \
         libnl-route-3-200 \
         libpcap0.8 \
         libspdlog1.10 \
         libssl3 \
         libyaml-cpp0.7 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /staging/usr/local/bin/xvr-agent /staging/usr/local/bin/xvrctl /usr/local/bin/
COPY --from=build /staging/usr/local/lib/xvr/xvr-cni /usr/local/lib/xvr/xvr-cni
# No USER: the agent loads BPF programs, attaches XDP/TC to host interfaces,
# enters pod network namespaces and writes /opt/cni/bin and /etc/cni/net.d on
# the host. It runs as root with the capabilities the chart grants; a
# non-root user would only have to be given all of them back.
ENTRYPOINT ["xvr-agent"]
