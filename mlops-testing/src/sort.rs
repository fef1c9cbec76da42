//! Sorting finite samples fast: an LSD radix sort on the `f64::total_cmp` bits (the floor of
//! every two-sample statistic is two sorts and one merge walk), with a comparison sort for small
//! inputs and insertion sort for small buckets.

/// Below this many values a comparison sort is used.
const RADIX_MIN: usize = 2048;
/// Buckets at or below this size are finished by insertion sort.
const INSERTION_MAX: usize = 48;

/// The key of `x` whose unsigned order is `f64::total_cmp` order.
#[inline]
fn to_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

#[inline]
fn from_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Keys per bucket (log2) of the first MSD pass: about 8, which with at most 4096 buckets keeps
/// the counters in L1 cache and the scatter to few write streams.
const FIRST_PASS_KEYS_LOG2: u32 = 3;
/// Keys per bucket (log2) of the passes over one bucket of the first (cache-resident): about
/// 2, so that almost every sub-bucket is finished by an insertion sort of one to four keys.
const SUB_PASS_KEYS_LOG2: u32 = 1;

/// Bucket-index bits of one MSD pass over `n` keys: about `2^keys_log2` keys per bucket, at
/// most 4096 buckets.
fn pass_bits(n: usize, keys_log2: u32) -> u32 {
    (usize::BITS - n.leading_zeros())
        .saturating_sub(keys_log2)
        .clamp(4, 12)
}

/// One MSD pass: the shift that maps `key - lo` to a bucket and the number of buckets.
fn pass_shape(n: usize, keys_log2: u32, lo: u64, hi: u64) -> (u32, usize) {
    let span = u64::BITS - (hi - lo).leading_zeros();
    let shift = span.saturating_sub(pass_bits(n, keys_log2));
    #[allow(clippy::cast_possible_truncation)]
    let buckets = ((hi - lo) >> shift) as usize + 1;
    (shift, buckets)
}

/// Exclusive prefix sums of `counts` in place; returns the bucket starts (with the total last).
fn bucket_starts(counts: &mut [usize]) -> Vec<usize> {
    let mut sum = 0;
    for c in counts.iter_mut() {
        let here = *c;
        *c = sum;
        sum += here;
    }
    let mut starts = counts.to_vec();
    starts.push(sum);
    starts
}

fn insertion_sort(v: &mut [u64]) {
    for i in 1..v.len() {
        let k = v[i];
        let mut j = i;
        while j > 0 && v[j - 1] > k {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = k;
    }
}

/// Sort each bucket of `dst` (bounded by `starts`), using `scratch[a..b]` as the source of a
/// bucket's next pass.
fn finish_buckets(starts: &[usize], scratch: &mut [u64], dst: &mut [u64]) {
    for w in starts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b - a <= INSERTION_MAX {
            insertion_sort(&mut dst[a..b]);
        } else {
            scratch[a..b].copy_from_slice(&dst[a..b]);
            sort_keys_into(&mut scratch[a..b], &mut dst[a..b]);
        }
    }
}

/// Sort the keys of `src` into `dst` (same length), `src` serving as scratch afterwards.
fn sort_keys_into(src: &mut [u64], dst: &mut [u64]) {
    let (lo, hi) = src
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &k| (lo.min(k), hi.max(k)));
    if lo == hi {
        dst.copy_from_slice(src);
        return;
    }
    let (shift, buckets) = pass_shape(src.len(), SUB_PASS_KEYS_LOG2, lo, hi);
    let mut next = vec![0usize; buckets];
    #[allow(clippy::cast_possible_truncation)]
    let bucket = |k: u64| ((k - lo) >> shift) as usize;
    for &k in src.iter() {
        next[bucket(k)] += 1;
    }
    let starts = bucket_starts(&mut next);
    for &k in src.iter() {
        let b = bucket(k);
        dst[next[b]] = k;
        next[b] += 1;
    }
    finish_buckets(&starts, src, dst);
}

/// The finite values of `values` in `f64::total_cmp` order, and how many values were dropped
/// (NaN or infinite).
///
/// Large inputs use an adaptive most-significant-digit radix sort on the order-preserving
/// bit pattern: each pass spreads the keys over at most 4096 buckets by the highest bits in
/// which the smallest and largest key of the range differ, buckets of up to 48 keys are
/// finished by insertion sort, larger ones by another pass. The first pass reads straight
/// from `values` (no cleaned copy), so the only large allocation is the result; the cost is
/// three reads of the input, one scatter, and cache-resident work per bucket (about 64/12
/// passes at worst, one or two for real data).
pub(crate) fn sorted_finite(values: &[f64]) -> (Vec<f64>, usize) {
    let (mut lo, mut hi, mut n) = (u64::MAX, 0u64, 0usize);
    for &v in values {
        if v.is_finite() {
            let k = to_key(v);
            lo = lo.min(k);
            hi = hi.max(k);
            n += 1;
        }
    }
    let dropped = values.len() - n;
    if n < RADIX_MIN || lo == hi {
        let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        v.sort_unstable_by(f64::total_cmp);
        return (v, dropped);
    }
    let (shift, buckets) = pass_shape(n, FIRST_PASS_KEYS_LOG2, lo, hi);
    #[allow(clippy::cast_possible_truncation)]
    let bucket = |k: u64| ((k - lo) >> shift) as usize;
    let mut next = vec![0usize; buckets];
    for &v in values {
        if v.is_finite() {
            next[bucket(to_key(v))] += 1;
        }
    }
    let starts = bucket_starts(&mut next);
    let mut keys = vec![0u64; n];
    for &v in values {
        if v.is_finite() {
            let k = to_key(v);
            let b = bucket(k);
            keys[next[b]] = k;
            next[b] += 1;
        }
    }
    // Scratch for the buckets that need another pass: as large as the largest of them.
    let largest = starts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&m| m > INSERTION_MAX)
        .max()
        .unwrap_or(0);
    let mut scratch = vec![0u64; largest];
    for w in starts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b - a <= INSERTION_MAX {
            insertion_sort(&mut keys[a..b]);
        } else {
            scratch[..b - a].copy_from_slice(&keys[a..b]);
            sort_keys_into(&mut scratch[..b - a], &mut keys[a..b]);
        }
    }
    // Same size and alignment: the conversion reuses the allocation.
    (keys.into_iter().map(from_key).collect(), dropped)
}
