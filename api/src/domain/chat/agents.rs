//! Lumen's eight agents: six a message can be routed to and two internal reviewers. Each
//! routable agent answers in one JSON form (or, for `base`, any of the three), which the
//! model's output is validated against before anyone sees it.

use serde_json::{json, Value};

use crate::error::{DomainError, DomainResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Agent {
    Base,
    Scaffold,
    FileOp,
    Analyze,
    Test,
    Docs,
    /// Folds interactions into summaries and merges summaries.
    Summarizer,
    /// Reviews code in the war room.
    WarRoom,
}

impl Agent {
    pub const ROUTABLE: [Agent; 6] = [
        Agent::Base,
        Agent::Scaffold,
        Agent::FileOp,
        Agent::Analyze,
        Agent::Test,
        Agent::Docs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Agent::Base => "base",
            Agent::Scaffold => "scaffold",
            Agent::FileOp => "fileOp",
            Agent::Analyze => "analyze",
            Agent::Test => "test",
            Agent::Docs => "docs",
            Agent::Summarizer => "summarizer",
            Agent::WarRoom => "warRoom",
        }
    }

    pub fn routable(name: &str) -> Option<Agent> {
        Self::ROUTABLE.into_iter().find(|a| a.name() == name)
    }

    /// What it is for, as the router's prompt describes it.
    pub fn purpose(self) -> &'static str {
        match self {
            Agent::Base => "general questions and conversation; anything the others do not cover",
            Agent::Scaffold => "writing new code: functions, classes, modules, project skeletons",
            Agent::FileOp => "file and directory operations done with a shell command",
            Agent::Analyze => "explaining, reviewing, debugging or optimising existing code",
            Agent::Test => "writing tests for code",
            Agent::Docs => "writing documentation: READMEs, docstrings, API descriptions",
            Agent::Summarizer => "summarizing earlier parts of a conversation",
            Agent::WarRoom => "reviewing code before it is accepted",
        }
    }

    pub fn system_prompt(self) -> String {
        let task = match self {
            Agent::Base => "Answer the user's message. Reply in the `default` form; use the `code` form when the answer is code, and the `terminalCommand` form only when the user asks for something a single shell command does.",
            Agent::Scaffold => "Write the code the user asks for: complete, runnable, idiomatic for its language, with the explanation a reviewer needs.",
            Agent::FileOp => "Propose exactly one shell command that does what the user asks with files or directories, relative to the session's working directory. Say why, and set requiresApproval when it deletes, overwrites, changes permissions, installs or transfers over the network.",
            Agent::Analyze => "Analyse the code or problem the user gives: what it does, what is wrong with it, and what to change, with reasons.",
            Agent::Test => "Write tests for the code the user describes or gives, in its language's usual test framework, covering the normal case, edge cases and errors.",
            Agent::Docs => "Write the documentation the user asks for: accurate, concise, with examples.",
            Agent::Summarizer => "Summarize the conversation you are given in a few sentences: the user's goals, the decisions and answers given, and anything still open. Write only the summary.",
            Agent::WarRoom => "Review the code for correctness, security and maintainability.",
        };
        format!(
            "You are Lumen's {} agent ({}). {task}",
            self.name(),
            self.purpose()
        )
    }

    /// The JSON schema the agent's reply must validate against.
    pub fn reply_schema(self) -> Value {
        match self {
            Agent::Base => json!({"anyOf": [default_form(), code_form(), command_form()]}),
            Agent::Scaffold | Agent::Test => code_form(),
            Agent::FileOp => command_form(),
            _ => default_form(),
        }
    }
}

fn default_form() -> Value {
    json!({
        "type": "object",
        "properties": {
            "choice": {"const": "default"},
            "response": {"type": "string", "minLength": 1, "maxLength": 16000},
            "reasoning": {"type": "string", "maxLength": 2000}
        },
        "required": ["choice", "response", "reasoning"],
        "additionalProperties": false
    })
}

fn code_form() -> Value {
    json!({
        "type": "object",
        "properties": {
            "choice": {"const": "code"},
            "codeExplanation": {"type": "string", "maxLength": 8000},
            "code": {"type": "string", "minLength": 1, "maxLength": 64000},
            "language": {"type": "string", "minLength": 1, "maxLength": 32}
        },
        "required": ["choice", "codeExplanation", "code", "language"],
        "additionalProperties": false
    })
}

fn command_form() -> Value {
    json!({
        "type": "object",
        "properties": {
            "choice": {"const": "terminalCommand"},
            "response": {"type": "string", "maxLength": 4000},
            "terminalCommand": {"type": "string", "minLength": 1, "maxLength": 4096},
            "commandReasoning": {"type": "string", "maxLength": 2000},
            "requiresApproval": {"type": "boolean"}
        },
        "required": ["choice", "response", "terminalCommand", "commandReasoning", "requiresApproval"],
        "additionalProperties": false
    })
}

/// An agent's validated reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Text {
        response: String,
        reasoning: String,
    },
    Code {
        explanation: String,
        code: String,
        language: String,
    },
    Command {
        response: String,
        command: String,
        reasoning: String,
        requires_approval: bool,
    },
}

impl Reply {
    /// Reads a reply that validated against [`Agent::reply_schema`].
    pub fn from_json(value: &Value) -> DomainResult<Reply> {
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match value.get("choice").and_then(Value::as_str) {
            Some("default") => Ok(Reply::Text {
                response: text("response"),
                reasoning: text("reasoning"),
            }),
            Some("code") => Ok(Reply::Code {
                explanation: text("codeExplanation"),
                code: text("code"),
                language: text("language"),
            }),
            Some("terminalCommand") => Ok(Reply::Command {
                response: text("response"),
                command: text("terminalCommand"),
                reasoning: text("commandReasoning"),
                requires_approval: value
                    .get("requiresApproval")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            }),
            _ => Err(DomainError::Internal(format!(
                "an agent reply without a known choice: {value}"
            ))),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Reply::Text {
                response,
                reasoning,
            } => json!({"choice": "default", "response": response, "reasoning": reasoning}),
            Reply::Code {
                explanation,
                code,
                language,
            } => {
                json!({"choice": "code", "codeExplanation": explanation, "code": code, "language": language})
            }
            Reply::Command {
                response,
                command,
                reasoning,
                requires_approval,
            } => json!({
                "choice": "terminalCommand",
                "response": response,
                "terminalCommand": command,
                "commandReasoning": reasoning,
                "requiresApproval": requires_approval
            }),
        }
    }

    /// The reply as the assistant's turn in a later prompt.
    pub fn as_transcript(&self) -> String {
        match self {
            Reply::Text { response, .. } => response.clone(),
            Reply::Code {
                explanation,
                code,
                language,
            } => format!("{explanation}\n```{language}\n{code}\n```"),
            Reply::Command {
                response, command, ..
            } => format!("{response}\n$ {command}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::structured;

    #[test]
    fn every_schema_is_checkable_and_its_simplest_instance_reads_back() {
        for agent in Agent::ROUTABLE {
            let schema = agent.reply_schema();
            structured::check_supported(&schema).unwrap();
            let instance = structured::minimal_instance(&schema, &["list".into()]);
            structured::validate(&schema, &instance).unwrap();
            let reply = Reply::from_json(&instance).unwrap();
            assert_eq!(reply.to_json(), instance, "{}", agent.name());
        }
    }

    #[test]
    fn replies_outside_the_form_do_not_validate() {
        let schema = Agent::Scaffold.reply_schema();
        let wrong = json!({"choice": "default", "response": "x", "reasoning": ""});
        assert!(structured::validate(&schema, &wrong).is_err());
        let extra = json!({"choice": "code", "codeExplanation": "", "code": "x", "language": "py", "issues": []});
        assert!(structured::validate(&schema, &extra).is_err());
    }
}
