//! Int8 rows stored interleaved, [`LANES`] rows to a block, so one 64-byte load holds four
//! bytes of each of sixteen rows and one `vpdpbusd` advances sixteen dot products at once:
//! no horizontal sum per row, and every loaded block is scored against several queries
//! before the next is read. A search over many rows is bound by the bytes it reads, so
//! queries that arrive together share one pass.
//!
//! Layout of a matrix of `width` bytes a row (`width` a multiple of [`GROUP`]): block `b`
//! holds rows `b·LANES .. (b+1)·LANES`; inside it, group `g` (bytes `g·GROUP .. (g+1)·GROUP`
//! of each row) is `LANES × GROUP` bytes, row after row. Rows past the last are zero.

#[cfg(target_arch = "x86_64")]
use std::sync::LazyLock;

/// Rows in a block: sixteen i32 lanes of a 512-bit register.
pub const LANES: usize = 16;
/// Bytes of one row in one lane: what `vpdpbusd` sums into an i32.
pub const GROUP: usize = 4;
/// Queries scored together in one kernel call; more are taken in turns over the same rows.
const QUERIES_AT_ONCE: usize = 4;

/// Where byte `at` of row `row` lives in a blocked matrix of `width`-byte rows.
pub fn block_offset(row: usize, at: usize, width: usize) -> usize {
    (row / LANES) * LANES * width
        + (at / GROUP) * LANES * GROUP
        + (row % LANES) * GROUP
        + at % GROUP
}

/// Bytes a blocked matrix of `rows` rows takes (whole blocks).
pub fn blocked_len(rows: usize, width: usize) -> usize {
    rows.div_ceil(LANES) * LANES * width
}

#[cfg(target_arch = "x86_64")]
static AVX512_VNNI: LazyLock<bool> = LazyLock::new(|| {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
});

#[cfg(target_arch = "x86_64")]
static AVX2: LazyLock<bool> = LazyLock::new(|| is_x86_feature_detected!("avx2"));

/// Every row of the blocked matrix `blocks` against each of `queries` (each `width` bytes,
/// values within ±127): `out[q][r]` is row `r`'s dot product with query `q`, for every row
/// of every block (padding rows score 0). `out` is resized to `queries.len()` vectors.
pub fn int8_block_dots(blocks: &[i8], width: usize, queries: &[&[i8]], out: &mut Vec<Vec<i32>>) {
    assert!(
        width > 0 && width.is_multiple_of(GROUP) && blocks.len().is_multiple_of(LANES * width),
        "a blocked matrix is whole blocks of rows a whole number of groups wide"
    );
    assert!(
        queries.iter().all(|q| q.len() == width),
        "every query is as wide as the rows"
    );
    let rows = blocks.len() / width;
    out.resize_with(queries.len(), Vec::new);
    for scores in out.iter_mut() {
        scores.clear();
        scores.resize(rows, 0);
    }
    for (taken, chunk) in queries.chunks(QUERIES_AT_ONCE).enumerate() {
        let outs = &mut out[taken * QUERIES_AT_ONCE..taken * QUERIES_AT_ONCE + chunk.len()];
        score_group(blocks, width, chunk, outs);
    }
}

/// Up to [`QUERIES_AT_ONCE`] queries over every block.
fn score_group(blocks: &[i8], width: usize, queries: &[&[i8]], outs: &mut [Vec<i32>]) {
    #[cfg(target_arch = "x86_64")]
    {
        if *AVX512_VNNI {
            // SAFETY: the CPU has AVX-512 F, BW and VNNI (checked above); the shapes were
            // checked by the caller and every `outs` vector holds one score per row.
            unsafe {
                match queries.len() {
                    1 => vnni::<1>(blocks, width, queries, outs),
                    2 => vnni::<2>(blocks, width, queries, outs),
                    3 => vnni::<3>(blocks, width, queries, outs),
                    _ => vnni::<4>(blocks, width, queries, outs),
                }
            }
            return;
        }
        if *AVX2 {
            // SAFETY: the CPU has AVX2 (checked above); shapes as above.
            unsafe { avx2(blocks, width, queries, outs) };
            return;
        }
    }
    scalar(blocks, width, queries, outs);
}

fn scalar(blocks: &[i8], width: usize, queries: &[&[i8]], outs: &mut [Vec<i32>]) {
    for (b, block) in blocks.chunks_exact(LANES * width).enumerate() {
        for (group, bytes) in block.chunks_exact(LANES * GROUP).enumerate() {
            for (query, scores) in queries.iter().zip(outs.iter_mut()) {
                let q = &query[group * GROUP..(group + 1) * GROUP];
                for (lane, row) in bytes.chunks_exact(GROUP).enumerate() {
                    let dot: i32 = row
                        .iter()
                        .zip(q)
                        .map(|(&r, &q)| i32::from(r) * i32::from(q))
                        .sum();
                    scores[b * LANES + lane] += dot;
                }
            }
        }
    }
}

/// `vpdpbusd` multiplies unsigned by signed bytes: each row byte is offset by 128 (a flip of
/// its top bit) and `128·Σquery` taken off again. Two accumulators a query, for even and
/// odd groups, so consecutive `vpdpbusd`s do not wait on each other.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni<const N: usize>(
    blocks: &[i8],
    width: usize,
    queries: &[&[i8]],
    outs: &mut [Vec<i32>],
) {
    use std::arch::x86_64::*;
    let flip = _mm512_set1_epi8(i8::MIN);
    let offsets: [__m512i; N] = std::array::from_fn(|q| {
        _mm512_set1_epi32(128 * queries[q].iter().map(|&v| i32::from(v)).sum::<i32>())
    });
    let groups = width / GROUP;
    for (b, block) in blocks.chunks_exact(LANES * width).enumerate() {
        let mut even = [_mm512_setzero_si512(); N];
        let mut odd = [_mm512_setzero_si512(); N];
        let mut group = 0;
        while group + 1 < groups {
            let r0 = _mm512_xor_si512(
                _mm512_loadu_si512(block.as_ptr().add(group * 64) as *const _),
                flip,
            );
            let r1 = _mm512_xor_si512(
                _mm512_loadu_si512(block.as_ptr().add(group * 64 + 64) as *const _),
                flip,
            );
            for q in 0..N {
                let at = queries[q].as_ptr().add(group * GROUP) as *const i32;
                even[q] = _mm512_dpbusd_epi32(even[q], r0, _mm512_set1_epi32(at.read_unaligned()));
                odd[q] =
                    _mm512_dpbusd_epi32(odd[q], r1, _mm512_set1_epi32(at.add(1).read_unaligned()));
            }
            group += 2;
        }
        if group < groups {
            let r = _mm512_xor_si512(
                _mm512_loadu_si512(block.as_ptr().add(group * 64) as *const _),
                flip,
            );
            for q in 0..N {
                let at = queries[q].as_ptr().add(group * GROUP) as *const i32;
                even[q] = _mm512_dpbusd_epi32(even[q], r, _mm512_set1_epi32(at.read_unaligned()));
            }
        }
        for q in 0..N {
            let sums = _mm512_sub_epi32(_mm512_add_epi32(even[q], odd[q]), offsets[q]);
            _mm512_storeu_si512(outs[q].as_mut_ptr().add(b * LANES) as *mut _, sums);
        }
    }
}

/// Eight lanes at a time (the block's two halves); `maddubs` on |row| and the query with
/// the row's sign stays within i16 for values within ±127.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2(blocks: &[i8], width: usize, queries: &[&[i8]], outs: &mut [Vec<i32>]) {
    use std::arch::x86_64::*;
    let ones = _mm256_set1_epi16(1);
    let groups = width / GROUP;
    for (b, block) in blocks.chunks_exact(LANES * width).enumerate() {
        let mut acc = [[_mm256_setzero_si256(); 2]; QUERIES_AT_ONCE];
        for group in 0..groups {
            let at = block.as_ptr().add(group * 64);
            let halves = [
                _mm256_loadu_si256(at as *const _),
                _mm256_loadu_si256(at.add(32) as *const _),
            ];
            for (query, sums) in queries.iter().zip(acc.iter_mut()) {
                let q = query.as_ptr().add(group * GROUP) as *const i32;
                let qv = _mm256_set1_epi32(q.read_unaligned());
                for (r, sum) in halves.iter().zip(sums.iter_mut()) {
                    let pairs =
                        _mm256_maddubs_epi16(_mm256_sign_epi8(*r, *r), _mm256_sign_epi8(qv, *r));
                    *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(pairs, ones));
                }
            }
        }
        for (scores, sums) in outs.iter_mut().zip(&acc) {
            for (half, sum) in sums.iter().enumerate() {
                _mm256_storeu_si256(
                    scores.as_mut_ptr().add(b * LANES + half * 8) as *mut _,
                    *sum,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(rows: &[Vec<i8>], width: usize) -> Vec<i8> {
        let mut out = vec![0; blocked_len(rows.len(), width)];
        for (r, row) in rows.iter().enumerate() {
            for (at, &v) in row.iter().enumerate() {
                out[block_offset(r, at, width)] = v;
            }
        }
        out
    }

    /// A value within ±127 that varies with `seed`.
    fn value(seed: usize) -> i8 {
        (((seed.wrapping_mul(2_654_435_761) >> 7) % 255) as i32 - 127) as i8
    }

    #[test]
    fn blocked_dots_equal_the_plain_ones_for_any_query_count_and_width() {
        for width in [4, 8, 64, 100, 384] {
            for count in [1, 5, 16, 17, 40] {
                let rows: Vec<Vec<i8>> = (0..count)
                    .map(|r| (0..width).map(|d| value(r * 1000 + d)).collect())
                    .collect();
                let matrix = blocked(&rows, width);
                for nq in [1, 2, 3, 4, 5, 9] {
                    let queries: Vec<Vec<i8>> = (0..nq)
                        .map(|q| (0..width).map(|d| value(q * 77 + d * 3 + 1)).collect())
                        .collect();
                    let refs: Vec<&[i8]> = queries.iter().map(Vec::as_slice).collect();
                    let mut out = vec![vec![9; 3]; 11];
                    int8_block_dots(&matrix, width, &refs, &mut out);
                    assert_eq!(out.len(), nq);
                    for (q, query) in queries.iter().enumerate() {
                        assert_eq!(out[q].len(), count.div_ceil(LANES) * LANES);
                        for (r, row) in rows.iter().enumerate() {
                            let plain: i32 = row
                                .iter()
                                .zip(query)
                                .map(|(&a, &b)| i32::from(a) * i32::from(b))
                                .sum();
                            assert_eq!(
                                out[q][r], plain,
                                "width {width}, rows {count}, query {q} of {nq}, row {r}"
                            );
                        }
                        assert!(out[q][count..].iter().all(|&s| s == 0), "padding scores 0");
                    }
                }
            }
        }
    }

    #[test]
    fn every_kernel_agrees_with_the_scalar_one_at_the_extremes() {
        let width = 384;
        let rows: Vec<Vec<i8>> = [127i8, -127, 1, 0]
            .iter()
            .map(|&v| vec![v; width])
            .chain((0..20).map(|r| {
                (0..width)
                    .map(|d| if (r + d) % 2 == 0 { 127 } else { -127 })
                    .collect()
            }))
            .collect();
        let matrix = blocked(&rows, width);
        let queries: Vec<Vec<i8>> = vec![
            vec![127; width],
            vec![-127; width],
            (0..width)
                .map(|d| if d % 3 == 0 { -127 } else { 127 })
                .collect(),
        ];
        let refs: Vec<&[i8]> = queries.iter().map(Vec::as_slice).collect();
        let mut fast = Vec::new();
        int8_block_dots(&matrix, width, &refs, &mut fast);
        let mut plain = vec![vec![0; fast[0].len()]; refs.len()];
        scalar(&matrix, width, &refs, &mut plain);
        assert_eq!(fast, plain);
        #[cfg(target_arch = "x86_64")]
        if *AVX2 {
            // The dispatcher prefers VNNI where the CPU has it: the AVX2 path checked alone.
            let mut wide = vec![vec![0; fast[0].len()]; refs.len()];
            // SAFETY: AVX2 is present (checked above); shapes as the dispatcher's.
            unsafe { avx2(&matrix, width, &refs, &mut wide) };
            assert_eq!(wide, plain);
        }
        assert_eq!(fast[0][0], 127 * 127 * width as i32);
    }
}
