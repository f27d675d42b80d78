//! Summaries when the configured model cannot write them (the builtin provider): the
//! sentences carrying most of the conversation's key terms, in their original order. The
//! text says it is extractive.

use crate::providers::builtin_key_terms;

pub const EXTRACTIVE_LABEL: &str = "[extractive summary: no language model is configured]";
const SENTENCES: usize = 4;
/// Who said it, as transcripts write it: not a term of the conversation.
const SPEAKERS: &[&str] = &["User:", "Lumen:"];

fn unlabelled(sentence: &str) -> &str {
    SPEAKERS
        .iter()
        .find_map(|s| sentence.strip_prefix(s))
        .unwrap_or(sentence)
}
const MAX_SENTENCE_CHARS: usize = 300;

fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(['.', '!', '?', '\n'])
        .map(str::trim)
        .filter(|s| s.chars().any(char::is_alphanumeric))
}

fn words(sentence: &str) -> Vec<String> {
    unlabelled(sentence)
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Picks up to four sentences of `parts`: each scores the repeats of the content words it
/// holds (a word said once carries no weight), earlier sentences win ties, and a sentence
/// without a repeated word is left out unless none has one.
pub fn extractive(parts: &[String]) -> String {
    let all: Vec<&str> = parts
        .iter()
        .map(|p| p.strip_prefix(EXTRACTIVE_LABEL).unwrap_or(p).trim())
        .flat_map(sentences)
        .collect();
    let worded: Vec<Vec<String>> = all.iter().map(|s| words(s)).collect();
    let text: Vec<&str> = all.iter().map(|s| unlabelled(s)).collect();
    let vocabulary = builtin_key_terms(&text.join("\n"), 64);
    let frequency = |term: &String| worded.iter().flatten().filter(|w| *w == term).count();
    let weights: Vec<(String, usize)> = vocabulary
        .into_iter()
        .map(|t| {
            let n = frequency(&t);
            (t, n.saturating_sub(1))
        })
        .collect();
    let mut scored: Vec<(usize, usize)> = worded
        .iter()
        .enumerate()
        .map(|(i, words)| {
            let score = weights
                .iter()
                .filter(|(term, _)| words.contains(term))
                .map(|(_, weight)| weight)
                .sum();
            (score, i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let best = scored.first().map_or(0, |s| s.0);
    let mut chosen: Vec<usize> = scored
        .iter()
        .take(SENTENCES)
        .filter(|(score, _)| *score > 0 || best == 0)
        .map(|(_, i)| *i)
        .collect();
    chosen.sort_unstable();
    let picked: Vec<String> = chosen
        .into_iter()
        .map(|i| all[i].chars().take(MAX_SENTENCE_CHARS).collect())
        .collect();
    format!("{EXTRACTIVE_LABEL} {}", picked.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_sentences_with_the_key_terms_in_order_and_says_how_it_was_made() {
        let parts = vec![
            "User: I am building a Rust parser for TOML files.".to_string(),
            "Lumen: Nice weather today.".to_string(),
            "User: The parser fails on nested TOML tables. It panics.".to_string(),
            "Lumen: Nested tables need a recursive parser step.".to_string(),
        ];
        let summary = extractive(&parts);
        assert!(summary.starts_with(EXTRACTIVE_LABEL));
        let rust = summary.find("Rust parser").unwrap();
        let nested = summary.find("fails on nested").unwrap();
        assert!(rust < nested);
        assert!(!summary.contains("weather"));
    }

    #[test]
    fn summarizing_summaries_keeps_one_label() {
        let first = extractive(&["User: deploy the service to staging.".into()]);
        let merged = extractive(&[first, "User: staging deploy failed.".into()]);
        assert_eq!(merged.matches(EXTRACTIVE_LABEL).count(), 1);
    }
}
