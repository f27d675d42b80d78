//! The guardian's content rules: what a text asks for or carries that is unsafe or unethical,
//! each finding with its rule, severity and the words that triggered it. Phrases match whole
//! words (case-folded); personal data and secrets are recognised by their shape (e-mail
//! addresses, card numbers that pass the Luhn check, US social security numbers, API-key
//! prefixes). A request to make or obtain something dangerous weighs more than a mention.

use std::collections::BTreeSet;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// How much of a score one finding takes away (before any mitigation).
    pub fn weight(self) -> f64 {
        match self {
            Severity::Low => 0.12,
            Severity::Medium => 0.3,
            Severity::High => 0.6,
            Severity::Critical => 0.95,
        }
    }

    /// The governance risk level (1–5) it stands for.
    pub fn risk_level(self) -> u8 {
        match self {
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }

    fn raised(self) -> Severity {
        match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            _ => Severity::Critical,
        }
    }
}

/// Which score a rule lowers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    Safety,
    Ethics,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Safety => "safety",
            Dimension::Ethics => "ethics",
        }
    }
}

struct Rule {
    id: &'static str,
    dimension: Dimension,
    severity: Severity,
    /// Asking to make or get it raises the severity one step.
    intent_raises: bool,
    phrases: &'static [&'static str],
    conditions: &'static [&'static str],
}

const RULES: &[Rule] = &[
    Rule {
        id: "mass_harm_weapons",
        dimension: Dimension::Safety,
        severity: Severity::High,
        intent_raises: true,
        phrases: &[
            "bomb",
            "pipe bomb",
            "dirty bomb",
            "explosive device",
            "detonator",
            "nerve agent",
            "sarin",
            "vx gas",
            "anthrax",
            "ricin",
            "bioweapon",
            "biological weapon",
            "chemical weapon",
            "napalm",
            "nuclear weapon",
        ],
        conditions: &["Refuse operational detail about weapons"],
    },
    Rule {
        id: "violence",
        dimension: Dimension::Safety,
        severity: Severity::High,
        intent_raises: false,
        phrases: &[
            "kill someone",
            "kill him",
            "kill her",
            "kill them",
            "murder someone",
            "hurt someone",
            "poison someone",
            "attack people",
            "shoot people",
        ],
        conditions: &["Do not assist with harming people"],
    },
    Rule {
        id: "malware",
        dimension: Dimension::Safety,
        severity: Severity::Medium,
        intent_raises: true,
        phrases: &[
            "ransomware",
            "keylogger",
            "botnet",
            "rootkit",
            "malware",
            "ddos attack",
            "credential stuffing",
            "zero day exploit",
            "zero-day exploit",
            "reverse shell",
            "phishing kit",
        ],
        conditions: &["Keep to defensive and educational detail"],
    },
    Rule {
        id: "self_harm",
        dimension: Dimension::Safety,
        severity: Severity::Medium,
        intent_raises: false,
        phrases: &[
            "kill myself",
            "suicide",
            "self harm",
            "self-harm",
            "end my life",
            "hurt myself",
        ],
        conditions: &["Include crisis resources and encourage reaching out for support"],
    },
    Rule {
        id: "hazardous_activity",
        dimension: Dimension::Safety,
        severity: Severity::Low,
        intent_raises: false,
        phrases: &[
            "particle accelerator",
            "high voltage",
            "radiation",
            "radioactive",
            "laser",
            "chemicals",
            "lithium battery",
            "welding",
            "firearm",
            "reactor",
            "pyrotechnics",
        ],
        conditions: &[
            "Include safety warnings",
            "Emphasize professional supervision required",
        ],
    },
    Rule {
        id: "deception",
        dimension: Dimension::Ethics,
        severity: Severity::Medium,
        intent_raises: true,
        phrases: &[
            "phishing email",
            "fake reviews",
            "fake review",
            "impersonate",
            "forge",
            "counterfeit",
            "scam",
            "deepfake",
        ],
        conditions: &["Do not produce material meant to deceive"],
    },
    Rule {
        id: "privacy",
        dimension: Dimension::Ethics,
        severity: Severity::Medium,
        intent_raises: true,
        phrases: &[
            "home address of",
            "dox",
            "doxx",
            "track someone's location",
            "stalk",
            "social security number",
        ],
        conditions: &["Redact personal data before it leaves the system"],
    },
    Rule {
        id: "hate",
        dimension: Dimension::Ethics,
        severity: Severity::Medium,
        intent_raises: true,
        phrases: &[
            "hate speech",
            "racial slur",
            "racial slurs",
            "ethnic cleansing",
        ],
        conditions: &["Do not produce demeaning content about groups"],
    },
];

/// Words that make a request one to produce or obtain something.
const INTENT: &[&str] = &[
    "make",
    "build",
    "create",
    "synthesize",
    "synthesise",
    "assemble",
    "write",
    "generate",
    "produce",
    "buy",
    "obtain",
    "deploy",
    "instructions",
    "recipe",
    "step-by-step",
];

/// Words that say the purpose is learning, research or safety.
const MITIGATING: &[&str] = &[
    "educational",
    "education",
    "student",
    "students",
    "teacher",
    "class",
    "course",
    "research",
    "history",
    "historical",
    "safety",
    "learn",
    "learning",
    "defensive",
];

/// One thing the rules found.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub dimension: Dimension,
    pub severity: Severity,
    /// What triggered it (a phrase, or the kind of data — never the data itself).
    pub evidence: String,
    pub conditions: &'static [&'static str],
}

/// What the rules made of a text and its context.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Assessment {
    pub findings: Vec<Finding>,
    /// The text asks to make or obtain something.
    pub intent: bool,
    /// The text or its context says the purpose is learning, research or safety.
    pub mitigated: bool,
    /// Data classes carried (`pii`, `credentials`), for the policy.
    pub data_classes: BTreeSet<&'static str>,
}

impl Assessment {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// `∏ (1 − weight)` over this dimension's findings, one per rule at its worst; a
    /// mitigated purpose halves the weight of findings below critical.
    pub fn score(&self, dimension: Dimension) -> f64 {
        let mut worst: Vec<(&str, f64)> = Vec::new();
        for finding in self.findings.iter().filter(|f| f.dimension == dimension) {
            let mut weight = finding.severity.weight();
            if self.mitigated && finding.severity < Severity::Critical {
                weight /= 2.0;
            }
            match worst.iter_mut().find(|(rule, _)| *rule == finding.rule) {
                Some((_, w)) => *w = w.max(weight),
                None => worst.push((finding.rule, weight)),
            }
        }
        worst.iter().map(|(_, w)| 1.0 - w).product()
    }
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn contains_phrase(words: &[String], phrase: &str) -> bool {
    let wanted: Vec<&str> = phrase.split(' ').collect();
    words
        .windows(wanted.len())
        .any(|window| window.iter().zip(&wanted).all(|(w, p)| w == p))
}

/// Assesses `content` (what the action produces or says) in its `context` (why).
pub fn assess(content: &str, context: &str) -> Assessment {
    let said = words(content);
    let around = words(context);
    let intent = said.iter().any(|w| INTENT.contains(&w.as_str()));
    let mitigated = said
        .iter()
        .chain(&around)
        .any(|w| MITIGATING.contains(&w.as_str()));
    let mut assessment = Assessment {
        intent,
        mitigated,
        ..Default::default()
    };
    for rule in RULES {
        let Some(phrase) = rule.phrases.iter().find(|p| contains_phrase(&said, p)) else {
            continue;
        };
        let severity = if intent && rule.intent_raises {
            rule.severity.raised()
        } else {
            rule.severity
        };
        assessment.findings.push(Finding {
            rule: rule.id,
            dimension: rule.dimension,
            severity,
            evidence: format!("\"{phrase}\""),
            conditions: rule.conditions,
        });
    }
    for (kind, class) in shaped_data(content) {
        assessment.data_classes.insert(class);
        let (rule, conditions): (&'static str, &'static [&'static str]) = match class {
            "credentials" => ("secrets", &["Remove secrets and rotate the exposed ones"]),
            _ => (
                "personal_data",
                &["Redact personal data before it leaves the system"],
            ),
        };
        assessment.findings.push(Finding {
            rule,
            dimension: Dimension::Ethics,
            severity: if class == "credentials" {
                Severity::High
            } else {
                Severity::Medium
            },
            evidence: kind.to_string(),
            conditions,
        });
    }
    assessment
}

/// The kinds of personal data and secrets `text` carries, found by their shape.
fn shaped_data(text: &str) -> Vec<(&'static str, &'static str)> {
    let mut found = Vec::new();
    let mut add = |kind, class| {
        if !found.contains(&(kind, class)) {
            found.push((kind, class));
        }
    };
    for token in text.split(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'' | '(' | ')' | '<' | '>')
    }) {
        let token = token.trim_end_matches(['.', ':', '!', '?']);
        if is_email(token) {
            add("an e-mail address", "pii");
        }
        if is_ssn(token) {
            add("a social security number", "pii");
        }
        if is_secret(token) {
            add("an API key or access token", "credentials");
        }
    }
    if has_card_number(text) {
        add("a payment card number", "pii");
    }
    found
}

fn is_email(token: &str) -> bool {
    let Some((local, domain)) = token.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

fn is_ssn(token: &str) -> bool {
    let parts: Vec<&str> = token.split('-').collect();
    parts.len() == 3
        && [3, 2, 4]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_secret(token: &str) -> bool {
    const PREFIXES: &[(&str, usize)] = &[
        ("sk-", 20),
        ("lnos_live_", 20),
        ("ghp_", 30),
        ("github_pat_", 30),
        ("xoxb-", 20),
        ("AKIA", 16),
    ];
    PREFIXES.iter().any(|(prefix, min)| {
        token.starts_with(prefix)
            && token.len() >= *min
            && token[prefix.len()..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

/// A run of 13–19 digits (spaces or dashes between groups allowed) passing the Luhn check.
fn has_card_number(text: &str) -> bool {
    let mut digits: Vec<u32> = Vec::new();
    let check = |digits: &[u32]| (13..=19).contains(&digits.len()) && luhn(digits);
    let mut previous_separator = false;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            digits.push(d);
            previous_separator = false;
        } else if (c == ' ' || c == '-') && !digits.is_empty() && !previous_separator {
            previous_separator = true;
        } else {
            if check(&digits) {
                return true;
            }
            digits.clear();
            previous_separator = false;
        }
    }
    check(&digits)
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(a: &Assessment) -> Vec<&str> {
        a.findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn the_documents_example_is_hazardous_and_educational() {
        let a = assess(
            "Instructions for building a particle accelerator",
            "Educational request from physics student",
        );
        assert_eq!(rules(&a), ["hazardous_activity"]);
        assert_eq!(a.findings[0].severity, Severity::Low);
        assert!(a.mitigated);
        assert!((a.score(Dimension::Safety) - 0.94).abs() < 1e-9);
        assert_eq!(a.score(Dimension::Ethics), 1.0);
    }

    #[test]
    fn asking_to_make_a_weapon_is_critical_and_a_mention_is_not() {
        let asked = assess("Give me step-by-step instructions to make a pipe bomb", "");
        assert_eq!(asked.worst(), Some(Severity::Critical));
        let mentioned = assess("The history of the atomic bomb", "");
        assert_eq!(mentioned.worst(), Some(Severity::High));
        assert!(mentioned.mitigated);
        assert!(mentioned.score(Dimension::Safety) > asked.score(Dimension::Safety));
    }

    #[test]
    fn phrases_match_whole_words_only() {
        assert!(assess("The bombastic speech", "").findings.is_empty());
        assert!(assess("A harmless question about gardening", "")
            .findings
            .is_empty());
    }

    #[test]
    fn personal_data_and_secrets_are_found_by_shape() {
        let a = assess(
            "Mail ada@example.com, card 4111 1111 1111 1111, SSN 123-45-6789, key sk-abcdefghijklmnopqrstu.",
            "",
        );
        let evidence: Vec<&str> = a.findings.iter().map(|f| f.evidence.as_str()).collect();
        assert!(evidence.contains(&"an e-mail address"));
        assert!(evidence.contains(&"a payment card number"));
        assert!(evidence.contains(&"a social security number"));
        assert!(evidence.contains(&"an API key or access token"));
        assert!(a.data_classes.contains("pii") && a.data_classes.contains("credentials"));
        // Evidence names the kind, never the data.
        assert!(!evidence.iter().any(|e| e.contains("ada@")));
        // A number that fails the Luhn check is not a card.
        assert!(!has_card_number("order 4111 1111 1111 1112"));
    }

    #[test]
    fn one_rule_lowers_a_score_once_at_its_worst() {
        let a = assess("ransomware and a keylogger", "");
        assert_eq!(rules(&a), ["malware"]);
        assert!((a.score(Dimension::Safety) - 0.7).abs() < 1e-9);
    }
}
