//! Q8_0 matrices (blocks of 32 int8 with one scale) and their dot products with quantized
//! activations. Quants and scales are kept apart, the scales as f32: candle's block layout
//! stores an f16 scale beside each block and converts it on every dot product, which cost
//! a tenth of the decode time by itself (perf, docs/PERFORMANCE.md).

use std::sync::LazyLock;

pub const BLOCK: usize = 32;

/// Int8 quants in blocks of [`BLOCK`], each block with its scale: `value ≈ q * scale`.
#[derive(Clone, Default)]
pub struct Quantized {
    pub quants: Vec<i8>,
    pub scales: Vec<f32>,
}

impl Quantized {
    /// Quantizes `values` (a multiple of [`BLOCK`] long) as ggml does: per block, the scale
    /// is the largest magnitude over 127.
    pub fn of(values: &[f32]) -> Self {
        let mut out = Self {
            quants: vec![0; values.len()],
            scales: vec![0.0; values.len() / BLOCK],
        };
        out.quantize_into(values);
        out
    }

    pub fn quantize_into(&mut self, values: &[f32]) {
        for ((block, quants), scale) in values
            .chunks_exact(BLOCK)
            .zip(self.quants.chunks_exact_mut(BLOCK))
            .zip(self.scales.iter_mut())
        {
            let max = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            *scale = max / 127.0;
            let inverse = if max == 0.0 { 0.0 } else { 127.0 / max };
            for (q, v) in quants.iter_mut().zip(block) {
                *q = (v * inverse).round() as i8;
            }
        }
    }
}

/// Rows of a Q8_0 matrix.
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    data: Quantized,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Quantized) -> Self {
        debug_assert_eq!(data.quants.len(), rows * cols);
        Self { rows, cols, data }
    }

    pub fn stack(parts: Vec<Matrix>) -> Self {
        let cols = parts[0].cols;
        let rows = parts.iter().map(|p| p.rows).sum();
        let mut data = Quantized::default();
        for part in parts {
            data.quants.extend(part.data.quants);
            data.scales.extend(part.data.scales);
        }
        Self { rows, cols, data }
    }

    /// Row `r` as floats.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let quants = &self.data.quants[r * self.cols..(r + 1) * self.cols];
        let scales = &self.data.scales[r * self.cols / BLOCK..(r + 1) * self.cols / BLOCK];
        for ((out, quants), scale) in out
            .chunks_exact_mut(BLOCK)
            .zip(quants.chunks_exact(BLOCK))
            .zip(scales)
        {
            for (o, &q) in out.iter_mut().zip(quants) {
                *o = f32::from(q) * scale;
            }
        }
    }

    /// Row `r` · `x` (quantized, `cols` wide).
    pub fn dot(&self, r: usize, x: &Quantized, offset: usize) -> f32 {
        let blocks = self.cols / BLOCK;
        let w = &self.data.quants[r * self.cols..(r + 1) * self.cols];
        let ws = &self.data.scales[r * blocks..(r + 1) * blocks];
        let a = &x.quants[offset * self.cols..(offset + 1) * self.cols];
        let xs = &x.scales[offset * blocks..(offset + 1) * blocks];
        dot(w, ws, a, xs)
    }
}

static AVX2: LazyLock<bool> = LazyLock::new(|| {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
});

/// Σ over blocks of (w · a) · w_scale · a_scale.
pub fn dot(w: &[i8], ws: &[f32], a: &[i8], xs: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if *AVX2 {
        // SAFETY: the CPU has AVX2 and FMA (checked above); the slices are whole blocks of
        // equal length (the caller's matrix and activation share `cols`).
        return unsafe { dot_avx2(w, ws, a, xs) };
    }
    dot_scalar(w, ws, a, xs)
}

fn dot_scalar(w: &[i8], ws: &[f32], a: &[i8], xs: &[f32]) -> f32 {
    w.chunks_exact(BLOCK)
        .zip(a.chunks_exact(BLOCK))
        .zip(ws.iter().zip(xs))
        .map(|((w, a), (ws, xs))| {
            let sum: i32 = w
                .iter()
                .zip(a)
                .map(|(&w, &a)| i32::from(w) * i32::from(a))
                .sum();
            sum as f32 * ws * xs
        })
        .sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(w: &[i8], ws: &[f32], a: &[i8], xs: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    assert!(w.len() == a.len() && ws.len() == xs.len() && w.len() == ws.len() * BLOCK);
    // One block's integer dot product as 8 i32 lanes. maddubs multiplies unsigned by
    // signed bytes: w's sign moves onto a. Quants are within ±127, so the i16 pair sums
    // (at most 2·127·127) cannot saturate.
    #[inline(always)]
    unsafe fn block(w: *const i8, a: *const i8) -> __m256 {
        let wv = _mm256_loadu_si256(w as *const __m256i);
        let av = _mm256_loadu_si256(a as *const __m256i);
        let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(av, wv));
        _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }
    let blocks = ws.len();
    let (w, a) = (w.as_ptr(), a.as_ptr());
    // Two chains of fused multiply-adds, so one waits less on the other's latency.
    let mut even = _mm256_setzero_ps();
    let mut odd = _mm256_setzero_ps();
    let mut b = 0;
    while b + 1 < blocks {
        let s0 = _mm256_set1_ps(*ws.get_unchecked(b) * *xs.get_unchecked(b));
        let s1 = _mm256_set1_ps(*ws.get_unchecked(b + 1) * *xs.get_unchecked(b + 1));
        even = _mm256_fmadd_ps(s0, block(w.add(b * BLOCK), a.add(b * BLOCK)), even);
        odd = _mm256_fmadd_ps(
            s1,
            block(w.add((b + 1) * BLOCK), a.add((b + 1) * BLOCK)),
            odd,
        );
        b += 2;
    }
    if b < blocks {
        let s0 = _mm256_set1_ps(*ws.get_unchecked(b) * *xs.get_unchecked(b));
        even = _mm256_fmadd_ps(s0, block(w.add(b * BLOCK), a.add(b * BLOCK)), even);
    }
    let acc = _mm256_add_ps(even, odd);
    let high = _mm256_extractf128_ps(acc, 1);
    let low = _mm256_castps256_ps128(acc);
    let quad = _mm_add_ps(high, low);
    let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
    let single = _mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1));
    _mm_cvtss_f32(single)
}

/// Σ a[i]·b[i] over int8 vectors of equal length whose values lie within ±127 (what
/// [`Quantized::of`] and the search index's quantizer produce): the vector index's scoring
/// loop. AVX2 where the CPU has it, 32 lanes at a time.
pub fn int8_dot(a: &[i8], b: &[i8]) -> i32 {
    assert_eq!(a.len(), b.len(), "int8_dot of vectors of different lengths");
    let whole = a.len() / BLOCK * BLOCK;
    #[cfg(target_arch = "x86_64")]
    let head = if *AVX2 {
        // SAFETY: the CPU has AVX2 (checked above); both slices hold `whole` bytes.
        unsafe { int8_dot_avx2(&a[..whole], &b[..whole]) }
    } else {
        int8_dot_scalar(&a[..whole], &b[..whole])
    };
    #[cfg(not(target_arch = "x86_64"))]
    let head = int8_dot_scalar(&a[..whole], &b[..whole]);
    head + int8_dot_scalar(&a[whole..], &b[whole..])
}

fn int8_dot_scalar(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn int8_dot_avx2(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_si256();
    for i in (0..a.len()).step_by(BLOCK) {
        let av = _mm256_loadu_si256(a.as_ptr().add(i) as *const __m256i);
        let bv = _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i);
        let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(av, av), _mm256_sign_epi8(bv, av));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
    }
    let quad = _mm_add_epi32(
        _mm256_extracti128_si256(acc, 1),
        _mm256_castsi256_si128(acc),
    );
    let pair = _mm_add_epi32(quad, _mm_unpackhi_epi64(quad, quad));
    let single = _mm_add_epi32(pair, _mm_shuffle_epi32(pair, 1));
    _mm_cvtsi128_si32(single)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_int8_dot_product_equals_the_plain_one_at_any_length() {
        for len in [0, 5, 32, 384, 401] {
            let a: Vec<i8> = (0..len).map(|i| (i * 37 % 255 - 127) as i8).collect();
            let b: Vec<i8> = (0..len).map(|i| (i * 91 % 255 - 127) as i8).collect();
            assert_eq!(int8_dot(&a, &b), int8_dot_scalar(&a, &b), "length {len}");
        }
    }

    #[test]
    fn the_simd_dot_product_equals_the_plain_one() {
        let values: Vec<f32> = (0..576)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let other: Vec<f32> = (0..576)
            .map(|i| ((i * 11 % 83) as f32 - 41.0) / 3.0)
            .collect();
        let (w, x) = (Quantized::of(&values), Quantized::of(&other));
        let plain = dot_scalar(&w.quants, &w.scales, &x.quants, &x.scales);
        let fast = dot(&w.quants, &w.scales, &x.quants, &x.scales);
        assert!(
            (plain - fast).abs() <= plain.abs() * 1e-5,
            "{plain} vs {fast}"
        );
        let exact: f32 = values.iter().zip(&other).map(|(a, b)| a * b).sum();
        let norms = values.iter().map(|v| v * v).sum::<f32>().sqrt()
            * other.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((plain - exact).abs() < norms * 0.01, "{plain} vs {exact}");
        // The -128 a plain i8 can hold never comes out of quantizing.
        assert!(w.quants.iter().all(|&q| q >= -127));
    }
}
