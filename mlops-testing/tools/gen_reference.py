#!/usr/bin/env python3
"""Generate the reference vectors that mlops-testing's tests compare against.

Run from any directory with numpy, scipy, scikit-learn and evidently installed:

    python3 mlops-testing/tools/gen_reference.py

It writes mlops-testing/tests/data/reference.json, recording the versions it used. The tests
read that committed file, so running the tests never needs Python.

Large samples are not stored: they are described by a generator spec that the Rust tests
reproduce bit for bit (a 64-bit LCG, see `lcg_sample` below and `tests/reference.rs`), using only
+, *, floor, so both sides compute identical floats.
"""
import json
import math
import pathlib
import platform

import numpy as np
import pandas as pd
import scipy
import sklearn
from scipy import stats
from scipy.spatial import distance
from sklearn import metrics

import evidently
from evidently.legacy.calculations.stattests import (
    chi_stat_test, jensenshannon_stat_test, ks_stat_test, psi_stat_test,
    wasserstein_stat_test, z_stat_test,
)
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType

MASK = (1 << 64) - 1


def lcg_uniform(seed, n):
    """Uniform [0, 1) values from Knuth's MMIX LCG, top 53 bits."""
    state = seed & MASK
    out = []
    for _ in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK
        out.append((state >> 11) * (1.0 / 9007199254740992.0))
    return out


def lcg_sample(spec):
    """shift + scale * (u1 + u2 + u3) [bell-shaped], optionally quantised to 1/quant steps."""
    u = lcg_uniform(spec["seed"], 3 * spec["n"])
    out = []
    for i in range(spec["n"]):
        v = u[3 * i] + u[3 * i + 1] + u[3 * i + 2]
        if spec.get("quant", 0):
            q = float(spec["quant"])
            v = math.floor(v * q) / q
        out.append(spec["shift"] + spec["scale"] * v)
    return out


def spec(seed, n, shift=0.0, scale=1.0, quant=0):
    return {"seed": seed, "n": n, "shift": shift, "scale": scale, "quant": quant}


def f(x):
    return float(x)


def ks_cases():
    cases = []
    inline = [
        ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]),
        ([0.1, 0.4, 0.7, 0.2, 0.9], [0.3, 0.5, 0.8, 0.6]),
        ([1.0, 1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0]),
        ([5.0], [1.0, 2.0, 3.0]),
        ([4.0, 5.0, 6.0], [1.0, 2.0, 3.0]),                 # statistic_sign -1
        ([1.0, 2.0, 2.0, 3.0], [2.0, 2.0, 2.0, 5.0]),       # ties at the location
        ([0.0, 1.0, 2.0, 3.0], [0.5, 1.5, 2.5, 3.5]),       # D attained at several values
    ]
    for a, b in inline:
        r = stats.ks_2samp(a, b, method="auto")
        cases.append({"a": a, "b": b, "statistic": f(r.statistic), "pvalue": f(r.pvalue),
                      "statistic_location": f(r.statistic_location),
                      "statistic_sign": int(r.statistic_sign)})
    gens = [
        (spec(1, 200), spec(2, 200, shift=0.1)),            # equal sizes, exact
        (spec(3, 500), spec(4, 300, shift=0.05)),           # unequal, exact
        (spec(5, 1000, quant=20), spec(6, 700, quant=20)),  # many ties, exact
        (spec(7, 3000), spec(8, 2999, shift=0.02)),         # coprime sizes, exact
        (spec(9, 10000), spec(10, 10000, shift=0.01)),      # largest exact, equal
        (spec(11, 10000), spec(12, 4000, shift=0.03)),      # largest exact, unequal
        (spec(13, 12000), spec(14, 300, shift=0.05)),       # asymptotic, en ~ 293
        (spec(15, 20000), spec(16, 15000, shift=0.01)),     # asymptotic, Pelz-Good
        (spec(17, 20000), spec(18, 15000, shift=0.05)),     # asymptotic, Smirnov tail
        (spec(19, 11000), spec(20, 60, shift=0.1)),         # asymptotic, small en
        (spec(21, 11000), spec(22, 100, shift=0.3)),        # asymptotic, small en, tail
        (spec(23, 50000), spec(24, 50000)),                 # asymptotic, same distribution
        (spec(25, 11000), spec(26, 60)),                    # asymptotic, small en, Durbin matrix
        (spec(27, 12000), spec(28, 150)),                   # asymptotic, en > 140, small D
        (spec(29, 10001), spec(30, 10001, shift=0.003)),    # just above the exact limit
    ]
    for sa, sb in gens:
        a, b = lcg_sample(sa), lcg_sample(sb)
        r = stats.ks_2samp(a, b, method="auto")
        cases.append({"a_gen": sa, "b_gen": sb, "statistic": f(r.statistic), "pvalue": f(r.pvalue),
                      "statistic_location": f(r.statistic_location),
                      "statistic_sign": int(r.statistic_sign)})
    return cases


def chi2_contingency_cases():
    tables = [
        [[10, 20], [30, 40]],
        [[12, 5], [7, 7]],
        [[3, 3.2], [3.3, 3]],          # |diff| < 0.5: Yates moves by less than 0.5
        [[100, 150, 80], [90, 160, 95]],
        [[5, 10, 15], [20, 25, 30], [35, 40, 46]],
        [[1, 2, 3]],                    # dof 0
    ]
    out = []
    for t in tables:
        for corr in (True, False):
            r = stats.chi2_contingency(np.array(t, dtype=float), correction=corr)
            out.append({"table": t, "correction": corr, "statistic": f(r.statistic),
                        "pvalue": f(r.pvalue), "dof": int(r.dof)})
    return out


def chisquare_cases():
    pairs = [
        ([16, 18, 16, 14, 12, 12], [16, 16, 16, 16, 16, 8]),
        ([43, 52, 54, 40], [47.25, 47.25, 47.25, 47.25]),
        ([5, 0, 5], [3.3333333333333335, 3.3333333333333335, 3.333333333333333]),
    ]
    out = []
    for o, e in pairs:
        r = stats.chisquare(o, e)
        out.append({"observed": o, "expected": e, "statistic": f(r.statistic), "pvalue": f(r.pvalue)})
    return out


def ztest_cases():
    # Evidently's two-proportion z-test on 0/1 samples.
    from evidently.legacy.calculations.stattests.z_stattest import (
        proportions_diff_z_stat_ind, proportions_diff_z_test)
    out = []
    for s1, n1, s2, n2 in [(30, 100, 45, 100), (5, 1000, 9, 800), (500, 1000, 480, 900), (1, 3, 2, 3)]:
        ref = pd.Series([1] * s1 + [0] * (n1 - s1))
        cur = pd.Series([1] * s2 + [0] * (n2 - s2))
        z = proportions_diff_z_stat_ind(ref, cur)
        out.append({"s1": s1, "n1": n1, "s2": s2, "n2": n2, "statistic": f(z),
                    "pvalue": f(proportions_diff_z_test(z))})
    return out


def wasserstein_cases():
    out = []
    inline = [([0.0, 1.0, 3.0], [5.0, 6.0, 8.0]), ([0.0, 1.0], [0.0, 1.0, 1.0, 1.0]),
              ([3.4, 3.9, 7.5, 7.8], [4.5, 1.4, 1.4, 3.0])]
    for a, b in inline:
        out.append({"a": a, "b": b, "distance": f(stats.wasserstein_distance(a, b))})
    for sa, sb in [(spec(31, 5000), spec(32, 3000, shift=0.2, scale=1.5)),
                   (spec(33, 20000, quant=10), spec(34, 20000, quant=10, shift=0.1))]:
        out.append({"a_gen": sa, "b_gen": sb,
                    "distance": f(stats.wasserstein_distance(lcg_sample(sa), lcg_sample(sb)))})
    return out


def jensenshannon_cases():
    pairs = [([1.0, 0.0], [0.5, 0.5]), ([0.2, 0.3, 0.5], [0.1, 0.1, 0.8]),
             ([10, 20, 30, 0], [5, 5, 5, 5]), ([1.0, 2.0], [1.0, 2.0])]
    return [{"p": p, "q": q, "distance": f(distance.jensenshannon(p, q)),
             "base2": f(distance.jensenshannon(p, q, base=2)),
             "base10": f(distance.jensenshannon(p, q, base=10))} for p, q in pairs]


def evidently_cases():
    """Column drift through Evidently's own stattest functions and default choice."""
    name_of = {id(ks_stat_test): "ks", id(chi_stat_test): "chisquare", id(z_stat_test): "z",
               id(wasserstein_stat_test): "wasserstein",
               id(jensenshannon_stat_test): "jensenshannon", id(psi_stat_test): "psi"}
    tests = {"ks": ks_stat_test, "chisquare": chi_stat_test, "z": z_stat_test,
             "wasserstein": wasserstein_stat_test, "jensenshannon": jensenshannon_stat_test,
             "psi": psi_stat_test}
    numeric = [
        (spec(41, 800), spec(42, 600, shift=0.2)),               # default ks
        (spec(43, 5000), spec(44, 4000, shift=0.1)),             # default wasserstein
        (spec(45, 5000, quant=2), spec(46, 4000, quant=2)),      # few values: jensenshannon
        (spec(47, 400, quant=1), spec(48, 300, quant=1, shift=0.0)),  # <= 5 values: chisquare
        (spec(49, 3000, quant=4), spec(50, 2000, quant=4, shift=0.25)),  # <= 20 distinct: value bins
        (spec(51, 2000), spec(52, 2500, scale=2.0)),             # sturges bins with empty tails
    ]
    out = []
    for sa, sb in numeric:
        ref, cur = pd.Series(lcg_sample(sa)), pd.Series(lcg_sample(sb))
        default = get_stattest(ref, cur, ColumnType.Numerical, None)
        case = {"kind": "numeric", "a_gen": sa, "b_gen": sb,
                "default_method": name_of[id(default)], "scores": {}}
        for name, t in tests.items():
            if name in ("chisquare",) and ref.nunique() > 50:
                continue
            score, drift = t.func(ref, cur, ColumnType.Numerical, t.default_threshold)
            case["scores"][name] = {"score": f(score), "drift": bool(drift)}
        out.append(case)
    cats = [
        (["a"] * 50 + ["b"] * 30 + ["c"] * 20, ["a"] * 40 + ["b"] * 30 + ["c"] * 25 + ["d"] * 5),
        (["x"] * 700 + ["y"] * 300, ["x"] * 550 + ["y"] * 450),
        (["x"] * 3000 + ["y"] * 1500 + ["z"] * 500, ["x"] * 2500 + ["y"] * 2000 + ["z"] * 400 + ["w"] * 100),
    ]
    for a, b in cats:
        ref, cur = pd.Series(a), pd.Series(b)
        default = get_stattest(ref, cur, ColumnType.Categorical, None)
        case = {"kind": "categorical", "a": a, "b": b,
                "default_method": name_of[id(default)], "scores": {}}
        for name in ("chisquare", "z", "jensenshannon", "psi"):
            t = tests[name]
            if name == "z" and len(set(a) | set(b)) > 2:
                continue
            score, drift = t.func(ref, cur, ColumnType.Categorical, t.default_threshold)
            case["scores"][name] = {"score": f(score), "drift": bool(drift)}
        out.append(case)
    return out


def classification_cases():
    out = []
    y_true = [0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1]
    y_pred = [0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1]
    scores = [0.1, 0.9, 0.4, 0.3, 0.8, 0.8, 0.6, 0.2, 0.7, 0.3, 0.4, 0.95]  # ties
    out.append(binary_case(y_true, y_pred, scores))
    yt = [0, 1, 2, 2, 1, 0, 2, 1, 0, 2, 2, 1, 0, 0]
    yp = [0, 2, 2, 2, 1, 0, 1, 1, 0, 0, 2, 1, 1, 0]
    labels = [0, 1, 2]
    case = {"y_true": yt, "y_pred": yp, "accuracy": f(metrics.accuracy_score(yt, yp)),
            "confusion_matrix": metrics.confusion_matrix(yt, yp, labels=labels).tolist()}
    for avg in ("macro", "micro", "weighted"):
        case[avg] = {"precision": f(metrics.precision_score(yt, yp, average=avg, zero_division=0)),
                     "recall": f(metrics.recall_score(yt, yp, average=avg, zero_division=0)),
                     "f1": f(metrics.f1_score(yt, yp, average=avg, zero_division=0))}
    out.append(case)
    # A class never predicted: zero_division=0.
    yt = [0, 1, 2, 2, 1]
    yp = [0, 1, 1, 1, 1]
    case = {"y_true": yt, "y_pred": yp, "accuracy": f(metrics.accuracy_score(yt, yp)),
            "confusion_matrix": metrics.confusion_matrix(yt, yp, labels=labels).tolist()}
    for avg in ("macro", "micro", "weighted"):
        case[avg] = {"precision": f(metrics.precision_score(yt, yp, average=avg, zero_division=0)),
                     "recall": f(metrics.recall_score(yt, yp, average=avg, zero_division=0)),
                     "f1": f(metrics.f1_score(yt, yp, average=avg, zero_division=0))}
    out.append(case)
    return out


def binary_case(y_true, y_pred, scores):
    return {"y_true": y_true, "y_pred": y_pred, "scores": scores,
            "accuracy": f(metrics.accuracy_score(y_true, y_pred)),
            "precision": f(metrics.precision_score(y_true, y_pred)),
            "recall": f(metrics.recall_score(y_true, y_pred)),
            "f1": f(metrics.f1_score(y_true, y_pred)),
            "confusion_matrix": metrics.confusion_matrix(y_true, y_pred).tolist(),
            "roc_auc": f(metrics.roc_auc_score(y_true, scores)),
            "log_loss": f(metrics.log_loss(y_true, scores))}


def regression_cases():
    y = [3.0, -0.5, 2.0, 7.0, 4.2, 1.1]
    p = [2.5, 0.0, 2.0, 8.0, 3.9, 1.0]
    return [{"y_true": y, "y_pred": p,
             "mae": f(metrics.mean_absolute_error(y, p)),
             "rmse": f(math.sqrt(metrics.mean_squared_error(y, p))),
             "r2": f(metrics.r2_score(y, p))}]


QUANTILE_METHODS = ["linear", "inverted_cdf", "lower", "higher", "nearest", "midpoint"]


def quantile_cases():
    out = []
    # 1001 values: (n - 1) q lands on halves (0.5 * 1000 = 500 is exact, 0.0005 * 1000 = 0.5).
    # 12 values: 11 q = 5.5 at q = 0.5, where `nearest` rounds half to even.
    for g, qs in [(spec(61, 1001, scale=100.0), [0.0, 0.0005, 0.01, 0.5, 0.95, 0.99, 0.999, 1.0]),
                  (spec(62, 12, scale=10.0), [0.0, 0.05, 0.25, 0.5, 0.75, 0.9, 1.0])]:
        data = lcg_sample(g)
        case = {"gen": g, "q": qs}
        for m in QUANTILE_METHODS:
            case[m] = [f(np.quantile(data, q, method=m)) for q in qs]
        out.append(case)
    return out


def main():
    out = {
        "generated_by": "mlops-testing/tools/gen_reference.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
                     "pandas": pd.__version__, "evidently": evidently.__version__},
        "ks_2samp": ks_cases(),
        "chi2_contingency": chi2_contingency_cases(),
        "chisquare": chisquare_cases(),
        "proportions_ztest": ztest_cases(),
        "wasserstein_distance": wasserstein_cases(),
        "jensenshannon": jensenshannon_cases(),
        "evidently_column_drift": evidently_cases(),
        "classification": classification_cases(),
        "regression": regression_cases(),
        "quantiles": quantile_cases(),
    }
    path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "reference.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
