//! Query analysis (LUKHAS `/reasoning/analyze`): reasoning steps for a question, each with
//! its conclusions, and what makes them uncertain. A model that writes structured output is
//! asked for the steps; one that writes prose is asked for a numbered list, read line by
//! line; with neither (the builtin provider, or an answer with no steps) the question is
//! decomposed — its key terms, its parts, what the caller's memories say about it — and the
//! response says that is what it is. Definitions in docs/DECISIONS.md ("Query analysis").

use serde_json::{json, Value};

use super::matriz::Matriz;
use super::round3;
use crate::domain::identity::{Principal, Scope};
use crate::domain::memory::SearchFilters;
use crate::error::{DomainError, DomainResult};
use crate::providers::{
    builtin_key_terms, ChatMessage, ChatRole, FinishReason, GenerationOptions, JsonSchemaFormat,
};

pub const MAX_QUERY_CHARS: usize = 4_000;
/// The rate-limit budget analyses are charged to, whichever transport asks
/// (`rate_limit.reasoning`, 60 a minute).
pub const BUDGET: &str = "lukhas-reasoning";
const MAX_TYPE_CHARS: usize = 50;
const MAX_STEPS: usize = 8;
const MAX_CONCLUSIONS: usize = 6;
const MEMORIES: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    Shallow,
    Moderate,
    Deep,
}

impl Depth {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "shallow" => Some(Self::Shallow),
            "moderate" => Some(Self::Moderate),
            "deep" => Some(Self::Deep),
            _ => None,
        }
    }

    /// How many steps the analysis takes at most.
    fn steps(self) -> usize {
        match self {
            Self::Shallow => 2,
            Self::Moderate => 4,
            Self::Deep => MAX_STEPS,
        }
    }
}

pub struct AnalysisRequest {
    pub query: String,
    /// `hypothetical`, `deductive`, … (free text, the mode the model reasons in).
    pub reasoning_type: Option<String>,
    pub depth: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The model's structured steps.
    Model,
    /// The model's numbered list, one step a line.
    ModelList,
    /// No model reasoned: the question's terms, parts and the caller's memories.
    Decomposition,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::ModelList => "model_list",
            Self::Decomposition => "decomposition",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub description: String,
    pub conclusions: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Analysis {
    pub id: String,
    pub query_type: String,
    pub steps: Vec<Step>,
    pub confidence: f64,
    pub uncertainty: Vec<String>,
    pub method: Method,
    pub provider: String,
    pub model: String,
    pub memories_used: Vec<String>,
}

/// What kind of question it is, from its wording (and the reasoning type asked for).
pub fn query_type(query: &str, reasoning_type: Option<&str>) -> &'static str {
    let q = format!(" {} ", query.to_lowercase());
    let has = |words: &[&str]| words.iter().any(|w| q.contains(w));
    if has(&[" what if ", " would ", " were ", " if "]) || reasoning_type == Some("hypothetical") {
        "counterfactual"
    } else if has(&[
        " compare ",
        " versus ",
        " vs ",
        " better than ",
        " difference between ",
    ]) {
        "comparative"
    } else if has(&[" why ", " cause ", " causes ", " because "]) {
        "causal_explanation"
    } else if has(&[" how do ", " how does ", " how to ", " how can ", " steps "]) {
        "procedural"
    } else if has(&[" what is ", " what are ", " define ", " meaning of "]) {
        "definitional"
    } else if has(&[" should ", " best ", " recommend "]) {
        "evaluative"
    } else {
        "open_question"
    }
}

/// The question's parts: split at sentence ends and at the words that join clauses.
pub fn parts(query: &str) -> Vec<String> {
    const JOINS: [&str; 6] = ["and", "but", "then", "because", "so", "if"];
    let mut parts = Vec::new();
    for sentence in query.split(['?', '.', ';', '!']) {
        let mut current: Vec<&str> = Vec::new();
        for word in sentence.split_whitespace() {
            let bare = word
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            if JOINS.contains(&bare.as_str()) && !current.is_empty() {
                parts.push(current.join(" "));
                current.clear();
            }
            current.push(word.trim_end_matches(','));
        }
        if !current.is_empty() {
            parts.push(current.join(" "));
        }
    }
    parts.retain(|p| !builtin_key_terms(p, 1).is_empty());
    parts.truncate(MAX_CONCLUSIONS);
    parts
}

/// The numbered lines of a model's prose (`1. …`, `2) …`), as steps.
pub fn numbered_steps(text: &str) -> Vec<Step> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let digits = line.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let rest = line[digits..].strip_prefix(['.', ')'])?.trim();
            let rest = rest.trim_start_matches("**").trim();
            (!rest.is_empty()).then(|| Step {
                description: rest.chars().take(300).collect(),
                conclusions: builtin_key_terms(rest, 3),
            })
        })
        .take(MAX_STEPS)
        .collect()
}

/// The share of `terms` that `text` mentions (1 when there are none).
fn coverage(terms: &[String], text: &str) -> f64 {
    if terms.is_empty() {
        return 1.0;
    }
    let said = text.to_lowercase();
    terms.iter().filter(|t| said.contains(t.as_str())).count() as f64 / terms.len() as f64
}

fn model_schema(steps: usize) -> Value {
    json!({
        "type": "object",
        "properties": {
            "query_type": {"type": "string"},
            "reasoning_steps": {
                "type": "array", "minItems": 1, "maxItems": steps,
                "items": {
                    "type": "object",
                    "properties": {
                        "description": {"type": "string"},
                        "conclusions": {"type": "array", "items": {"type": "string"}}
                    },
                    "required": ["description", "conclusions"]
                }
            },
            "uncertainty_factors": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["query_type", "reasoning_steps", "uncertainty_factors"]
    })
}

struct Recalled {
    id: String,
    relevance: f64,
    data: String,
}

fn checked(request: &AnalysisRequest) -> DomainResult<(Depth, Option<String>)> {
    let chars = request.query.chars().count();
    if request.query.trim().is_empty() || chars > MAX_QUERY_CHARS || request.query.contains('\0') {
        return Err(DomainError::invalid(
            "query",
            format!("query must be 1 to {MAX_QUERY_CHARS} characters without NUL"),
        ));
    }
    let depth = match request.depth.as_deref() {
        None => Depth::Moderate,
        Some(text) => Depth::parse(text)
            .ok_or_else(|| DomainError::invalid("depth", "depth is shallow, moderate or deep"))?,
    };
    let kind = match request.reasoning_type.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(kind)
            if kind.chars().count() <= MAX_TYPE_CHARS
                && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ') =>
        {
            Some(kind.to_lowercase())
        }
        Some(_) => {
            return Err(DomainError::invalid(
                "reasoning_type",
                format!("reasoning_type is a word or two (at most {MAX_TYPE_CHARS} letters, digits, spaces or _)"),
            ))
        }
    };
    Ok((depth, kind))
}

impl Matriz {
    /// Reasoning steps for `request.query` (needs `memory:read`: the caller's memories are
    /// part of the analysis).
    pub async fn analyze(
        &self,
        principal: &Principal,
        request: AnalysisRequest,
    ) -> DomainResult<Analysis> {
        let actor = principal.actor()?;
        actor.require(Scope::MemoryRead)?;
        let (depth, kind) = checked(&request)?;
        let query = request.query.trim().to_string();
        let terms = builtin_key_terms(&query, MAX_CONCLUSIONS);
        let memories: Vec<Recalled> = self
            .memory
            .search(principal, &query, SearchFilters::default(), MEMORIES)
            .await?
            .results
            .into_iter()
            .map(|found| Recalled {
                id: found.memory.id,
                relevance: found.relevance,
                data: found.memory.data,
            })
            .collect();
        let providers = self.ai.providers();
        let chosen = providers.generator(None, None)?;
        let mut uncertainty = Vec::new();
        let mut analysis = if providers.understands_language(&chosen.provider) {
            let structured = providers.writes_structured(&chosen.provider);
            let reasoned = self
                .reason(actor, &query, kind.as_deref(), depth, &memories, structured)
                .await?;
            match reasoned {
                Some(analysis) => analysis,
                None => {
                    uncertainty.push(format!(
                        "{}/{} answered without numbered steps, so the question was decomposed instead",
                        chosen.provider, chosen.model
                    ));
                    decomposition(&query, depth, &terms, &memories)
                }
            }
        } else {
            uncertainty.push(
                "No language model is configured: this is a decomposition of the question (its terms, parts and your memories), not reasoning about it".into(),
            );
            decomposition(&query, depth, &terms, &memories)
        };
        analysis.query_type = query_type(&query, kind.as_deref()).to_string();
        if analysis.provider.is_empty() {
            analysis.provider = chosen.provider;
            analysis.model = chosen.model;
        }
        if analysis.query_type == "counterfactual" {
            uncertainty.push(
                "Hypothetical premise: what follows depends on assumptions no data here can check"
                    .into(),
            );
        }
        if query.chars().any(|c| c.is_ascii_digit()) {
            uncertainty.push("The quantities in the question are taken as stated".into());
        }
        let remembered: String = memories.iter().map(|m| m.data.as_str()).collect();
        let unknown: Vec<&str> = terms
            .iter()
            .filter(|t| !remembered.to_lowercase().contains(t.as_str()))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            uncertainty.push(format!(
                "None of your memories mentions {}",
                unknown.join(", ")
            ));
        }
        if depth == Depth::Shallow {
            uncertainty.push("Shallow depth: at most two steps".into());
        }
        uncertainty.append(&mut analysis.uncertainty);
        uncertainty.dedup();
        analysis.uncertainty = uncertainty;
        analysis.memories_used = memories.into_iter().map(|m| m.id).collect();
        Ok(analysis)
    }

    /// The model's steps, or `None` when a prose answer held no numbered steps.
    async fn reason(
        &self,
        actor: &crate::domain::identity::Actor,
        query: &str,
        kind: Option<&str>,
        depth: Depth,
        memories: &[Recalled],
        structured: bool,
    ) -> DomainResult<Option<Analysis>> {
        let steps = depth.steps();
        let mode = kind.unwrap_or("careful");
        let mut system = format!(
            "You analyse questions in {mode} reasoning. Break the user's question into at most {steps} reasoning steps; each step says what it examines and what it concludes."
        );
        if structured {
            system.push_str(" Classify the question (query_type, snake_case) and list what makes the conclusions uncertain.");
        } else {
            system.push_str(" Answer only with a numbered list, one step a line: `1. …`.");
        }
        let mut messages = vec![ChatMessage::new(ChatRole::System, system)];
        messages.extend(super::memory_context(
            memories.iter().map(|m| m.data.as_str()),
        ));
        messages.push(ChatMessage::new(ChatRole::User, query.to_string()));
        let options = GenerationOptions {
            max_tokens: Some(64 * steps as u32 + 64),
            json_schema: structured.then(|| JsonSchemaFormat {
                name: "reasoning_analysis".into(),
                schema: model_schema(steps),
            }),
            ..Default::default()
        };
        let (provider, model, completion) = self.generate(actor, messages, options).await?;
        let terms = builtin_key_terms(query, MAX_CONCLUSIONS);
        let mut uncertainty = Vec::new();
        if completion.reason != FinishReason::Stop {
            uncertainty.push("The model's answer was cut at its token limit".to_string());
        }
        let (method, steps_found, query_kind) = if structured {
            let value = super::validated_json(&completion.text, "analysis")?;
            let steps_found: Vec<Step> = value["reasoning_steps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| {
                    Some(Step {
                        description: s["description"].as_str()?.trim().to_string(),
                        conclusions: s["conclusions"]
                            .as_array()?
                            .iter()
                            .filter_map(Value::as_str)
                            .map(|c| c.trim().to_string())
                            .filter(|c| !c.is_empty())
                            .take(MAX_CONCLUSIONS)
                            .collect(),
                    })
                })
                .filter(|s| !s.description.is_empty())
                .take(steps)
                .collect();
            uncertainty.extend(
                value["uncertainty_factors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|u| u.trim().to_string())
                    .filter(|u| !u.is_empty())
                    .take(MAX_CONCLUSIONS),
            );
            let kind = value["query_type"].as_str().unwrap_or("").to_string();
            (Method::Model, steps_found, kind)
        } else {
            let mut found = numbered_steps(&completion.text);
            found.truncate(steps);
            (Method::ModelList, found, String::new())
        };
        if steps_found.is_empty() {
            return Ok(None);
        }
        let said: String = steps_found
            .iter()
            .map(|s| format!("{} {} ", s.description, s.conclusions.join(" ")))
            .collect();
        Ok(Some(Analysis {
            id: new_analysis_id(),
            query_type: query_kind,
            confidence: round3(coverage(&terms, &said)),
            steps: steps_found,
            uncertainty,
            method,
            provider,
            model,
            memories_used: Vec::new(),
        }))
    }
}

fn new_analysis_id() -> String {
    format!("analysis_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// The question taken apart: its key terms, its parts (the premise apart from what it
/// asks, for a hypothetical), what the caller's memories say, and which terms they cover.
/// Its confidence is how well those memories cover the question: the best relevance times
/// the share of the key terms they mention (0 without memories) — a decomposition
/// concludes nothing of its own.
fn decomposition(query: &str, depth: Depth, terms: &[String], memories: &[Recalled]) -> Analysis {
    let mut steps = vec![Step {
        description: "Identify the question's key terms".into(),
        conclusions: terms.to_vec(),
    }];
    let split = parts(query);
    let premise = split
        .iter()
        .find(|p| p.to_lowercase().starts_with("if "))
        .cloned();
    steps.push(match premise {
        Some(premise) => Step {
            description: "Separate the premise from what is asked".into(),
            conclusions: std::iter::once(format!("premise: {}", &premise[3..]))
                .chain(
                    split
                        .iter()
                        .filter(|p| **p != premise)
                        .map(|p| format!("asks: {p}")),
                )
                .collect(),
        },
        None => Step {
            description: "Split the question into its parts".into(),
            conclusions: split.clone(),
        },
    });
    let remembered: String = memories
        .iter()
        .map(|m| m.data.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    let covered: Vec<String> = terms
        .iter()
        .filter(|t| remembered.contains(t.as_str()))
        .cloned()
        .collect();
    if depth != Depth::Shallow {
        steps.push(Step {
            description: "Find what your memories say about it".into(),
            conclusions: if memories.is_empty() {
                vec!["No stored memory relates to the question".into()]
            } else {
                memories
                    .iter()
                    .map(|m| {
                        let text: String = m.data.chars().take(120).collect();
                        format!("{} (relevance {:.2}): {text}", m.id, m.relevance)
                    })
                    .collect()
            },
        });
        steps.push(Step {
            description: "Check which key terms your memories cover".into(),
            conclusions: terms
                .iter()
                .map(|t| {
                    if covered.contains(t) {
                        format!("{t}: covered")
                    } else {
                        format!("{t}: not covered")
                    }
                })
                .collect(),
        });
    }
    let best = memories.iter().map(|m| m.relevance).fold(0.0, f64::max);
    let share = if terms.is_empty() {
        0.0
    } else {
        covered.len() as f64 / terms.len() as f64
    };
    Analysis {
        id: new_analysis_id(),
        query_type: String::new(),
        steps,
        confidence: round3(best * share),
        uncertainty: Vec::new(),
        method: Method::Decomposition,
        provider: String::new(),
        model: String::new(),
        memories_used: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_are_classified_by_their_wording() {
        assert_eq!(
            query_type("What would happen if gravity was 10% stronger?", None),
            "counterfactual"
        );
        assert_eq!(
            query_type("Why do leaves fall?", None),
            "causal_explanation"
        );
        assert_eq!(query_type("How does memory work?", None), "procedural");
        assert_eq!(query_type("What is entropy?", None), "definitional");
        assert_eq!(
            query_type("Rust versus Go for servers", None),
            "comparative"
        );
        assert_eq!(
            query_type("Entropy", Some("hypothetical")),
            "counterfactual"
        );
    }

    #[test]
    fn a_hypothetical_is_split_at_its_premise() {
        assert_eq!(
            parts("What would happen if gravity was 10% stronger?"),
            ["What would happen", "if gravity was 10% stronger"]
        );
        let analysis = decomposition(
            "What would happen if gravity was 10% stronger?",
            Depth::Deep,
            &builtin_key_terms("What would happen if gravity was 10% stronger?", 6),
            &[],
        );
        assert_eq!(
            analysis.steps[1].conclusions,
            [
                "premise: gravity was 10% stronger",
                "asks: What would happen"
            ]
        );
        assert_eq!(analysis.confidence, 0.0, "no memory covers it");
        assert_eq!(analysis.steps.len(), 4);
    }

    #[test]
    fn numbered_lines_are_steps() {
        let steps = numbered_steps(
            "Here is my analysis:\n1. Identify the orbital parameters\n2) **Estimate** atmospheric pressure\nThat is all.",
        );
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].description, "Identify the orbital parameters");
        assert!(steps[1].conclusions.contains(&"atmospheric".to_string()));
        assert!(numbered_steps("No list here.").is_empty());
    }

    #[test]
    fn confidence_from_memories_is_relevance_times_coverage() {
        let memories = [Recalled {
            id: "mem_1".into(),
            relevance: 0.8,
            data: "Gravity shapes orbits".into(),
        }];
        let terms = vec!["gravity".to_string(), "stronger".to_string()];
        let analysis = decomposition(
            "If gravity was stronger",
            Depth::Moderate,
            &terms,
            &memories,
        );
        assert!((analysis.confidence - 0.4).abs() < 1e-9);
        assert_eq!(
            analysis.steps[3].conclusions,
            ["gravity: covered", "stronger: not covered"]
        );
    }
}
