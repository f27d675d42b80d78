//! The languages the war room reads, each with its tree-sitter grammar and the node kinds
//! the checks look for; and telling which language a piece of code is in.

use tree_sitter::{Language, Parser, Tree};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Python,
    JavaScript,
    TypeScript,
    Rust,
    Sql,
    Shell,
}

/// Node kinds of one grammar, by the role the checks give them.
pub struct Kinds {
    pub functions: &'static [&'static str],
    pub calls: &'static [&'static str],
    pub strings: &'static [&'static str],
    /// Nodes that add a path through a function (cyclomatic complexity counts them).
    pub branches: &'static [&'static str],
    /// Binary nodes whose operator is checked (`==`, `&&`, `+`, …).
    pub binary: &'static [&'static str],
    pub assignments: &'static [&'static str],
    pub handlers: &'static [&'static str],
    /// Interpolating strings (f-strings, template literals, `format!`).
    pub interpolations: &'static [&'static str],
}

impl Lang {
    pub const ALL: [Lang; 6] = [
        Lang::Python,
        Lang::JavaScript,
        Lang::TypeScript,
        Lang::Rust,
        Lang::Sql,
        Lang::Shell,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::JavaScript => "javascript",
            Lang::TypeScript => "typescript",
            Lang::Rust => "rust",
            Lang::Sql => "sql",
            Lang::Shell => "shell",
        }
    }

    fn grammar(self) -> Language {
        match self {
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Sql => tree_sitter_sequel::LANGUAGE.into(),
            Lang::Shell => tree_sitter_bash::LANGUAGE.into(),
        }
    }

    pub fn kinds(self) -> &'static Kinds {
        match self {
            Lang::Python => &PYTHON,
            Lang::JavaScript | Lang::TypeScript => &JAVASCRIPT,
            Lang::Rust => &RUST,
            Lang::Sql => &SQL,
            Lang::Shell => &SHELL,
        }
    }

    pub fn parse(self, code: &str) -> Option<Tree> {
        let mut parser = Parser::new();
        parser.set_language(&self.grammar()).ok()?;
        parser.parse(code, None)
    }

    /// Words in a request's description that name the language.
    fn named_by(self) -> &'static [&'static str] {
        match self {
            Lang::Python => &["python", "py", "django", "flask"],
            Lang::JavaScript => &["javascript", "js", "node", "nodejs", "react", "express"],
            Lang::TypeScript => &["typescript", "ts", "tsx", "deno"],
            Lang::Rust => &["rust", "rs", "cargo", "tokio"],
            Lang::Sql => &["sql", "mysql", "postgresql", "postgres", "sqlite"],
            Lang::Shell => &["bash", "shell", "sh", "zsh"],
        }
    }

    /// Tokens that show up in this language's code and rarely in the others'.
    fn signals(self) -> &'static [&'static str] {
        match self {
            Lang::Python => &[
                "def ", "elif ", "import ", "self.", "None", "print(", "lambda ",
            ],
            Lang::JavaScript => &[
                "function ",
                "const ",
                "let ",
                "=>",
                "===",
                "console.",
                "require(",
            ],
            Lang::TypeScript => &[
                ": string",
                ": number",
                "interface ",
                ": boolean",
                "export type ",
            ],
            Lang::Rust => &[
                "fn ", "let mut ", "->", "impl ", "::", "pub fn", "println!", "&self",
            ],
            Lang::Sql => &[
                "select ",
                " from ",
                " where ",
                "insert into",
                "update ",
                "join ",
                "group by",
            ],
            Lang::Shell => &["#!/bin/", "echo ", "$(", "fi\n", "done\n", "then\n", "${"],
        }
    }
}

const PYTHON: Kinds = Kinds {
    functions: &["function_definition", "lambda"],
    calls: &["call"],
    strings: &["string"],
    branches: &[
        "if_statement",
        "elif_clause",
        "for_statement",
        "while_statement",
        "except_clause",
        "conditional_expression",
        "boolean_operator",
        "case_clause",
        "for_in_clause",
        "if_clause",
    ],
    binary: &["comparison_operator", "binary_operator"],
    assignments: &["assignment", "keyword_argument"],
    handlers: &["try_statement", "with_statement"],
    interpolations: &["interpolation"],
};

const JAVASCRIPT: Kinds = Kinds {
    functions: &[
        "function_declaration",
        "function_expression",
        "arrow_function",
        "method_definition",
        "generator_function_declaration",
    ],
    calls: &["call_expression", "new_expression"],
    strings: &["string", "template_string"],
    branches: &[
        "if_statement",
        "for_statement",
        "for_in_statement",
        "while_statement",
        "do_statement",
        "catch_clause",
        "ternary_expression",
        "switch_case",
    ],
    binary: &["binary_expression"],
    assignments: &["variable_declarator", "assignment_expression", "pair"],
    handlers: &["try_statement"],
    interpolations: &["template_substitution"],
};

const RUST: Kinds = Kinds {
    functions: &["function_item", "closure_expression"],
    calls: &["call_expression", "macro_invocation"],
    strings: &["string_literal", "raw_string_literal"],
    branches: &[
        "if_expression",
        "for_expression",
        "while_expression",
        "loop_expression",
        "match_arm",
        "try_expression",
    ],
    binary: &["binary_expression"],
    assignments: &[
        "let_declaration",
        "assignment_expression",
        "const_item",
        "static_item",
    ],
    handlers: &["match_expression"],
    interpolations: &[],
};

const SQL: Kinds = Kinds {
    functions: &[],
    calls: &["invocation"],
    strings: &["literal"],
    branches: &["case", "when_clause"],
    binary: &["binary_expression"],
    assignments: &[],
    handlers: &[],
    interpolations: &[],
};

const SHELL: Kinds = Kinds {
    functions: &["function_definition"],
    calls: &["command"],
    strings: &["string", "raw_string"],
    branches: &[
        "if_statement",
        "elif_clause",
        "for_statement",
        "c_style_for_statement",
        "while_statement",
        "case_item",
    ],
    binary: &["binary_expression"],
    assignments: &["variable_assignment"],
    handlers: &[],
    interpolations: &["command_substitution", "simple_expansion", "expansion"],
};

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Bytes under error or missing nodes, over all bytes.
fn error_share(tree: &Tree, len: usize) -> f64 {
    let mut bad = 0usize;
    let mut cursor = tree.walk();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.is_error() || node.is_missing() {
            bad += (node.end_byte() - node.start_byte()).max(1);
            continue;
        }
        if node.has_error() {
            stack.extend(node.children(&mut cursor));
        }
    }
    bad as f64 / len.max(1) as f64
}

/// The language `code` is in: one its description names (`proposal`, `context`), else the
/// one whose signals it shows most, discounted by how much of it fails to parse; with the
/// winner's parse tree when detection made one (the analysis reuses it).
pub fn detect(code: &str, description: &str) -> (Lang, &'static str, Option<Tree>) {
    let named = words(description);
    // TypeScript before JavaScript: "TypeScript (a JavaScript superset)" names both.
    for lang in [
        Lang::TypeScript,
        Lang::JavaScript,
        Lang::Python,
        Lang::Rust,
        Lang::Shell,
        Lang::Sql,
    ] {
        if lang.named_by().iter().any(|w| named.iter().any(|n| n == w)) {
            return (lang, "named in the proposal or context", None);
        }
    }
    let lower = format!("{}\n", code.to_lowercase());
    // score = hits − 4 × error share ≤ hits, so languages are parsed in order of hits and
    // the search stops once no remaining one could reach the best score: usually after
    // one or two parses instead of six.
    let mut candidates: Vec<(usize, f64, Lang)> = Lang::ALL
        .iter()
        .enumerate()
        .map(|(order, &lang)| {
            let hits = lang
                .signals()
                .iter()
                .filter(|s| lower.contains(&s.to_lowercase()))
                .count() as f64;
            (order, hits, lang)
        })
        .collect();
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut best: Option<(f64, usize, Lang, Option<Tree>)> = None;
    for (order, hits, lang) in candidates {
        if let Some((score, best_order, ..)) = &best {
            if hits < *score || (hits == *score && order > *best_order) {
                break;
            }
        }
        let tree = lang.parse(code);
        let errors = tree.as_ref().map_or(1.0, |t| error_share(t, code.len()));
        let score = hits - 4.0 * errors;
        // Ties go to the earlier language in `Lang::ALL`, as before.
        let better = match &best {
            None => true,
            Some((s, o, ..)) => score > *s || (score == *s && order < *o),
        };
        if better {
            best = Some((score, order, lang, tree));
        }
    }
    let (_, _, lang, tree) = best.unwrap_or((0.0, 0, Lang::Shell, None));
    (
        lang,
        "detected from the code (signals and a clean parse)",
        tree,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every grammar parses, the best score wins, ties to the earlier: what `detect` prunes.
    fn exhaustive(code: &str) -> Lang {
        let lower = format!("{}\n", code.to_lowercase());
        Lang::ALL
            .map(|lang| {
                let hits = lang
                    .signals()
                    .iter()
                    .filter(|s| lower.contains(&s.to_lowercase()))
                    .count() as f64;
                let errors = lang
                    .parse(code)
                    .map_or(1.0, |t| error_share(&t, code.len()));
                (hits - 4.0 * errors, lang)
            })
            .iter()
            .copied()
            .fold(
                (f64::MIN, Lang::Shell),
                |a, b| if b.0 > a.0 { b } else { a },
            )
            .1
    }

    #[test]
    fn pruning_picks_what_parsing_everything_picks() {
        let samples = [
            "function auth(user, pass) { return user === \"admin\"; }",
            "def fib(n): return n if n <= 1 else fib(n-1) + fib(n-2)",
            "SELECT * FROM users WHERE id = 1",
            "fn main() { let mut x = 1; println!(\"{x}\"); }",
            "#!/bin/bash\nfor f in *; do echo \"$f\"; done\n",
            "interface User { name: string }\nconst u: User = { name: 'a' };",
            "x = 1",
            "",
            "import os\nos.system('ls ' + path)\n",
            "let a = 1; // which language?",
            "echo hi && ls -la | grep x",
        ];
        for code in samples {
            let (lang, _, tree) = detect(code, "");
            assert_eq!(lang, exhaustive(code), "{code:?}");
            if let Some(tree) = tree {
                assert_eq!(tree.root_node().end_byte(), code.len(), "{code:?}");
            }
        }
    }

    #[test]
    fn the_documents_examples_are_recognised() {
        let js =
            "function auth(user, pass) { return user === \"admin\" && pass === \"password\"; }";
        assert_eq!(detect(js, "").0, Lang::JavaScript);
        let py = "def fib(n): return n if n <= 1 else fib(n-1) + fib(n-2)";
        assert_eq!(detect(py, "").0, Lang::Python);
        let sql = "SELECT * FROM users WHERE created_at > NOW() - INTERVAL 7 DAY";
        assert_eq!(detect(sql, "").0, Lang::Sql);
        assert_eq!(
            detect(sql, "MySQL query for weekly active users report").0,
            Lang::Sql
        );
        assert_eq!(
            detect(js, "JavaScript authentication for admin panel").0,
            Lang::JavaScript
        );
    }

    #[test]
    fn other_languages_by_their_code() {
        assert_eq!(
            detect("fn main() { let mut x = 1; println!(\"{x}\"); }", "").0,
            Lang::Rust
        );
        assert_eq!(
            detect("#!/bin/bash\nfor f in *; do echo \"$f\"; done\n", "").0,
            Lang::Shell
        );
        assert_eq!(
            detect(
                "interface A { b: string }\nconst f = (x: number): string => `${x}`;",
                ""
            )
            .0,
            Lang::TypeScript
        );
    }

    #[test]
    fn every_grammar_loads() {
        for lang in Lang::ALL {
            assert!(lang.parse("x").is_some(), "{}", lang.name());
        }
    }
}
