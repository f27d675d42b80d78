//! A sentence-transformers BERT model from safetensors (all-MiniLM-L6-v2 by default): mean
//! pooling over the real tokens, then L2 normalisation, as sentence-transformers does it.

use std::path::Path;

use candle_core::Device;
use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::{Config, Encoder, Tokens};

/// Tokens per forward pass. Texts are packed without padding, so this bounds the activations
/// (about 40 KB a token for MiniLM) rather than a count of texts; large products also keep
/// the matrix kernels at full speed.
const BATCH_TOKENS: usize = 4096;

pub struct SentenceModel {
    encoder: Encoder,
    tokenizer: Tokenizer,
}

pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    /// Tokens the model read, special tokens included, after truncation.
    pub tokens: usize,
}

impl SentenceModel {
    /// Loads `config.json`, `model.safetensors`, `tokenizer.json` and, when present,
    /// `sentence_bert_config.json` (its `max_seq_length`, 256 for MiniLM) from `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join(name).display()))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join("config.json").display()))?;
        let max_length = match read("sentence_bert_config.json") {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)?
                .get("max_seq_length")
                .and_then(|v| v.as_u64())
                .unwrap_or(256) as usize,
            Err(_) => 256,
        };
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join("tokenizer.json").display()))?;
        // The shipped tokenizer.json pads every input to 128 tokens and truncates there;
        // sentence-transformers truncates at max_seq_length, and packed texts need no
        // padding at all. Anything else gives other vectors.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_length.min(config.max_position_embeddings),
                ..Default::default()
            }))
            .map_err(anyhow::Error::msg)?;
        let weights = read("model.safetensors")?;
        let tensors = candle_core::safetensors::load_buffer(&weights, &Device::Cpu)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join("model.safetensors").display()))?;
        let encoder = Encoder::from_tensors(config, &tensors)?;
        Ok(Self { encoder, tokenizer })
    }

    pub fn embed(&self, texts: &[String]) -> anyhow::Result<Embedded> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), true)
            .map_err(anyhow::Error::msg)?;
        let tokens = encodings.iter().map(|e| e.len()).sum();
        let mut vectors = Vec::with_capacity(texts.len());
        let mut start = 0;
        while start < encodings.len() {
            let mut end = start + 1;
            let mut budget = encodings[start].len();
            while end < encodings.len() && budget + encodings[end].len() <= BATCH_TOKENS {
                budget += encodings[end].len();
                end += 1;
            }
            vectors.extend(self.embed_packed(&encodings[start..end])?);
            start = end;
        }
        Ok(Embedded { vectors, tokens })
    }

    /// Mean pooling over each text's tokens, then L2 normalisation, as sentence-transformers'
    /// `Pooling` and `Normalize` modules do.
    fn embed_packed(&self, encodings: &[tokenizers::Encoding]) -> anyhow::Result<Vec<Vec<f32>>> {
        let texts: Vec<Tokens> = encodings
            .iter()
            .map(|e| Tokens {
                ids: e.get_ids(),
                type_ids: e.get_type_ids(),
            })
            .collect();
        let states = self.encoder.forward(&texts)?;
        let hidden = self.encoder.hidden_size();
        let mut rows = states.chunks_exact(hidden);
        Ok(encodings
            .iter()
            .map(|e| {
                let mut mean = vec![0f32; hidden];
                for row in rows.by_ref().take(e.len()) {
                    for (m, v) in mean.iter_mut().zip(row) {
                        *m += v;
                    }
                }
                let count = e.len().max(1) as f32;
                for m in &mut mean {
                    *m /= count;
                }
                let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                for m in &mut mean {
                    *m /= norm;
                }
                mean
            })
            .collect())
    }
}
