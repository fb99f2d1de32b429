#!/usr/bin/env python3
"""Strict check of a Prometheus text exposition (format 0.0.4) for the
metrics e2e test, then lookups.

  metrics_check.py validate FILE
      every line is a HELP, a TYPE or a sample; HELP/TYPE once per family and
      before its samples; a family's samples contiguous; every family and
      sample name starts with xvr_; histogram buckets cumulative, ending in
      +Inf equal to _count. Exit 1 with "line N: why" otherwise.
  metrics_check.py get FILE NAME [label=value ...]
      sum of the samples of NAME whose labels include the given ones (0 if
      none).
"""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r"(?:[+-]?Inf|NaN|[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(
    rf"^({NAME})(?:\{{((?:{LABEL}={LABEL_VALUE})(?:,{LABEL}={LABEL_VALUE})*)?\}})? ({VALUE})(?: -?[0-9]+)?$")
PAIR = re.compile(rf"({LABEL})=({LABEL_VALUE})")
META = re.compile(rf"^# (HELP|TYPE) ({NAME})(?: (.*))?$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v[1:-1])


def parse(text):
    if text and not text.endswith("\n"):
        raise ValueError("no final line feed")
    help_, type_, samples = {}, {}, []
    closed, current, seen = set(), None, set()
    for n, line in enumerate(text.splitlines(), 1):
        def fail(why):
            raise ValueError(f"line {n}: {why}: {line!r}")
        if line.startswith("#"):
            m = META.match(line)
            if not m:
                fail("comment that is neither HELP nor TYPE")
            kind, fam, rest = m.group(1), m.group(2), m.group(3) or ""
            if fam in closed or fam == current:
                fail("HELP/TYPE after samples")
            d = help_ if kind == "HELP" else type_
            if fam in d:
                fail(f"second {kind}")
            if kind == "TYPE" and rest not in TYPES:
                fail("unknown type")
            if kind == "HELP" and re.search(r"\\[^\\n]|\\$", rest):
                fail("bad escape in HELP")
            d[fam] = rest
            continue
        m = SAMPLE.match(line)
        if not m:
            fail("not a sample")
        name, labels_s, value = m.group(1), m.group(2) or "", m.group(3)
        labels = {}
        for k, v in PAIR.findall(labels_s):
            if k in labels:
                fail("duplicate label")
            labels[k] = unescape(v)
        fam = name
        for sfx in ("_bucket", "_sum", "_count"):
            base = name[: -len(sfx)]
            if name.endswith(sfx) and type_.get(base) in ("histogram", "summary"):
                fam = base
        if fam not in type_:
            fail("sample without TYPE")
        if not fam.startswith("xvr_"):
            fail("family not prefixed xvr_")
        if fam != current:
            if fam in closed:
                fail("samples of the family not contiguous")
            if current:
                closed.add(current)
            current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            fail("duplicate series")
        seen.add(key)
        samples.append((name, labels, float(value.replace("Inf", "inf"))))
    for fam, t in type_.items():
        if t != "histogram":
            continue
        series = {}
        counts = {}
        for name, labels, v in samples:
            rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            if name == fam + "_bucket":
                series.setdefault(rest, []).append((float(labels["le"].replace("Inf", "inf")), v))
            elif name == fam + "_count":
                counts[rest] = v
        for rest, b in series.items():
            if any(b[i][0] >= b[i + 1][0] or b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                raise ValueError(f"{fam}{dict(rest)}: buckets not ascending/cumulative")
            if not math.isinf(b[-1][0]) or counts.get(rest) != b[-1][1]:
                raise ValueError(f"{fam}{dict(rest)}: +Inf bucket missing or != _count")
    return help_, type_, samples


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    text = open(path, encoding="utf-8").read()
    try:
        _, type_, samples = parse(text)
    except ValueError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1
    if cmd == "validate":
        print(f"{len(type_)} families, {len(samples)} samples: valid")
        return 0
    if cmd == "get":
        want = dict(a.split("=", 1) for a in sys.argv[4:])
        total = sum(v for n, l, v in samples
                    if n == sys.argv[3] and all(l.get(k) == x for k, x in want.items()))
        print(int(total) if total == int(total) else total)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
