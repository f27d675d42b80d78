//! The dream engine (LUKHAS `/dream/generate`, behind `LUKHAS_DREAMS_ENABLED`): the
//! language model imagines `num_realities` answers to a seed, each from its own angle —
//! one after another, or concurrently with `LUKHAS_PARALLEL_DREAMS` — and each is scored
//! against the constraints (feasibility: the share it addresses) and the others
//! (innovation: the share of its terms no other reality and not the seed used). The
//! synthesis is read from those scores. Definitions in docs/DECISIONS.md ("Dreams").

use std::time::Instant;

use futures::StreamExt;
use serde_json::{json, Value};

use super::matriz::Matriz;
use super::round3;
use crate::domain::identity::{Actor, Principal, Scope};
use crate::error::{DomainError, DomainResult};
use crate::providers::{
    builtin_key_terms, ChatMessage, ChatRole, GenerationOptions, JsonSchemaFormat,
};

pub const MAX_SEED_CHARS: usize = 2_000;
pub const MAX_CONSTRAINTS: usize = 20;
const MAX_CONSTRAINT_CHARS: usize = 300;
pub const MAX_REALITIES: i64 = 10;
const MAX_FEATURES: usize = 6;
/// The rate-limit budget dreams are charged to (the document's 10 a minute).
pub const BUDGET: &str = "lukhas-dreams";

/// The angle each reality is imagined from, in order.
const ANGLES: [&str; 10] = [
    "biological",
    "architectural",
    "social",
    "technological",
    "economic",
    "ecological",
    "minimalist",
    "radical",
    "historical",
    "playful",
];

pub struct DreamRequest {
    pub seed: String,
    pub constraints: Vec<String>,
    pub creativity_level: Option<f64>,
    pub num_realities: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Reality {
    pub id: String,
    pub angle: &'static str,
    pub concept: String,
    pub description: String,
    pub key_features: Vec<String>,
    pub addressed: Vec<String>,
    pub feasibility: f64,
    pub innovation: f64,
}

#[derive(Clone, Debug)]
pub struct Dream {
    pub id: String,
    pub realities: Vec<Reality>,
    pub best_elements: Vec<String>,
    pub novel_insights: Vec<String>,
    pub provider: String,
    pub model: String,
    pub parallel: bool,
    pub duration_ms: f64,
}

fn checked(request: &DreamRequest) -> DomainResult<(usize, f64)> {
    let seed = request.seed.trim();
    if seed.is_empty() || request.seed.chars().count() > MAX_SEED_CHARS || seed.contains('\0') {
        return Err(DomainError::invalid(
            "seed",
            format!("seed must be 1 to {MAX_SEED_CHARS} characters without NUL"),
        ));
    }
    if request.constraints.len() > MAX_CONSTRAINTS {
        return Err(DomainError::invalid(
            "constraints",
            format!("at most {MAX_CONSTRAINTS} constraints"),
        ));
    }
    for (i, c) in request.constraints.iter().enumerate() {
        if c.trim().is_empty() || c.chars().count() > MAX_CONSTRAINT_CHARS || c.contains('\0') {
            return Err(DomainError::invalid(
                format!("constraints[{i}]"),
                format!("a constraint is 1 to {MAX_CONSTRAINT_CHARS} characters"),
            ));
        }
    }
    let realities = request.num_realities.unwrap_or(3);
    if !(1..=MAX_REALITIES).contains(&realities) {
        return Err(DomainError::invalid(
            "num_realities",
            format!("num_realities must be 1 to {MAX_REALITIES}"),
        ));
    }
    let creativity = request.creativity_level.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&creativity) {
        return Err(DomainError::invalid(
            "creativity_level",
            "creativity_level must be between 0 and 1",
        ));
    }
    Ok((realities as usize, creativity))
}

/// Word stems (the first five letters of words of four or more), for matching terms
/// across inflections (`water`, `watering`).
fn stems(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(|w| w.to_lowercase().chars().take(5).collect())
        .collect()
}

/// Whether `text` addresses `constraint`: it mentions one of the constraint's key terms.
pub fn addresses(text: &str, constraint: &str) -> bool {
    let said = stems(text);
    builtin_key_terms(constraint, 4)
        .iter()
        .flat_map(|t| stems(t))
        .any(|stem| said.contains(&stem))
}

/// The concept, description and features of a prose answer: `Concept:`, `Description:`
/// and `Key features:` lines when it wrote them; otherwise its first line, the rest, and
/// the description's key terms.
pub fn read_prose(text: &str) -> (String, String, Vec<String>) {
    let mut concept = None;
    let mut description = None;
    let mut features = None;
    let mut rest = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let lower = line.to_lowercase();
        let after = |label: &str| {
            line[label.len()..]
                .trim()
                .trim_start_matches('*')
                .trim()
                .to_string()
        };
        if lower.starts_with("concept:") {
            concept = Some(after("concept:"));
        } else if lower.starts_with("description:") {
            description = Some(after("description:"));
        } else if lower.starts_with("key features:") {
            features = Some(
                after("key features:")
                    .split([';', ','])
                    .map(|f| f.trim().trim_end_matches('.').to_string())
                    .filter(|f| !f.is_empty())
                    .take(MAX_FEATURES)
                    .collect::<Vec<_>>(),
            );
        } else {
            rest.push(line);
        }
    }
    let concept =
        concept.unwrap_or_else(|| rest.first().map(|l| l.to_string()).unwrap_or_default());
    let description =
        description.unwrap_or_else(|| rest.iter().skip(1).copied().collect::<Vec<_>>().join(" "));
    let description = if description.is_empty() {
        concept.clone()
    } else {
        description
    };
    let features = features
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| builtin_key_terms(&description, 3));
    (
        concept.chars().take(120).collect(),
        description.chars().take(800).collect(),
        features,
    )
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "concept": {"type": "string"},
            "description": {"type": "string"},
            "key_features": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_FEATURES}
        },
        "required": ["concept", "description", "key_features"]
    })
}

/// Scores each reality against the constraints and the others, and reads the synthesis.
fn score(
    seed: &str,
    constraints: &[String],
    realities: &mut [Reality],
) -> (Vec<String>, Vec<String>) {
    let seed_terms = builtin_key_terms(seed, 12);
    let terms: Vec<Vec<String>> = realities
        .iter()
        .map(|r| builtin_key_terms(&format!("{} {}", r.concept, r.description), 8))
        .collect();
    let mut unique_terms = Vec::new();
    for (i, reality) in realities.iter_mut().enumerate() {
        let text = format!(
            "{} {} {}",
            reality.concept,
            reality.description,
            reality.key_features.join(" ")
        );
        reality.addressed = constraints
            .iter()
            .filter(|c| addresses(&text, c))
            .cloned()
            .collect();
        reality.feasibility = if constraints.is_empty() {
            1.0
        } else {
            round3(reality.addressed.len() as f64 / constraints.len() as f64)
        };
        let unique: Vec<String> = terms[i]
            .iter()
            .filter(|t| !seed_terms.contains(t))
            .filter(|t| {
                terms
                    .iter()
                    .enumerate()
                    .all(|(j, other)| j == i || !other.contains(t))
            })
            .cloned()
            .collect();
        reality.innovation = if terms[i].is_empty() {
            0.0
        } else {
            round3(unique.len() as f64 / terms[i].len() as f64)
        };
        unique_terms.push(unique);
    }
    let mut ranked: Vec<usize> = (0..realities.len()).collect();
    ranked.sort_by(|&a, &b| {
        let key = |r: &Reality| r.feasibility + r.innovation;
        key(&realities[b]).total_cmp(&key(&realities[a]))
    });
    let mut best = Vec::new();
    for &i in ranked.iter().take(2) {
        for feature in &realities[i].key_features {
            if best.len() < 5 && !best.contains(feature) {
                best.push(feature.clone());
            }
        }
    }
    let insights = ranked
        .iter()
        .filter(|&&i| realities[i].innovation >= 0.5 && !unique_terms[i].is_empty())
        .take(3)
        .map(|&i| {
            format!(
                "Only \"{}\" brings {}",
                realities[i].concept,
                unique_terms[i]
                    .iter()
                    .take(4)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    (best, insights)
}

impl Matriz {
    /// Imagines the seed's realities (needs `models:use`). Off unless `LUKHAS_DREAMS_ENABLED`.
    pub async fn dream(&self, principal: &Principal, request: DreamRequest) -> DomainResult<Dream> {
        if !self.lukhas.dreams_enabled {
            return Err(DomainError::FeatureDisabled(
                "the dream engine is off on this server (LUKHAS_DREAMS_ENABLED)".into(),
            ));
        }
        let actor = principal.actor()?;
        actor.require(Scope::ModelsUse)?;
        let (count, creativity) = checked(&request)?;
        let started = Instant::now();
        let providers = self.ai.providers();
        let chosen = providers.generator(None, None)?;
        let structured = providers.writes_structured(&chosen.provider)
            && providers.understands_language(&chosen.provider);
        let parallel = self.lukhas.parallel_dreams;
        let seed = request.seed.trim().to_string();
        let imagine = |i: usize| {
            self.imagine(
                actor,
                &seed,
                &request.constraints,
                creativity,
                i,
                count,
                structured,
            )
        };
        let at_once = if parallel { count } else { 1 };
        let answers: Vec<DomainResult<(String, String, Reality)>> = futures::stream::iter(0..count)
            .map(imagine)
            .buffered(at_once)
            .collect()
            .await;
        let mut realities = Vec::with_capacity(count);
        let (mut provider, mut model) = (chosen.provider, chosen.model);
        for answer in answers {
            let (p, m, reality) = answer?;
            (provider, model) = (p, m);
            realities.push(reality);
        }
        let (best_elements, novel_insights) = score(&seed, &request.constraints, &mut realities);
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        Ok(Dream {
            id: format!("dream_{}", ulid::Ulid::new().to_string().to_lowercase()),
            realities,
            best_elements,
            novel_insights,
            provider,
            model,
            parallel,
            duration_ms: round3(elapsed),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn imagine(
        &self,
        actor: &Actor,
        seed: &str,
        constraints: &[String],
        creativity: f64,
        index: usize,
        count: usize,
        structured: bool,
    ) -> DomainResult<(String, String, Reality)> {
        let angle = ANGLES[index % ANGLES.len()];
        let mut system = format!(
            "You are the LUKHAS dream engine. Imagine reality {} of {count}: one distinct, concrete concept that answers the seed, approached from a {angle} angle.",
            index + 1
        );
        if !constraints.is_empty() {
            system.push_str(&format!(
                " It must work within: {}.",
                constraints.join("; ")
            ));
        }
        if structured {
            system.push_str(" Give the concept a short name, describe it in two or three sentences, and list its key features.");
        } else {
            system.push_str(" Answer in three lines: `Concept: <short name>`, `Description: <two or three sentences>`, `Key features: <a>; <b>; <c>`.");
        }
        let messages = vec![
            ChatMessage::new(ChatRole::System, system),
            ChatMessage::new(ChatRole::User, seed.to_string()),
        ];
        let options = GenerationOptions {
            temperature: Some((0.3 + 0.9 * creativity) as f32),
            max_tokens: Some(220),
            seed: Some(index as u64 + 1),
            json_schema: structured.then(|| JsonSchemaFormat {
                name: "dream_reality".into(),
                schema: schema(),
            }),
            ..Default::default()
        };
        let (provider, model, completion) = self.generate(actor, messages, options).await?;
        let text = completion.text;
        let (concept, description, key_features) = if structured {
            let value = super::validated_json(&text, "reality")?;
            let features: Vec<String> = value["key_features"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .take(MAX_FEATURES)
                .collect();
            let description = value["description"]
                .as_str()
                .unwrap_or("")
                .trim()
                .to_string();
            let features = if features.is_empty() {
                builtin_key_terms(&description, 3)
            } else {
                features
            };
            (
                value["concept"].as_str().unwrap_or("").trim().to_string(),
                description,
                features,
            )
        } else {
            read_prose(&text)
        };
        if concept.is_empty() && description.is_empty() {
            return Err(DomainError::Upstream(format!(
                "{provider}/{model} imagined nothing for reality {}",
                index + 1
            )));
        }
        Ok((
            provider,
            model,
            Reality {
                id: format!("reality_{}", index + 1),
                angle,
                concept,
                description,
                key_features,
                addressed: Vec::new(),
                feasibility: 0.0,
                innovation: 0.0,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reality(concept: &str, description: &str, features: &[&str]) -> Reality {
        Reality {
            id: String::new(),
            angle: "biological",
            concept: concept.into(),
            description: description.into(),
            key_features: features.iter().map(|f| f.to_string()).collect(),
            addressed: Vec::new(),
            feasibility: 0.0,
            innovation: 0.0,
        }
    }

    #[test]
    fn prose_is_read_by_its_labels_or_its_lines() {
        let (concept, description, features) = read_prose(
            "Concept: Underground Mushroom City\nDescription: Caverns with bioluminescent fungi.\nKey features: Fungal air recycling; Geothermal energy",
        );
        assert_eq!(concept, "Underground Mushroom City");
        assert_eq!(description, "Caverns with bioluminescent fungi.");
        assert_eq!(features, ["Fungal air recycling", "Geothermal energy"]);
        let (concept, description, _) =
            read_prose("Ice Dome Habitat\nA dome of water ice shields settlers.");
        assert_eq!(concept, "Ice Dome Habitat");
        assert_eq!(description, "A dome of water ice shields settlers.");
    }

    #[test]
    fn feasibility_is_the_share_of_constraints_addressed_and_innovation_what_only_it_says() {
        let constraints = vec![
            "Limited water".to_string(),
            "No breathable atmosphere".to_string(),
            "Extreme temperature variations".to_string(),
        ];
        let mut realities = vec![
            reality(
                "Underground Mushroom City",
                "Caverns recycle water and shield colonists from temperature swings with fungal walls.",
                &["Fungal air recycling"],
            ),
            reality("Glass Dome", "A dome of glass over the colony.", &["Glass"]),
        ];
        let (best, insights) = score(
            "Design a sustainable city for Mars",
            &constraints,
            &mut realities,
        );
        // Water and temperature, not the atmosphere: 2 of 3.
        assert_eq!(
            realities[0].addressed,
            [constraints[0].clone(), constraints[2].clone()]
        );
        assert!((realities[0].feasibility - 0.667).abs() < 1e-9);
        assert_eq!(realities[1].feasibility, 0.0);
        assert!(realities[0].innovation > 0.5);
        assert_eq!(best[0], "Fungal air recycling");
        assert!(
            insights[0].starts_with("Only \"Underground Mushroom City\" brings"),
            "{insights:?}"
        );
        assert!(addresses("watering the crops", "Limited water"));
    }
}
