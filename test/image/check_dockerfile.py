#!/usr/bin/env python3
"""Static checks of the repo's Dockerfile (hadolint is not packaged in
Debian): syntax, stages, build context, what the build stage installs, apt
hygiene, ENTRYPOINT form, and that the image holds what the chart runs.

usage: check_dockerfile.py REPO_ROOT        exit 0 when every check passes
"""
import fnmatch
import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dockerfile import Dockerfile, apt_install_packages  # noqa: E402

# Binaries the chart and the docs promise (charts/xvr/values.yaml "image").
REQUIRED_IN_IMAGE = [
    "/usr/local/bin/xvr-agent",
    "/usr/local/bin/xvrctl",
    "/usr/local/lib/xvr/xvr-cni",
]
PATH_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]


class Checker:
    def __init__(self, root):
        self.root = root
        self.failures = []
        self.passed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
        return ok


def dockerignore_patterns(root):
    path = os.path.join(root, ".dockerignore")
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.lstrip("/"))
    return out


def ignored(rel, patterns):
    """Whether .dockerignore drops `rel` (or a directory above it); "**/"
    patterns match at any depth. Negations (!) are not used here."""
    parts = rel.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for p in patterns:
        if p.startswith("!"):
            continue
        if p.startswith("**/"):
            tail = p[3:]
            if any(fnmatch.fnmatch("/".join(parts[i:j]), tail)
                   for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)):
                return True
        elif any(fnmatch.fnmatch(x, p) for x in prefixes):
            return True
    return False


def cmake_install_layout(root, prefix):
    """Files `cmake --install` lays out under `prefix`, from the install(TARGETS
    ... RUNTIME DESTINATION d) rules of every CMakeLists.txt."""
    out = {}
    for cm in glob.glob(os.path.join(root, "**", "CMakeLists.txt"), recursive=True):
        if "/build" in cm[len(root):]:
            continue
        text = open(cm).read()
        for m in re.finditer(r"install\s*\(\s*TARGETS\s+([^)]*?)\s+RUNTIME\s+DESTINATION\s+(\S+?)\s*\)",
                             text, re.S):
            for target in m.group(1).split():
                out[f"{prefix.rstrip('/')}/{m.group(2)}/{target}"] = os.path.relpath(cm, root)
    return out


def chart_commands(root):
    """(command words, file) of every `command:` list in the chart templates."""
    found = []
    for tpl in sorted(glob.glob(os.path.join(root, "charts", "xvr", "templates", "*.yaml"))):
        lines = open(tpl).read().split("\n")
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)(- )?command:\s*(\[.*\])?\s*$", line)
            if not m:
                continue
            words = []
            if m.group(3):
                words = [w.strip().strip("\"'") for w in m.group(3)[1:-1].split(",")]
            else:
                for nxt in lines[i + 1:]:
                    mm = re.match(r"^\s*- (.*)$", nxt)
                    if not mm or nxt.strip().startswith("- name:"):
                        break
                    words.append(mm.group(1).strip().strip("\"'"))
            if words:
                found.append((words, os.path.relpath(tpl, root)))
    return found


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    c = Checker(root)
    path = os.path.join(root, "Dockerfile")
    if not c.check(os.path.exists(path), "Dockerfile exists at the repo root"):
        return report(c)
    df = Dockerfile(open(path).read())
    for e in df.errors:
        c.check(False, f"parse: {e}")
    c.check(len(df.stages) >= 2, "multi-stage: at least a build and a runtime stage")

    # Stages: every FROM named, names unique.
    names = [s.name for s in df.stages]
    for s in df.stages:
        c.check(s.name is not None, f"line {s.line}: FROM {s.image} has a stage name (AS ...)")
        c.check(":" in s.image or "@" in s.image or s.image in names,
                f"line {s.line}: base image {s.image} is pinned to a tag or digest")
    c.check(len(set(names)) == len(names), f"stage names are unique: {names}")
    c.check(df.stages and df.stages[0].image.startswith("debian:bookworm"),
            "the build stage is debian:bookworm (what scripts/install-deps.sh targets)")
    runtime = df.stages[-1] if df.stages else None
    c.check(runtime is not None and runtime.image == "debian:bookworm-slim",
            "the runtime stage is debian:bookworm-slim")

    patterns = dockerignore_patterns(root)
    c.check(os.path.exists(os.path.join(root, ".dockerignore")), ".dockerignore exists")
    c.check(ignored("build/bin/xvr-agent", patterns) and ignored(".git/HEAD", patterns),
            ".dockerignore keeps build/ and .git out of the context")

    # The build stage's install layout (DESTDIR + prefix + CMake install rules).
    build = df.stages[0] if df.stages else None
    build_run = " ".join(i.args for i in build.instructions if i.cmd == "RUN") if build else ""
    destdir = re.search(r"DESTDIR=(\S+)", build_run)
    prefix = re.search(r"-DCMAKE_INSTALL_PREFIX=(\S+)", build_run)
    c.check(destdir is not None, "the build stage installs with DESTDIR=... cmake --install")
    c.check("cmake --install" in build_run, "the build stage runs cmake --install")
    c.check("install-deps.sh" in build_run, "the build stage runs scripts/install-deps.sh")
    c.check("-DXVR_TESTS=OFF" in build_run, "the build stage configures without tests")
    c.check("-DCMAKE_BUILD_TYPE=Release" in build_run, "the build stage builds Release")
    layout_src = cmake_install_layout(root, prefix.group(1) if prefix else "/usr/local")
    staged = {(destdir.group(1) if destdir else "") + p: src for p, src in layout_src.items()}
    c.check(bool(layout_src), "CMake has install(TARGETS ... RUNTIME DESTINATION ...) rules")

    image_files = set()
    for ins in df.instructions:
        if ins.cmd in ("COPY", "ADD"):
            flags, words = ins.flags_and_rest()
            exec_words = ins.exec_form()
            if exec_words:
                words = exec_words
            c.check(len(words) >= 2, f"line {ins.line}: {ins.cmd} has sources and a destination")
            if len(words) < 2:
                continue
            srcs, dest = words[:-1], words[-1]
            c.check(ins.cmd == "COPY", f"line {ins.line}: COPY, not ADD, for local files")
            if "from" in flags:
                ref = flags["from"]
                earlier = [s.name for s in df.stages if s.index < ins.stage.index]
                c.check(ref in earlier,
                        f"line {ins.line}: COPY --from={ref} names an earlier stage {earlier}")
                if ref == (build.name if build else None):
                    for s in srcs:
                        c.check(s in staged,
                                f"line {ins.line}: {s} is produced by the build stage's "
                                f"cmake --install (install rules: {sorted(staged)})")
            else:
                for s in srcs:
                    matches = glob.glob(os.path.join(root, s)) if s != "." else [root]
                    c.check(bool(matches), f"line {ins.line}: COPY source {s} exists in the repo")
                    if s != ".":
                        c.check(not ignored(s, patterns),
                                f"line {ins.line}: COPY source {s} is not in .dockerignore")
            if ins.stage is runtime:
                for s in srcs:
                    if dest.endswith("/") or len(srcs) > 1:
                        image_files.add(dest.rstrip("/") + "/" + os.path.basename(s))
                    else:
                        image_files.add(dest)

    # apt hygiene, per RUN.
    for ins in df.instructions:
        if ins.cmd != "RUN":
            continue
        pkgs = apt_install_packages(ins.args)
        if re.search(r"\bapt(-get)?\s+install\b", ins.args):
            c.check("--no-install-recommends" in ins.args,
                    f"line {ins.line}: apt-get install uses --no-install-recommends")
            c.check(re.search(r"\s-y\b|--yes|--assume-yes", ins.args) is not None,
                    f"line {ins.line}: apt-get install is non-interactive (-y)")
            c.check("apt-get update" in ins.args,
                    f"line {ins.line}: apt-get update in the same RUN as install")
            c.check("rm -rf /var/lib/apt/lists/*" in ins.args,
                    f"line {ins.line}: the RUN removes /var/lib/apt/lists/*")
            c.check(pkgs == sorted(pkgs), f"line {ins.line}: packages sorted ({pkgs})")
        if "install-deps.sh" in ins.args:
            c.check("rm -rf /var/lib/apt/lists/*" in ins.args,
                    f"line {ins.line}: the deps RUN removes /var/lib/apt/lists/*")

    # ENTRYPOINT / CMD: exec form, binaries present.
    entry = [i for i in (runtime.instructions if runtime else []) if i.cmd == "ENTRYPOINT"]
    c.check(len(entry) == 1, "the runtime stage has one ENTRYPOINT")
    for ins in entry + [i for i in (runtime.instructions if runtime else []) if i.cmd == "CMD"]:
        words = ins.exec_form()
        c.check(words is not None, f"line {ins.line}: {ins.cmd} uses the exec (JSON) form")
        if words and ins.cmd == "ENTRYPOINT":
            c.check(resolve(words[0], image_files) is not None,
                    f"line {ins.line}: ENTRYPOINT {words[0]} is in the image {sorted(image_files)}")
    c.check(not any(i.cmd == "USER" for i in df.instructions),
            "no USER: the agent needs root (see the Dockerfile comment)")
    for f in REQUIRED_IN_IMAGE:
        c.check(f in image_files, f"the image has {f}")

    # The chart runs these.
    if os.path.isdir(os.path.join(root, "charts", "xvr", "templates")):
        cmds = chart_commands(root)
        c.check(bool(cmds), "the chart has container commands")
        for words, tpl in cmds:
            c.check(resolve(words[0], image_files) is not None,
                    f"{tpl}: command {words[0]} is in the image")
            for w in words[1:]:
                if w.startswith("/usr/local/"):
                    c.check(w in image_files, f"{tpl}: {w} (an argument) is in the image")
    else:
        print("note: charts/xvr/templates not found; chart cross-check skipped")
    return report(c)


def resolve(cmd, image_files):
    if cmd.startswith("/"):
        return cmd if cmd in image_files else None
    for d in PATH_DIRS:
        if f"{d}/{cmd}" in image_files:
            return f"{d}/{cmd}"
    return None


def report(c):
    for f in c.failures:
        print(f"FAIL: {f}")
    print(f"check_dockerfile: {c.passed} passed, {len(c.failures)} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
