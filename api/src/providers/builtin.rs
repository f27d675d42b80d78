//! The builtin provider: deterministic, offline and instant. It never pretends to
//! understand — replies are templates built from the input and say so, structured output is
//! the simplest value the schema allows, and embeddings are feature hashes (texts sharing
//! words and word pieces land near each other; paraphrases with other words do not).

use async_trait::async_trait;
use futures::{stream, StreamExt};

use super::{
    ChatMessage, ChatRole, Embedder, Embeddings, FinishReason, GenerationOptions, LanguageModel,
    StreamItem, TokenStream, Usage,
};
use crate::error::DomainResult;

pub const MODEL: &str = "builtin";

pub struct Builtin {
    pub dimensions: usize,
    /// A pause before each streamed piece, so demos and benchmarks see a model's pace
    /// (0: everything at once).
    pub piece_delay: std::time::Duration,
}

/// Words, numbers and single punctuation marks: the builtin's own tokens (what its usage
/// counts).
pub fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() || c == '_' {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            out.push(&text[s..i]);
        }
        if !c.is_whitespace() {
            out.push(&text[i..i + c.len_utf8()]);
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

const STOPWORDS: &[&str] = &[
    "a", "about", "all", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in",
    "into", "is", "it", "its", "just", "me", "more", "my", "no", "not", "of", "on", "one", "or",
    "our", "out", "please", "should", "so", "some", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "to", "up", "us", "very", "was", "we", "were",
    "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// The most frequent content words of `text`, first occurrence breaking ties.
pub fn key_terms(text: &str, n: usize) -> Vec<String> {
    let mut counts: Vec<(String, usize, usize)> = Vec::new();
    for (position, token) in tokens(text).into_iter().enumerate() {
        let word = token.to_lowercase();
        if word.chars().count() < 3 || !word.chars().any(char::is_alphabetic) {
            continue;
        }
        if STOPWORDS.contains(&word.as_str()) {
            continue;
        }
        match counts.iter_mut().find(|(w, _, _)| *w == word) {
            Some(entry) => entry.1 += 1,
            None => counts.push((word, 1, position)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    counts.into_iter().take(n).map(|(w, _, _)| w).collect()
}

fn reply(messages: &[ChatMessage], options: &GenerationOptions) -> String {
    let last = messages
        .iter()
        .rev()
        .find(|m| m.role == ChatRole::User)
        .map_or("", |m| m.content.as_str());
    if let Some(format) = &options.json_schema {
        let value = super::structured::minimal_instance(&format.schema, &key_terms(last, 8));
        return value.to_string();
    }
    let terms = key_terms(last, 5);
    if options.json_object {
        return serde_json::json!({
            "model": MODEL,
            "note": "templated by the builtin provider; no language model is configured",
            "key_terms": terms,
        })
        .to_string();
    }
    let words = tokens(last)
        .iter()
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .count();
    let terms = if terms.is_empty() {
        "none".to_string()
    } else {
        terms.join(", ")
    };
    format!(
        "[builtin] No language model is configured, so this reply is a template, not an answer. \
         Your message has {words} words; its key terms: {terms}."
    )
}

/// Splits a reply into stream pieces (a token with the whitespace before it) and applies
/// `max_tokens` and the stop sequences.
fn pieces(text: &str, options: &GenerationOptions) -> (Vec<String>, FinishReason) {
    let (text, mut reason) = match options
        .stop
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
    {
        Some(cut) => (&text[..cut], FinishReason::Stop),
        None => (text, FinishReason::Stop),
    };
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    for token in tokens(text) {
        if options
            .max_tokens
            .is_some_and(|max| out.len() as u32 >= max)
        {
            reason = FinishReason::Length;
            break;
        }
        let at = rest.find(token).unwrap_or(0) + token.len();
        out.push(rest[..at].to_string());
        rest = &rest[at..];
    }
    (out, reason)
}

#[async_trait]
impl LanguageModel for Builtin {
    fn models(&self) -> Vec<String> {
        vec![MODEL.into()]
    }

    async fn stream(
        &self,
        _model: &str,
        messages: &[ChatMessage],
        options: &GenerationOptions,
    ) -> DomainResult<TokenStream> {
        let input_tokens = messages
            .iter()
            .map(|m| tokens(&m.content).len())
            .sum::<usize>();
        let (pieces, reason) = pieces(&reply(messages, options), options);
        let usage = Usage {
            input_tokens: input_tokens as u32,
            output_tokens: pieces.len() as u32,
        };
        let items = pieces
            .into_iter()
            .map(StreamItem::Delta)
            .chain(std::iter::once(StreamItem::Finished {
                reason,
                usage: Some(usage),
            }))
            .map(Ok);
        if self.piece_delay.is_zero() {
            return Ok(Box::pin(stream::iter(items)));
        }
        let delay = self.piece_delay;
        Ok(Box::pin(stream::iter(items).then(move |item| async move {
            tokio::time::sleep(delay).await;
            item
        })))
    }
}

/// FNV-1a: stable across builds and platforms, so stored vectors stay comparable.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Signed feature hashing of words (1.0), word pairs (0.5) and character trigrams of each
/// word (0.25), L2-normalised. Identifiers are split into their sub-words too.
pub fn hash_embedding(text: &str, dimensions: usize) -> Vec<f32> {
    let mut vector = vec![0f32; dimensions];
    let mut add = |feature: &str, weight: f32| {
        let hash = fnv1a(feature.as_bytes());
        let index = (hash % dimensions as u64) as usize;
        let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
        vector[index] += sign * weight;
    };
    let words: Vec<String> = tokens(text)
        .into_iter()
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .flat_map(|t| {
            let whole = t.to_lowercase();
            let mut parts = crate::domain::search::terms::sub_words(t);
            if parts.len() > 1 {
                parts.push(whole);
            } else {
                parts = vec![whole];
            }
            parts
        })
        .collect();
    for (i, word) in words.iter().enumerate() {
        add(&format!("w:{word}"), 1.0);
        if let Some(next) = words.get(i + 1) {
            add(&format!("b:{word} {next}"), 0.5);
        }
        let padded: Vec<char> = format!("<{word}>").chars().collect();
        for gram in padded.windows(3) {
            add(&format!("c:{}", gram.iter().collect::<String>()), 0.25);
        }
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

#[async_trait]
impl Embedder for Builtin {
    fn models(&self) -> Vec<String> {
        vec![MODEL.into()]
    }

    async fn embed(&self, _model: &str, texts: &[String]) -> DomainResult<Embeddings> {
        Ok(Embeddings {
            vectors: texts
                .iter()
                .map(|t| hash_embedding(t, self.dimensions))
                .collect(),
            input_tokens: Some(texts.iter().map(|t| tokens(t).len() as u32).sum()),
        })
    }
}

#[async_trait]
impl super::Probe for Builtin {
    /// Embeds a sentence and checks the vector is unit length.
    async fn probe(&self) -> DomainResult<()> {
        let vector = hash_embedding("health check of the builtin provider", self.dimensions);
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if (norm - 1.0).abs() < 1e-3 {
            Ok(())
        } else {
            Err(crate::error::DomainError::Internal(format!(
                "builtin embedding norm {norm}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn similar_texts_embed_closer_than_unrelated_ones() {
        let a = hash_embedding("the ledger verifies its hash chain", 384);
        let b = hash_embedding("verify the ledger hash chain", 384);
        let c = hash_embedding("bananas are yellow fruit", 384);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        assert!(cosine(&a, &b) > 0.5, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c) < 0.2, "{}", cosine(&a, &c));
        // Identifiers match their sub-words.
        let id = hash_embedding("verifyToken", 384);
        let words = hash_embedding("verify token", 384);
        assert!(cosine(&id, &words) > 0.5, "{}", cosine(&id, &words));
    }

    #[tokio::test]
    async fn max_tokens_and_stop_are_honoured_and_usage_counted() {
        let model = Builtin {
            dimensions: 8,
            piece_delay: Default::default(),
        };
        let messages = [ChatMessage::new(
            ChatRole::User,
            "Explain hash chains briefly",
        )];
        let options = GenerationOptions {
            max_tokens: Some(3),
            ..Default::default()
        };
        let items: Vec<_> = model
            .stream(MODEL, &messages, &options)
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(items.len(), 4);
        assert_eq!(
            items[3].as_ref().unwrap(),
            &StreamItem::Finished {
                reason: FinishReason::Length,
                usage: Some(Usage {
                    input_tokens: 4,
                    output_tokens: 3
                })
            }
        );
        let options = GenerationOptions {
            stop: vec!["template".into()],
            ..Default::default()
        };
        let done = super::super::collect(model.stream(MODEL, &messages, &options).await.unwrap())
            .await
            .unwrap();
        assert!(done.text.ends_with("reply is a"), "{}", done.text);
        assert_eq!(done.reason, FinishReason::Stop);
    }
}
