#!/usr/bin/env python3
"""The runtime stage installs exactly the libraries the binaries load.

For each binary: ldd -> library files -> Debian package (dpkg -S). Every
package must be on the runtime stage's apt-get install line, be pulled in by
one of those packages' Depends, or be in BOOKWORM_SLIM_BASE. Conversely a
package on the apt-get line that no binary loads is an error (dead weight).

usage: check_runtime_libs.py REPO_ROOT BIN_DIR [--cni-host-portable]
  --cni-host-portable  also require xvr-cni, which runs on the host and not
                       in the image, to need nothing beyond glibc and the GCC
                       runtime (HOST_BASE).
Exit 77 (ctest SKIP_RETURN_CODE) when a binary or ldd/dpkg is missing.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dockerfile import Dockerfile, apt_install_packages  # noqa: E402

BINARIES = ["xvr-agent", "xvrctl", "xvr-cni"]

# Packages of debian:bookworm-slim we rely on without installing them (all
# Priority: required, so in every bookworm-slim image):
BOOKWORM_SLIM_BASE = {
    "libc6",       # libc, libm, ld-linux (everything)
    "libgcc-s1",   # libgcc_s (C++ unwinding)
    "libstdc++6",  # libstdc++ (an apt dependency, hence always there)
    "zlib1g",      # libz (libbpf1/libelf1, cpp-httplib)
}
# What any Linux host running a container runtime can be assumed to have.
HOST_BASE = {"libc6", "libgcc-s1", "libstdc++6"}


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def ldd_libs(binary):
    out = run(["ldd", binary])
    if out.returncode != 0:
        raise RuntimeError(f"ldd {binary}: {out.stderr.strip()}")
    libs = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            raise RuntimeError(f"{binary}: {line}")
        m = re.match(r"^\S+ => (/\S+) \(", line) or re.match(r"^(/\S+) \(", line)
        if m:
            libs.append(m.group(1))
    return libs


def candidates(path):
    """`path` and its usrmerge aliases (/lib <-> /usr/lib), symlinks resolved."""
    out = [path, os.path.realpath(path)]
    for p in list(out):
        out.append(p[4:] if p.startswith("/usr/") else "/usr" + p)
    return list(dict.fromkeys(out))


def packages_of(paths):
    """{path: package or None}, with one dpkg -S for all of them (each call
    reads the whole file database, so one per library would take a minute)."""
    cands = {p: candidates(p) for p in paths}
    allc = sorted({c for cs in cands.values() for c in cs})
    owner = {}
    out = run(["dpkg", "-S"] + allc)  # non-zero when some alias is unowned
    for line in out.stdout.splitlines():
        pkgs, sep, f = line.rpartition(": ")
        if sep and f in allc:
            owner[f] = pkgs.split(",")[0].strip().split(":")[0]
    return {p: next((owner[c] for c in cs if c in owner), None) for p, cs in cands.items()}


def depends_closure(pkgs):
    """`pkgs` plus everything their Depends/Pre-Depends pull in (host dpkg
    database: the same bookworm packages as the image)."""
    seen = set()
    todo = list(pkgs)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        out = run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", p])
        if out.returncode != 0:
            continue
        for alt in out.stdout.split(","):
            for dep in alt.split("|"):
                name = dep.strip().split(" ")[0].split(":")[0]
                if name:
                    todo.append(name)
    return seen


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    portable = "--cni-host-portable" in sys.argv
    root = os.path.abspath(args[0] if args else ".")
    bin_dir = os.path.abspath(args[1] if len(args) > 1 else os.path.join(root, "build", "bin"))
    for tool in ("ldd", "dpkg", "dpkg-query"):
        if not shutil.which(tool):
            print(f"skip: {tool} not found")
            return 77
    for b in BINARIES:
        if not os.path.exists(os.path.join(bin_dir, b)):
            print(f"skip: {bin_dir}/{b} not built")
            return 77

    df = Dockerfile(open(os.path.join(root, "Dockerfile")).read())
    runtime = df.stages[-1]
    apt = []
    for ins in runtime.instructions:
        if ins.cmd == "RUN":
            apt += apt_install_packages(ins.args)
    provided = depends_closure(apt) | BOOKWORM_SLIM_BASE
    print(f"runtime apt-get install: {' '.join(apt)}")

    failures = []
    needed_by = {}
    libs = {b: ldd_libs(os.path.join(bin_dir, b)) for b in BINARIES}
    owner = packages_of({l for ls in libs.values() for l in ls})
    for b in BINARIES:
        for lib in libs[b]:
            pkg = owner[lib]
            if pkg is None:
                failures.append(f"{b}: no Debian package owns {lib}")
                continue
            needed_by.setdefault(pkg, set()).add(b)
    for pkg in sorted(needed_by):
        how = ("apt-get line" if pkg in apt else "bookworm-slim base"
               if pkg in BOOKWORM_SLIM_BASE else "dependency" if pkg in provided else None)
        print(f"  {pkg:24} {how or 'MISSING':20} {', '.join(sorted(needed_by[pkg]))}")
        if how is None:
            failures.append(f"{pkg} (needed by {', '.join(sorted(needed_by[pkg]))}) is not "
                            f"installed in the runtime stage")
    for pkg in apt:
        if pkg not in needed_by:
            failures.append(f"{pkg} is installed in the runtime stage but no binary loads it")
    if portable:
        extra = sorted(p for p, bs in needed_by.items() if "xvr-cni" in bs and p not in HOST_BASE)
        if extra:
            failures.append("xvr-cni runs on the host, which has none of: " + " ".join(extra) +
                            " (link it statically, see docs/IMAGE.md)")
    for f in failures:
        print(f"FAIL: {f}")
    print(f"check_runtime_libs: {len(needed_by)} packages, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
