//! Which agent answers a message: explicit keyword rules first (no model call), then —
//! when the configured model reads its input — the model's classification as structured
//! output; otherwise `base`.

use serde_json::{json, Value};

use super::agents::Agent;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteMethod {
    Keyword,
    Model,
    Default,
}

impl RouteMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteMethod::Keyword => "keyword",
            RouteMethod::Model => "model",
            RouteMethod::Default => "default",
        }
    }

    pub fn parse(text: &str) -> RouteMethod {
        match text {
            "keyword" => RouteMethod::Keyword,
            "model" => RouteMethod::Model,
            _ => RouteMethod::Default,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub agent: Agent,
    pub method: RouteMethod,
    pub reason: String,
}

/// A rule fires when the message has one of `verbs` and (when `objects` is not empty) one
/// of `objects`.
struct Rule {
    agent: Agent,
    verbs: &'static [&'static str],
    objects: &'static [&'static str],
}

/// Commands whose name opening a message makes it a file operation.
const SHELL_COMMANDS: &[&str] = &[
    "ls", "pwd", "cd", "mkdir", "rmdir", "rm", "cp", "mv", "touch", "cat", "head", "tail", "find",
    "grep", "chmod", "chown", "ln", "du", "df", "tree", "wc", "echo", "tar", "zip", "unzip",
];

const FILE_OBJECTS: &[&str] = &[
    "file",
    "files",
    "directory",
    "directories",
    "folder",
    "folders",
    "dir",
];

const CODE_OBJECTS: &[&str] = &[
    "function",
    "functions",
    "class",
    "classes",
    "project",
    "app",
    "application",
    "component",
    "script",
    "module",
    "api",
    "program",
    "code",
    "endpoint",
    "service",
    "cli",
    "library",
    "method",
    "struct",
    "server",
];

/// In order: the first rule that fires wins.
const RULES: &[Rule] = &[
    Rule {
        agent: Agent::Test,
        verbs: &[
            "test", "tests", "testing", "pytest", "jest", "unittest", "vitest", "mocha",
        ],
        objects: &[],
    },
    Rule {
        agent: Agent::Docs,
        verbs: &[
            "document",
            "documentation",
            "docs",
            "docstring",
            "docstrings",
            "readme",
            "jsdoc",
            "changelog",
        ],
        objects: &[],
    },
    Rule {
        agent: Agent::FileOp,
        verbs: &[
            "list", "show", "create", "make", "delete", "remove", "move", "rename", "copy", "find",
            "count", "run", "execute", "compress", "extract",
        ],
        objects: FILE_OBJECTS,
    },
    Rule {
        agent: Agent::Scaffold,
        verbs: &["scaffold", "boilerplate", "skeleton", "bootstrap"],
        objects: &[],
    },
    Rule {
        agent: Agent::Scaffold,
        verbs: &[
            "create",
            "generate",
            "write",
            "implement",
            "build",
            "make",
            "code",
        ],
        objects: CODE_OBJECTS,
    },
    Rule {
        agent: Agent::Analyze,
        verbs: &[
            "analyze",
            "analyse",
            "analysis",
            "review",
            "explain",
            "debug",
            "optimize",
            "optimise",
            "refactor",
            "complexity",
            "bug",
            "bugs",
            "profile",
        ],
        objects: &[],
    },
];

fn words(message: &str) -> Vec<String> {
    message
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The message itself when it is a shell command (it opens with one): proposed as
/// written, no model asked to retype it.
pub fn literal_command(message: &str) -> Option<&str> {
    let trimmed = message.trim();
    let first = trimmed.split_whitespace().next()?;
    let name = first.trim_start_matches('\\').rsplit('/').next()?;
    SHELL_COMMANDS.contains(&name).then_some(trimmed)
}

/// The keyword fast path.
pub fn by_keywords(message: &str) -> Option<Route> {
    let words = words(message);
    let first = message.split_whitespace().next().unwrap_or_default();
    if literal_command(message).is_some() {
        return Some(Route {
            agent: Agent::FileOp,
            method: RouteMethod::Keyword,
            reason: format!("the message starts with the shell command `{first}`"),
        });
    }
    RULES.iter().find_map(|rule| {
        let verb = words.iter().find(|w| rule.verbs.contains(&w.as_str()))?;
        if rule.objects.is_empty() {
            return Some(Route {
                agent: rule.agent,
                method: RouteMethod::Keyword,
                reason: format!("keyword rule: the message mentions \"{verb}\""),
            });
        }
        let object = words.iter().find(|w| rule.objects.contains(&w.as_str()))?;
        Some(Route {
            agent: rule.agent,
            method: RouteMethod::Keyword,
            reason: format!("keyword rule: the message asks to {verb} a {object}"),
        })
    })
}

pub fn fallback(model_available: bool) -> Route {
    Route {
        agent: Agent::Base,
        method: RouteMethod::Default,
        reason: if model_available {
            "no keyword rule matched and the model chose no other agent".into()
        } else {
            "no keyword rule matched and no language model is configured to classify".into()
        },
    }
}

/// The base agent, because the model (`provider`) is not asked for structured output.
pub fn not_classified(provider: &str) -> Route {
    Route {
        agent: Agent::Base,
        method: RouteMethod::Default,
        reason: format!(
            "no keyword rule matched, and the model of `{provider}` answers in plain text, so it was not asked to classify"
        ),
    }
}

/// The base agent, because the model's classification could not be used (`why`): a
/// routing failure costs the turn its specialist, not the turn.
pub fn unclassified(why: &str) -> Route {
    Route {
        agent: Agent::Base,
        method: RouteMethod::Default,
        reason: format!("no keyword rule matched and the model's classification failed ({why})"),
    }
}

/// The schema the model's classification answers in.
pub fn classification_schema() -> Value {
    let names: Vec<&str> = Agent::ROUTABLE.iter().map(|a| a.name()).collect();
    json!({
        "type": "object",
        "properties": {
            "agent": {"enum": names},
            "reason": {"type": "string", "minLength": 1, "maxLength": 500}
        },
        "required": ["agent", "reason"],
        "additionalProperties": false
    })
}

pub fn classification_prompt() -> String {
    let agents: Vec<String> = Agent::ROUTABLE
        .iter()
        .map(|a| format!("- {}: {}", a.name(), a.purpose()))
        .collect();
    format!(
        "Choose the agent that should answer the user's message, and say why in one sentence.\nAgents:\n{}",
        agents.join("\n")
    )
}

/// Reads a classification that validated against [`classification_schema`].
pub fn from_classification(value: &Value) -> Option<Route> {
    let agent = Agent::routable(value.get("agent")?.as_str()?)?;
    Some(Route {
        agent,
        method: RouteMethod::Model,
        reason: value.get("reason")?.as_str()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(message: &str) -> Option<&'static str> {
        by_keywords(message).map(|r| r.agent.name())
    }

    #[test]
    fn the_documents_messages_route_where_they_should() {
        assert_eq!(
            agent("Create a Python function to calculate fibonacci numbers"),
            Some("scaffold")
        );
        assert_eq!(agent("What is the square root of 144?"), None);
        assert_eq!(agent("List the files in the directory"), Some("fileOp"));
        assert_eq!(agent("ls -la"), Some("fileOp"));
        assert_eq!(agent("Write unit tests for my parser"), Some("test"));
        assert_eq!(agent("Write a README for this repo"), Some("docs"));
        assert_eq!(agent("Explain why this loop never ends"), Some("analyze"));
        assert_eq!(agent("Give me a project skeleton"), Some("scaffold"));
    }

    #[test]
    fn a_verb_without_its_object_does_not_fire() {
        assert_eq!(agent("Make me laugh"), None);
        assert_eq!(agent("the file is fine"), None);
    }

    #[test]
    fn the_reason_names_what_fired() {
        let route = by_keywords("please delete the old files").unwrap();
        assert_eq!(route.method, RouteMethod::Keyword);
        assert!(route.reason.contains("delete") && route.reason.contains("files"));
    }

    #[test]
    fn classifications_read_back() {
        let route =
            from_classification(&json!({"agent": "docs", "reason": "asks for a guide"})).unwrap();
        assert_eq!(
            (route.agent, route.method),
            (Agent::Docs, RouteMethod::Model)
        );
        assert_eq!(
            from_classification(&json!({"agent": "warRoom", "reason": "x"})),
            None
        );
    }
}
