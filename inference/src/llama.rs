//! A llama-architecture forward pass over Q8_0 weights, written for decoding on a few CPU
//! cores. candle's `quantized_llama` does the same arithmetic, but for a 135M model its
//! per-op tensors, KV-cache concatenation and one thread barrier per matmul cost nearly as
//! much as the matmuls (measured in docs/PERFORMANCE.md). Here the q/k/v and gate/up
//! projections are one pass each over their stacked rows, the cache grows in place, and
//! everything between matmuls works on plain slices. The dot products are candle's SIMD
//! Q8_0 kernels, so the numbers are the ones candle's model computes.

use std::io::{Read, Seek};

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;
use rayon::prelude::*;

use super::q8::{Matrix, Quantized, BLOCK};

/// A weight as Q8_0 rows.
struct Rows(Matrix);

impl Rows {
    fn load(tensor: QTensor) -> anyhow::Result<Rows> {
        let (rows, cols) = tensor.shape().dims2()?;
        if !cols.is_multiple_of(BLOCK) {
            anyhow::bail!("a weight {rows}x{cols} is not a whole number of Q8_0 blocks");
        }
        let tensor = if tensor.dtype() == GgmlDType::Q8_0 {
            tensor
        } else {
            QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?
        };
        // GGUF's Q8_0 block: a little-endian f16 scale, then 32 int8.
        let data = tensor.data()?;
        let count = rows * cols / BLOCK;
        if data.len() != count * (2 + BLOCK) {
            anyhow::bail!(
                "a Q8_0 weight holds {} bytes, not {count} blocks",
                data.len()
            );
        }
        let mut quantized = Quantized {
            quants: Vec::with_capacity(rows * cols),
            scales: Vec::with_capacity(count),
        };
        for block in data.chunks_exact(2 + BLOCK) {
            quantized
                .scales
                .push(half::f16::from_le_bytes([block[0], block[1]]).to_f32());
            quantized.quants.extend(block[2..].iter().map(|&b| b as i8));
        }
        Ok(Rows(Matrix::new(rows, cols, quantized)))
    }

    /// Stacks weights of one width (q, k and v; gate and up) so one pass computes them all.
    fn stack(parts: Vec<Rows>) -> anyhow::Result<Rows> {
        if parts.iter().any(|p| p.0.cols != parts[0].0.cols) {
            anyhow::bail!("stacked projections differ in width");
        }
        Ok(Rows(Matrix::stack(
            parts.into_iter().map(|p| p.0).collect(),
        )))
    }

    /// `out[i][r] = row r · x[i]` for the `m` inputs in `x` (each `cols` wide). The inputs
    /// are quantized once; the rows are split across the compute pool, each row read once
    /// for all inputs.
    fn matmul(&self, x: &[f32], m: usize, out: &mut [f32]) {
        let matrix = &self.0;
        let inputs = Quantized::of(&x[..m * matrix.cols]);
        // Rows × inputs, so each task writes one contiguous run.
        let mut transposed = vec![0f32; matrix.rows * m];
        let chunk = (matrix.rows / (rayon::current_num_threads() * 4)).max(16);
        transposed
            .par_chunks_mut(chunk * m)
            .enumerate()
            .for_each(|(c, dst)| {
                let first = c * chunk;
                for (j, cell) in dst.iter_mut().enumerate() {
                    *cell = matrix.dot(first + j / m, &inputs, j % m);
                }
            });
        if m == 1 {
            out[..matrix.rows].copy_from_slice(&transposed);
            return;
        }
        for i in 0..m {
            for r in 0..matrix.rows {
                out[i * matrix.rows + r] = transposed[r * m + i];
            }
        }
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    qkv: Rows,
    output: Rows,
    ffn_norm: Vec<f32>,
    gate_up: Rows,
    down: Rows,
}

pub struct Llama {
    embedding: Rows,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    /// The output head (the embedding itself when the model ties them).
    head: Option<Rows>,
    hidden: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    ffn: usize,
    eps: f32,
    /// Rotary angles per position: `cos[p * head_dim/2 + i]`.
    cos: Vec<f32>,
    sin: Vec<f32>,
    pub context: usize,
}

/// One sequence's keys and values, per layer, growing a position at a time.
pub struct Cache {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    len: usize,
}

impl Llama {
    pub fn load<R: Read + Seek>(content: &Content, reader: &mut R) -> anyhow::Result<Self> {
        let meta = |key: &str| -> anyhow::Result<u32> {
            content
                .metadata
                .get(key)
                .ok_or_else(|| anyhow::anyhow!("the model has no {key}"))?
                .to_u32()
                .map_err(anyhow::Error::msg)
        };
        let arch = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if arch != "llama" {
            anyhow::bail!("architecture {arch:?} is not supported (llama only)");
        }
        let hidden = meta("llama.embedding_length")? as usize;
        let heads = meta("llama.attention.head_count")? as usize;
        let kv_heads = meta("llama.attention.head_count_kv")? as usize;
        let blocks = meta("llama.block_count")? as usize;
        let ffn = meta("llama.feed_forward_length")? as usize;
        let context = (meta("llama.context_length")? as usize).min(8192);
        let eps = content
            .metadata
            .get("llama.attention.layer_norm_rms_epsilon")
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(1e-5);
        let base = content
            .metadata
            .get("llama.rope.freq_base")
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10_000.0);
        if heads == 0
            || kv_heads == 0
            || !hidden.is_multiple_of(heads)
            || !heads.is_multiple_of(kv_heads)
        {
            anyhow::bail!("inconsistent attention shape: {heads} heads, {kv_heads} kv heads");
        }
        let head_dim = hidden / heads;
        let mut layers = Vec::with_capacity(blocks);
        for b in 0..blocks {
            let p = format!("blk.{b}");
            let mut rows =
                |name: &str| Rows::load(tensor(content, reader, &format!("{p}.{name}.weight"))?);
            let qkv = Rows::stack(vec![rows("attn_q")?, rows("attn_k")?, rows("attn_v")?])?;
            let output = rows("attn_output")?;
            let gate_up = Rows::stack(vec![rows("ffn_gate")?, rows("ffn_up")?])?;
            let down = rows("ffn_down")?;
            layers.push(Layer {
                attn_norm: floats(content, reader, &format!("{p}.attn_norm.weight"))?,
                qkv,
                output,
                ffn_norm: floats(content, reader, &format!("{p}.ffn_norm.weight"))?,
                gate_up,
                down,
            });
        }
        let norm = floats(content, reader, "output_norm.weight")?;
        let embedding = Rows::load(tensor(content, reader, "token_embd.weight")?)?;
        let head = if content.tensor_infos.contains_key("output.weight") {
            Some(Rows::load(tensor(content, reader, "output.weight")?)?)
        } else {
            None
        };
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(context * half);
        let mut sin = Vec::with_capacity(context * half);
        for position in 0..context {
            for i in 0..half {
                let angle = position as f32 / base.powf((2 * i) as f32 / head_dim as f32);
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok(Self {
            embedding,
            layers,
            norm,
            head,
            hidden,
            heads,
            kv_heads,
            head_dim,
            ffn,
            eps,
            cos,
            sin,
            context,
        })
    }

    pub fn cache(&self) -> Cache {
        Cache::sized(self.layers.len())
    }
}

impl Cache {
    fn sized(layers: usize) -> Self {
        Cache {
            keys: vec![Vec::new(); layers],
            values: vec![Vec::new(); layers],
            len: 0,
        }
    }

    /// A placeholder while a sequence's cache is lent to a batch.
    pub fn empty() -> Self {
        Self::sized(0)
    }
}

impl Llama {
    /// Runs `tokens` (the prompt, or the one token just sampled) at the cache's position
    /// and returns the logits after the last of them.
    #[cfg(test)]
    pub fn forward(&self, tokens: &[u32], cache: &mut Cache) -> anyhow::Result<Vec<f32>> {
        let mut logits = self.forward_many(&mut [(tokens, cache)])?;
        Ok(logits.pop().unwrap_or_default())
    }

    /// [`Self::forward`] for several sequences at once: their rows go through each weight
    /// together, so the weights — what decoding spends its time reading — are read once per
    /// step for all of them. Attention stays per sequence, over its own cache.
    pub fn forward_many(
        &self,
        batch: &mut [(&[u32], &mut Cache)],
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let (hidden, head_dim) = (self.hidden, self.head_dim);
        let kv_dim = self.kv_heads * head_dim;
        // Each input row: which sequence, at which position.
        let mut rows: Vec<(usize, usize)> = Vec::new();
        for (s, (tokens, cache)) in batch.iter().enumerate() {
            if tokens.is_empty() || cache.len + tokens.len() > self.context {
                anyhow::bail!(
                    "{} tokens do not fit the model's context of {}",
                    cache.len + tokens.len(),
                    self.context
                );
            }
            rows.extend((0..tokens.len()).map(|i| (s, cache.len + i)));
        }
        let m = rows.len();
        let mut x = vec![0f32; m * hidden];
        let all_tokens = batch.iter().flat_map(|(tokens, _)| tokens.iter());
        for (token, row) in all_tokens.zip(x.chunks_mut(hidden)) {
            let id = *token as usize;
            if id >= self.embedding.0.rows {
                anyhow::bail!("token {id} is outside the vocabulary");
            }
            self.embedding.0.dequantize_row(id, row);
        }
        let qkv_width = hidden + 2 * kv_dim;
        let mut normed = vec![0f32; m * hidden];
        let mut qkv = vec![0f32; m * qkv_width];
        let mut attended = vec![0f32; m * hidden];
        let mut projected = vec![0f32; m * hidden];
        let mut gate_up = vec![0f32; m * 2 * self.ffn];
        let mut activated = vec![0f32; m * self.ffn];
        let longest = rows.iter().map(|(_, p)| p + 1).max().unwrap_or(0);
        let mut scores = vec![0f32; longest];
        let group = self.heads / self.kv_heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        for (l, layer) in self.layers.iter().enumerate() {
            rms_norm(&x, &layer.attn_norm, self.eps, &mut normed);
            layer.qkv.matmul(&normed, m, &mut qkv);
            for (row, &(s, position)) in qkv.chunks_mut(qkv_width).zip(&rows) {
                let (q, kv) = row.split_at_mut(hidden);
                let (k, v) = kv.split_at_mut(kv_dim);
                for head in q.chunks_mut(head_dim).chain(k.chunks_mut(head_dim)) {
                    self.rotate(head, position);
                }
                let cache = &mut batch[s].1;
                cache.keys[l].extend_from_slice(k);
                cache.values[l].extend_from_slice(v);
            }
            for (i, &(s, position)) in rows.iter().enumerate() {
                let visible = position + 1;
                let (keys, values) = (&batch[s].1.keys[l], &batch[s].1.values[l]);
                let q_row = &qkv[i * qkv_width..i * qkv_width + hidden];
                let out_row = &mut attended[i * hidden..(i + 1) * hidden];
                for h in 0..self.heads {
                    let kv_head = h / group;
                    let q = &q_row[h * head_dim..(h + 1) * head_dim];
                    for (t, score) in scores[..visible].iter_mut().enumerate() {
                        let k = &keys[t * kv_dim + kv_head * head_dim..][..head_dim];
                        *score = dot(q, k) * scale;
                    }
                    softmax(&mut scores[..visible]);
                    let out = &mut out_row[h * head_dim..(h + 1) * head_dim];
                    out.fill(0.0);
                    for (t, &p) in scores[..visible].iter().enumerate() {
                        let v = &values[t * kv_dim + kv_head * head_dim..][..head_dim];
                        for (o, &v) in out.iter_mut().zip(v) {
                            *o += p * v;
                        }
                    }
                }
            }
            layer.output.matmul(&attended, m, &mut projected);
            add(&mut x, &projected);
            rms_norm(&x, &layer.ffn_norm, self.eps, &mut normed);
            layer.gate_up.matmul(&normed, m, &mut gate_up);
            for (row, out) in gate_up
                .chunks(2 * self.ffn)
                .zip(activated.chunks_mut(self.ffn))
            {
                let (gate, up) = row.split_at(self.ffn);
                for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
                    *o = g / (1.0 + (-g).exp()) * u;
                }
            }
            layer.down.matmul(&activated, m, &mut projected);
            add(&mut x, &projected);
        }
        // Logits only after each sequence's last row.
        let mut lasts = Vec::with_capacity(batch.len() * hidden);
        let mut end = 0;
        for (tokens, cache) in batch.iter_mut() {
            end += tokens.len();
            lasts.extend_from_slice(&x[(end - 1) * hidden..end * hidden]);
            cache.len += tokens.len();
        }
        let mut final_norm = vec![0f32; lasts.len()];
        rms_norm(&lasts, &self.norm, self.eps, &mut final_norm);
        let head = self.head.as_ref().unwrap_or(&self.embedding);
        let vocabulary = head.0.rows;
        let mut logits = vec![0f32; batch.len() * vocabulary];
        head.matmul(&final_norm, batch.len(), &mut logits);
        Ok(logits.chunks(vocabulary).map(<[f32]>::to_vec).collect())
    }

    /// Rotary position embedding, pairs (2i, 2i+1) — GGUF's llama layout.
    fn rotate(&self, head: &mut [f32], position: usize) {
        let half = self.head_dim / 2;
        let cos = &self.cos[position * half..(position + 1) * half];
        let sin = &self.sin[position * half..(position + 1) * half];
        for (i, pair) in head.chunks_exact_mut(2).enumerate() {
            let (a, b) = (pair[0], pair[1]);
            pair[0] = a * cos[i] - b * sin[i];
            pair[1] = a * sin[i] + b * cos[i];
        }
    }
}

fn tensor<R: Read + Seek>(
    content: &Content,
    reader: &mut R,
    name: &str,
) -> anyhow::Result<QTensor> {
    content
        .tensor(reader, name, &Device::Cpu)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

fn floats<R: Read + Seek>(
    content: &Content,
    reader: &mut R,
    name: &str,
) -> anyhow::Result<Vec<f32>> {
    Ok(tensor(content, reader, name)?
        .dequantize(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    for (row, out) in x.chunks(weight.len()).zip(out.chunks_mut(weight.len())) {
        let mean = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
            *o = v * scale * w;
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn softmax(xs: &mut [f32]) {
    let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in xs.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in xs.iter_mut() {
        *x /= sum;
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use candle_core::Tensor;
    use candle_transformers::models::quantized_llama::ModelWeights;

    use super::*;

    /// The requantized SmolLM2 that loading the installed model writes beside it.
    fn model_file() -> Option<std::path::PathBuf> {
        let dir = std::env::var_os("ORRERY_TEST_MODELS_DIR")?;
        let installed = std::path::Path::new(&dir).join("smollm2-135m-instruct/model.gguf");
        let file = installed.with_extension("q8_0.gguf");
        if !file.is_file() && installed.is_file() {
            crate::ChatModel::load(&installed).expect("the installed model loads");
        }
        file.is_file().then_some(file)
    }

    /// Says why a test did not run and records it in `ORRERY_TEST_SKIP_LOG` (tests/run.sh
    /// counts those as skipped, not passed).
    fn skip(name: &str, reason: &str) {
        println!("skipped: {reason}");
        if let Some(log) = std::env::var_os("ORRERY_TEST_SKIP_LOG") {
            use std::io::Write;
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(log)
            {
                let _ = writeln!(file, "{name}");
            }
        }
    }

    fn argmax(xs: &[f32]) -> usize {
        xs.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i)
    }

    /// Same weights, same quantized arithmetic: this forward pass and candle's
    /// `quantized_llama` agree on the logits and on every greedy token.
    #[test]
    fn the_decoder_agrees_with_candles_llama() {
        let Some(file) = model_file() else {
            skip(
                "llama::tests::the_decoder_agrees_with_candles_llama",
                "ORRERY_TEST_MODELS_DIR holds no SmolLM2 (tests/sdk-env.sh installs it)",
            );
            return;
        };
        let bytes = std::fs::read(file).unwrap();
        let mut reader = Cursor::new(bytes);
        let content = Content::read(&mut reader).unwrap();
        let ours = Llama::load(&content, &mut reader).unwrap();
        reader.set_position(0);
        let content = Content::read(&mut reader).unwrap();
        let mut theirs = ModelWeights::from_gguf(content, &mut reader, &Device::Cpu).unwrap();
        // "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
        let prompt: Vec<u32> = vec![
            1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198,
        ];
        let mut cache = ours.cache();
        let mut tokens = prompt.clone();
        let mut fed = 0;
        for _ in 0..12 {
            let mine = ours.forward(&tokens[fed..], &mut cache).unwrap();
            let input = Tensor::new(&tokens[fed..], &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let reference: Vec<f32> = theirs
                .forward(&input, fed)
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec1()
                .unwrap();
            let dot: f32 = mine.iter().zip(&reference).map(|(a, b)| a * b).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            let cosine = dot / (norm(&mine) * norm(&reference));
            // Activations are quantized with f32 scales here, f16 in candle: 0.992–0.9999.
            assert!(
                cosine > 0.99,
                "logits cosine {cosine} at position {}",
                tokens.len()
            );
            assert_eq!(
                argmax(&mine),
                argmax(&reference),
                "at position {}",
                tokens.len()
            );
            fed = tokens.len();
            tokens.push(argmax(&mine) as u32);
        }
    }
}
