//! In-process throughput of the local models, for bench/local_models.sh:
//!
//!     cargo run --release -p orrery-inference --example bench -- chat MODEL.gguf STREAMS TOKENS
//!     cargo run --release -p orrery-inference --example bench -- embed MODEL_DIR TEXTS_FILE OUT.json
//!
//!     cargo run --release -p orrery-inference --example bench -- scan ROWS
//!
//! `chat` reports time to first token and decode tokens/s over three rounds of STREAMS
//! concurrent sampled generations of TOKENS tokens each (one batched step for all streams,
//! as the server's model thread does); `embed` reports sentences/s and writes the vectors;
//! `scan` times the sketch distance loop over ROWS random 512-bit sketches held in cache (the
//! best of 2 000 scans: the kernel's own cost, not the memory's).

use std::path::Path;
use std::time::Instant;

use orrery_inference::{step_all, ChatModel, Role, SamplingOptions, SentenceModel, Sequence, Step};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    pool.install(|| match args.first().map(String::as_str) {
        Some("chat") => chat(Path::new(&args[1]), args[2].parse()?, args[3].parse()?),
        Some("scan") => scan(args[1].parse()?),
        Some("embed") => embed(
            Path::new(&args[1]),
            Path::new(&args[2]),
            Path::new(&args[3]),
        ),
        _ => anyhow::bail!(
            "usage: bench chat MODEL.gguf STREAMS TOKENS | bench embed MODEL_DIR TEXTS OUT | bench scan ROWS"
        ),
    })
}

fn scan(rows: usize) -> anyhow::Result<()> {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let sketches: Vec<u64> = (0..rows * 8).map(|_| next()).collect();
    let query: Vec<u64> = (0..8).map(|_| next()).collect();
    let mut distances = Vec::with_capacity(rows);
    let mut best = f64::MAX;
    for _ in 0..2000 {
        distances.clear();
        let started = Instant::now();
        orrery_inference::sign_distances(&sketches, &query, &mut distances);
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mean = distances.iter().map(|&d| f64::from(d)).sum::<f64>() / rows.max(1) as f64;
    println!(
        "{rows} sketches: {:.3} ms a scan (best of 2 000); mean distance {mean:.1} of 512",
        best * 1e3
    );
    Ok(())
}

fn chat(file: &Path, streams: usize, tokens: usize) -> anyhow::Result<()> {
    let model = ChatModel::load(file)?;
    for round in 1..=3 {
        let mut sequences: Vec<Sequence> = (0..streams)
            .map(|i| {
                let question =
                    format!("Write a long story about a dragon who learns to read (story {i}).");
                let prompt = model.prompt(&[(Role::User, question.as_str())])?;
                // No stop at the end token would be needed with greedy text; sampled stories
                // of a 135M model end on their own, so the count below is what was generated.
                Ok(model.sequence(
                    prompt,
                    SamplingOptions {
                        temperature: Some(0.8),
                        top_p: 0.9,
                        seed: (round * 100 + i) as u64,
                        max_tokens: tokens,
                        stop: vec![],
                    },
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        let started = Instant::now();
        let mut first = None;
        let mut done = vec![false; streams];
        while done.iter().any(|d| !d) {
            let live: Vec<usize> = (0..streams).filter(|&i| !done[i]).collect();
            let mut batch: Vec<&mut Sequence> = sequences
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| !done[*i])
                .map(|(_, s)| s)
                .collect();
            let steps = step_all(&mut batch);
            first.get_or_insert_with(|| started.elapsed());
            for (i, step) in live.into_iter().zip(steps) {
                if let Step::Done { .. } = step? {
                    done[i] = true;
                }
            }
        }
        let elapsed = started.elapsed();
        let first = first.unwrap_or_default();
        let generated: usize = sequences.iter().map(Sequence::generated_tokens).sum();
        println!(
            "chat streams={streams} round={round}: first token {:.0} ms, {generated} tokens, decode {:.1} tok/s aggregate",
            first.as_secs_f64() * 1e3,
            (generated - streams) as f64 / (elapsed - first).as_secs_f64()
        );
    }
    Ok(())
}

fn embed(dir: &Path, texts: &Path, out: &Path) -> anyhow::Result<()> {
    let model = SentenceModel::load(dir)?;
    let texts: Vec<String> = std::fs::read_to_string(texts)?
        .lines()
        .map(String::from)
        .collect();
    model.embed(&texts[..texts.len().min(32)])?;
    let started = Instant::now();
    let embedded = model.embed(&texts)?;
    let elapsed = started.elapsed();
    println!(
        "embed: {} sentences in {:.2} s = {:.1} sentences/s",
        texts.len(),
        elapsed.as_secs_f64(),
        texts.len() as f64 / elapsed.as_secs_f64()
    );
    std::fs::write(out, serde_json::to_string(&embedded.vectors)?)?;
    Ok(())
}
