"""Tests of the peer driver (run.py), standard library only:

    python3 -m unittest discover -s benches/peers -p 'test_*.py'

The end-to-end tests run the driver on throwaway suites whose sides are small Python scripts:
one that succeeds, one that fails, one that breaks the protocol.
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402


def line(case, side, value, unit="ms", variant=None, **extra):
    obj = {"suite": "s", "case": case, "variant": variant or f"{side} 1.0", "side": side,
           "value": value, "unit": unit, "count": 10}
    obj.update(extra)
    return json.dumps(obj)


class ParseLines(unittest.TestCase):
    def test_valid_lines_are_converted_to_seconds(self):
        got, problems = run.parse_lines([line("c", "mlops", 250, "us")], "s", "mlops", 1)
        self.assertEqual(problems, [])
        self.assertAlmostEqual(got[0]["seconds"], 250e-6)
        self.assertEqual(got[0]["round"], 1)

    def test_protocol_breaks_are_reported_not_fatal(self):
        lines = ["hello", "[1, 2]", line("c", "mlops", 1, "minutes"),
                 line("c", "mlops", None), "", line("c", "other", 1)]
        got, problems = run.parse_lines(lines, "s", "mlops", 1)
        self.assertEqual(len(problems), 5)
        # The bad-unit and null-value lines become failed measurements, not dropped silently.
        self.assertEqual(sum(1 for g in got if g.get("error")), 2)
        # A line claiming another side is counted for the side that printed it.
        self.assertEqual(got[-1]["side"], "mlops")

    def test_error_lines_are_kept_as_failures(self):
        got, problems = run.parse_lines([line("c", "peer", None, error="boom")], "s", "peer", 2)
        self.assertEqual(problems, [])
        self.assertEqual(got[0]["error"], "boom")
        self.assertNotIn("seconds", got[0])


class Formatting(unittest.TestCase):
    def test_time_units(self):
        self.assertEqual(run.fmt_time(1.5), ("1.50", "s"))
        self.assertEqual(run.fmt_time(0.0123), ("12.3", "ms"))
        self.assertEqual(run.fmt_time(123e-6), ("123", "us"))
        self.assertEqual(run.fmt_time(5e-9), ("5.00", "ns"))

    def test_stats_cell(self):
        cell = run.fmt_stats([0.2, 0.1, 0.3], 100, 3)
        self.assertEqual(cell, "200 ms (100–300); 2.00 ms/op")
        self.assertIn("[2 of 3 rounds]", run.fmt_stats([0.2, 0.1], 1, 3))

    def test_ratio_wording(self):
        self.assertEqual(run.fmt_ratio(10.0, 1.0), "10.0x faster")
        self.assertEqual(run.fmt_ratio(1.0, 2.0), "2.00x slower (ratio 0.50)")
        self.assertEqual(run.fmt_ratio(1.0, 0.0), "n/a")


class EndToEnd(unittest.TestCase):
    """Runs main() on throwaway suites."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.peers = self.dir / "peers"
        self.peers.mkdir()

    def tearDown(self):
        self.tmp.cleanup()

    def script(self, name, body):
        path = self.dir / name
        path.write_text(textwrap.dedent(body))
        return [sys.executable, str(path)]

    def suite(self, name, sides, setup=None, **extra):
        d = self.peers / name
        d.mkdir()
        spec = {"suite": name, "title": f"Suite {name}", "sides": sides, **extra}
        if setup:
            spec["setup"] = setup
        (d / "suite.json").write_text(json.dumps(spec))

    def main(self, *argv):
        out = self.dir / "out" / "bench.md"
        err = io.StringIO()
        with mock.patch.object(run, "PEERS", self.peers), \
                mock.patch.object(sys, "argv", ["run.py", "--no-build", "--out", str(out),
                                                "--work-dir", str(self.dir / "work"), *argv]), \
                contextlib.redirect_stderr(err):
            rc = run.main()
        return rc, out.read_text(), json.loads(out.with_suffix(".json").read_text()), err.getvalue()

    def emitter(self, name, side, seconds, rows=5, expected=5):
        return self.script(name, f"""
            import json, os, sys
            assert os.path.isdir(os.environ["PEERS_WORK"])
            print("progress goes to stderr", file=sys.stderr)
            for case in ["write 10", "read 10"]:
                print(json.dumps({{"suite": "alpha", "case": case, "side": "{side}",
                    "variant": "{side} 1.0", "value": {seconds}, "unit": "s", "count": 10,
                    "check": {{"rows": {rows}, "expected": {expected}}}}}))
            print(json.dumps({{"suite": "alpha", "case": "write 10", "side": "{side}",
                "variant": "{side} 1.0, extra", "value": {seconds} / 4, "unit": "s"}}))
            """)

    def test_pairs_cases_alternates_sides_and_reports_failures(self):
        self.suite("alpha", [
            {"name": "mlops", "cmd": self.emitter("ours.py", "mlops", 0.5)},
            {"name": "peer", "cmd": self.emitter("peer.py", "peer", 2.0, rows=4)},
            {"name": "broken", "cmd": self.script("broken.py", """
                import sys
                print("not json")
                print("Traceback: the peer tool crashed", file=sys.stderr)
                sys.exit(3)
                """)},
        ], notes=["a static note"])
        rc, md, raw, err = self.main("--rounds", "2", "--no-setup")
        self.assertEqual(rc, 1)
        # Order flips every round.
        order = [(r["round"], r["side"]) for r in raw["runs"]]
        self.assertEqual(order, [(1, "mlops"), (1, "peer"), (1, "broken"),
                                 (2, "broken"), (2, "peer"), (2, "mlops")])
        self.assertIn("| write 10 | 500 ms (500–500); 50.0 ms/op | peer 1.0 | "
                      "2.00 s (2.00–2.00); 200 ms/op | 4.00x faster |", md)
        # The extra variant of ours is listed apart, against the first one.
        self.assertIn("| write 10 | mlops 1.0, extra | 125 ms (125–125) | 4.00x faster |", md)
        # The failing side: failed rows, the tail of its stderr, the protocol break.
        self.assertIn("| broken: no result | failed (see failures) |", md)
        self.assertIn("Traceback: the peer tool crashed", md)
        self.assertIn("not JSON: not json", md)
        self.assertIn("exit code 3", md)
        # The check mismatch of the peer is flagged.
        self.assertIn("4 of 5 rows MISMATCH", md)
        self.assertIn("**Correctness check failed:**", md)
        self.assertIn("- a static note", md)
        self.assertIn("progress goes to stderr", err)
        self.assertEqual(len(raw["lines"]), 12)
        self.assertTrue(all(r["cpu_seconds"] is not None for r in raw["runs"]))
        self.assertIn("Time per round and side", md)

    def test_setup_failure_skips_the_peer_but_runs_ours(self):
        self.suite("alpha", [
            {"name": "mlops", "cmd": self.emitter("ours.py", "mlops", 0.5)},
            {"name": "peer", "cmd": self.emitter("peer.py", "peer", 2.0)},
        ], setup=self.script("setup.py", """
            import sys
            print("pip: no matching distribution", file=sys.stderr)
            sys.exit(1)
            """))
        rc, md, raw, _ = self.main("--rounds", "1")
        self.assertEqual(rc, 1)
        self.assertEqual([r["side"] for r in raw["runs"]], ["(setup)", "mlops"])
        self.assertIn("| peer: no result | failed (see failures) |", md)
        self.assertIn("pip: no matching distribution", md)

    def test_slower_rows_and_quick_banner(self):
        self.suite("alpha", [
            {"name": "mlops", "cmd": self.emitter("ours.py", "mlops", 3.0)},
            {"name": "peer", "cmd": self.emitter("peer.py", "peer", 1.5)},
        ])
        rc, md, raw, _ = self.main("--rounds", "1", "--no-setup", "--quick")
        self.assertEqual(rc, 0)
        self.assertIn("2.00x slower (ratio 0.50)", md)
        self.assertIn("QUICK RUN", md)
        self.assertTrue(raw["meta"]["quick"])

    def test_timeout_is_a_failure(self):
        self.suite("alpha", [
            {"name": "mlops", "cmd": self.script("slow.py", "import time; time.sleep(30)\n")},
        ])
        rc, md, raw, _ = self.main("--rounds", "1", "--no-setup", "--timeout", "1")
        self.assertEqual(rc, 1)
        self.assertEqual(raw["runs"][0]["error"], "timed out after 1 s")

    def test_render_rewrites_the_report_from_raw_json(self):
        self.suite("alpha", [
            {"name": "mlops", "cmd": self.emitter("ours.py", "mlops", 0.5)},
            {"name": "peer", "cmd": self.emitter("peer.py", "peer", 1.0)},
        ])
        _, md, _, _ = self.main("--rounds", "1", "--no-setup")
        out = self.dir / "out" / "bench.md"
        out.write_text("stale")
        with mock.patch.object(run, "PEERS", self.peers), \
                contextlib.redirect_stderr(io.StringIO()), \
                mock.patch.object(sys, "argv", ["run.py", "--render",
                                                str(out.with_suffix(".json"))]):
            self.assertEqual(run.main(), 0)
        self.assertEqual(out.read_text(), md)

    def test_merge_keeps_the_other_suites_and_replaces_its_own(self):
        def emit(name, suite, value):
            return self.script(name, f"""
                import json
                print(json.dumps({{"suite": "{suite}", "case": "op", "value": {value},
                                   "unit": "s"}}))
                """)
        self.suite("alpha", [{"name": "mlops", "cmd": emit("a1.py", "alpha", 1.0)}])
        self.suite("beta", [{"name": "mlops", "cmd": emit("b1.py", "beta", 2.0)}])
        _, md1, raw1, _ = self.main("--rounds", "1", "--no-setup")
        self.assertIn("Suite alpha", md1)
        # Beta again, measured anew, merged into the report: alpha's row stays as it was.
        (self.peers / "beta" / "suite.json").write_text(json.dumps(
            {"suite": "beta", "title": "Suite beta",
             "sides": [{"name": "mlops", "cmd": emit("b2.py", "beta", 3.0)}]}))
        rc, md, raw, _ = self.main("--rounds", "2", "--no-setup", "--suites", "beta", "--merge")
        self.assertEqual(rc, 0)
        by_suite = {}
        for x in raw["lines"]:
            by_suite.setdefault(x["suite"], []).append(x["value"])
        self.assertEqual(by_suite, {"alpha": [1.0], "beta": [3.0, 3.0]})
        self.assertEqual(raw["meta"]["report_suites"], ["alpha", "beta"])
        self.assertEqual(raw["meta"]["earlier"][0]["suites"], ["alpha"])
        self.assertLess(md.index("Suite alpha"), md.index("Suite beta"))
        self.assertIn("- Suites beta:", md)
        self.assertIn("- Suites alpha:", md)
        # Without --merge the report holds this run's suites only.
        _, md3, raw3, _ = self.main("--rounds", "1", "--no-setup", "--suites", "beta")
        self.assertNotIn("Suite alpha", md3)
        # --render of a merged report writes the same Markdown.
        out = self.dir / "out" / "bench.md"
        out.with_suffix(".json").write_text(json.dumps(raw))
        with mock.patch.object(run, "PEERS", self.peers), \
                contextlib.redirect_stderr(io.StringIO()), \
                mock.patch.object(sys, "argv", ["run.py", "--render",
                                                str(out.with_suffix(".json"))]):
            self.assertEqual(run.main(), 0)
        self.assertEqual(out.read_text(), md)


if __name__ == "__main__":
    unittest.main()
