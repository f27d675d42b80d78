//! One pass over a parse tree: the functions with their branches and complexity, the SQL
//! statements, and every check's findings with their lines. The walk is iterative (a tree
//! cursor), so deeply nested input cannot exhaust the stack.

use tree_sitter::Node;

use super::findings::{Finding, Rule, Severity};
use super::language::{Kinds, Lang};

/// Findings of one rule past this many are counted in the last one's description.
const LISTED_PER_RULE: usize = 5;
const LONG_FUNCTION: usize = 60;
const VERY_LONG_FUNCTION: usize = 150;
const COMPLEX: u32 = 10;
const VERY_COMPLEX: u32 = 20;

#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    pub line: usize,
    pub condition: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    pub name: String,
    pub line: usize,
    pub end_line: usize,
    pub params: Vec<String>,
    /// McCabe: 1 + decision points.
    pub complexity: u32,
    pub branches: Vec<Branch>,
    pub self_calls: usize,
    pub memoised: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub line: usize,
    /// `select`, `insert`, `update`, `delete` or `other`.
    pub kind: &'static str,
    pub table: Option<String>,
    pub predicates: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Analysis {
    pub lines: usize,
    pub functions: Vec<Function>,
    pub statements: Vec<Statement>,
    pub findings: Vec<Finding>,
    pub parse_errors: usize,
}

const CREDENTIAL_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "token",
    "apikey",
    "api_key",
    "accesskey",
    "access_key",
    "privatekey",
    "private_key",
    "credential",
    "credentials",
    "auth_token",
];
const USER_NAMES: &[&str] = &["user", "username", "login", "userid", "user_name", "email"];
const COMMON_PASSWORDS: &[&str] = &[
    "password", "admin", "123456", "12345678", "letmein", "secret", "root", "qwerty", "changeme",
    "hunter2", "passw0rd", "welcome",
];

/// Whether an identifier names a credential (`db_password`, `apiKey`, `PASS`).
fn names_credential(name: &str) -> bool {
    let lower = name.to_lowercase().replace('-', "_");
    let last = lower
        .rsplit(['.', ':', '$', '>'])
        .next()
        .unwrap_or(&lower)
        .trim_matches(|c: char| !c.is_alphanumeric() && c != '_');
    CREDENTIAL_NAMES.iter().any(|c| {
        last == *c
            || last.ends_with(&format!("_{c}"))
            || last.replace('_', "") == c.replace('_', "")
    }) || last.ends_with("password")
        || last.ends_with("secret")
}

fn names_user(name: &str) -> bool {
    let lower = name.to_lowercase();
    let last = lower.rsplit(['.', ':']).next().unwrap_or(&lower);
    USER_NAMES.contains(&last)
}

fn sql_like(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '*')
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    (has("select") && has("from"))
        || (has("insert") && has("into"))
        || (has("update") && has("set"))
        || (has("delete") && has("from"))
}

fn selects_star(text: &str) -> bool {
    let lower: String = text
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    lower.contains("select *") || lower.contains("select distinct *")
}

struct Walker<'a> {
    lang: Lang,
    kinds: &'static Kinds,
    code: &'a str,
    functions: Vec<Function>,
    open: Vec<usize>,
    handlers: usize,
    findings: Vec<Finding>,
    statements: Vec<Statement>,
    parse_errors: usize,
}

fn line(node: Node) -> usize {
    node.start_position().row + 1
}

fn end_line(node: Node) -> usize {
    node.end_position().row + 1
}

impl<'a> Walker<'a> {
    fn text(&self, node: Node) -> &'a str {
        self.code.get(node.byte_range()).unwrap_or("")
    }

    /// At most `max` characters of the node's first line.
    fn short(&self, node: Node, max: usize) -> String {
        let first = self.text(node).lines().next().unwrap_or("").trim();
        let mut out: String = first.chars().take(max).collect();
        if first.chars().count() > max {
            out.push('…');
        }
        out
    }

    fn field(&self, node: Node<'a>, names: &[&str]) -> Option<Node<'a>> {
        names.iter().find_map(|n| node.child_by_field_name(n))
    }

    fn find(&mut self, rule: Rule, severity: Severity, node: Node, description: String) {
        self.findings.push(Finding {
            rule,
            severity,
            description,
            line: line(node),
            end_line: line(node),
        });
    }

    fn current(&mut self) -> Option<&mut Function> {
        let index = *self.open.last()?;
        self.functions.get_mut(index)
    }

    fn enter(&mut self, node: Node<'a>) {
        let kind = node.kind();
        if node.is_error() || node.is_missing() {
            self.parse_error(node);
            return;
        }
        if self.kinds.functions.contains(&kind) {
            let function = self.function(node);
            self.open.push(self.functions.len());
            self.functions.push(function);
        }
        if self.kinds.handlers.contains(&kind) {
            self.handlers += 1;
        }
        if self.kinds.branches.contains(&kind) {
            // Python's `a if cond else b` has no field names: the condition comes second.
            let condition = if kind == "conditional_expression" {
                node.named_child(1)
            } else {
                self.field(node, &["condition", "value", "pattern"])
            }
            .map_or_else(|| self.short(node, 60), |c| self.short(c, 60));
            if let Some(function) = self.current() {
                function.complexity += 1;
                function.branches.push(Branch {
                    line: line(node),
                    condition,
                });
            }
        }
        if self.kinds.binary.contains(&kind) {
            self.binary(node);
        }
        if self.kinds.strings.contains(&kind) {
            self.string(node);
        }
        if self.kinds.assignments.contains(&kind) {
            self.assignment(node);
        }
        if self.kinds.calls.contains(&kind) {
            self.call(node);
        }
        match (self.lang, kind) {
            (Lang::Sql, "statement") => self.statement(node),
            (Lang::Sql, "all_fields") => self.find(
                Rule::SelectStar,
                Severity::Medium,
                node,
                "SELECT * can be inefficient and breaks when columns change".into(),
            ),
            (Lang::Shell, "pipeline") => self.pipeline(node),
            _ => {}
        }
    }

    fn exit(&mut self, node: Node) {
        let kind = node.kind();
        if node.is_error() || node.is_missing() {
            return;
        }
        if self.kinds.functions.contains(&kind) {
            self.open.pop();
        }
        if self.kinds.handlers.contains(&kind) {
            self.handlers = self.handlers.saturating_sub(1);
        }
    }

    fn parse_error(&mut self, node: Node) {
        self.parse_errors += 1;
        // SQL dialects differ (MySQL's `INTERVAL 7 DAY`): the grammar not knowing a form is
        // not a defect of the query.
        let (rule, severity, description) = if self.lang == Lang::Sql {
            (
                Rule::DialectSyntax,
                Severity::Low,
                format!(
                    "The SQL parser does not recognise `{}` (dialect-specific syntax?)",
                    self.short(node, 40)
                ),
            )
        } else if node.is_missing() {
            (
                Rule::ParseError,
                Severity::High,
                format!("Syntax error: `{}` is missing", node.kind()),
            )
        } else {
            (
                Rule::ParseError,
                Severity::High,
                format!("Syntax error near `{}`", self.short(node, 40)),
            )
        };
        self.find(rule, severity, node, description);
    }

    fn function(&self, node: Node<'a>) -> Function {
        let name = self
            .field(node, &["name"])
            .map(|n| self.text(n).to_string())
            .or_else(|| {
                let parent = node.parent()?;
                let named = self.field(parent, &["name", "left", "pattern", "key"])?;
                Some(self.text(named).to_string())
            })
            .unwrap_or_else(|| "<anonymous>".into());
        let mut params = Vec::new();
        if let Some(list) = self.field(node, &["parameters", "parameter"]) {
            let mut cursor = list.walk();
            let children: Vec<Node> = if list.named_child_count() == 0 {
                vec![list]
            } else {
                list.named_children(&mut cursor).collect()
            };
            for child in children {
                let text = self.text(child);
                let name = text
                    .split([':', '='])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_start_matches(['*', '&', '.'])
                    .trim_start_matches("mut ")
                    .trim();
                if !name.is_empty()
                    && !matches!(name, "self" | "cls" | "this")
                    && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                {
                    params.push(name.to_string());
                }
            }
        }
        let memoised = {
            let decorated = node
                .parent()
                .filter(|p| p.kind() == "decorated_definition")
                .map_or("", |p| self.text(p));
            let text = format!("{decorated}{}", self.text(node)).to_lowercase();
            text.contains("cache") || text.contains("memo")
        };
        Function {
            name,
            line: line(node),
            end_line: end_line(node),
            params,
            complexity: 1,
            branches: Vec::new(),
            self_calls: 0,
            memoised,
        }
    }

    /// The operator of a binary node: its `operator` field, or its first unnamed child.
    fn operator(&self, node: Node<'a>) -> Option<&'a str> {
        if let Some(op) = node.child_by_field_name("operator") {
            return Some(self.text(op));
        }
        let mut cursor = node.walk();
        let op = node.children(&mut cursor).find(|c| !c.is_named());
        op.map(|c| self.text(c))
    }

    fn operands(&self, node: Node<'a>) -> Vec<Node<'a>> {
        let mut cursor = node.walk();
        node.named_children(&mut cursor).collect()
    }

    fn is_plain_string(&self, node: Node) -> bool {
        self.kinds.strings.contains(&node.kind()) && !self.interpolates(node)
    }

    fn interpolates(&self, node: Node) -> bool {
        let mut cursor = node.walk();
        let found = node
            .children(&mut cursor)
            .any(|c| self.kinds.interpolations.contains(&c.kind()));
        found
    }

    /// A string literal's content without its quotes (and prefixes like `f`, `r#`).
    fn literal(&self, node: Node) -> String {
        self.text(node)
            .trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '#')
            .trim_matches(|c| matches!(c, '"' | '\'' | '`' | '#'))
            .to_string()
    }

    fn binary(&mut self, node: Node<'a>) {
        let Some(op) = self.operator(node) else {
            return;
        };
        let operands = self.operands(node);
        match op {
            "&&" | "||" => {
                if let Some(function) = self.current() {
                    function.complexity += 1;
                }
            }
            "==" | "===" | "!=" | "!==" | "eq" | "is" => {
                let [left, right] = match operands.as_slice() {
                    [l, r] => [*l, *r],
                    _ => return,
                };
                for (literal, other) in [(left, right), (right, left)] {
                    if !self.is_plain_string(literal) {
                        continue;
                    }
                    let value = self.literal(literal);
                    let other_text = self.text(other);
                    let credential = names_credential(other_text);
                    let common = COMMON_PASSWORDS.contains(&value.to_lowercase().as_str());
                    if (credential || names_user(other_text) && common) && !value.is_empty() {
                        let description = format!(
                            "Hard-coded credential: `{}` is compared against the literal \"{}\"",
                            self.short(other, 40),
                            value.chars().take(40).collect::<String>()
                        );
                        self.find(
                            Rule::LiteralCredentialComparison,
                            Severity::Critical,
                            node,
                            description,
                        );
                    }
                }
            }
            "+" | "%" => {
                // The strings of the whole chain (`'SELECT …' + id + ' AND …'`).
                let mut chain = operands.clone();
                let mut strings = Vec::new();
                while let Some(operand) = chain.pop() {
                    if operand.kind() == node.kind() && self.operator(operand) == Some(op) {
                        chain.extend(self.operands(operand));
                    } else if self.kinds.strings.contains(&operand.kind()) {
                        strings.push(operand);
                    }
                }
                let built = strings.iter().any(|o| sql_like(self.text(*o)));
                // Only the outermost `+` of a chain reports.
                let inner = node
                    .parent()
                    .is_some_and(|p| p.kind() == node.kind() && self.operator(p) == Some(op));
                if built && !inner {
                    self.find(
                        Rule::SqlStringBuilding,
                        Severity::High,
                        node,
                        format!(
                            "SQL built by string {} (injection risk): `{}`",
                            if op == "+" {
                                "concatenation"
                            } else {
                                "formatting"
                            },
                            self.short(node, 60)
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    fn string(&mut self, node: Node<'a>) {
        let text = self.text(node);
        if !sql_like(text) {
            return;
        }
        let in_format_call = {
            let parent = node.parent();
            let formatted = parent.is_some_and(|p| {
                p.kind() == "attribute" && self.text(p).ends_with(".format")
                    || p.kind() == "member_expression" && self.text(p).ends_with(".format")
            });
            let macro_format = parent
                .and_then(|p| p.parent())
                .filter(|g| g.kind() == "macro_invocation")
                .is_some_and(|g| {
                    let name = self.text(g);
                    (name.starts_with("format!") || name.starts_with("format_args!"))
                        && text.contains('{')
                });
            formatted || macro_format
        };
        if self.interpolates(node) || in_format_call {
            self.find(
                Rule::SqlStringBuilding,
                Severity::High,
                node,
                format!(
                    "SQL built by interpolating values into a string (injection risk): `{}`",
                    self.short(node, 60)
                ),
            );
        }
        if selects_star(text) {
            self.find(
                Rule::SelectStar,
                Severity::Medium,
                node,
                "SELECT * can be inefficient and breaks when columns change".into(),
            );
        }
    }

    fn assignment(&mut self, node: Node<'a>) {
        let (Some(target), Some(value)) = (
            self.field(node, &["left", "name", "pattern", "key"]),
            self.field(node, &["right", "value"]),
        ) else {
            return;
        };
        let name = self.text(target);
        if !names_credential(name) {
            return;
        }
        let is_literal =
            self.is_plain_string(value) || (self.lang == Lang::Shell && value.kind() == "word");
        let literal = self.literal(value);
        if is_literal && !literal.trim().is_empty() {
            self.find(
                Rule::HardcodedCredential,
                Severity::Critical,
                node,
                format!(
                    "Hard-coded credential: `{}` is set to a literal in the code",
                    self.short(target, 40)
                ),
            );
        }
    }

    fn call(&mut self, node: Node<'a>) {
        let Some(callee) = self.field(node, &["function", "constructor", "macro", "name"]) else {
            return;
        };
        let callee = self.text(callee).trim();
        let last = callee
            .rsplit(['.', ':'])
            .next()
            .unwrap_or(callee)
            .to_string();
        let top = self.open.last().copied();
        if let Some(index) = top {
            if self.functions[index].name == last {
                self.functions[index].self_calls += 1;
            }
        }
        let args = self
            .field(node, &["arguments"])
            .map_or("", |a| self.text(a));
        let whole = self.text(node);
        let (rule, severity, what) = match (self.lang, callee) {
            (Lang::Python, "eval" | "exec" | "compile") => (
                Rule::DynamicEvaluation,
                Severity::High,
                format!("`{callee}` evaluates a string as code"),
            ),
            (Lang::Python, "os.system" | "os.popen") => (
                Rule::ShellInjection,
                Severity::High,
                format!("`{callee}` runs its argument through a shell"),
            ),
            (Lang::Python, c)
                if c.starts_with("subprocess.") && args.replace(' ', "").contains("shell=True") =>
            {
                (
                    Rule::ShellInjection,
                    Severity::High,
                    format!("`{callee}` with shell=True runs its argument through a shell"),
                )
            }
            (Lang::Python, "pickle.loads" | "pickle.load" | "marshal.loads") => (
                Rule::DynamicEvaluation,
                Severity::High,
                format!("`{callee}` can execute code hidden in its input"),
            ),
            (
                Lang::Python,
                "open" | "json.loads" | "json.load" | "urlopen" | "urllib.request.urlopen",
            )
            | (
                Lang::Python,
                "requests.get" | "requests.post" | "requests.put" | "requests.delete",
            ) if self.handlers == 0 => (
                Rule::UnhandledFailure,
                Severity::Low,
                format!("`{callee}` can fail and nothing handles it"),
            ),
            (
                Lang::JavaScript | Lang::TypeScript,
                "eval" | "Function" | "setTimeout" | "setInterval",
            ) if callee != "setTimeout" && callee != "setInterval"
                || args
                    .trim_start_matches('(')
                    .trim_start()
                    .starts_with(['"', '\'', '`']) =>
            {
                (
                    Rule::DynamicEvaluation,
                    Severity::High,
                    format!("`{callee}` evaluates a string as code"),
                )
            }
            (
                Lang::JavaScript | Lang::TypeScript,
                "exec"
                | "execSync"
                | "child_process.exec"
                | "child_process.execSync"
                | "cp.exec"
                | "cp.execSync",
            ) => (
                Rule::ShellInjection,
                Severity::High,
                format!("`{callee}` runs its argument through a shell"),
            ),
            (
                Lang::JavaScript | Lang::TypeScript,
                "JSON.parse" | "fetch" | "fs.readFileSync" | "fs.writeFileSync" | "readFileSync"
                | "writeFileSync",
            ) if self.handlers == 0 => (
                Rule::UnhandledFailure,
                Severity::Medium,
                format!("`{callee}` can throw and nothing catches it"),
            ),
            (Lang::Rust, c) if c.ends_with(".unwrap") || c.ends_with(".expect") => (
                Rule::UnhandledFailure,
                Severity::Low,
                format!("`{}` panics on an error instead of handling it", last),
            ),
            (
                Lang::Rust,
                "Command::new" | "std::process::Command::new" | "process::Command::new",
            ) if matches!(
                self.literal_arg(args).as_deref(),
                Some("sh" | "bash" | "zsh")
            ) =>
            {
                (
                    Rule::ShellInjection,
                    Severity::High,
                    "a shell is started with a command string (`sh -c …`)".to_string(),
                )
            }
            (Lang::Shell, "eval") => (
                Rule::DynamicEvaluation,
                Severity::High,
                "`eval` runs its arguments as shell code".to_string(),
            ),
            (Lang::Shell, "source" | ".") if whole.contains('$') => (
                Rule::DynamicEvaluation,
                Severity::Medium,
                "a file named by a variable is run as shell code".to_string(),
            ),
            _ => return,
        };
        self.find(rule, severity, node, what);
    }

    fn literal_arg(&self, args: &str) -> Option<String> {
        let inner = args
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim();
        let quoted = inner.strip_prefix('"')?.strip_suffix('"')?;
        Some(quoted.to_string())
    }

    fn descendants(&self, node: Node<'a>) -> Vec<Node<'a>> {
        let mut out = Vec::new();
        let mut cursor = node.walk();
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            out.push(n);
            let children: Vec<Node> = n.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
        out
    }

    fn statement(&mut self, node: Node<'a>) {
        let all = self.descendants(node);
        let has = |kind: &str| all.iter().any(|n| n.kind() == kind);
        let kind = ["select", "insert", "update", "delete"]
            .into_iter()
            .find(|k| has(k))
            .unwrap_or("other");
        // The table: the first reference that is not a function's name (`NOW()`).
        let table = all
            .iter()
            .find(|n| {
                n.kind() == "object_reference"
                    && n.parent().is_none_or(|p| p.kind() != "invocation")
            })
            .map(|n| self.text(*n).to_string());
        let predicates = all
            .iter()
            .filter(|n| n.kind() == "where")
            .filter_map(|n| n.child_by_field_name("predicate"))
            .map(|p| self.short(p, 80))
            .collect();
        if matches!(kind, "update" | "delete") && !has("where") {
            self.find(
                Rule::UnboundedWrite,
                Severity::High,
                node,
                format!(
                    "{} without WHERE touches every row of {}",
                    kind.to_uppercase(),
                    table.as_deref().unwrap_or("the table")
                ),
            );
        }
        self.statements.push(Statement {
            line: line(node),
            kind,
            table,
            predicates,
        });
    }

    fn pipeline(&mut self, node: Node<'a>) {
        let commands: Vec<String> = self
            .operands(node)
            .into_iter()
            .filter(|c| c.kind() == "command")
            .filter_map(|c| c.child_by_field_name("name"))
            .map(|n| self.text(n).to_string())
            .collect();
        let downloads = commands.iter().any(|c| c == "curl" || c == "wget");
        let shell = commands.last().is_some_and(|c| {
            matches!(
                c.as_str(),
                "sh" | "bash" | "zsh" | "sudo" | "python" | "python3"
            )
        });
        if downloads && shell {
            self.find(
                Rule::PipeToShell,
                Severity::Critical,
                node,
                format!(
                    "A download is piped into a shell: `{}`",
                    self.short(node, 60)
                ),
            );
        }
    }

    fn finish(mut self) -> Analysis {
        for function in &self.functions {
            let lines = function.end_line - function.line + 1;
            let mut push = |rule, severity, description| {
                self.findings.push(Finding {
                    rule,
                    severity,
                    description,
                    line: function.line,
                    end_line: function.end_line,
                })
            };
            if function.self_calls >= 2 && !function.memoised {
                push(
                    Rule::ExponentialRecursion,
                    Severity::High,
                    format!(
                        "`{}` calls itself {} times per call without memoisation: exponential time",
                        function.name, function.self_calls
                    ),
                );
            }
            if lines > LONG_FUNCTION {
                let severity = if lines > VERY_LONG_FUNCTION {
                    Severity::High
                } else {
                    Severity::Medium
                };
                push(
                    Rule::LongFunction,
                    severity,
                    format!("`{}` is {lines} lines long", function.name),
                );
            }
            if function.complexity > COMPLEX {
                let severity = if function.complexity > VERY_COMPLEX {
                    Severity::High
                } else {
                    Severity::Medium
                };
                push(
                    Rule::HighComplexity,
                    severity,
                    format!(
                        "`{}` has cyclomatic complexity {} (more than {COMPLEX})",
                        function.name, function.complexity
                    ),
                );
            }
        }
        let findings = cap_per_rule(self.findings);
        Analysis {
            lines: self.code.lines().count(),
            functions: self.functions,
            statements: self.statements,
            findings,
            parse_errors: self.parse_errors,
        }
    }
}

/// Sorted by severity then line; past [`LISTED_PER_RULE`] of one rule the rest are counted.
fn cap_per_rule(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.line.cmp(&b.line)));
    let mut out: Vec<Finding> = Vec::new();
    let mut extra: Vec<(Rule, usize)> = Vec::new();
    for finding in findings {
        let listed = out.iter().filter(|f| f.rule == finding.rule).count();
        if listed < LISTED_PER_RULE {
            out.push(finding);
        } else {
            match extra.iter_mut().find(|(r, _)| *r == finding.rule) {
                Some((_, n)) => *n += 1,
                None => extra.push((finding.rule, 1)),
            }
        }
    }
    for (rule, more) in extra {
        if let Some(last) = out.iter_mut().rev().find(|f| f.rule == rule) {
            last.description
                .push_str(&format!(" (and {more} more like it)"));
        }
    }
    out
}

#[cfg(test)]
pub fn analyse(lang: Lang, code: &str) -> Analysis {
    analyse_parsed(lang, code, None)
}

/// [`analyse`] with the tree detection already made for `lang` (parsed here when `None`).
pub fn analyse_parsed(lang: Lang, code: &str, tree: Option<tree_sitter::Tree>) -> Analysis {
    let Some(tree) = tree.or_else(|| lang.parse(code)) else {
        return Analysis {
            lines: code.lines().count(),
            ..Default::default()
        };
    };
    let mut walker = Walker {
        lang,
        kinds: lang.kinds(),
        code,
        functions: Vec::new(),
        open: Vec::new(),
        handlers: 0,
        findings: Vec::new(),
        statements: Vec::new(),
        parse_errors: 0,
    };
    let mut cursor = tree.walk();
    'walk: loop {
        walker.enter(cursor.node());
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            walker.exit(cursor.node());
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    walker.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(lang: Lang, code: &str) -> Vec<(&'static str, Severity)> {
        analyse(lang, code)
            .findings
            .iter()
            .map(|f| (f.rule.id(), f.severity))
            .collect()
    }

    #[test]
    fn literal_credential_comparisons_in_the_documents_auth() {
        let found = rules(
            Lang::JavaScript,
            "function auth(user, pass) { return user === \"admin\" && pass === \"password\"; }",
        );
        assert_eq!(
            found,
            vec![
                ("literal-credential-comparison", Severity::Critical),
                ("literal-credential-comparison", Severity::Critical)
            ]
        );
    }

    #[test]
    fn exponential_recursion_unless_memoised() {
        let fib = "def fib(n): return n if n <= 1 else fib(n-1) + fib(n-2)";
        assert_eq!(
            rules(Lang::Python, fib),
            vec![("exponential-recursion", Severity::High)]
        );
        let cached = format!("import functools\n@functools.lru_cache(maxsize=None)\n{fib}\n");
        assert_eq!(rules(Lang::Python, &cached), vec![]);
        let analysis = analyse(Lang::Python, fib);
        assert_eq!(analysis.functions[0].params, vec!["n"]);
        assert_eq!(analysis.functions[0].complexity, 2);
    }

    #[test]
    fn injection_and_credentials_across_languages() {
        let py = "import os\nAPI_KEY = \"sk-live-123\"\ndef run(q, name):\n    cur.execute(f\"SELECT id FROM users WHERE name = '{name}'\")\n    os.system(q)\n    eval(q)\n";
        let found = rules(Lang::Python, py);
        for rule in [
            "hardcoded-credential",
            "sql-string-building",
            "shell-injection",
            "dynamic-evaluation",
        ] {
            assert!(found.iter().any(|(r, _)| *r == rule), "{rule}: {found:?}");
        }
        let js = "const q = 'SELECT * FROM u WHERE id=' + id + ' AND x';\nconst data = JSON.parse(body);";
        let found = rules(Lang::JavaScript, js);
        assert!(
            found.contains(&("sql-string-building", Severity::High)),
            "{found:?}"
        );
        assert!(
            found.contains(&("select-star", Severity::Medium)),
            "{found:?}"
        );
        assert!(
            found.contains(&("unhandled-failure", Severity::Medium)),
            "{found:?}"
        );
        assert_eq!(
            found
                .iter()
                .filter(|(r, _)| *r == "sql-string-building")
                .count(),
            1
        );
        let sh = "#!/bin/bash\nDB_PASSWORD=hunter2\ncurl -s https://x.example/install | sh\neval \"$1\"\n";
        let found = rules(Lang::Shell, sh);
        for rule in [
            "hardcoded-credential",
            "pipe-to-shell",
            "dynamic-evaluation",
        ] {
            assert!(found.iter().any(|(r, _)| *r == rule), "{rule}: {found:?}");
        }
        let rs = "fn q(a: &str) -> String { let v = std::fs::read(\"x\").unwrap(); format!(\"SELECT * FROM t WHERE a = '{}'\", a) }";
        let found = rules(Lang::Rust, rs);
        assert!(
            found.contains(&("sql-string-building", Severity::High)),
            "{found:?}"
        );
        assert!(
            found.contains(&("unhandled-failure", Severity::Low)),
            "{found:?}"
        );
    }

    #[test]
    fn sql_statements_and_dialect_tolerance() {
        let analysis = analyse(
            Lang::Sql,
            "SELECT * FROM users WHERE created_at > NOW() - INTERVAL 7 DAY;\nDELETE FROM sessions;",
        );
        let found: Vec<_> = analysis
            .findings
            .iter()
            .map(|f| (f.rule.id(), f.severity, f.line))
            .collect();
        assert!(
            found.contains(&("select-star", Severity::Medium, 1)),
            "{found:?}"
        );
        assert!(
            found.contains(&("unbounded-write", Severity::High, 2)),
            "{found:?}"
        );
        assert!(found
            .iter()
            .all(|(r, s, _)| *r != "parse-error" || *s == Severity::Low));
        assert_eq!(analysis.statements[0].kind, "select");
        assert_eq!(analysis.statements[0].predicates.len(), 1);
    }

    #[test]
    fn complexity_length_and_parse_errors() {
        let mut body = String::from("def big(x):\n");
        for i in 0..12 {
            body.push_str(&format!("    if x == {i}:\n        return {i}\n"));
        }
        let found = rules(Lang::Python, &body);
        assert!(
            found.contains(&("high-complexity", Severity::Medium)),
            "{found:?}"
        );
        let long: String = std::iter::once("function f() {\n".to_string())
            .chain((0..70).map(|i| format!("  let a{i} = {i};\n")))
            .chain(std::iter::once("}\n".to_string()))
            .collect();
        assert!(rules(Lang::JavaScript, &long).contains(&("long-function", Severity::Medium)));
        assert!(rules(Lang::Python, "def f(:\n  return")
            .iter()
            .any(|(r, s)| *r == "parse-error" && *s == Severity::High));
    }

    #[test]
    fn a_clean_function_has_no_findings_and_deep_nesting_does_not_overflow() {
        assert_eq!(
            rules(Lang::Python, "def add(a, b):\n    return a + b\n"),
            vec![]
        );
        let deep = format!("x = {}1{}", "(".repeat(20_000), ")".repeat(20_000));
        let analysis = analyse(Lang::Python, &deep);
        assert_eq!(analysis.lines, 1);
    }

    #[test]
    fn findings_of_one_rule_are_capped_and_counted() {
        let code: String = (0..9)
            .map(|i| format!("let v{i} = x.unwrap();\n"))
            .collect();
        let code = format!("fn f() {{\n{code}}}\n");
        let found = analyse(Lang::Rust, &code).findings;
        assert_eq!(found.len(), 5);
        assert!(found[4].description.ends_with("(and 4 more like it)"));
    }
}
