//! A sentence-transformers BERT model from safetensors (all-MiniLM-L6-v2 by default): mean
//! pooling over the real tokens, then L2 normalisation, as sentence-transformers does it.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Texts per forward pass: sorted by length first, so padding stays small.
const BATCH: usize = 32;

pub struct SentenceModel {
    model: BertModel,
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
        // sentence-transformers pads to the longest of a batch and truncates at
        // max_seq_length. Anything else gives other vectors.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(anyhow::Error::msg)?;
        let weights = read("model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)?;
        let model = BertModel::load(vb, &config)?;
        Ok(Self { model, tokenizer })
    }

    pub fn embed(&self, texts: &[String]) -> anyhow::Result<Embedded> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut vectors = vec![Vec::new(); texts.len()];
        let mut tokens = 0;
        for batch in order.chunks(BATCH) {
            let inputs: Vec<&str> = batch.iter().map(|&i| texts[i].as_str()).collect();
            let (batch_vectors, batch_tokens) = self.embed_batch(&inputs)?;
            tokens += batch_tokens;
            for (&i, vector) in batch.iter().zip(batch_vectors) {
                vectors[i] = vector;
            }
        }
        Ok(Embedded { vectors, tokens })
    }

    fn embed_batch(&self, texts: &[&str]) -> anyhow::Result<(Vec<Vec<f32>>, usize)> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(anyhow::Error::msg)?;
        let rows = encodings.len();
        let width = encodings.first().map_or(0, |e| e.len());
        let flat = |f: fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            encodings
                .iter()
                .flat_map(|e| f(e).iter().copied())
                .collect()
        };
        let ids = Tensor::from_vec(flat(|e| e.get_ids()), (rows, width), &Device::Cpu)?;
        let type_ids = Tensor::from_vec(flat(|e| e.get_type_ids()), (rows, width), &Device::Cpu)?;
        let mask_values = flat(|e| e.get_attention_mask());
        let tokens = mask_values.iter().filter(|&&m| m == 1).count();
        let mask = Tensor::from_vec(mask_values, (rows, width), &Device::Cpu)?;
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        let normalised = mean.broadcast_div(&norms)?;
        Ok((normalised.to_vec2::<f32>()?, tokens))
    }
}
