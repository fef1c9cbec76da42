#!/usr/bin/env python3
"""The DVC side of the `dvc` peer suite, and the machine's limits for the same bytes.

Runs what a DVC user types, in a git repository (`git init` + `dvc init`, as DVC's docs start),
with DVC's default cache type (copies here), and times each `dvc` command as a whole (the CLI's
start-up included; its cost alone is in each row's note):

    add a single 1 GiB file; add a folder of 20,000 files of 10 KiB; no-op status of each;
    change 10 files and add again; delete and check out each; push to a local remote;
    gc -w; delete the cache and pull.

Before DVC, it times `sha256sum` and `cp` of the same bytes (the machine's limits for hashing
and copying) as extra variants of the two "add" cases.

The data comes from `target/release/peers_dvc gen` (our side's generator), so both sides work
on the same bytes. Run from the repository root with this venv's python; PEERS_WORK is the
scratch folder, PEERS_QUICK=1 shrinks the data. One JSON line per measurement on stdout.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SUITE = "dvc"
QUICK = os.environ.get("PEERS_QUICK", "") not in ("", "0")
BIG = (16 << 20) if QUICK else (1 << 30)
FILES = 200 if QUICK else 20_000
GEN = os.environ.get("PEERS_DVC_GEN", os.path.join("target", "release", "peers_dvc"))
BIN = os.path.dirname(sys.executable)  # the venv's bin (not resolved: a venv symlinks python)
DVC = os.path.join(BIN, "dvc")
ENV = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_TERMINAL_PROMPT="0")


def log(msg):
    print(f"[dvc workload] {msg}", file=sys.stderr, flush=True)


# Our JSON lines go to the real stdout; everything else the tools print (on fd 1 too) goes to
# stderr, as the protocol asks.
OUT = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr


def emit(case, variant, seconds, note=None, side="dvc"):
    line = {"suite": SUITE, "case": case, "variant": variant, "side": side,
            "value": seconds, "unit": "s", "count": 1}
    if note:
        line["note"] = note
    print(json.dumps(line), file=OUT, flush=True)


def run(cmd, cwd, capture=False):
    """Run a command; fail loudly with its output."""
    p = subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout if capture else None


def timed(cmd, cwd, shell=False):
    t = time.perf_counter()
    if shell:
        p = subprocess.run(cmd, cwd=cwd, env=ENV, shell=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    else:
        p = subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    el = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{cmd} failed ({p.returncode}):\n{p.stderr}")
    return el, (None if shell else p.stdout)


def size_label():
    return f"{BIG >> 30} GiB" if BIG >= 1 << 30 else f"{BIG >> 20} MiB"


def files_label():
    return f"{FILES // 1000},{FILES % 1000:03} files" if FILES >= 1000 else f"{FILES} files"


def count_files(path):
    return sum(len(fs) for _, _, fs in os.walk(path))


def coreutils_version():
    out = subprocess.run(["sha256sum", "--version"], stdout=subprocess.PIPE, text=True).stdout
    return out.split("\n", 1)[0].rsplit(" ", 1)[-1]


def main():
    base = os.environ.get("PEERS_WORK") or tempfile.mkdtemp(prefix="peers-dvc-")
    work = os.path.join(base, f"dvc-{os.getpid()}")
    repo = os.path.join(work, "repo")
    os.makedirs(work)
    need = 5 * BIG + 6 * FILES * 10240
    free = shutil.disk_usage(work).free
    if free < need:
        raise SystemExit(f"{work}: {free >> 20} MiB free, the workload needs {need >> 20} MiB")
    if not os.path.exists(GEN):
        raise SystemExit(f"{GEN} is missing: cargo build --release -p mlops-benches --bins")
    try:
        workload(work, repo)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def workload(work, repo):
    big, files = size_label(), files_label()
    log(f"generating {big} + {files} in {repo}")
    run([GEN, "gen", repo], cwd=".")
    time.sleep(0.2)

    # The machine's limits for the same bytes: hash only, copy only (page cache warm, as for
    # both tools: the data was just written).
    cu = coreutils_version()
    el, _ = timed(["sha256sum", "big.bin"], cwd=repo)
    emit(f"add {big} file", f"sha256sum (coreutils {cu})", el, "machine limit: hash only, one core")
    el, _ = timed(["cp", "big.bin", os.path.join(work, "big.copy")], cwd=repo)
    emit(f"add {big} file", f"cp (coreutils {cu})", el, "machine limit: copy only")
    os.remove(os.path.join(work, "big.copy"))
    el, _ = timed("find ds -type f -print0 | xargs -0 sha256sum", cwd=repo, shell=True)
    emit(f"add folder of {files} x 10 KiB", f"sha256sum (coreutils {cu})", el,
         "machine limit: hash only, one core (find | xargs sha256sum)")
    el, _ = timed(["cp", "-r", "ds", os.path.join(work, "ds.copy")], cwd=repo)
    emit(f"add folder of {files} x 10 KiB", f"cp -r (coreutils {cu})", el,
         "machine limit: copy only")
    shutil.rmtree(os.path.join(work, "ds.copy"))

    version = run([DVC, "--version"], cwd=repo, capture=True).strip()
    variant = f"dvc {version}, git repo, CLI"
    # What a user does: a git repository, then dvc init; keep DVC's site cache (state and
    # index databases) inside the scratch folder, and no update checks or analytics.
    run(["git", "init", "-q"], cwd=repo)
    run([DVC, "init", "-q"], cwd=repo)
    run([DVC, "config", "core.analytics", "false"], cwd=repo)
    run([DVC, "config", "core.check_update", "false"], cwd=repo)
    run([DVC, "config", "core.site_cache_dir", os.path.join(work, "site-cache")], cwd=repo)
    start, _ = timed([DVC, "--version"], cwd=repo)
    note = f"each row is one dvc command; dvc --version alone takes {start:.2f} s here"

    el, _ = timed([DVC, "add", "-q", "big.bin"], cwd=repo)
    emit(f"add {big} file", variant, el, note)
    el, _ = timed([DVC, "add", "-q", "ds"], cwd=repo)
    emit(f"add folder of {files} x 10 KiB", variant, el, note)

    for case, target in ((f"no-op status, {big} file", "big.bin.dvc"),
                         (f"no-op status, folder of {files}", "ds.dvc")):
        el, out = timed([DVC, "status", "--json", target], cwd=repo)
        if json.loads(out or "{}") != {}:
            raise SystemExit(f"dvc status {target} is not clean: {out}")
        emit(case, variant, el, note)

    run([os.path.abspath(GEN), "modify", repo], cwd=".")
    el, _ = timed([DVC, "add", "-q", "ds"], cwd=repo)
    emit("modify 10 files and add again", variant, el, note)

    shutil.rmtree(os.path.join(repo, "ds"))
    el, _ = timed([DVC, "checkout", "-q", "ds.dvc"], cwd=repo)
    if count_files(os.path.join(repo, "ds")) != FILES:
        raise SystemExit("dvc checkout did not restore every file")
    emit(f"delete and check out folder of {files}", variant, el, note)

    os.remove(os.path.join(repo, "big.bin"))
    el, _ = timed([DVC, "checkout", "-q", "big.bin.dvc"], cwd=repo)
    if os.path.getsize(os.path.join(repo, "big.bin")) != BIG:
        raise SystemExit("dvc checkout did not restore big.bin")
    emit(f"delete and check out {big} file", variant, el, note)

    remote = os.path.join(work, "remote")
    run([DVC, "remote", "add", "-q", "-d", "local", remote], cwd=repo)
    el, _ = timed([DVC, "push", "-q"], cwd=repo)
    emit("push to local remote", variant, el, f"{count_files(remote)} objects; {note}")

    el, _ = timed([DVC, "gc", "-q", "-w", "-f"], cwd=repo)
    emit("gc (keep the workspace's versions)", variant, el, f"dvc gc -w -f; {note}")

    # Lost cache (or a fresh clone): dvc pull = fetch + checkout.
    shutil.rmtree(os.path.join(repo, ".dvc", "cache"))
    el, _ = timed([DVC, "pull", "-q"], cwd=repo)
    emit("pull from local remote into an empty cache", variant, el, note)
    out = run([DVC, "status", "--json"], cwd=repo, capture=True)
    if json.loads(out or "{}") != {}:
        raise SystemExit(f"after dvc pull the workspace is not clean: {out}")


if __name__ == "__main__":
    main()
