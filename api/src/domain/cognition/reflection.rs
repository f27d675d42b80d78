//! Reflection (LUKHAS `/consciousness/reflect`): insights computed from the caller's own
//! recent MATRIZ interactions (their memory folds) — recurring focus terms with the
//! interactions that show them, how often answers drew on stored memories — and, when
//! asked, an emotional assessment of what the caller wrote, from a small lexicon.

use serde_json::Value;

use super::matriz::{Matriz, ReflectionEvent};
use super::round3;
use crate::bus::Event;
use crate::domain::identity::Principal;
use crate::domain::memory::SearchFilters;
use crate::error::{DomainError, DomainResult};

/// Interactions a reflection reads at most (the newest).
const WINDOW: usize = 50;
/// Folds scanned to find them (other episodic memories share the kind).
const SCAN: u64 = 500;
pub const MAX_DEPTH: u32 = 10;
const MAX_TOPIC_CHARS: usize = 200;

pub struct ReflectRequest {
    /// `recent_interactions`, or words an interaction's input must share to count.
    pub topic: String,
    /// Insights at most (1 to 10, default 3).
    pub depth: Option<i64>,
    pub include_emotions: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Insight {
    pub insight: String,
    pub confidence: f64,
    pub evidence: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EmotionalAssessment {
    /// 0 (negative) to 1 (positive); 0.5 when no emotion word was found.
    pub valence: f64,
    pub emotions: Vec<String>,
    pub words_found: usize,
}

#[derive(Clone, Debug)]
pub struct Reflection {
    pub id: String,
    pub interactions_read: usize,
    pub insights: Vec<Insight>,
    pub emotions: Option<EmotionalAssessment>,
}

/// Emotion, whether it is positive, and the words that show it.
const LEXICON: &[(&str, bool, &[&str])] = &[
    (
        "curiosity",
        true,
        &["why", "how", "wonder", "curious", "explain", "interesting"],
    ),
    (
        "satisfaction",
        true,
        &["thanks", "thank", "great", "perfect", "helpful", "works"],
    ),
    (
        "joy",
        true,
        &["love", "happy", "awesome", "wonderful", "excited"],
    ),
    (
        "frustration",
        false,
        &[
            "broken",
            "wrong",
            "frustrated",
            "annoying",
            "useless",
            "again",
        ],
    ),
    (
        "confusion",
        false,
        &["confused", "unclear", "lost", "understand"],
    ),
    (
        "worry",
        false,
        &["worried", "afraid", "anxious", "scared", "nervous"],
    ),
];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

struct Interaction {
    id: String,
    input: String,
    focus: Vec<String>,
    used_memories: bool,
}

fn interaction(data: &str, context: &Value) -> Option<Interaction> {
    if context.get("source")?.as_str()? != "matriz" {
        return None;
    }
    Some(Interaction {
        id: context.get("interaction_id")?.as_str()?.to_string(),
        // The fold is the input, a blank line, then the answer.
        input: data.split("\n\n").next().unwrap_or_default().to_string(),
        focus: context
            .get("focus")
            .and_then(Value::as_array)
            .map(|f| {
                f.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        used_memories: context
            .get("memories_used")
            .and_then(Value::as_array)
            .is_some_and(|m| !m.is_empty()),
    })
}

fn insights(read: &[Interaction], depth: usize) -> Vec<Insight> {
    let n = read.len();
    let mut terms: Vec<(String, Vec<String>)> = Vec::new();
    for i in read {
        for term in &i.focus {
            match terms.iter_mut().find(|(t, _)| t == term) {
                Some((_, ids)) => ids.push(i.id.clone()),
                None => terms.push((term.clone(), vec![i.id.clone()])),
            }
        }
    }
    // Most interactions first; the newest mention breaks ties (the list is newest first).
    terms.sort_by_key(|(_, ids)| std::cmp::Reverse(ids.len()));
    let mut found: Vec<Insight> = terms
        .into_iter()
        .filter(|(_, ids)| ids.len() >= 2)
        .map(|(term, ids)| Insight {
            insight: format!(
                "Recurring interest in \"{term}\" ({} of {n} interactions)",
                ids.len()
            ),
            confidence: round3(ids.len() as f64 / n as f64),
            evidence: ids,
        })
        .collect();
    let with_memories: Vec<String> = read
        .iter()
        .filter(|i| i.used_memories)
        .map(|i| i.id.clone())
        .collect();
    if !with_memories.is_empty() {
        found.push(Insight {
            insight: format!(
                "Answers drew on stored memories in {} of {n} interactions",
                with_memories.len()
            ),
            confidence: round3(with_memories.len() as f64 / n as f64),
            evidence: with_memories,
        });
    }
    found.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    found.truncate(depth);
    found
}

pub fn emotions(texts: &[&str]) -> EmotionalAssessment {
    let said: Vec<String> = texts.iter().flat_map(|t| words(t)).collect();
    let mut counts: Vec<(&str, bool, usize)> = LEXICON
        .iter()
        .map(|(name, positive, cues)| {
            let n = said.iter().filter(|w| cues.contains(&w.as_str())).count();
            (*name, *positive, n)
        })
        .filter(|(_, _, n)| *n > 0)
        .collect();
    counts.sort_by_key(|c| std::cmp::Reverse(c.2));
    let positive: usize = counts.iter().filter(|c| c.1).map(|c| c.2).sum();
    let negative: usize = counts.iter().filter(|c| !c.1).map(|c| c.2).sum();
    let total = positive + negative;
    EmotionalAssessment {
        valence: if total == 0 {
            0.5
        } else {
            round3((1.0 + (positive as f64 - negative as f64) / total as f64) / 2.0)
        },
        emotions: counts.iter().map(|c| c.0.to_string()).collect(),
        words_found: total,
    }
}

impl Matriz {
    /// Reflects on the caller's newest interactions (at most 50).
    pub async fn reflect(
        &self,
        principal: &Principal,
        request: ReflectRequest,
    ) -> DomainResult<Reflection> {
        let depth = request.depth.unwrap_or(3);
        if !(1..=i64::from(MAX_DEPTH)).contains(&depth) {
            return Err(DomainError::invalid(
                "depth",
                format!("depth must be 1 to {MAX_DEPTH}"),
            ));
        }
        let topic = request.topic.trim().to_lowercase();
        if topic.is_empty() || topic.chars().count() > MAX_TOPIC_CHARS || topic.contains('\0') {
            return Err(DomainError::invalid(
                "topic",
                format!("topic must be 1 to {MAX_TOPIC_CHARS} characters"),
            ));
        }
        let filters = SearchFilters {
            kinds: vec!["episodic".into()],
            ..Default::default()
        };
        let (folds, _) = self.memory.list(principal, &filters, SCAN, 0).await?;
        let topic_words: Vec<String> = words(&topic);
        let read: Vec<Interaction> = folds
            .iter()
            .filter_map(|m| interaction(&m.data, &m.context))
            .filter(|i| {
                topic == "recent_interactions"
                    || words(&i.input).iter().any(|w| topic_words.contains(w))
            })
            .take(WINDOW)
            .collect();
        let texts: Vec<&str> = read.iter().map(|i| i.input.as_str()).collect();
        let reflection = Reflection {
            id: format!("ref_{}", ulid::Ulid::new().to_string().to_lowercase()),
            interactions_read: read.len(),
            insights: insights(&read, depth as usize),
            emotions: request.include_emotions.then(|| emotions(&texts)),
        };
        self.publish(Event::Reflection(Box::new(ReflectionEvent {
            owner: principal.actor()?.user_id.clone(),
            reflection_id: reflection.id.clone(),
            topic,
            insights: reflection.insights.len(),
            interactions_read: reflection.interactions_read,
            valence: reflection.emotions.as_ref().map(|e| e.valence),
            at: chrono::Utc::now(),
        })));
        Ok(reflection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: &str, focus: &[&str], used: bool) -> Interaction {
        Interaction {
            id: id.into(),
            input: String::new(),
            focus: focus.iter().map(|f| f.to_string()).collect(),
            used_memories: used,
        }
    }

    #[test]
    fn recurring_focus_and_memory_use_with_their_evidence() {
        let read = vec![
            seen("i3", &["quantum", "spin"], true),
            seen("i2", &["quantum", "photons"], false),
            seen("i1", &["gardening"], true),
        ];
        let found = insights(&read, 3);
        assert_eq!(
            found[0].insight,
            "Recurring interest in \"quantum\" (2 of 3 interactions)"
        );
        assert_eq!(found[0].evidence, ["i3", "i2"]);
        assert!((found[0].confidence - 0.667).abs() < 1e-9);
        assert_eq!(found[1].evidence, ["i3", "i1"]);
        assert_eq!(insights(&read, 1).len(), 1);
    }

    #[test]
    fn valence_from_the_lexicon() {
        let neutral = emotions(&["Plan a picnic"]);
        assert_eq!((neutral.valence, neutral.words_found), (0.5, 0));
        let mixed = emotions(&[
            "Why is the sky blue? Thanks, great answer",
            "This is broken again",
        ]);
        // why, thanks, great against broken, again: (1 + 1/5) / 2.
        assert!((mixed.valence - 0.6).abs() < 1e-9, "{mixed:?}");
        assert_eq!(mixed.emotions[0], "satisfaction");
    }
}
