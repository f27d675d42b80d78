//! What a check found: where, how bad, and what to do about it.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Points off the quality score (docs/DECISIONS.md, "War room").
    pub fn penalty(self) -> u32 {
        match self {
            Severity::Critical => 40,
            Severity::High => 20,
            Severity::Medium => 8,
            Severity::Low => 3,
        }
    }

    /// Critical and high findings are the review's critical issues.
    pub fn blocks(self) -> bool {
        matches!(self, Severity::Critical | Severity::High)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Security,
    Correctness,
    Performance,
    Reliability,
    Maintainability,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Security => "security",
            Category::Correctness => "correctness",
            Category::Performance => "performance",
            Category::Reliability => "reliability",
            Category::Maintainability => "maintainability",
        }
    }
}

/// The checks, each with what it costs and how to fix what it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    HardcodedCredential,
    LiteralCredentialComparison,
    DynamicEvaluation,
    ShellInjection,
    PipeToShell,
    SqlStringBuilding,
    SelectStar,
    UnboundedWrite,
    ExponentialRecursion,
    UnhandledFailure,
    LongFunction,
    HighComplexity,
    ParseError,
    /// SQL the generic grammar does not know (often one database's own syntax).
    DialectSyntax,
    /// Raised by the language model's review.
    ModelFinding,
}

impl Rule {
    pub fn id(self) -> &'static str {
        match self {
            Rule::HardcodedCredential => "hardcoded-credential",
            Rule::LiteralCredentialComparison => "literal-credential-comparison",
            Rule::DynamicEvaluation => "dynamic-evaluation",
            Rule::ShellInjection => "shell-injection",
            Rule::PipeToShell => "pipe-to-shell",
            Rule::SqlStringBuilding => "sql-string-building",
            Rule::SelectStar => "select-star",
            Rule::UnboundedWrite => "unbounded-write",
            Rule::ExponentialRecursion => "exponential-recursion",
            Rule::UnhandledFailure => "unhandled-failure",
            Rule::LongFunction => "long-function",
            Rule::HighComplexity => "high-complexity",
            Rule::ParseError => "parse-error",
            Rule::DialectSyntax => "dialect-syntax",
            Rule::ModelFinding => "model-review",
        }
    }

    pub fn category(self) -> Category {
        match self {
            Rule::HardcodedCredential
            | Rule::LiteralCredentialComparison
            | Rule::DynamicEvaluation
            | Rule::ShellInjection
            | Rule::PipeToShell
            | Rule::SqlStringBuilding => Category::Security,
            Rule::SelectStar | Rule::ExponentialRecursion => Category::Performance,
            Rule::UnboundedWrite | Rule::ParseError | Rule::DialectSyntax | Rule::ModelFinding => {
                Category::Correctness
            }
            Rule::UnhandledFailure => Category::Reliability,
            Rule::LongFunction | Rule::HighComplexity => Category::Maintainability,
        }
    }

    pub fn recommendation(self) -> &'static str {
        match self {
            Rule::HardcodedCredential => "Move credentials out of the code: read them from the environment or a secret store, and rotate the exposed ones",
            Rule::LiteralCredentialComparison => "Never compare against literal credentials: look the user up and verify a salted hash (argon2, bcrypt) in constant time",
            Rule::DynamicEvaluation => "Replace eval/exec with explicit parsing or a dispatch table; never evaluate input as code",
            Rule::ShellInjection => "Run programs without a shell, passing arguments as a list, and validate every argument",
            Rule::PipeToShell => "Download to a file, verify its checksum or signature, then run it",
            Rule::SqlStringBuilding => "Use parameterised queries (placeholders bound by the driver) instead of building SQL from strings",
            Rule::SelectStar => "Specify the columns you need instead of SELECT *",
            Rule::UnboundedWrite => "Add a WHERE clause so the statement touches only the rows it should",
            Rule::ExponentialRecursion => "Memoise the recursion (a cache keyed by the arguments) or rewrite it iteratively",
            Rule::UnhandledFailure => "Handle the failure where it can happen (try/except, try/catch, `?` with context) instead of letting it escape",
            Rule::LongFunction => "Split the function into smaller ones with one purpose each",
            Rule::HighComplexity => "Reduce branching: extract conditions into named functions, use early returns or lookup tables",
            Rule::ParseError => "Fix the syntax error so the code parses",
            Rule::DialectSyntax => "Check the statement on the database it targets: the generic SQL grammar does not know this syntax",
            Rule::ModelFinding => "Address the reviewer model's finding",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    pub description: String,
    /// 1-based.
    pub line: usize,
    pub end_line: usize,
}

impl Finding {
    pub fn location(&self) -> String {
        if self.end_line > self.line {
            format!("lines {}-{}", self.line, self.end_line)
        } else {
            format!("line {}", self.line)
        }
    }
}
