//! The statistics against hand-checked and scipy values, and the fast sort against `total_cmp`.

use super::*;
use proptest::prelude::*;

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The reference: drop non-finite values, comparison sort.
fn reference_sort(v: &[f64]) -> (Vec<f64>, usize) {
    let mut want: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    want.sort_unstable_by(f64::total_cmp);
    (want.clone(), v.len() - want.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn radix_sort_matches_total_cmp(v in proptest::collection::vec(
        prop_oneof![
            any::<f64>(),
            Just(0.0),
            Just(-0.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            -3.0f64..3.0,
            (0i32..4).prop_map(f64::from),
        ],
        0..9000,
    )) {
        let (got, dropped) = sorted_finite(&v);
        let (want, want_dropped) = reference_sort(&v);
        prop_assert_eq!(bits(&got), bits(&want));
        prop_assert_eq!(dropped, want_dropped);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn unsorted_histogram_matches_sorted_histogram(
        mut v in proptest::collection::vec(
            prop_oneof![-50.0f64..50.0, (-5i32..5).prop_map(f64::from), Just(f64::NAN)],
            1..400,
        ),
        extra in proptest::collection::vec(-60.0f64..60.0, 0..50),
    ) {
        // Edges from the data and another sample, then the edges themselves as values.
        let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        prop_assume!(!finite.is_empty());
        let lo = finite.iter().copied().chain(extra.iter().copied()).fold(f64::INFINITY, f64::min);
        let hi = finite.iter().copied().chain(extra.iter().copied()).fold(f64::NEG_INFINITY, f64::max);
        let edges = sturges_bin_edges(lo, hi, finite.len() + extra.len());
        v.extend(edges.iter().copied());
        v.extend(extra);
        let (sorted, _) = sorted_finite(&v);
        prop_assert_eq!(histogram_unsorted(&v, &edges), histogram_sorted(&sorted, &edges));
    }
}

#[test]
#[allow(clippy::cast_precision_loss)]
fn psi_without_sorting_equals_psi_of_the_sorted_bins() {
    let mut state = 11u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let a: Vec<f64> = (0..70_000).map(|_| next() * 3.0).collect();
    let mut b: Vec<f64> = (0..60_000).map(|_| next() * 3.5 - 0.2).collect();
    b.extend([f64::NAN, f64::INFINITY, 7.0]);
    let ((x, _), (y, _)) = finite_sorted_pair(&a, &b, ("a", "b")).unwrap();
    let (mut r, mut c) = binned_numeric(&x, &y);
    fill_zeroes(&mut r);
    fill_zeroes(&mut c);
    assert_eq!(
        psi(&a, &b).unwrap().to_bits(),
        psi_from_shares(&r, &c).to_bits()
    );
    // Few distinct reference values: the sorted path, one bin per value.
    let few: Vec<f64> = (0..5000).map(|i| f64::from(i % 7)).collect();
    assert!(!more_than_distinct(&few, 20));
    assert!(more_than_distinct(&a, 20));
    assert!(psi(&few, &b).unwrap() > 0.0);
    assert!(psi(&[f64::NAN], &b).is_err());
    assert!(psi(&a, &[f64::INFINITY]).is_err());
}

#[test]
#[allow(clippy::cast_precision_loss)]
fn radix_sort_handles_skewed_and_clustered_data() {
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let cases: Vec<Vec<f64>> = vec![
        // One huge outlier: every other value lands in the first bucket.
        (0..50_000)
            .map(|i| if i == 0 { 1e300 } else { next() })
            .collect(),
        // Geometric: a few values per binade over a thousand binades.
        (0..50_000)
            .map(|i| 0.5f64.powi(i % 1000) * (1.0 + next()))
            .collect(),
        // Few distinct values, with both zeros.
        (0..50_000)
            .map(|i| match i % 4 {
                0 => -0.0,
                1 => 0.0,
                _ => (next() * 5.0).floor(),
            })
            .collect(),
        // Bell-shaped, negative and positive.
        (0..50_000)
            .map(|_| next() + next() + next() - 1.5)
            .collect(),
    ];
    for v in cases {
        let (got, dropped) = sorted_finite(&v);
        let (want, _) = reference_sort(&v);
        assert_eq!(dropped, 0);
        assert_eq!(bits(&got), bits(&want));
    }
}
