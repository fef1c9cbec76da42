#!/usr/bin/env python3
"""Runs the peer benchmark suites (benches/peers/*/suite.json) and writes docs/benchmarks.md.

    python3 benches/peers/run.py [--rounds 3] [--suites tracking,dvc] [--quick] [--out FILE]

For each selected suite: run its setup once (creates or reuses the peer tool's venv), then for
each round run every side once, alternating (ours, peer, ... with the order flipped every
round), each in a fresh PEERS_WORK directory. Every side prints one JSON object per line on
stdout (see benches/peers/README.md). The driver pairs the lines by suite and case, and writes
the medians, min/max and ratios to a Markdown file and the raw lines to a JSON file beside it.

A side that fails (non-zero exit, timeout, setup failure, an "error" line) is reported in the
table as failed, with the tail of its stderr; it never stops the other sides or suites.

Python 3 standard library only.
"""

import argparse
import collections
import datetime
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "benches" / "peers"
OURS = "mlops"
SUITE_ORDER = ["tracking", "registry", "dvc", "features", "parquet", "arrow"]
UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
# `parquet` builds parquet_pit, our side of the `parquet` and `arrow` suites.
BUILD = ["cargo", "build", "--release", "-p", "mlops-benches", "--bins", "--features", "parquet"]
TAIL_LINES = 30
START = time.monotonic()


def log(msg):
    el = int(time.monotonic() - START)
    print(f"[peers {el // 60:02d}:{el % 60:02d}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Running commands


class Outcome:
    """What one command did."""

    def __init__(self):
        self.rc = None
        self.seconds = 0.0
        self.cpu_seconds = None  # user + system CPU time of the process and its children
        self.stdout = []
        self.stderr_tail = collections.deque(maxlen=TAIL_LINES)
        self.error = None  # why it failed, when it did (exit code, timeout, could not start)

    @property
    def ok(self):
        return self.error is None


def run_command(cmd, env, timeout, echo_prefix, capture_stdout):
    """Runs `cmd` from the repository root; streams its stderr (and stdout unless captured) to
    our stderr with a prefix, keeps a tail of it, and returns an Outcome."""
    out = Outcome()
    t0 = time.monotonic()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        out.error = f"could not start {shlex.join(cmd)}: {e}"
        out.stderr_tail.append(out.error)
        return out

    def pump_stderr():
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            out.stderr_tail.append(line)
            print(f"{echo_prefix}{line}", file=sys.stderr, flush=True)

    def pump_stdout():
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if capture_stdout:
                out.stdout.append(line)
                print(f"{echo_prefix}result: {summarize(line)}", file=sys.stderr, flush=True)
            else:
                out.stderr_tail.append(line)
                print(f"{echo_prefix}{line}", file=sys.stderr, flush=True)

    threads = [threading.Thread(target=pump_stderr, daemon=True),
               threading.Thread(target=pump_stdout, daemon=True)]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        out.error = f"timed out after {timeout} s"
    except KeyboardInterrupt:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        raise
    for t in threads:
        t.join(timeout=10)
    out.rc = proc.returncode
    out.seconds = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out.cpu_seconds = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if out.error is None and out.rc != 0:
        out.error = f"exit code {out.rc}"
    return out


def summarize(text):
    """A result line, shortened for the progress log."""
    try:
        obj = json.loads(text)
        if obj.get("error") is not None:
            return f"{obj['case']} | {obj.get('variant')}: error: {str(obj['error'])[:200]}"
        value, unit = fmt_time(obj["value"] * UNITS[obj["unit"]])
        return f"{obj['case']} | {obj.get('variant')}: {value} {unit}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return text[:200]


def capture(cmd):
    """First line of a command's output, or None."""
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (r.stdout or r.stderr).strip()
    return text.splitlines()[0] if r.returncode == 0 and text else None


# ---------------------------------------------------------------------------------------------
# Machine description


def read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def loadavg():
    parts = read("/proc/loadavg").split()
    return " ".join(parts[:3]) if parts else "unknown"


def machine(work_root):
    cpu = "unknown"
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "unknown"
    m = re.search(r"^MemTotal:\s+(\d+) kB", read("/proc/meminfo"), re.M)
    if m:
        mem = f"{int(m.group(1)) / 1024 / 1024:.1f} GiB"
    return {
        "cpu": cpu,
        "cores": capture(["nproc"]) or str(os.cpu_count()),
        "memory": mem,
        "kernel": f"{platform.system()} {platform.release()}",
        "work_dir": str(work_root),
        "work_fs": filesystem_of(work_root),
    }


def filesystem_of(path):
    """The type of the filesystem holding `path` (longest matching mount point)."""
    best, fstype = "", "unknown"
    try:
        target = str(Path(path).resolve())
    except OSError:
        return fstype
    for line in read("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1].replace("\\040", " ")
        if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
            best, fstype = mnt, parts[2]
    return fstype


# ---------------------------------------------------------------------------------------------
# Suites


def discover():
    suites = []
    for path in sorted(PEERS.glob("*/suite.json")):
        try:
            spec = json.loads(path.read_text())
            spec.setdefault("suite", path.parent.name)
            spec.setdefault("title", spec["suite"])
            spec.setdefault("sides", [])
            if not any(s.get("name") == OURS for s in spec["sides"]):
                log(f"warning: {path} has no '{OURS}' side")
            suites.append(spec)
        except (OSError, ValueError, KeyError, TypeError) as e:
            log(f"warning: skipping {path}: {e}")

    def order(s):
        name = s["suite"]
        return (SUITE_ORDER.index(name) if name in SUITE_ORDER else len(SUITE_ORDER), name)

    return sorted(suites, key=order)


def expand(cmd, venvs):
    target = os.environ.get("CARGO_TARGET_DIR")
    out = []
    for i, arg in enumerate(cmd):
        arg = arg.replace("${VENVS}", venvs).replace("$VENVS", venvs)
        if i == 0 and target and arg.startswith("target/"):
            arg = str(Path(target) / arg[len("target/"):])
        out.append(arg)
    return out


def parse_lines(lines, suite, side, rnd):
    """The side's JSON result lines, validated; other stdout lines are reported and dropped."""
    results, problems = [], []
    for text in lines:
        text = text.strip()
        if not text:
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            problems.append(f"not JSON: {text[:200]}")
            continue
        if not isinstance(obj, dict) or "case" not in obj:
            problems.append(f"no 'case': {text[:200]}")
            continue
        if obj.get("suite", suite) != suite:
            problems.append(f"suite {obj.get('suite')!r} in a line of suite {suite!r}")
        if obj.get("side", side) != side:
            problems.append(f"side {obj.get('side')!r} in a line of side {side!r}")
        obj["suite"], obj["side"], obj["round"] = suite, side, rnd
        obj.setdefault("variant", side)
        if obj.get("error") is None:
            unit = obj.get("unit")
            value = obj.get("value")
            if unit not in UNITS or not isinstance(value, (int, float)) or not math.isfinite(value):
                problems.append(f"bad value/unit ({value!r} {unit!r}): {text[:200]}")
                obj["error"] = f"bad value/unit: {value!r} {unit!r}"
            else:
                obj["seconds"] = value * UNITS[unit]
        results.append(obj)
    return results, problems


# ---------------------------------------------------------------------------------------------
# Formatting


def fmt_time(seconds, unit=None):
    if unit is None:
        unit = pick_unit(seconds)
    v = seconds / UNITS[unit]
    if v >= 100:
        s = f"{v:,.0f}"
    elif v >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return s, unit


def pick_unit(seconds):
    if seconds >= 1:
        return "s"
    if seconds >= 1e-3:
        return "ms"
    if seconds >= 1e-6:
        return "us"
    return "ns"


def fmt_stats(values, count, rounds):
    med = statistics.median(values)
    m, unit = fmt_time(med)
    lo, _ = fmt_time(min(values), unit)
    hi, _ = fmt_time(max(values), unit)
    cell = f"{m} {unit} ({lo}–{hi})" if len(values) > 1 else f"{m} {unit}"
    if isinstance(count, int) and count > 1:
        per, punit = fmt_time(med / count)
        cell += f"; {per} {punit}/op"
    if len(values) < rounds:
        cell += f" [{len(values)} of {rounds} rounds]"
    return cell


def num(x):
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_ratio(peer, ours):
    """The peer's time over ours, worded for the reader."""
    if ours <= 0 or peer <= 0:
        return "n/a"
    r = peer / ours
    return f"{num(r)}x faster" if r >= 1 else f"{num(1 / r)}x slower (ratio {num(r)})"


def md_escape(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------------------------
# Aggregation and the report


class Cell:
    """Every measurement of one (case, side, variant)."""

    def __init__(self):
        self.values = []
        self.errors = []
        self.checks = []
        self.notes = []
        self.count = None

    def add(self, line):
        if line.get("error") is not None:
            self.errors.append(str(line["error"]))
        else:
            self.values.append(line["seconds"])
        if isinstance(line.get("check"), dict):
            self.checks.append(line["check"])
        # A note is kept from the first round that has one: later rounds repeat it (with
        # their own incidental numbers).
        note = line.get("note")
        if note and not self.notes:
            self.notes.append(str(note))
        if self.count is None and isinstance(line.get("count"), int):
            self.count = line["count"]


def check_text(cell):
    if not cell or not cell.checks:
        return ""
    bad = [c for c in cell.checks if c.get("rows") != c.get("expected")]
    c = bad[0] if bad else cell.checks[0]
    mark = "MISMATCH" if bad else "ok"
    return f"{c.get('rows')} of {c.get('expected')} rows {mark}"


def suite_section(spec, lines, runs, rounds):
    name = spec["suite"]
    out = [f"## {spec['title']}", ""]
    workload = spec.get("workload")
    if workload:
        for w in [workload] if isinstance(workload, str) else workload:
            out.append(f"- {w}")
        out.append("")

    cases, cells = [], collections.OrderedDict()
    variants = collections.defaultdict(list)  # (case, side) -> variants in order of appearance
    for line in lines:
        case, side, variant = line["case"], line["side"], line["variant"]
        if case not in cases:
            cases.append(case)
        if variant not in variants[(case, side)]:
            variants[(case, side)].append(variant)
        cells.setdefault((case, side, variant), Cell()).add(line)

    sides = [s["name"] for s in spec.get("sides", [])]
    for line in lines:
        if line["side"] not in sides:
            sides.append(line["side"])
    peers = [s for s in sides if s != OURS]
    failed_sides = {r["side"] for r in runs if r["error"]}
    if "(setup)" in failed_sides:
        failed_sides.update(peers)

    def stats_cell(cell, side):
        if cell and cell.values:
            return fmt_stats(cell.values, cell.count, rounds)
        if cell and cell.errors:
            return "failed (see notes)"
        return "failed (see failures)" if side in failed_sides else "no result"

    has_checks = any(c.checks for c in cells.values())
    header = ["case", "ours", "peer variant", "peer", "ratio (peer/ours)"]
    if has_checks:
        header.append("check (ours / peer)")
    rows = []
    others = []
    for case in cases:
        ours_variants = variants.get((case, OURS), [])
        ref = ours_variants[0] if ours_variants else None
        ours_cell = cells.get((case, OURS, ref)) if ref else None
        peer_rows = []
        for side in peers:
            vs = variants.get((case, side), [])
            if not vs:
                peer_rows.append((f"{side}: no result", side, None))
            for v in vs:
                peer_rows.append((v, side, cells[(case, side, v)]))
        if not peer_rows:
            peer_rows.append(("(none)", None, None))
        for label, side, pcell in peer_rows:
            ratio = ""
            if ours_cell and ours_cell.values and pcell and pcell.values:
                ratio = fmt_ratio(statistics.median(pcell.values),
                                  statistics.median(ours_cell.values))
            row = [case, stats_cell(ours_cell, OURS), label,
                   stats_cell(pcell, side) if side else "", ratio]
            if has_checks:
                a, b = check_text(ours_cell), check_text(pcell)
                row.append(f"{a or '–'} / {b or '–'}" if a or b else "")
            rows.append(row)
        for v in ours_variants[1:]:
            cell = cells[(case, OURS, v)]
            ratio = ""
            if cell.values and ours_cell and ours_cell.values:
                ratio = fmt_ratio(statistics.median(ours_cell.values),
                                  statistics.median(cell.values))
            others.append([case, v, stats_cell(cell, OURS), ratio])

    ref_variants = sorted({variants[(c, OURS)][0] for c in cases if variants.get((c, OURS))})
    if ref_variants:
        out.append("Ours: " + "; ".join(f"`{v}`" for v in ref_variants) + ".")
        out.append("")
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        out.append("| " + " | ".join(md_escape(x) for x in row) + " |")
    out.append("")
    if others:
        out.append("Other variants of ours (not in the ratios above), against the one compared:")
        out.append("")
        out.append("| case | variant | time | vs " + (ref_variants[0] if len(ref_variants) == 1
                                                  else "the compared variant") + " |")
        out.append("|---|---|---|---|")
        for row in others:
            out.append("| " + " | ".join(md_escape(x) for x in row) + " |")
        out.append("")

    problems = []
    for (case, side, variant), c in cells.items():
        if any(x.get("rows") != x.get("expected") for x in c.checks):
            problems.append(f"{variant} ({side}), {case}: {check_text(c)}")
    # Each side generates its data itself: the expected counts must agree across sides.
    for case in cases:
        expected = {str(x.get("expected")) for (k, _, _), c in cells.items() if k == case
                    for x in c.checks}
        if len(expected) > 1:
            problems.append(f"{case}: the sides expect different row counts "
                            f"({', '.join(sorted(expected))}): their workloads differ")
    if problems:
        out.append("**Correctness check failed:**")
        out.append("")
        for p in problems:
            out.append(f"- {md_escape(p)}")
        out.append("")

    notes = list(spec.get("notes", []))
    # A note part ("; "-separated) that every case of a variant carries is said once for the
    # variant; the rest per case.
    parts_of = {}
    for (case, side, variant), c in cells.items():
        parts_of.setdefault(variant, []).append(
            [p.strip() for n in c.notes for p in n.split("; ") if p.strip()])
    common = {}
    for variant, lists in parts_of.items():
        shared = set(lists[0]) if lists and all(lists) else set()
        for parts in lists[1:]:
            shared &= set(parts)
        common[variant] = [p for p in (lists[0] if lists else []) if p in shared]
        if len(lists) > 1 and common[variant]:
            notes.append(f"{variant} (every case): {'; '.join(common[variant])}")
        else:
            common[variant] = []
    for (case, side, variant), c in cells.items():
        rest = [p.strip() for n in c.notes for p in n.split("; ")
                if p.strip() and p.strip() not in common[variant]]
        if rest:
            notes.append(f"{variant}, {case}: {'; '.join(rest)}")
        for e in sorted(set(c.errors)):
            notes.append(f"**failed**: {variant}, {case}: {e}")
    if notes:
        out.append("Notes:")
        out.append("")
        for n in notes:
            out.append(f"- {md_escape(n)}")
        out.append("")

    failures = [r for r in runs if r["error"]]
    if failures:
        out.append("Failures:")
        out.append("")
        for r in failures:
            what = "setup" if r["side"] == "(setup)" else f"side `{r['side']}`"
            rnd = f", round {r['round']}" if r.get("round") else ""
            out.append(f"- {what}{rnd}: {r['error']}; the last lines of its output:")
            out.append("")
            out.append("  ```")
            for t in r["stderr_tail"][-TAIL_LINES:]:
                out.append("  " + t.replace("```", "'''"))
            out.append("  ```")
        out.append("")
    done = [r for r in runs if r.get("round") and not r["error"]]
    if done:
        per_side = collections.defaultdict(list)
        for r in done:
            per_side[r["side"]].append(r)

        def side_time(rs):
            wall = statistics.median(r["seconds"] for r in rs)
            cpus = [r["cpu_seconds"] for r in rs if r.get("cpu_seconds") is not None]
            cpu = f" ({statistics.median(cpus):.1f} s CPU)" if cpus else ""
            return f"{wall:.1f} s{cpu}"

        out.append("Time per round and side, process start to exit with data generation and "
                   "imports included (median): " + "; ".join(
                       f"{side} {side_time(rs)}" for side, rs in per_side.items()) + ".")
        out.append("")
    return out


def run_bullets(m):
    """The lines of "This run" that differ between runs: date, command, load."""
    return [
        f"- Date: {m['started']} to {m['finished']} (UTC), {m['duration']}.",
        f"- Command: `{m['command']}`; {m['rounds']} round(s).",
        f"- Load average (1, 5, 15 min): {m['load_before']} before, {m['load_after']} after.",
    ]


def machine_bullet(m):
    return f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} memory, {m['kernel']}."


def suite_rounds(meta):
    """Rounds per suite: the run that measured it (a merged report holds several runs)."""
    out = {}
    for m in [meta] + list(meta.get("earlier", [])):
        for name in m.get("suites", []):
            out.setdefault(name, m["rounds"])
    return out


def merge_previous(previous, meta, lines, runs):
    """This run's suites replace theirs in a previous run's raw data; the other suites' lines,
    runs and run description are kept. Returns (meta, lines, runs) to write."""
    mine = set(meta["suites"])
    pmeta = previous["meta"]
    earlier = []
    for m in [pmeta] + list(pmeta.get("earlier", [])):
        kept = [x for x in m.get("suites", []) if x not in mine]
        if kept:
            e = {k: m[k] for k in ("started", "finished", "duration", "command", "rounds",
                                   "load_before", "load_after", "machine") if k in m}
            e["suites"] = kept
            earlier.append(e)
    merged = dict(meta)
    merged["earlier"] = earlier
    order = [x for x in pmeta.get("suites", []) if x not in mine] + meta["suites"]
    merged["suites"] = meta["suites"]
    merged["report_suites"] = sorted(
        order, key=lambda n: (SUITE_ORDER.index(n) if n in SUITE_ORDER else len(SUITE_ORDER), n))
    keep_lines = [x for x in previous["lines"] if x["suite"] not in mine]
    keep_runs = [r for r in previous["runs"] if r["suite"] not in mine]
    return merged, keep_lines + lines, keep_runs + runs


def write_report(path, meta, suites, lines, runs):
    rounds = meta["rounds"]
    per_suite_rounds = suite_rounds(meta)
    out = ["# Benchmarks against MLflow, DVC and Feast", ""]
    out.append("<!-- Written by benches/peers/run.py; edit the driver, not this file. -->")
    out.append("")
    if meta["quick"]:
        out += ["> **QUICK RUN (`--quick`): reduced sizes to test the plumbing. These are not "
                "results; the published table is made without `--quick`.**", ""]
    out += [
        "The same workloads run on our crates and on the reference tools, on the same machine, in "
        "one run of `python3 benches/peers/run.py`: each side is a separate process (ours a Rust "
        "binary in `benches/src/bin/peers_<suite>.rs`, the peer a Python script in its own venv), "
        "the sides alternate, and each case is timed inside its process. The table gives the "
        f"median over {rounds} round(s), the min–max in brackets, the time per operation where a "
        "case has many, and the ratio of the peer's median to ours (above 1: ours is faster). "
        "Every row is measured in the same run on both sides; a row where we are slower says so.",
        "",
        "## How to run",
        "",
        "```sh",
        "python3 benches/peers/run.py                      # every suite, 3 rounds; writes docs/benchmarks.md",
        "python3 benches/peers/run.py --suites tracking    # some suites (comma-separated)",
        "python3 benches/peers/run.py --quick              # small sizes, to test the plumbing",
        "```",
        "",
        "Needs Rust (the workspace's toolchain), Python 3.10 or later with `venv`, and network "
        "access to PyPI the first time: each suite's `setup.sh` creates its pinned venv under "
        "`$MLOPS_VENV_DIR` (default `~/.cache/mlops/venvs`) and reuses it afterwards. Nothing of "
        "this runs in CI. See `benches/peers/README.md` for the protocol and each suite.",
        "",
        "## This run" if not meta.get("earlier") else "## The runs",
        "",
    ]
    if meta.get("earlier"):
        out.append("This report merges runs (`run.py --merge`): each suite's rows come from the "
                   "run that lists it.")
        out.append("")
        for m in [meta] + meta["earlier"]:
            out.append(f"- Suites {', '.join(m['suites'])}:")
            bullets = run_bullets(m)
            if m.get("machine"):
                bullets.insert(2, machine_bullet(m["machine"]))
            out += ["  " + b for b in bullets]
        out.append("")
        out.append("Common to the runs:")
        out.append("")
    else:
        out += run_bullets(meta)[:2]
        out.append(machine_bullet(meta["machine"]))
        out.append(run_bullets(meta)[2])
    out += [
        f"- Data directories under `{meta['machine']['work_dir']}` "
        f"({meta['machine']['work_fs']}).",
        f"- Toolchain: {meta['rustc'] or 'rustc unknown'}; driver on Python {meta['python']}.",
    ]
    variants = collections.defaultdict(set)
    for line in lines:
        variants[line["side"]].add(line["variant"])
    for side in sorted(variants, key=lambda s: (s != OURS, s)):
        out.append(f"- Variants of `{side}`: " + "; ".join(f"`{v}`" for v in sorted(variants[side])) + ".")
    out.append("")
    for spec in suites:
        name = spec["suite"]
        out += suite_section(spec, [x for x in lines if x["suite"] == name],
                             [r for r in runs if r["suite"] == name],
                             per_suite_rounds.get(name, rounds))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out).rstrip() + "\n")


# ---------------------------------------------------------------------------------------------


def render(raw, out_md):
    """Rewrites the Markdown report from a raw JSON file written by a previous run."""
    data = json.loads(raw.read_text())
    meta, runs, lines = data["meta"], data["runs"], data["lines"]
    by_name = {s["suite"]: s for s in discover()}
    names = meta.get("report_suites") or meta["suites"]
    suites = [by_name.get(n, {"suite": n, "title": n, "sides": []}) for n in names]
    out_md = out_md or raw.with_suffix(".md")
    write_report(out_md, meta, suites, lines, runs)
    log(f"wrote {out_md} from {raw}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds per suite (default 3)")
    ap.add_argument("--suites", help="comma-separated suites (default: every benches/peers/*/suite.json)")
    ap.add_argument("--quick", action="store_true",
                    help="reduced sizes (PEERS_QUICK=1) to test the plumbing; the output then "
                         "defaults to target/peers/benchmarks-quick.md")
    ap.add_argument("--out", help="the Markdown report (default docs/benchmarks.md); the raw "
                                  "lines go beside it with a .json suffix")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds allowed per command")
    ap.add_argument("--work-dir", default=tempfile.gettempdir(),
                    help="where each run's PEERS_WORK directory is made (default: the system "
                         "temporary directory); it should be on a real disk, not tmpfs")
    ap.add_argument("--keep-work", action="store_true", help="keep the PEERS_WORK directories")
    ap.add_argument("--no-build", action="store_true", help="skip the cargo build")
    ap.add_argument("--no-setup", action="store_true", help="skip the suites' setup scripts")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other suites of the report's existing raw JSON: this run's "
                         "suites replace theirs, the rest stay as published")
    ap.add_argument("--render", metavar="JSON",
                    help="run nothing: rewrite the report from a previous run's raw JSON "
                         "(e.g. after editing a suite's notes)")
    args = ap.parse_args()
    if args.render:
        return render(Path(args.render), Path(args.out) if args.out else None)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")

    out_md = Path(args.out) if args.out else (
        ROOT / "target" / "peers" / "benchmarks-quick.md" if args.quick
        else ROOT / "docs" / "benchmarks.md")
    if not out_md.is_absolute():
        out_md = Path.cwd() / out_md
    out_json = out_md.with_suffix(".json")
    previous = None
    if args.merge and out_json.exists():
        previous = json.loads(out_json.read_text())

    suites = discover()
    if args.suites:
        wanted = [s.strip() for s in args.suites.split(",") if s.strip()]
        unknown = [w for w in wanted if w not in {s["suite"] for s in suites}]
        if unknown:
            ap.error(f"unknown suite(s): {', '.join(unknown)}; found: "
                     f"{', '.join(s['suite'] for s in suites) or 'none'}")
        suites = [s for s in suites if s["suite"] in wanted]
    if not suites:
        ap.error(f"no suites found under {PEERS}")

    venvs = os.environ.get("MLOPS_VENV_DIR") or str(Path.home() / ".cache" / "mlops" / "venvs")
    work_root = Path(args.work_dir).resolve()
    work_root.mkdir(parents=True, exist_ok=True)
    base_env = dict(os.environ)
    base_env["MLOPS_VENV_DIR"] = venvs
    base_env["VENVS"] = venvs
    base_env["PYTHONUNBUFFERED"] = "1"
    if args.quick:
        base_env["PEERS_QUICK"] = "1"
    else:
        base_env.pop("PEERS_QUICK", None)

    started = datetime.datetime.now(datetime.timezone.utc)
    meta = {
        "started": started.strftime("%Y-%m-%d %H:%M"),
        "command": shlex.join(["python3", "benches/peers/run.py"] + sys.argv[1:]),
        "rounds": args.rounds,
        "quick": args.quick,
        "machine": machine(work_root),
        "load_before": loadavg(),
        "rustc": capture(["rustc", "-V"]),
        "python": platform.python_version(),
        "suites": [s["suite"] for s in suites],
    }
    log(f"suites: {', '.join(meta['suites'])}; {args.rounds} round(s)"
        f"{' (quick)' if args.quick else ''}; load average {meta['load_before']}; "
        f"report: {out_md}")
    if meta["machine"]["work_fs"] == "tmpfs":
        log(f"warning: {work_root} is on tmpfs: fsync costs nothing there; use --work-dir")

    lines, runs = [], []
    blocked = {}  # (suite, side) -> why it cannot run

    def record(suite, side, rnd, outcome, cmd):
        runs.append({"suite": suite, "side": side, "round": rnd, "cmd": cmd,
                     "rc": outcome.rc, "seconds": round(outcome.seconds, 3),
                     "cpu_seconds": None if outcome.cpu_seconds is None
                     else round(outcome.cpu_seconds, 3),
                     "error": outcome.error, "stderr_tail": list(outcome.stderr_tail)})

    def save():
        meta["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
        el = int(time.monotonic() - START)
        meta["duration"] = f"{el // 60} min {el % 60} s"
        meta["load_after"] = loadavg()
        w_meta, w_lines, w_runs, w_suites = meta, lines, runs, suites
        if previous is not None:
            w_meta, w_lines, w_runs = merge_previous(previous, meta, lines, runs)
            by_name = {x["suite"]: x for x in discover()}
            w_suites = [by_name.get(n, {"suite": n, "title": n, "sides": []})
                        for n in w_meta["report_suites"]]
        write_report(out_md, w_meta, w_suites, w_lines, w_runs)
        out_json.write_text(json.dumps({"meta": w_meta, "runs": w_runs, "lines": w_lines},
                                       indent=1) + "\n")

    # 1. Our binaries, built once.
    if not args.no_build:
        log(f"building: {shlex.join(BUILD)}")
        o = run_command(BUILD, base_env, args.timeout, "  cargo| ", capture_stdout=False)
        if not o.ok:
            log(f"build failed ({o.error}): our sides are reported as failed")
            for s in suites:
                record(s["suite"], OURS, None, o, BUILD)
                blocked[(s["suite"], OURS)] = f"cargo build failed: {o.error}"

    # 2. Every suite's setup (the installs), before any measurement.
    if not args.no_setup:
        for s in suites:
            if not s.get("setup"):
                continue
            cmd = expand(s["setup"], venvs)
            log(f"{s['suite']}: setup: {shlex.join(cmd)}")
            o = run_command(cmd, base_env, args.timeout, f"  {s['suite']} setup| ",
                            capture_stdout=False)
            log(f"{s['suite']}: setup {'done' if o.ok else 'FAILED: ' + o.error} "
                f"in {o.seconds:.0f} s")
            if not o.ok:
                record(s["suite"], "(setup)", None, o, cmd)
                for side in s["sides"]:
                    if side.get("name") != OURS:
                        blocked[(s["suite"], side["name"])] = f"setup failed: {o.error}"

    # 3. The rounds, sides alternating, order flipped every round.
    try:
        for s in suites:
            name = s["suite"]
            t_suite = time.monotonic()
            for rnd in range(1, args.rounds + 1):
                order = list(s["sides"]) if rnd % 2 == 1 else list(reversed(s["sides"]))
                for side in order:
                    sname = side.get("name", "?")
                    if (name, sname) in blocked:
                        log(f"{name}: round {rnd}: {sname}: skipped ({blocked[(name, sname)]})")
                        continue
                    cmd = expand(side.get("cmd", []), venvs)
                    work = Path(tempfile.mkdtemp(prefix=f"peers-{name}-{sname}-", dir=work_root))
                    env = dict(base_env, PEERS_WORK=str(work), PEERS_SUITE=name,
                               PEERS_ROUND=str(rnd))
                    log(f"{name}: round {rnd}/{args.rounds}: {sname}: {shlex.join(cmd)}")
                    try:
                        o = run_command(cmd, env, args.timeout, f"  {name}/{sname}| ",
                                        capture_stdout=True)
                    finally:
                        if not args.keep_work:
                            t_rm = time.monotonic()
                            shutil.rmtree(work, ignore_errors=True)
                            if time.monotonic() - t_rm > 5:
                                log(f"{name}: removing {work} took "
                                    f"{time.monotonic() - t_rm:.0f} s")
                    got, problems = parse_lines(o.stdout, name, sname, rnd)
                    for p in problems:
                        log(f"{name}: {sname}: {p}")
                        o.stderr_tail.append(f"[driver] {p}")
                    lines.extend(got)
                    if o.ok and not got:
                        o.error = "exited 0 but printed no result line"
                    record(name, sname, rnd, o, cmd)
                    status = "ok" if o.ok else f"FAILED ({o.error})"
                    log(f"{name}: round {rnd}: {sname}: {status}, {len(got)} line(s), "
                        f"{o.seconds:.1f} s wall, {o.cpu_seconds or 0:.1f} s CPU")
            log(f"{name}: done in {time.monotonic() - t_suite:.0f} s")
            save()
    except KeyboardInterrupt:
        log("interrupted: writing what was measured so far")
        save()
        return 130
    save()
    log(f"wrote {out_md} and {out_json} in {meta['duration']}")
    failed = [r for r in runs if r["error"]]
    if failed:
        log(f"{len(failed)} command(s) failed; see the report")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
