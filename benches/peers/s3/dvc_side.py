#!/usr/bin/env python3
"""The DVC side of the `s3` peer suite: `dvc push` and `dvc pull` with the dvc-s3 plugin,
against a fresh moto server, 16 jobs (`-j 16`), what a DVC user types:

    git init; dvc init; dvc remote add -d store s3://BUCKET/dvc;
    dvc remote modify store endpointurl http://127.0.0.1:PORT
    dvc add big.bin (not timed); dvc push -j 16 big.bin.dvc (timed)
    rm -r .dvc/cache big.bin; dvc pull -j 16 big.bin.dvc (timed: fetch + checkout)
    the same for the folder small/ (20,000 files of 10 KiB)

Each timed row is the whole `dvc` command (its start-up included). Run from the repository
root with the dvc-s3 venv's python; PEERS_WORK is the scratch folder, PEERS_QUICK=1 shrinks
the data. One JSON line per case on stdout.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3_common as c  # noqa: E402

SIDE = "dvc"
BIN = os.path.dirname(sys.executable)  # the venv's bin (not resolved: a venv symlinks python)
DVC = os.path.join(BIN, "dvc")
ENV = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_TERMINAL_PROMPT="0", **c.CREDENTIALS)


class Failed(Exception):
    """A dvc command failed; the message holds the end of its output."""


def run(cmd, cwd):
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    el = time.perf_counter() - t
    if p.returncode != 0:
        c.log(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        lines = [x for x in (p.stdout + p.stderr).splitlines() if x.strip()]
        raise Failed(f"`{' '.join(os.path.basename(a) for a in cmd[:3])} ...` exit code "
                     f"{p.returncode}: {' '.join(lines[-3:])[-400:]}")
    return el


def emit_error(case, variant, why):
    print(c.json.dumps({"suite": c.SUITE, "case": case, "variant": variant, "side": SIDE,
                        "error": why}), file=c.OUT, flush=True)


def version():
    from importlib.metadata import version as v
    return f"dvc {v('dvc')} + dvc-s3 {v('dvc-s3')}, -j {c.JOBS}"


def main():
    variant = version()
    work = tempfile.mkdtemp(prefix="s3-dvc-", dir=os.environ.get("PEERS_WORK"))
    repo = os.path.join(work, "repo")
    c.gen(repo)
    server = c.Moto()
    try:
        run(["git", "init", "-q"], repo)
        run([DVC, "init", "-q"], repo)
        run([DVC, "config", "core.analytics", "false"], repo)
        run([DVC, "config", "core.check_update", "false"], repo)
        run([DVC, "config", "core.site_cache_dir", os.path.join(work, "site-cache")], repo)
        run([DVC, "remote", "add", "-d", "store", f"s3://{c.BUCKET}/dvc"], repo)
        run([DVC, "remote", "modify", "store", "endpointurl", server.endpoint], repo)
        names = c.cases()
        startup = run([DVC, "--version"], repo)
        for target, push, pull in (("big.bin", "push_big", "pull_big"),
                                   ("small", "push_small", "pull_small")):
            path = os.path.join(repo, target)
            nbytes = c.tree_bytes(path) if os.path.isdir(path) else os.path.getsize(path)
            run([DVC, "add", "-q", target], repo)
            try:
                el = run([DVC, "push", "-j", str(c.JOBS), f"{target}.dvc"], repo)
            except Failed as e:
                emit_error(names[push], variant, str(e))
                emit_error(names[pull], variant, "not run: the push failed")
                continue
            c.emit(SIDE, names[push], variant, el, nbytes,
                   f"CLI start-up ~{startup:.1f} s included")
            shutil.rmtree(os.path.join(repo, ".dvc", "cache"))
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            try:
                el = run([DVC, "pull", "-j", str(c.JOBS), f"{target}.dvc"], repo)
            except Failed as e:
                emit_error(names[pull], variant, str(e))
                continue
            got = c.tree_bytes(path) if os.path.isdir(path) else os.path.getsize(path)
            if got != nbytes:
                emit_error(names[pull], variant, f"pulled {got} bytes, expected {nbytes}")
                continue
            c.emit(SIDE, names[pull], variant, el, nbytes,
                   f"fetch + checkout; CLI start-up ~{startup:.1f} s included")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
