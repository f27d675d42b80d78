//! One bit a direction: a vector is turned by a fixed pseudo-random rotation (random signs,
//! a Walsh–Hadamard transform, twice) and each coordinate's sign kept, packed 64 to a word.
//! Each coordinate of the turned vector is a projection on a random direction, so the
//! fraction of bits two sketches differ in estimates the angle between the vectors divided by
//! π (SimHash) whatever their distribution: sparse or skewed vectors (a hashing embedder's,
//! or a sentence model's with its common direction) sketch as well as uniform ones. A scan of
//! sketches reads a twenty-fourth of the f32 bytes and picks the candidates an exact score
//! then ranks.

#[cfg(target_arch = "x86_64")]
use std::sync::LazyLock;

/// Words of a sketch of a `width`-dimension vector: the width rounded up to a power of two
/// (the transform's size), at least one word.
pub fn sign_words(width: usize) -> usize {
    width.next_power_of_two().max(64) / 64
}

/// Appends the sketch of `vector` ([`sign_words`] words) to `out`.
pub fn sign_sketch(vector: &[f32], out: &mut Vec<u64>) {
    let size = sign_words(vector.len()) * 64;
    let mut turned = vector.to_vec();
    turned.resize(size, 0.0);
    for round in 0..2u64 {
        for (at, value) in turned.iter_mut().enumerate() {
            if flips(round, at) {
                *value = -*value;
            }
        }
        hadamard(&mut turned);
    }
    for part in turned.chunks(64) {
        let mut word = 0u64;
        for (bit, value) in part.iter().enumerate() {
            word |= u64::from(*value > 0.0) << bit;
        }
        out.push(word);
    }
}

/// The fixed random sign of coordinate `at` in `round` (SplitMix64 of both): the same in
/// every process, so sketches stored and sketches of queries always agree.
fn flips(round: u64, at: usize) -> bool {
    let mut z = (round << 32 | at as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) & 1 == 1
}

/// The unnormalised fast Walsh–Hadamard transform, in place (`values.len()` a power of two).
fn hadamard(values: &mut [f32]) {
    let mut half = 1;
    while half < values.len() {
        for block in values.chunks_exact_mut(2 * half) {
            let (left, right) = block.split_at_mut(half);
            for (a, b) in left.iter_mut().zip(right) {
                (*a, *b) = (*a + *b, *a - *b);
            }
        }
        half *= 2;
    }
}

#[cfg(target_arch = "x86_64")]
static POPCNT: LazyLock<bool> = LazyLock::new(|| is_x86_feature_detected!("popcnt"));

#[cfg(target_arch = "x86_64")]
static AVX512_POPCNT: LazyLock<bool> = LazyLock::new(|| {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vpopcntdq")
});

/// The Hamming distance from `query` to each sketch in `rows` (sketches of `query.len()`
/// words, one after the other), appended to `out` (one distance a row).
pub fn sign_distances(rows: &[u64], query: &[u64], out: &mut Vec<u16>) {
    let words = query.len();
    assert!(
        words > 0 && rows.len().is_multiple_of(words),
        "rows are whole sketches as wide as the query"
    );
    assert!(words * 64 < usize::from(u16::MAX), "a distance fits in u16");
    #[cfg(target_arch = "x86_64")]
    {
        if words.is_multiple_of(8) && *AVX512_POPCNT {
            // SAFETY: the CPU has AVX-512 F and VPOPCNTDQ (checked above); rows and query
            // are whole 512-bit groups.
            unsafe { distances_avx512(rows, query, out) };
            return;
        }
        if *POPCNT {
            // SAFETY: the CPU has POPCNT (checked above).
            unsafe { distances_popcnt(rows, query, out) };
            return;
        }
    }
    distances(rows, query, out);
}

/// Eight words at a time: one `vpopcntq` counts a 512-bit sketch's differing bits. Rows go
/// eight at a time: their eight vectors of per-word counts are summed across lanes together
/// (a transpose by three rounds of shuffles and adds) into one vector of eight distances,
/// instead of a horizontal sum per row (measured: 0.154 → 0.113 ms a scan of 100 000 cached
/// sketches; docs/PERFORMANCE.md).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
fn distances_avx512(rows: &[u64], query: &[u64], out: &mut Vec<u16>) {
    use std::arch::x86_64::*;
    let words = query.len();
    // Per 64-bit lane, the differing bits of one row's words in that lane.
    let lane_counts = |row: &[u64]| {
        let mut counts = _mm512_setzero_si512();
        for (part, q) in row.chunks_exact(8).zip(query.chunks_exact(8)) {
            // SAFETY: both are eight u64 (the query stays in L1 across rows); unaligned
            // loads are allowed.
            let (part, q) = unsafe {
                (
                    _mm512_loadu_si512(part.as_ptr().cast()),
                    _mm512_loadu_si512(q.as_ptr().cast()),
                )
            };
            counts = _mm512_add_epi64(counts, _mm512_popcnt_epi64(_mm512_xor_si512(part, q)));
        }
        counts
    };
    // Two rows' lane counts, added in pairs of lanes: each 128-bit lane holds (a, b).
    let pair = |a: __m512i, b: __m512i| {
        _mm512_add_epi64(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b))
    };
    // Even 128-bit lanes of both plus their odd ones: lanes 0 and 1 summed from `a`, 2 and 3
    // from `b`.
    let fold = |a: __m512i, b: __m512i| {
        _mm512_add_epi64(
            _mm512_shuffle_i64x2::<0b10_00_10_00>(a, b),
            _mm512_shuffle_i64x2::<0b11_01_11_01>(a, b),
        )
    };
    out.reserve(rows.len() / words);
    let mut groups = rows.chunks_exact(8 * words);
    for group in &mut groups {
        let c: [__m512i; 8] = std::array::from_fn(|i| lane_counts(&group[i * words..][..words]));
        let sums = fold(
            fold(pair(c[0], c[1]), pair(c[2], c[3])),
            fold(pair(c[4], c[5]), pair(c[6], c[7])),
        );
        // Each distance is at most `words * 64` < 2^16: narrowing keeps it.
        let packed = _mm512_cvtepi64_epi16(sums);
        let len = out.len();
        // SAFETY: `reserve` made room for every row's distance, eight of them written here
        // (an unaligned 128-bit store) before the length covers them.
        unsafe {
            _mm_storeu_si128(out.as_mut_ptr().add(len).cast(), packed);
            out.set_len(len + 8);
        }
    }
    for row in groups.remainder().chunks_exact(words) {
        out.push(_mm512_reduce_add_epi64(lane_counts(row)) as u16);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn distances_popcnt(rows: &[u64], query: &[u64], out: &mut Vec<u16>) {
    // The same loop compiled with the POPCNT instruction instead of a bit-twiddling sum.
    distances(rows, query, out);
}

#[inline(always)]
fn distances(rows: &[u64], query: &[u64], out: &mut Vec<u16>) {
    out.extend(rows.chunks_exact(query.len()).map(|row| {
        row.iter()
            .zip(query)
            .map(|(a, b)| (a ^ b).count_ones() as u16)
            .sum::<u16>()
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Xorshift: the same numbers every run.
    fn numbers(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    #[test]
    fn sketches_are_as_wide_as_the_transform() {
        assert_eq!(sign_words(1), 1);
        assert_eq!(sign_words(64), 1);
        assert_eq!(sign_words(384), 8);
        assert_eq!(sign_words(512), 8);
        let mut sketch = Vec::new();
        sign_sketch(&[0.5; 384], &mut sketch);
        sign_sketch(&[0.5; 3], &mut sketch);
        assert_eq!(sketch.len(), 9);
    }

    #[test]
    fn the_hadamard_transform_keeps_lengths_and_inverts_itself() {
        let original: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut values = original.clone();
        hadamard(&mut values);
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>();
        assert!((norm(&values) / 16.0 - norm(&original)).abs() < 1e-4);
        hadamard(&mut values);
        for (a, b) in values.iter().zip(&original) {
            assert!((a / 16.0 - b).abs() < 1e-5);
        }
    }

    /// The share of differing bits estimates angle / π, for dense and for sparse vectors.
    #[test]
    fn differing_bits_estimate_the_angle() {
        let mut next = numbers(0x2545_f491_4f6c_dd1d);
        let mut random = || (next() % 20_000) as f32 / 10_000.0 - 1.0;
        let base: Vec<f32> = (0..384).map(|_| random()).collect();
        let noise: Vec<f32> = (0..384).map(|_| random()).collect();
        let mut sparse_a = vec![0.0f32; 384];
        let mut sparse_b = vec![0.0f32; 384];
        for i in 0..40 {
            sparse_a[i * 9] = 1.0;
            sparse_b[i * 9 + usize::from(i % 2 == 0)] = 1.0;
        }
        let pairs: [(Vec<f32>, Vec<f32>); 3] = [
            (
                base.clone(),
                base.iter().zip(&noise).map(|(b, n)| b + 0.5 * n).collect(),
            ),
            (base.clone(), noise.clone()),
            (sparse_a, sparse_b),
        ];
        for (a, b) in pairs {
            let cosine = a.iter().zip(&b).map(|(x, y)| x * y).sum::<f32>()
                / (a.iter().map(|x| x * x).sum::<f32>() * b.iter().map(|x| x * x).sum::<f32>())
                    .sqrt();
            let mut sketches = Vec::new();
            sign_sketch(&a, &mut sketches);
            sign_sketch(&b, &mut sketches);
            let mut distance = Vec::new();
            sign_distances(&sketches[8..], &sketches[..8], &mut distance);
            let estimate = distance[0] as f32 / 512.0;
            let angle = cosine.clamp(-1.0, 1.0).acos() / std::f32::consts::PI;
            assert!(
                (estimate - angle).abs() < 0.07,
                "cosine {cosine}: {estimate} against {angle}"
            );
        }
    }

    #[test]
    fn distances_count_the_differing_bits_of_every_row() {
        let query = [u64::MAX, 0];
        let rows = [u64::MAX, 0, 0, u64::MAX, 0b1011, 1 << 40];
        let mut out = vec![7];
        sign_distances(&rows, &query, &mut out);
        assert_eq!(out, vec![7, 0, 128, 61 + 1], "appended");
        let mut portable = Vec::new();
        distances(&rows, &query, &mut portable);
        assert_eq!(portable, out[1..]);
    }

    /// Every path (AVX-512 where the CPU has it, POPCNT, portable) counts the same.
    #[test]
    fn the_wide_kernel_counts_as_the_portable_loop() {
        let mut next = numbers(99);
        for (words, count) in [(1, 37), (2, 37), (8, 37), (8, 8), (8, 64), (8, 3), (16, 37)] {
            let query: Vec<u64> = (0..words).map(|_| next()).collect();
            let mut rows: Vec<u64> = (0..words * count).map(|_| next()).collect();
            rows[..words].copy_from_slice(&query);
            rows[words..2 * words]
                .iter_mut()
                .zip(&query)
                .for_each(|(r, q)| *r = !q);
            let mut got = Vec::new();
            sign_distances(&rows, &query, &mut got);
            let mut want = Vec::new();
            distances(&rows, &query, &mut want);
            assert_eq!(got, want, "{words} words, {count} rows");
            assert_eq!(got[0], 0);
            assert_eq!(usize::from(got[1]), words * 64);
        }
    }
}
