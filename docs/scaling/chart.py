#!/usr/bin/env python3
"""Tables and log-log charts of docs/scaling.md from the JSON of the `scaling` program.

    python3 docs/scaling/chart.py scaling.json [more.json ...]

Rewrites the part of docs/scaling.md between `<!-- tables:start -->` and `<!-- tables:end -->`
(one table per crate) and writes docs/scaling/<crate>.svg (cost per item against size, log-log,
one line per curve, the goal as a dashed line). Standard library only. Later files win when two
hold the same (curve, size). A crate with no point in the given files keeps its table (and
its SVG) as they are, so one crate's curves can be re-measured alone:

    python3 docs/scaling/chart.py docs/scaling/data/features.json
"""

import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "scaling.md")

CRATES = ["testing", "pipeline", "registry", "tracking", "features", "dvc"]

# Which per-item figure a crate's chart shows, and its goal lines: (label, ns per item).
CHART = {
    "testing": ("cpu_ns_per_item", "CPU ns per value (2n values per call)",
                [("goal: 50 ms per 1M x 1M call = 25 ns/value", 25.0)]),
    "pipeline": ("cpu_ns_per_item", "CPU ns per step",
                 [("goal: 5 us per step", 5000.0)]),
    "registry": ("wall_ns_per_item", "wall ns per call (search: per version)", []),
    "tracking": ("wall_ns_per_item", "wall ns per run / per point",
                 [("goal: open 100k runs in 1 s = 10 us/run", 10000.0)]),
    "features": ("cpu_ns_per_item", "CPU ns per read / per joined row",
                 [("goal: online read p99 2 us", 2000.0)]),
    "dvc": ("wall_ns_per_item", "wall ns per file", []),
}

# Extra series drawn from a point's fields: (crate, curve prefix, field, label).
EXTRA_SERIES = [
    ("features", "online read", "p99_ns", "online read p99 (wall)"),
    ("features", "online read", "p50_ns", "online read p50 (wall)"),
    ("features", "online read", "two_loads_floor_ns", "limit: 2 dependent random loads"),
    ("dvc", "no-op status", "stat_walk_wall_ns_per_file", "limit: parallel stat walk"),
    ("dvc", "checkout, copies", "cp_r_wall_ns_per_file", "limit: cp -r"),
    ("dvc", "add (track)", "cp_r_wall_ns_per_file", "limit: cp -r before the add"),
    ("tracking", "open file store (snapshot)", "floor_wall_ns_per_run",
     "limit: stat each run's dir and log"),
    ("tracking", "open file store (no snapshot)", "floor_wall_ns_per_run",
     "limit: read each run's meta.json and log"),
]

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
          "#17becf", "#7f7f7f", "#bcbd22", "#393b79", "#637939"]


def load(paths):
    """The points of every file (a later file's point replaces an earlier one's) and, per
    crate, the machine of the file its points came from."""
    points = {}
    machines = {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for p in data["points"]:
            points[(p["crate"], p["curve"], p["size"])] = p
            if data.get("machine"):
                machines[p["crate"]] = data["machine"]
    return machines, list(points.values())


def machine_text(m):
    cpus = f", {m['cpus']} cores" if m.get("cpus") else ""
    mem = f", {m['mem_gib']:.1f} GiB" if m.get("mem_gib") else ""
    return f"{m.get('cpu', '?')}{cpus}{mem}, {m.get('profile', '?')} build"


def machines_line(machines):
    """One line naming the machine of every crate's table (grouped when they share one)."""
    by = {}
    for crate in CRATES:
        if crate in machines:
            by.setdefault(machine_text(machines[crate]), []).append(crate)
    if not by:
        return "\n"
    if len(by) == 1:
        return f"\nMachine: {next(iter(by))}.\n\n"
    parts = "; ".join(f"{', '.join(cs)}: {m}" for m, cs in by.items())
    return f"\nMachines: {parts}.\n\n"


def human(ns):
    if ns is None or (isinstance(ns, float) and math.isnan(ns)):
        return "n/a"
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def size(n):
    for div, suf in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div}{suf}"
    return str(n)


NOTE_FIELDS = [
    ("per_call_ms", "per call {:.2f} ms"),
    ("cpu_per_call_ms", "CPU per call {:.2f} ms"),
    ("p50_ns", "p50 {:.0f} ns"),
    ("p99_ns", "p99 {:.0f} ns"),
    ("two_loads_floor_ns", "2 random loads {:.0f} ns"),
    ("rss_bytes_per_entity", "RSS {:.0f} B/entity"),
    ("rss_over_raw", "{:.2f}x raw payload"),
    ("anon_huge_pages_kib", "AnonHugePages {:.0f} KiB"),
    ("rss_delta_bytes_per_run", "RSS {:.0f} B/run"),
    ("open_wall_s", "open {:.2f} s"),
    ("ratio_to_floor", "{:.2f}x its floor"),
    ("floor_wall_ns_per_run", "floor {:.0f} ns/run"),
    ("ratio_to_stat_walk", "{:.2f}x stat walk"),
    ("cpu_ratio_to_stat_walk", "CPU {:.2f}x stat walk"),
    ("ratio_to_cp_r", "{:.2f}x cp -r"),
    ("cpu_ratio_to_cp_r", "CPU {:.2f}x cp -r"),
    ("peak_above_baseline_mib", "peak +{:.1f} MiB"),
    ("join_peak_above_loaded_mib", "join peak +{:.1f} MiB"),
    ("validate_peak_above_data_mib", "peak +{:.1f} MiB"),
    ("data_mib", "data {:.0f} MiB"),
]


def notes(p):
    out = []
    for key, fmt in NOTE_FIELDS:
        v = p.get(key)
        if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
            out.append(fmt.format(v))
    runs = p.get("cpu_ns_per_row_runs")
    if isinstance(runs, list) and len(runs) > 1:
        out.append(f"least CPU of {len(runs)} runs (all: {' / '.join(f'{r:.0f}' for r in runs)} ns)")
    return ", ".join(out)


def growth(series):
    """How far the per-item cost grows with size: the largest ratio of a cost at a larger size
    to a cost at a smaller one (a cost that falls with size is not a bend)."""
    vals = [v for _, v in sorted(series) if v and v > 0]
    if len(vals) < 2:
        return None
    return max(max(vals[j] / vals[i] for i in range(len(vals)) for j in range(i + 1, len(vals))), 1.0)


def sections(block):
    """The per-crate tables of an existing tables block: crate -> its text."""
    out = {}
    parts = block.split("\n### ")
    for part in parts[1:]:
        name = part.split("\n", 1)[0].strip()
        out[name] = "### " + part.rstrip("\n") + "\n"
    return out


def tables(points, old=None):
    out = []
    for crate in CRATES:
        ps = [p for p in points if p["crate"] == crate]
        if not ps:
            if old and crate in old:
                out.append(old[crate])
            continue
        out.append(f"### {crate}\n")
        out.append("| curve | size | CPU / item | wall / item | RSS | load (1 min) | notes |")
        out.append("|---|---:|---:|---:|---:|---:|---|")
        curves = []
        for p in ps:
            if p["curve"] not in curves:
                curves.append(p["curve"])
        for c in curves:
            for p in sorted((p for p in ps if p["curve"] == c), key=lambda p: p["size"]):
                rss = f"{p['rss_kib'] / 1024:.0f} MiB" if p.get("rss_kib") else "–"
                ld = p.get("load_1m")
                ld = f"{ld:.1f}" if isinstance(ld, (int, float)) else "n/a"
                cpu = human(p["cpu_ns_per_item"]) if p.get("cpu_s", 0) > 0 else "< 10 ms in all"
                out.append(
                    f"| {c} | {size(p['size'])} {p['unit']}s | {cpu} "
                    f"| {human(p['wall_ns_per_item'])} | {rss} | {ld} | {notes(p)} |"
                )
        out.append("")
        metric = CHART[crate][0]
        out.append(f"Growth of the per-item cost ({metric.split('_')[0].upper()} time) with size "
                   "(largest ratio of a larger size's cost to a smaller one's; more than 1.5x is a "
                   "bend):\n")
        for c in curves:
            s = [(p["size"], p[metric]) for p in ps if p["curve"] == c]
            g = growth(s)
            if g is not None:
                flag = " **bends**" if g > 1.5 else ""
                out.append(f"- {c}: {g:.2f}x{flag}")
        out.append("")
        out.append(f"![{crate}](scaling/{crate}.svg)\n")
    return "\n".join(out)


def svg(crate, points):
    metric, ylabel, goals = CHART[crate]
    ps = [p for p in points if p["crate"] == crate]
    series = {}
    for p in ps:
        v = p.get(metric)
        if v and v > 0:
            series.setdefault(p["curve"], []).append((p["size"], v))
    for c, prefix, field, label in EXTRA_SERIES:
        if c != crate:
            continue
        for p in ps:
            if p["curve"].startswith(prefix) and isinstance(p.get(field), (int, float)) and p[field] > 0:
                series.setdefault(label, []).append((p["size"], p[field]))
    if not series:
        return None
    for k in series:
        series[k].sort()
    xs = [x for s in series.values() for x, _ in s]
    ys = [y for s in series.values() for _, y in s] + [g for _, g in goals]
    x0, x1 = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    if x1 == x0:
        x1 += 1
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    if y1 == y0:
        y1 += 1
    W, H, L, R, T, B = 900, 520, 80, 330, 40, 60
    pw, ph = W - L - R, H - T - B

    def px(x):
        return L + (math.log10(x) - x0) / (x1 - x0) * pw

    def py(y):
        return T + ph - (math.log10(y) - y0) / (y1 - y0) * ph

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="22" font-size="15">{crate}: cost per item against size (log-log)</text>']
    for e in range(x0, x1 + 1):
        x = px(10 ** e)
        o.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{T + ph}" stroke="#ddd"/>')
        o.append(f'<text x="{x:.1f}" y="{T + ph + 18}" text-anchor="middle">{size(10 ** e) if e >= 0 else 10 ** e}</text>')
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        o.append(f'<line x1="{L}" y1="{y:.1f}" x2="{L + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{human(10 ** e)}</text>')
    o.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    o.append(f'<text x="{L + pw / 2}" y="{H - 15}" text-anchor="middle">size (items)</text>')
    o.append(f'<text x="18" y="{T + ph / 2}" text-anchor="middle" '
             f'transform="rotate(-90 18 {T + ph / 2})">{ylabel}</text>')
    ly = T + 10
    for i, (name, pts) in enumerate(sorted(series.items())):
        col = COLORS[i % len(COLORS)]
        dash = ' stroke-dasharray="2,3"' if name.startswith("limit") or "(scipy)" in name or "(numpy)" in name else ""
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        o.append(f'<polyline points="{path}" fill="none" stroke="{col}" stroke-width="2"{dash}/>')
        for x, y in pts:
            o.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{col}"/>')
        o.append(f'<line x1="{L + pw + 10}" y1="{ly}" x2="{L + pw + 30}" y2="{ly}" stroke="{col}" stroke-width="2"{dash}/>')
        o.append(f'<text x="{L + pw + 35}" y="{ly + 4}" font-size="10">{escape(name)}</text>')
        ly += 16
    for label, g in goals:
        y = py(g)
        o.append(f'<line x1="{L}" y1="{y:.1f}" x2="{L + pw}" y2="{y:.1f}" stroke="black" stroke-dasharray="8,4"/>')
        o.append(f'<text x="{L + 4}" y="{y - 4:.1f}" font-size="10">{escape(label)}</text>')
    o.append("</svg>")
    return "\n".join(o)


def escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    machines, points = load(sys.argv[1:])
    for crate in CRATES:
        text = svg(crate, points)
        if text:
            with open(os.path.join(HERE, f"{crate}.svg"), "w") as f:
                f.write(text + "\n")
    with open(DOC) as f:
        doc = f.read()
    start, end = "<!-- tables:start -->", "<!-- tables:end -->"
    a, b = doc.index(start) + len(start), doc.index(end)
    head = machines_line(machines)
    doc = doc[:a] + head + tables(points, sections(doc[a:b])) + "\n" + doc[b:]
    with open(DOC, "w") as f:
        f.write(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
