"""A small Dockerfile parser for the image checks (no hadolint in Debian).

Enough of the reference (docs.docker.com/reference/dockerfile) for this
repo's Dockerfile: parser directives, comments, backslash continuations,
instructions with their flags, exec (JSON) or shell form, stages.
"""
import json
import re
import shlex

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM",
    "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL",
    "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}


class Instruction:
    def __init__(self, line, cmd, args):
        self.line = line          # 1-based line of the instruction's start
        self.cmd = cmd            # upper case
        self.args = args          # the rest, continuations joined
        self.stage = None         # the Stage it belongs to (None before FROM)

    def flags_and_rest(self):
        """(flags dict, remaining words) for COPY/ADD/RUN --flag=value."""
        words = shlex.split(self.args, posix=True)
        flags = {}
        while words and words[0].startswith("--"):
            key, _, val = words.pop(0)[2:].partition("=")
            flags[key] = val
        return flags, words

    def exec_form(self):
        """The JSON array of an exec-form instruction, or None."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        try:
            val = json.loads(text)
        except ValueError:
            return None
        if isinstance(val, list) and all(isinstance(v, str) for v in val):
            return val
        return None


class Stage:
    def __init__(self, index, image, name, line):
        self.index = index
        self.image = image
        self.name = name
        self.line = line
        self.instructions = []


class Dockerfile:
    def __init__(self, text):
        self.errors = []
        self.directives = {}
        self.instructions = []
        self.stages = []
        self._parse(text)

    def stage(self, name):
        for s in self.stages:
            if s.name == name:
                return s
        return None

    def _parse(self, text):
        lines = text.split("\n")
        i = 0
        in_directives = True
        while i < len(lines):
            raw = lines[i]
            start = i + 1
            i += 1
            stripped = raw.strip()
            if in_directives:
                m = re.match(r"^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$", stripped)
                if m and m.group(1).lower() in ("syntax", "escape", "check"):
                    self.directives[m.group(1).lower()] = m.group(2)
                    continue
            if not stripped or stripped.startswith("#"):
                if stripped:
                    in_directives = False
                continue
            in_directives = False
            logical = raw.rstrip()
            # Continuations: a trailing backslash joins the next line;
            # comment and empty lines inside are dropped (as BuildKit does).
            while logical.endswith("\\"):
                logical = logical[:-1]
                while i < len(lines) and (not lines[i].strip() or
                                          lines[i].strip().startswith("#")):
                    i += 1
                if i >= len(lines):
                    self.errors.append(f"line {start}: continuation at end of file")
                    break
                logical += " " + lines[i].strip()
                i += 1
            word, _, rest = logical.strip().partition(" ")
            cmd = word.upper()
            if cmd not in INSTRUCTIONS:
                self.errors.append(f"line {start}: unknown instruction {word!r}")
                continue
            if word != cmd:
                self.errors.append(f"line {start}: write instructions in upper case ({word})")
            ins = Instruction(start, cmd, rest.strip())
            if cmd == "FROM":
                parts = ins.args.split()
                parts = [p for p in parts if not p.startswith("--platform")]
                name = None
                if len(parts) == 3 and parts[1].upper() == "AS":
                    name = parts[2]
                elif len(parts) != 1:
                    self.errors.append(f"line {start}: cannot parse FROM {ins.args!r}")
                stage = Stage(len(self.stages), parts[0] if parts else "", name, start)
                self.stages.append(stage)
            elif not self.stages and cmd != "ARG":
                self.errors.append(f"line {start}: {cmd} before the first FROM")
            if self.stages:
                ins.stage = self.stages[-1]
                self.stages[-1].instructions.append(ins)
            self.instructions.append(ins)


def apt_install_packages(run_args):
    """Package names on the `apt-get install` commands of one RUN."""
    pkgs = []
    for cmd in re.split(r"&&|;|\|\|", run_args):
        words = cmd.split()
        if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
            after = words[words.index("install") + 1:]
            pkgs += [w for w in after if not w.startswith("-")]
    return pkgs
