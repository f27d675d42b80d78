//! A llama-architecture instruct model from a GGUF file (SmolLM2 by default), run by candle on
//! the CPU. Synchronous on purpose: the caller owns the compute threads and calls
//! [`Sequence::step`] one token at a time, so many streams can share the cores fairly and a
//! dropped stream stops after at most one token.

use std::collections::HashSet;
use std::io::{Cursor, Seek};
use std::path::Path;
use std::sync::Arc;

use candle_core::quantized::tokenizer::TokenizerFromGguf;
use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::Device;

use crate::llama::{Cache, Llama};
use crate::sampler::Sampler;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::Tokenizer;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its answer, or a stop string came.
    Stop,
    /// `max_tokens` or the context ran out.
    Length,
}

/// Repetition penalty over the last tokens, as llama.cpp applies by default: without it a
/// 135M model loops on its own phrases.
const REPEAT_PENALTY: f32 = 1.1;
const REPEAT_WINDOW: usize = 64;

pub struct ChatModel {
    model: Arc<Llama>,
    tokenizer: Tokenizer,
    im_start: u32,
    im_end: u32,
    /// Tokens that end an answer (`<|im_end|>`, `<|endoftext|>`).
    end_tokens: HashSet<u32>,
    newline: Vec<u32>,
    /// The system turn the model was trained to see when a conversation has none.
    default_system: String,
    /// Each token's bytes, for streaming text out a character at a time.
    token_bytes: Arc<Vec<Vec<u8>>>,
}

impl ChatModel {
    /// Loads `path`. Weights in a format candle has no fast CPU kernel for (Q4_1 and other
    /// legacy 4/5-bit types) are requantized to Q8_0 once and kept beside the file as
    /// `<stem>.q8_0.gguf`: about three times faster to decode, at twice the memory.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let cached = path.with_extension("q8_0.gguf");
        let source = if cached.is_file() { &cached } else { path };
        let bytes =
            std::fs::read(source).map_err(|e| anyhow::anyhow!("{}: {e}", source.display()))?;
        let mut reader = Cursor::new(bytes);
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| anyhow::anyhow!("{}: not a GGUF model ({e})", source.display()))?;
        let (content, mut reader) = if needs_requantizing(&content) {
            let requantized = requantize(&content, &mut reader)?;
            if let Err(e) = write_atomically(&cached, &requantized) {
                tracing::warn!(file = %cached.display(), error = %e, "could not keep the requantized model; it will be requantized again at the next start");
            }
            let mut reader = Cursor::new(requantized);
            let content = gguf_file::Content::read(&mut reader)?;
            (content, reader)
        } else {
            (content, reader)
        };
        let tokenizer = tokenizer_of(&content)?;
        let default_system = content
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .and_then(|template| template_system_prompt(template))
            .unwrap_or_else(|| "You are a helpful AI assistant.".to_string());
        let model = Arc::new(
            Llama::load(&content, &mut reader)
                .map_err(|e| anyhow::anyhow!("{}: {e:#}", source.display()))?,
        );
        let id = |token: &str| {
            tokenizer.token_to_id(token).ok_or_else(|| {
                anyhow::anyhow!("the model's vocabulary has no {token}: not a ChatML model")
            })
        };
        let im_start = id("<|im_start|>")?;
        let im_end = id("<|im_end|>")?;
        let mut end_tokens = HashSet::from([im_end]);
        if let Some(eot) = tokenizer.token_to_id("<|endoftext|>") {
            end_tokens.insert(eot);
        }
        let newline = encode(&tokenizer, "\n")?;
        let token_bytes = Arc::new(token_bytes(&tokenizer));
        Ok(Self {
            model,
            tokenizer,
            im_start,
            im_end,
            end_tokens,
            newline,
            default_system,
            token_bytes,
        })
    }

    /// The ChatML prompt of the conversation, ending with the assistant's turn opened. Role markers
    /// are inserted as token ids and message text is encoded without special-token parsing,
    /// so a message that contains `<|im_start|>` cannot forge a turn.
    pub fn prompt(&self, turns: &[(Role, &str)]) -> anyhow::Result<Vec<u32>> {
        let mut ids = Vec::new();
        let has_system = turns.iter().any(|(role, _)| *role == Role::System);
        let default_system = (Role::System, self.default_system.as_str());
        let all = (!has_system)
            .then_some(&default_system)
            .into_iter()
            .chain(turns);
        for (role, content) in all {
            let role = match role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            ids.push(self.im_start);
            ids.extend(encode(&self.tokenizer, &format!("{role}\n{content}"))?);
            ids.push(self.im_end);
            ids.extend(&self.newline);
        }
        ids.push(self.im_start);
        ids.extend(encode(&self.tokenizer, "assistant\n")?);
        Ok(ids)
    }

    /// Tokens the model reads at most, prompt and answer together.
    pub fn context(&self) -> usize {
        self.model.context
    }

    /// A generation of `max_tokens` at most from `prompt` with its own cache; cheap (the
    /// weights are shared).
    pub fn sequence(&self, prompt: Vec<u32>, sampling: SamplingOptions) -> Sequence {
        Sequence {
            cache: self.model.cache(),
            model: self.model.clone(),
            end_tokens: self.end_tokens.clone(),
            sampler: Sampler::new(sampling.temperature, sampling.top_p, sampling.seed),
            prompt_len: prompt.len(),
            tokens: prompt,
            fed: 0,
            generated: 0,
            max_tokens: sampling.max_tokens,
            stop: sampling.stop,
            text: String::new(),
            emitted: 0,
            pending_bytes: Vec::new(),
            token_bytes: self.token_bytes.clone(),
        }
    }
}

pub struct SamplingOptions {
    /// `None` or 0: greedy.
    pub temperature: Option<f64>,
    pub top_p: f64,
    pub seed: u64,
    pub max_tokens: usize,
    pub stop: Vec<String>,
}

/// What one step produced.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// New text (possibly empty while a multi-byte character or a possible stop sequence is
    /// incomplete).
    Text(String),
    /// The end, with the text not yet handed out.
    Done { tail: String, reason: Finish },
}

pub struct Sequence {
    model: Arc<Llama>,
    cache: Cache,
    end_tokens: HashSet<u32>,
    sampler: Sampler,
    prompt_len: usize,
    tokens: Vec<u32>,
    /// How many of `tokens` the model has seen (its cache position).
    fed: usize,
    generated: usize,
    max_tokens: usize,
    stop: Vec<String>,
    /// Generated text so far and how much of it went out.
    text: String,
    emitted: usize,
    /// Bytes of a character whose last byte has not been generated yet.
    pending_bytes: Vec<u8>,
    token_bytes: Arc<Vec<Vec<u8>>>,
}

impl Sequence {
    pub fn prompt_tokens(&self) -> usize {
        self.prompt_len
    }

    pub fn generated_tokens(&self) -> usize {
        self.generated
    }

    /// Feeds what the model has not seen (the whole prompt at first, then the last token),
    /// samples one token and returns the text it adds.
    pub fn step(&mut self) -> anyhow::Result<Step> {
        step_all(&mut [self])
            .pop()
            .expect("one step for one sequence")
    }

    /// Samples the next token from the logits of the last forward pass.
    fn after_forward(&mut self, logits: Vec<f32>) -> anyhow::Result<Step> {
        let mut logits = logits;
        self.fed = self.tokens.len();
        let window_start = self
            .tokens
            .len()
            .saturating_sub(REPEAT_WINDOW)
            .max(self.prompt_len);
        Sampler::penalize(&mut logits, REPEAT_PENALTY, &self.tokens[window_start..]);
        let next = self.sampler.sample(&logits);
        if self.end_tokens.contains(&next) {
            return Ok(self.finish(Finish::Stop));
        }
        self.tokens.push(next);
        self.generated += 1;
        self.append_decoded(next);
        if let Some(at) = stop_position(&self.text, self.emitted, &self.stop) {
            self.text.truncate(at);
            return Ok(self.finish(Finish::Stop));
        }
        if self.tokens.len() >= self.model.context {
            return Ok(self.finish(Finish::Length));
        }
        let safe = self.text.len() - held_back(&self.text, self.emitted, &self.stop);
        let out = self.text[self.emitted..safe].to_string();
        self.emitted = safe;
        Ok(Step::Text(out))
    }

    fn finish(&mut self, reason: Finish) -> Step {
        let tail = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        Step::Done { tail, reason }
    }

    /// Appends the new token's bytes and moves every complete character into the text:
    /// byte-level BPE splits UTF-8 sequences across tokens.
    fn append_decoded(&mut self, token: u32) {
        if let Some(bytes) = self.token_bytes.get(token as usize) {
            self.pending_bytes.extend_from_slice(bytes);
        }
        loop {
            match std::str::from_utf8(&self.pending_bytes) {
                Ok(valid) => {
                    self.text.push_str(valid);
                    self.pending_bytes.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    self.text
                        .push_str(std::str::from_utf8(&self.pending_bytes[..valid]).unwrap_or(""));
                    match e.error_len() {
                        // Incomplete: the next token finishes the character.
                        None => {
                            self.pending_bytes.drain(..valid);
                            return;
                        }
                        // Bytes no character starts with: the model produced garbage there.
                        Some(bad) => {
                            self.text.push('\u{FFFD}');
                            self.pending_bytes.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }
}

/// One token for each sequence: the sequences of one model go through one batched forward
/// pass (a new prompt's prefill alongside the others' single tokens), so concurrent streams
/// share each read of the weights.
pub fn step_all(sequences: &mut [&mut Sequence]) -> Vec<anyhow::Result<Step>> {
    let mut results: Vec<Option<anyhow::Result<Step>>> = sequences.iter().map(|_| None).collect();
    let mut running: Vec<usize> = Vec::new();
    for (i, sequence) in sequences.iter_mut().enumerate() {
        if sequence.generated >= sequence.max_tokens {
            results[i] = Some(Ok(sequence.finish(Finish::Length)));
        } else {
            running.push(i);
        }
    }
    while !running.is_empty() {
        let model = sequences[running[0]].model.clone();
        let (same, rest): (Vec<usize>, Vec<usize>) = running
            .iter()
            .partition(|&&i| Arc::ptr_eq(&sequences[i].model, &model));
        running = rest;
        let mut caches: Vec<(Vec<u32>, Cache)> = same
            .iter()
            .map(|&i| {
                let sequence = &mut *sequences[i];
                let cache = std::mem::replace(&mut sequence.cache, Cache::empty());
                (sequence.tokens[sequence.fed..].to_vec(), cache)
            })
            .collect();
        let mut batch: Vec<(&[u32], &mut Cache)> = caches
            .iter_mut()
            .map(|(tokens, cache)| (tokens.as_slice(), cache))
            .collect();
        let outcome = model.forward_many(&mut batch);
        for (&i, (_, cache)) in same.iter().zip(caches) {
            sequences[i].cache = cache;
        }
        match outcome {
            Ok(all_logits) => {
                for (&i, logits) in same.iter().zip(all_logits) {
                    results[i] = Some(sequences[i].after_forward(logits));
                }
            }
            Err(err) => {
                for &i in &same {
                    results[i] = Some(Err(anyhow::anyhow!("{err:#}")));
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("not stepped"))))
        .collect()
}

/// Where the first stop string begins in `text`, looking only where one could complete
/// after `emitted` bytes went out.
fn stop_position(text: &str, emitted: usize, stops: &[String]) -> Option<usize> {
    let longest = stops.iter().map(String::len).max().unwrap_or(0);
    let mut from = emitted.saturating_sub(longest);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    stops
        .iter()
        .filter_map(|s| text[from..].find(s.as_str()).map(|i| from + i))
        .min()
}

/// Bytes at the end of the text not yet out that could be the start of a stop string: held
/// back until the next token decides.
fn held_back(text: &str, emitted: usize, stops: &[String]) -> usize {
    let pending = &text[emitted..];
    stops
        .iter()
        .filter_map(|s| {
            (1..s.len().min(pending.len() + 1))
                .rev()
                .find(|&n| s.is_char_boundary(n) && pending.ends_with(&s[..n]))
        })
        .max()
        .unwrap_or(0)
}

/// GPT-2's byte-level BPE writes byte `b` as one printable character; this undoes it.
fn token_bytes(tokenizer: &Tokenizer) -> Vec<Vec<u8>> {
    let mut printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~'))
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut char_to_byte = std::collections::HashMap::new();
    for &b in &printable {
        char_to_byte.insert(char::from_u32(b).unwrap_or('\0'), b as u8);
    }
    let mut shifted = 0;
    for b in 0..=255u32 {
        if !printable.contains(&b) {
            printable.push(b);
            char_to_byte.insert(char::from_u32(256 + shifted).unwrap_or('\0'), b as u8);
            shifted += 1;
        }
    }
    let size = tokenizer.get_vocab_size(true);
    (0..size as u32)
        .map(|id| {
            let token = tokenizer.id_to_token(id).unwrap_or_default();
            token
                .chars()
                .flat_map(|c| match char_to_byte.get(&c) {
                    Some(&b) => vec![b],
                    None => c.to_string().into_bytes(),
                })
                .collect()
        })
        .collect()
}

fn encode(tokenizer: &Tokenizer, text: &str) -> anyhow::Result<Vec<u32>> {
    Ok(tokenizer
        .encode_fast(text, false)
        .map_err(anyhow::Error::msg)?
        .get_ids()
        .to_vec())
}

/// The tokenizer from the GGUF metadata (SmolLM2 ships no `tokenizer.json`). candle builds
/// the byte-level BPE; SmolLM's pre-tokenizer also splits digits one by one (its
/// `tokenizer.json` and llama.cpp's `smollm` pre-type do), which candle's fallback does not.
fn tokenizer_of(content: &gguf_file::Content) -> anyhow::Result<Tokenizer> {
    let mut tokenizer = Tokenizer::from_gguf(content).map_err(anyhow::Error::msg)?;
    let pre = content
        .metadata
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .map(String::as_str);
    if pre == Some("smollm") {
        tokenizer.with_pre_tokenizer(Some(PreSequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])));
    }
    Ok(tokenizer)
}

/// The default system prompt a ChatML template writes when a conversation has none
/// (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging Face").
fn template_system_prompt(template: &str) -> Option<String> {
    let start = template.find("<|im_start|>system\n")? + "<|im_start|>system\n".len();
    let end = template[start..].find("<|im_end|>")? + start;
    let prompt = &template[start..end];
    // A literal prompt, not an expression that builds one.
    let templated = ["{{", "{%", "' +", "+ '"]
        .iter()
        .any(|t| prompt.contains(t));
    (!templated).then(|| prompt.to_string())
}

fn needs_requantizing(content: &gguf_file::Content) -> bool {
    content
        .tensor_infos
        .values()
        .any(|t| slow_on_cpu(t.ggml_dtype))
}

fn slow_on_cpu(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

fn requantize<R: std::io::Read + Seek>(
    content: &gguf_file::Content,
    reader: &mut R,
) -> anyhow::Result<Vec<u8>> {
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let tensor = content.tensor(reader, name, &Device::Cpu)?;
        let tensor = if slow_on_cpu(tensor.dtype()) {
            QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?
        } else {
            tensor
        };
        tensors.push((name.as_str(), tensor));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &metadata, &tensor_refs)?;
    Ok(out.into_inner())
}

/// Writes through a file of this writer's own, then renames: servers starting at once on
/// one model directory each write the cache, and none may see another's half-written file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let partial = path.with_extension(format!("partial-{}-{unique}", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_stop_string_is_found_across_what_went_out() {
        let s = stops(&["\n\nUser:"]);
        assert_eq!(stop_position("answer\n\nUser: hi", 8, &s), Some(6));
        assert_eq!(stop_position("answer\n\nUse", 8, &s), None);
        assert_eq!(stop_position("no stops here", 0, &[]), None);
    }

    #[test]
    fn a_possible_stop_prefix_is_held_back() {
        let s = stops(&["END", "éx"]);
        assert_eq!(held_back("the EN", 0, &s), 2);
        assert_eq!(held_back("the E", 0, &s), 1);
        assert_eq!(held_back("the X", 0, &s), 0);
        assert_eq!(held_back("café", 0, &s), "é".len());
        assert_eq!(held_back("abc", 3, &s), 0);
    }

    #[test]
    fn the_default_system_prompt_comes_from_the_template() {
        let template =
            "{% if x %}{{ '<|im_start|>system\nYou are SmolLM<|im_end|>\n' }}{% endif %}";
        assert_eq!(
            template_system_prompt(template).as_deref(),
            Some("You are SmolLM")
        );
        assert_eq!(
            template_system_prompt("{{ '<|im_start|>system\n' + m + '<|im_end|>' }}"),
            None
        );
    }
}
