//! Picking the next token from logits: greedy, or temperature with nucleus (top-p)
//! sampling, after a repetition penalty. Written for a 49 152-token vocabulary at a hundred
//! tokens a second: candle's sampler sorts the whole vocabulary on every token (a third of
//! the decode time of a 135M model); here only the few hundred likeliest are sorted, and the
//! full sort happens only when they do not reach `top_p`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Candidates sorted first; a nucleus wider than this is rare and falls back to a full sort.
const FIRST_CUT: usize = 256;

pub struct Sampler {
    /// `None`: greedy.
    temperature: Option<f32>,
    top_p: f32,
    rng: StdRng,
}

impl Sampler {
    pub fn new(temperature: Option<f64>, top_p: f64, seed: u64) -> Self {
        Self {
            temperature: temperature.filter(|t| *t > 0.0).map(|t| t as f32),
            top_p: top_p.clamp(0.0, 1.0) as f32,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Divides positive logits by `penalty` and multiplies negative ones, once per distinct
    /// token of `recent` (llama.cpp's and candle's rule).
    pub fn penalize(logits: &mut [f32], penalty: f32, recent: &[u32]) {
        let mut seen = std::collections::HashSet::with_capacity(recent.len());
        for &token in recent {
            if !seen.insert(token) {
                continue;
            }
            if let Some(logit) = logits.get_mut(token as usize) {
                *logit = if *logit >= 0.0 {
                    *logit / penalty
                } else {
                    *logit * penalty
                };
            }
        }
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let Some(temperature) = self.temperature else {
            return argmax(logits);
        };
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f32> = logits
            .iter()
            .map(|l| ((l - max) / temperature).exp())
            .collect();
        let total: f32 = weights.iter().sum();
        let mut order: Vec<u32> = (0..weights.len() as u32).collect();
        let by_weight = |a: &u32, b: &u32| weights[*b as usize].total_cmp(&weights[*a as usize]);
        let cut = FIRST_CUT.min(order.len());
        if cut < order.len() {
            order.select_nth_unstable_by(cut - 1, by_weight);
        }
        order[..cut].sort_unstable_by(by_weight);
        let mut nucleus = nucleus_len(&order[..cut], &weights, total * self.top_p);
        if nucleus.is_none() {
            order.sort_unstable_by(by_weight);
            nucleus = nucleus_len(&order, &weights, total * self.top_p);
        }
        let nucleus = &order[..nucleus.unwrap_or(order.len()).max(1)];
        let mass: f32 = nucleus.iter().map(|&t| weights[t as usize]).sum();
        let mut target = self.rng.gen::<f32>() * mass;
        for &token in nucleus {
            target -= weights[token as usize];
            if target <= 0.0 {
                return token;
            }
        }
        nucleus[nucleus.len() - 1]
    }
}

/// How many of `sorted` it takes to reach `mass`; `None` when all of them do not.
fn nucleus_len(sorted: &[u32], weights: &[f32], mass: f32) -> Option<usize> {
    let mut sum = 0.0;
    for (i, &token) in sorted.iter().enumerate() {
        sum += weights[token as usize];
        if sum >= mass {
            return Some(i + 1);
        }
    }
    None
}

fn argmax(logits: &[f32]) -> u32 {
    logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_largest_and_sampling_stays_in_the_nucleus() {
        let mut logits = vec![0.0f32; 1000];
        logits[7] = 9.0;
        logits[3] = 8.5;
        logits[500] = 8.0;
        assert_eq!(Sampler::new(None, 0.9, 1).sample(&logits), 7);
        assert_eq!(Sampler::new(Some(0.0), 0.9, 1).sample(&logits), 7);
        let mut sampler = Sampler::new(Some(1.0), 0.5, 42);
        for _ in 0..200 {
            // The top two hold well over half of the mass: nothing else is ever drawn.
            assert!([7, 3].contains(&sampler.sample(&logits)));
        }
        let mut seen = std::collections::HashSet::new();
        let mut wide = Sampler::new(Some(1.0), 1.0, 42);
        for _ in 0..2000 {
            seen.insert(wide.sample(&logits));
        }
        assert!(seen.len() > 50, "top_p 1 reaches the tail: {}", seen.len());
        let a: Vec<u32> = (0..20)
            .map(|_| 0)
            .scan(Sampler::new(Some(1.0), 0.9, 5), |s, _| {
                Some(s.sample(&logits))
            })
            .collect();
        let b: Vec<u32> = (0..20)
            .map(|_| 0)
            .scan(Sampler::new(Some(1.0), 0.9, 5), |s, _| {
                Some(s.sample(&logits))
            })
            .collect();
        assert_eq!(a, b, "a seed repeats");
    }

    #[test]
    fn the_penalty_counts_each_token_once() {
        let mut logits = vec![2.0, -2.0, 1.0];
        Sampler::penalize(&mut logits, 2.0, &[0, 0, 1]);
        assert_eq!(logits, vec![1.0, -4.0, 1.0]);
    }
}
