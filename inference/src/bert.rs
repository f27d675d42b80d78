//! A BERT encoder over packed sequences: the tokens of every text of a batch are rows of one
//! matrix, so no row is padding and the dense layers are single large matrix products. Only
//! attention looks at sequence boundaries. candle's `BertModel` pads a batch to its longest
//! text, runs each projection as its own product with the bias added in a second pass, and
//! computes GELU's `erf` in scalar f64; together that made it slower than PyTorch here
//! (docs/PERFORMANCE.md, "Local models").

use std::collections::HashMap;

use anyhow::Context;
use candle_core::Tensor;
use rayon::prelude::*;

use crate::kernels;

/// The parts of a Hugging Face BERT `config.json` the encoder needs.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    #[serde(default = "gelu")]
    pub hidden_act: String,
}

fn gelu() -> String {
    "gelu".into()
}

/// One text's tokens, special tokens included.
pub struct Tokens<'a> {
    pub ids: &'a [u32],
    pub type_ids: &'a [u32],
}

struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// A linear layer with its weight stored `[inputs, outputs]` row-major.
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

struct Layer {
    /// Query, key and value projections side by side: one product instead of three.
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    up: Dense,
    down: Dense,
    output_norm: Norm,
}

pub struct Encoder {
    config: Config,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
}

impl Encoder {
    /// Builds the encoder from the tensors of a `model.safetensors` (with or without the
    /// `bert.` prefix of checkpoints that carry a head).
    pub fn from_tensors(config: Config, tensors: &HashMap<String, Tensor>) -> anyhow::Result<Self> {
        if config.hidden_act != "gelu" {
            anyhow::bail!(
                "hidden_act {:?} is not supported (only BERT's exact \"gelu\")",
                config.hidden_act
            );
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            anyhow::bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size,
                config.num_attention_heads
            );
        }
        let prefix = if tensors.contains_key("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let get = |name: &str, shape: &[usize]| -> anyhow::Result<Vec<f32>> {
            let full = format!("{prefix}{name}");
            let tensor = tensors
                .get(&full)
                .with_context(|| format!("model.safetensors has no tensor {full}"))?;
            if tensor.dims() != shape {
                anyhow::bail!("{full} has shape {:?}, expected {shape:?}", tensor.dims());
            }
            Ok(tensor
                .to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1()?)
        };
        let hidden = config.hidden_size;
        let norm = |name: &str| -> anyhow::Result<Norm> {
            Ok(Norm {
                weight: get(&format!("{name}.weight"), &[hidden])?,
                bias: get(&format!("{name}.bias"), &[hidden])?,
            })
        };
        // PyTorch stores a linear layer's weight [outputs, inputs]; the products below want
        // [inputs, outputs], and several projections can share one product.
        let dense = |names: &[String], inputs: usize, outputs: usize| -> anyhow::Result<Dense> {
            let mut weight = vec![0f32; inputs * names.len() * outputs];
            let mut bias = Vec::with_capacity(names.len() * outputs);
            let width = names.len() * outputs;
            for (part, name) in names.iter().enumerate() {
                let w = get(&format!("{name}.weight"), &[outputs, inputs])?;
                for o in 0..outputs {
                    for i in 0..inputs {
                        weight[i * width + part * outputs + o] = w[o * inputs + i];
                    }
                }
                bias.extend(get(&format!("{name}.bias"), &[outputs])?);
            }
            Ok(Dense {
                weight,
                bias,
                inputs,
                outputs: width,
            })
        };
        let layers = (0..config.num_hidden_layers)
            .map(|n| {
                let at = |name: &str| format!("encoder.layer.{n}.{name}");
                Ok(Layer {
                    qkv: dense(
                        &[
                            at("attention.self.query"),
                            at("attention.self.key"),
                            at("attention.self.value"),
                        ],
                        hidden,
                        hidden,
                    )?,
                    attention_out: dense(&[at("attention.output.dense")], hidden, hidden)?,
                    attention_norm: norm(&at("attention.output.LayerNorm"))?,
                    up: dense(
                        &[at("intermediate.dense")],
                        hidden,
                        config.intermediate_size,
                    )?,
                    down: dense(&[at("output.dense")], config.intermediate_size, hidden)?,
                    output_norm: norm(&at("output.LayerNorm"))?,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            word: get(
                "embeddings.word_embeddings.weight",
                &[config.vocab_size, hidden],
            )?,
            position: get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, hidden],
            )?,
            token_type: get(
                "embeddings.token_type_embeddings.weight",
                &[config.type_vocab_size, hidden],
            )?,
            embedding_norm: norm("embeddings.LayerNorm")?,
            layers,
            config,
        })
    }

    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// The last hidden state of every token of every text, the texts' rows one after the
    /// other: `[Σ len, hidden_size]`.
    pub fn forward(&self, texts: &[Tokens]) -> anyhow::Result<Vec<f32>> {
        let hidden = self.config.hidden_size;
        let eps = self.config.layer_norm_eps as f32;
        let mut spans = Vec::with_capacity(texts.len());
        let mut rows = 0;
        for text in texts {
            if text.ids.len() != text.type_ids.len() {
                anyhow::bail!("token ids and type ids differ in length");
            }
            if text.ids.len() > self.config.max_position_embeddings {
                anyhow::bail!(
                    "{} tokens exceed the model's {} positions",
                    text.ids.len(),
                    self.config.max_position_embeddings
                );
            }
            spans.push(rows..rows + text.ids.len());
            rows += text.ids.len();
        }
        let mut x = vec![0f32; rows * hidden];
        for (text, span) in texts.iter().zip(&spans) {
            for (position, ((&id, &type_id), row)) in text
                .ids
                .iter()
                .zip(text.type_ids)
                .zip(x[span.start * hidden..span.end * hidden].chunks_exact_mut(hidden))
                .enumerate()
            {
                let (id, type_id) = (id as usize, type_id as usize);
                if id >= self.config.vocab_size || type_id >= self.config.type_vocab_size {
                    anyhow::bail!("token {id} (type {type_id}) is outside the vocabulary");
                }
                let word = &self.word[id * hidden..][..hidden];
                let place = &self.position[position * hidden..][..hidden];
                let kind = &self.token_type[type_id * hidden..][..hidden];
                for (((out, w), p), t) in row.iter_mut().zip(word).zip(place).zip(kind) {
                    *out = w + t + p;
                }
            }
        }
        x.par_chunks_exact_mut(hidden).for_each(|row| {
            kernels::layer_norm(
                row,
                &self.embedding_norm.weight,
                &self.embedding_norm.bias,
                eps,
            )
        });

        let heads = self.config.num_attention_heads;
        let mut qkv = vec![0f32; rows * 3 * hidden];
        let mut context = vec![0f32; rows * hidden];
        let mut projected = vec![0f32; rows * hidden];
        let mut up = vec![0f32; rows * self.config.intermediate_size];
        for layer in &self.layers {
            layer.qkv.apply(&x, &mut qkv, rows);
            attention(&qkv, &mut context, &spans, hidden, heads);
            layer.attention_out.apply(&context, &mut projected, rows);
            add_and_norm(&mut x, &projected, &layer.attention_norm, hidden, eps);
            layer.up.apply(&x, &mut up, rows);
            up.par_chunks_mut(4096).for_each(kernels::gelu);
            layer.down.apply(&up, &mut projected, rows);
            add_and_norm(&mut x, &projected, &layer.output_norm, hidden, eps);
        }
        Ok(x)
    }
}

impl Dense {
    /// `out = input · weight + bias` for `rows` rows.
    fn apply(&self, input: &[f32], out: &mut [f32], rows: usize) {
        assert_eq!(input.len(), rows * self.inputs);
        assert_eq!(out.len(), rows * self.outputs);
        if rows == 0 {
            return;
        }
        for row in out.chunks_exact_mut(self.outputs) {
            row.copy_from_slice(&self.bias);
        }
        let threads = rayon::current_num_threads();
        let parallelism = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: the three matrices are row-major with the dimensions asserted above, and
        // `out` is exclusively borrowed; `read_dst` with alpha 1 adds the product to the
        // bias rows written above.
        unsafe {
            gemm::gemm(
                rows,
                self.outputs,
                self.inputs,
                out.as_mut_ptr(),
                1,
                self.outputs as isize,
                true,
                input.as_ptr(),
                1,
                self.inputs as isize,
                self.weight.as_ptr(),
                1,
                self.outputs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}

/// `x = LayerNorm(x + residual)`, row by row.
fn add_and_norm(x: &mut [f32], residual: &[f32], norm: &Norm, hidden: usize, eps: f32) {
    x.par_chunks_exact_mut(hidden)
        .zip(residual.par_chunks_exact(hidden))
        .for_each(|(row, add)| {
            for (v, a) in row.iter_mut().zip(add) {
                *v += a;
            }
            kernels::layer_norm(row, &norm.weight, &norm.bias, eps);
        });
}

/// Scaled dot-product attention of every text with itself. `qkv` holds each token's query,
/// key and value (`3 × hidden` wide); the heads' outputs go side by side into `context`.
fn attention(
    qkv: &[f32],
    context: &mut [f32],
    spans: &[std::ops::Range<usize>],
    hidden: usize,
    heads: usize,
) {
    let width = 3 * hidden;
    let size = hidden / heads;
    let scale = 1.0 / (size as f32).sqrt();
    // Each text's rows of `context` are disjoint, so texts run in parallel.
    let mut outputs: Vec<(&std::ops::Range<usize>, &mut [f32])> = Vec::with_capacity(spans.len());
    let mut rest = context;
    for span in spans {
        let (mine, tail) = rest.split_at_mut(span.len() * hidden);
        outputs.push((span, mine));
        rest = tail;
    }
    outputs.into_par_iter().for_each(|(span, out)| {
        let tokens = span.len();
        let rows = &qkv[span.start * width..span.end * width];
        let mut scores = vec![0f32; tokens];
        for head in 0..heads {
            let q_at = head * size;
            let k_at = hidden + head * size;
            let v_at = 2 * hidden + head * size;
            for i in 0..tokens {
                let query = &rows[i * width + q_at..][..size];
                for (j, score) in scores.iter_mut().enumerate() {
                    *score = kernels::dot(query, &rows[j * width + k_at..][..size]) * scale;
                }
                kernels::softmax(&mut scores);
                let target = &mut out[i * hidden + head * size..][..size];
                target.fill(0.0);
                for (j, &p) in scores.iter().enumerate() {
                    kernels::axpy(target, p, &rows[j * width + v_at..][..size]);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarBuilder;
    use candle_transformers::models::bert::{BertModel, Config as CandleConfig};

    /// A small random BERT, run by candle's reference implementation (padded, masked) and by
    /// the packed encoder: the hidden states of the real tokens agree.
    #[test]
    fn agrees_with_candles_bert_on_a_padded_batch() -> anyhow::Result<()> {
        let json = serde_json::json!({
            "vocab_size": 50, "hidden_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 96, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0, "max_position_embeddings": 32, "type_vocab_size": 2,
            "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0
        });
        let candle_config: CandleConfig = serde_json::from_value(json.clone())?;
        let config: Config = serde_json::from_value(json)?;
        let device = Device::Cpu;
        let mut tensors = HashMap::new();
        let mut add = |name: String, shape: &[usize]| -> anyhow::Result<()> {
            let t = Tensor::randn(0f32, 0.5, shape, &device)?;
            tensors.insert(name, t);
            Ok(())
        };
        let (h, i) = (64, 96);
        add("embeddings.word_embeddings.weight".into(), &[50, h])?;
        add("embeddings.position_embeddings.weight".into(), &[32, h])?;
        add("embeddings.token_type_embeddings.weight".into(), &[2, h])?;
        for part in ["weight", "bias"] {
            add(format!("embeddings.LayerNorm.{part}"), &[h])?;
        }
        for n in 0..2 {
            let at = |name: &str| format!("encoder.layer.{n}.{name}");
            for (name, outputs, inputs) in [
                ("attention.self.query", h, h),
                ("attention.self.key", h, h),
                ("attention.self.value", h, h),
                ("attention.output.dense", h, h),
                ("intermediate.dense", i, h),
                ("output.dense", h, i),
            ] {
                add(at(&format!("{name}.weight")), &[outputs, inputs])?;
                add(at(&format!("{name}.bias")), &[outputs])?;
            }
            for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
                add(at(&format!("{name}.weight")), &[h])?;
                add(at(&format!("{name}.bias")), &[h])?;
            }
        }
        let reference = BertModel::load(
            VarBuilder::from_tensors(tensors.clone(), DType::F32, &device),
            &candle_config,
        )?;
        let encoder = Encoder::from_tensors(config, &tensors)?;

        let texts: Vec<Vec<u32>> = vec![
            vec![1, 7, 9, 3, 2],
            vec![1, 4, 2],
            (0..20).map(|t| (t * 7 % 50) as u32).collect(),
        ];
        let types: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| t.iter().enumerate().map(|(p, _)| (p % 2) as u32).collect())
            .collect();
        let width = 20;
        let mut ids = vec![0u32; texts.len() * width];
        let mut type_ids = vec![0u32; texts.len() * width];
        let mut mask = vec![0u32; texts.len() * width];
        for (row, (text, kinds)) in texts.iter().zip(&types).enumerate() {
            for (p, (&id, &kind)) in text.iter().zip(kinds).enumerate() {
                ids[row * width + p] = id;
                type_ids[row * width + p] = kind;
                mask[row * width + p] = 1;
            }
        }
        let shape = (texts.len(), width);
        let expected = reference
            .forward(
                &Tensor::from_vec(ids, shape, &device)?,
                &Tensor::from_vec(type_ids, shape, &device)?,
                Some(&Tensor::from_vec(mask, shape, &device)?),
            )?
            .to_vec3::<f32>()?;

        let packed: Vec<Tokens> = texts
            .iter()
            .zip(&types)
            .map(|(ids, type_ids)| Tokens { ids, type_ids })
            .collect();
        let actual = encoder.forward(&packed)?;
        let mut row = 0;
        let mut largest = 0f32;
        for (text, padded) in texts.iter().zip(&expected) {
            for token in padded.iter().take(text.len()) {
                for (a, e) in actual[row * h..][..h].iter().zip(token) {
                    largest = largest.max((a - e).abs());
                }
                row += 1;
            }
        }
        assert!(largest < 1e-4, "largest difference {largest}");
        Ok(())
    }

    #[test]
    fn refuses_tokens_outside_the_vocabulary_and_positions() -> anyhow::Result<()> {
        let config: Config = serde_json::from_value(serde_json::json!({
            "vocab_size": 4, "hidden_size": 8, "num_hidden_layers": 0,
            "num_attention_heads": 2, "intermediate_size": 8,
            "max_position_embeddings": 3, "type_vocab_size": 1, "layer_norm_eps": 1e-12
        }))?;
        let device = Device::Cpu;
        let mut tensors = HashMap::new();
        for (name, shape) in [
            ("embeddings.word_embeddings.weight", vec![4, 8]),
            ("embeddings.position_embeddings.weight", vec![3, 8]),
            ("embeddings.token_type_embeddings.weight", vec![1, 8]),
            ("embeddings.LayerNorm.weight", vec![8]),
            ("embeddings.LayerNorm.bias", vec![8]),
        ] {
            tensors.insert(name.to_string(), Tensor::ones(shape, DType::F32, &device)?);
        }
        let encoder = Encoder::from_tensors(config, &tensors)?;
        let run = |ids: &[u32]| {
            let types = vec![0; ids.len()];
            encoder.forward(&[Tokens {
                ids,
                type_ids: &types,
            }])
        };
        assert!(run(&[1, 2, 3]).is_ok());
        assert!(run(&[1, 9]).is_err());
        assert!(run(&[1, 1, 1, 1]).is_err());
        Ok(())
    }
}
