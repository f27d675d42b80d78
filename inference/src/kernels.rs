//! Element-wise kernels of the BERT encoder, written so that the compiler vectorises them:
//! fixed-width lane accumulators instead of one running sum, and `exp`/`erf` as polynomials
//! rather than calls into libm. Each is compiled twice, for AVX2 + FMA when the processor
//! has them (checked once) and for the baseline, where `mul_add` is a library call: correct,
//! but slow on the rare x86-64 without FMA.

use std::sync::LazyLock;

const LANES: usize = 8;

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

macro_rules! dispatch {
    ($(#[$doc:meta])* pub fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $body:ident) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn fast($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                if *AVX2 {
                    // SAFETY: the processor was checked for AVX2 and FMA.
                    return unsafe { fast($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

dispatch! {
    /// `Σ a·b`.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 => dot_body
}
dispatch! {
    /// `target += factor · source`.
    pub fn axpy(target: &mut [f32], factor: f32, source: &[f32]) => axpy_body
}
dispatch! {
    /// In place: `exp(x - max) / Σ exp(x - max)`.
    pub fn softmax(values: &mut [f32]) => softmax_body
}
dispatch! {
    /// In place: `(x - mean) / sqrt(variance + eps) · weight + bias`, variance biased, as
    /// PyTorch's LayerNorm.
    pub fn layer_norm(row: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) => layer_norm_body
}
dispatch! {
    /// In place: BERT's exact GELU, `x · (1 + erf(x / √2)) / 2`.
    pub fn gelu(values: &mut [f32]) => gelu_body
}

#[inline(always)]
fn sum_lanes(lanes: [f32; LANES]) -> f32 {
    lanes.iter().sum()
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let (a_blocks, a_tail) = a.split_at(a.len() / LANES * LANES);
    let (b_blocks, b_tail) = b[..a.len()].split_at(a_blocks.len());
    for (x, y) in a_blocks
        .chunks_exact(LANES)
        .zip(b_blocks.chunks_exact(LANES))
    {
        for l in 0..LANES {
            lanes[l] = x[l].mul_add(y[l], lanes[l]);
        }
    }
    sum_lanes(lanes) + a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum::<f32>()
}

#[inline(always)]
fn axpy_body(target: &mut [f32], factor: f32, source: &[f32]) {
    for (t, s) in target.iter_mut().zip(source) {
        *t = factor.mul_add(*s, *t);
    }
}

#[inline(always)]
fn softmax_body(values: &mut [f32]) {
    let max = values.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for v in values.iter_mut() {
        *v = exp(*v - max);
    }
    let total = sum(values);
    let inverse = 1.0 / total;
    for v in values.iter_mut() {
        *v *= inverse;
    }
}

#[inline(always)]
fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let (blocks, tail) = values.split_at(values.len() / LANES * LANES);
    for block in blocks.chunks_exact(LANES) {
        for l in 0..LANES {
            lanes[l] += block[l];
        }
    }
    sum_lanes(lanes) + tail.iter().sum::<f32>()
}

#[inline(always)]
fn layer_norm_body(row: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let mut lanes = [0f32; LANES];
    let (blocks, tail) = row.split_at(row.len() / LANES * LANES);
    for block in blocks.chunks_exact(LANES) {
        for l in 0..LANES {
            let d = block[l] - mean;
            lanes[l] = d.mul_add(d, lanes[l]);
        }
    }
    let squares = sum_lanes(lanes) + tail.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>();
    let inverse = 1.0 / (squares / n + eps).sqrt();
    for ((v, w), b) in row.iter_mut().zip(weight).zip(bias) {
        *v = ((*v - mean) * inverse).mul_add(*w, *b);
    }
}

#[inline(always)]
fn gelu_body(values: &mut [f32]) {
    for v in values.iter_mut() {
        let x = *v;
        *v = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// `erf` as a rational function on [-4, 4] (beyond it erf is ±1 in f32): the approximation
/// Eigen and XLA use, within a few units in the last place.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2.mul_add(-2.726_142_3e-10, 2.770_681_4e-8);
    p = x2.mul_add(p, -2.101_024e-6);
    p = x2.mul_add(p, -5.692_506_4e-5);
    p = x2.mul_add(p, -7.349_906_3e-4);
    p = x2.mul_add(p, -2.954_6e-3);
    p = x2.mul_add(p, -1.609_603_3e-2);
    p *= x;
    let mut q = x2.mul_add(-1.456_607_2e-5, -2.133_740_6e-4);
    q = x2.mul_add(q, -1.682_827e-3);
    q = x2.mul_add(q, -7.373_329e-3);
    q = x2.mul_add(q, -1.426_474e-2);
    p / q
}

/// `e^x` for the softmax's arguments (≤ 0): 2^n · e^r with |r| ≤ ln2/2 and a degree-6
/// polynomial for e^r (Cephes' coefficients), within two units in the last place.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Below -87 the result is under f32's smallest normal number: call it 0.
    let x = x.max(-87.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = n.mul_add(-0.693_359_4, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = r.mul_add(1.987_569_1e-4, 1.398_199_9e-3);
    p = r.mul_add(p, 8.333_452e-3);
    p = r.mul_add(p, 4.166_579_6e-2);
    p = r.mul_add(p, 1.666_666_5e-1);
    p = r.mul_add(p, 0.5);
    let e = (r * r).mul_add(p, r) + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_and_exp_are_within_a_few_ulps_of_f64() {
        let mut worst_erf = 0f64;
        let mut worst_exp = 0f64;
        for i in -60_000i32..=60_000 {
            let x = i as f32 * 1e-4;
            let reference = candle_core::cpu::erf::erf_f64(x as f64);
            worst_erf = worst_erf.max((erf(x) as f64 - reference).abs());
            let y = -(i.abs() as f32) * 1.4e-3;
            let reference = (y as f64).exp();
            worst_exp = worst_exp.max(((exp(y) as f64 - reference) / reference).abs());
        }
        assert!(worst_erf < 1e-6, "erf off by {worst_erf}");
        assert!(worst_exp < 1e-6, "exp off by {worst_exp:e} relative");
        assert!(exp(-1000.0) < 1e-37);
    }

    #[test]
    fn kernels_agree_with_plain_loops() {
        let a: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-5);

        let mut scores = a.clone();
        softmax(&mut scores);
        let max = a.iter().cloned().fold(f32::MIN, f32::max);
        let total: f32 = a.iter().map(|v| (v - max).exp()).sum();
        for (s, v) in scores.iter().zip(&a) {
            assert!((s - (v - max).exp() / total).abs() < 1e-6);
        }

        let mut row = a.clone();
        layer_norm(&mut row, &b, &a, 1e-12);
        let mean = a.iter().sum::<f32>() / 37.0;
        let var = a.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 37.0;
        for i in 0..37 {
            let expected = (a[i] - mean) / var.sqrt() * b[i] + a[i];
            assert!((row[i] - expected).abs() < 1e-5);
        }

        let mut activated = a.clone();
        gelu(&mut activated);
        for (g, x) in activated.iter().zip(&a) {
            let exact =
                0.5 * *x as f64 * (1.0 + candle_core::cpu::erf::erf_f64(*x as f64 / 2f64.sqrt()));
            assert!((*g as f64 - exact).abs() < 1e-6);
        }
    }
}
