//! Test proposals derived from the code itself: for each function a typical-case test, an
//! edge-input test when it takes arguments, one per branch, one per security finding in it,
//! and a performance test for exponential recursion; for each SQL statement the rows it
//! must and must not touch. Coverage is the share of the code's paths (function entries,
//! branch arms, statements and their predicates) the proposals exercise.

use super::analysis::Analysis;
use super::findings::{Category, Rule};

/// Most tests proposed per function's branches (the rest count as uncovered paths).
const BRANCH_TESTS: usize = 4;
const MAX_TESTS: usize = 40;

#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    pub name: String,
    pub description: String,
    /// `unit`, `edge_case`, `integration`, `security` or `performance`.
    pub kind: &'static str,
}

pub struct Proposals {
    pub tests: Vec<TestCase>,
    pub paths: usize,
    pub covered: usize,
}

impl Proposals {
    pub fn coverage(&self) -> u32 {
        if self.paths == 0 {
            return 0;
        }
        ((self.covered.min(self.paths) * 100) as f64 / self.paths as f64).round() as u32
    }
}

/// `user_id > 3 AND x` → `user_id_3_and_x`: a test-name fragment.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(5)
    {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(&word.to_lowercase());
    }
    if out.is_empty() {
        "case".into()
    } else {
        out
    }
}

/// `authUser` → `auth_user`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    slug(&out)
}

pub fn propose(analysis: &Analysis) -> Proposals {
    // Each proposal with the number of paths it exercises.
    let mut tests: Vec<(TestCase, usize)> = Vec::new();
    let mut paths = 0;
    let add = |tests: &mut Vec<(TestCase, usize)>,
               covers: usize,
               name: String,
               description: String,
               kind| {
        if !tests.iter().any(|(t, _)| t.name == name) {
            tests.push((
                TestCase {
                    name,
                    description,
                    kind,
                },
                covers,
            ));
        }
    };
    for function in analysis
        .functions
        .iter()
        .filter(|f| f.name != "<anonymous>")
    {
        let name = snake(&function.name);
        paths += 1 + function.branches.len();
        add(
            &mut tests,
            1,
            format!("test_{name}_returns_expected_result"),
            format!(
                "Call {}({}) with typical arguments and check the result",
                function.name,
                function.params.join(", ")
            ),
            "unit",
        );
        if !function.params.is_empty() {
            add(
                &mut tests,
                0,
                format!("test_{name}_handles_edge_inputs"),
                format!(
                    "Call {} with boundary values for {} (zero, negative, empty, null, very large)",
                    function.name,
                    function.params.join(", ")
                ),
                "edge_case",
            );
        }
        for branch in function.branches.iter().take(BRANCH_TESTS) {
            add(
                &mut tests,
                1,
                format!("test_{name}_when_{}", slug(&branch.condition)),
                format!(
                    "Exercise the branch at line {} both when `{}` holds and when it does not",
                    branch.line, branch.condition
                ),
                "unit",
            );
        }
        let inside = |line: usize| line >= function.line && line <= function.end_line;
        for finding in analysis.findings.iter().filter(|f| inside(f.line)) {
            match finding.rule {
                Rule::ExponentialRecursion => add(
                    &mut tests,
                    0,
                    format!("test_{name}_large_input_completes_quickly"),
                    format!(
                        "Call {} with a large input (e.g. 40) and require it to finish within 100 ms",
                        function.name
                    ),
                    "performance",
                ),
                rule if rule.category() == Category::Security => add(
                    &mut tests,
                    0,
                    format!("test_{name}_rejects_{}", rule.id().replace('-', "_")),
                    format!(
                        "Show that {} is not open to: {}",
                        function.name, finding.description
                    ),
                    "security",
                ),
                _ => {}
            }
        }
    }
    for (i, statement) in analysis.statements.iter().enumerate() {
        let subject = if analysis.statements.len() == 1 {
            "query".to_string()
        } else {
            format!("statement_{}", i + 1)
        };
        let table = statement.table.as_deref().unwrap_or("the table");
        paths += 1 + statement.predicates.len();
        match (statement.kind, statement.predicates.first()) {
            ("select", Some(predicate)) => {
                add(
                    &mut tests,
                    1,
                    format!("test_{subject}_returns_matching_rows"),
                    format!("Verify the query returns the rows of {table} where {predicate}"),
                    "integration",
                );
                add(
                    &mut tests,
                    statement.predicates.len(),
                    format!("test_{subject}_excludes_non_matching_rows"),
                    format!("Verify rows of {table} where {predicate} does not hold are not returned"),
                    "integration",
                );
                add(
                    &mut tests,
                    0,
                    format!("test_{subject}_performance"),
                    format!("Verify the query runs within 100 ms on a realistically sized {table}"),
                    "performance",
                );
            }
            ("select", None) => add(
                &mut tests,
                1,
                format!("test_{subject}_returns_all_rows"),
                format!("Verify the query returns every row of {table} with the expected columns"),
                "integration",
            ),
            (kind @ ("update" | "delete" | "insert"), _) => add(
                &mut tests,
                1 + statement.predicates.len(),
                format!("test_{subject}_{kind}_affects_only_intended_rows"),
                format!("Run the {} on a fixture of {table} and check exactly the intended rows changed", kind.to_uppercase()),
                "integration",
            ),
            _ => add(
                &mut tests,
                1 + statement.predicates.len(),
                format!("test_{subject}_executes"),
                "Run the statement against a test database and check it succeeds".into(),
                "integration",
            ),
        }
    }
    if analysis.functions.is_empty() && analysis.statements.is_empty() && analysis.lines > 0 {
        paths += 1;
        add(
            &mut tests,
            1,
            "test_script_runs_successfully".into(),
            "Run the code end to end in a scratch environment and check its output and exit status"
                .into(),
            "integration",
        );
        add(
            &mut tests,
            0,
            "test_script_fails_cleanly_on_bad_input".into(),
            "Run it with missing or malformed input and check it fails with a clear error".into(),
            "edge_case",
        );
    }
    tests.truncate(MAX_TESTS);
    let covered = tests.iter().map(|(_, covers)| covers).sum();
    Proposals {
        tests: tests.into_iter().map(|(test, _)| test).collect(),
        paths,
        covered,
    }
}

#[cfg(test)]
mod tests {
    use super::super::analysis::analyse;
    use super::super::language::Lang;
    use super::*;

    #[test]
    fn names_come_from_the_codes_functions_and_branches() {
        let analysis = analyse(
            Lang::Python,
            "def fib(n): return n if n <= 1 else fib(n-1) + fib(n-2)",
        );
        let proposals = propose(&analysis);
        let names: Vec<&str> = proposals.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "test_fib_returns_expected_result",
                "test_fib_handles_edge_inputs",
                "test_fib_when_n_1",
                "test_fib_large_input_completes_quickly"
            ]
        );
        assert_eq!(
            (proposals.paths, proposals.covered, proposals.coverage()),
            (2, 2, 100)
        );
    }

    #[test]
    fn sql_gets_integration_tests_from_its_predicate() {
        let analysis = analyse(Lang::Sql, "SELECT * FROM users WHERE created_at > NOW()");
        let proposals = propose(&analysis);
        let kinds: Vec<&str> = proposals.tests.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, vec!["integration", "integration", "performance"]);
        assert!(proposals.tests[0].description.contains("users"));
    }

    #[test]
    fn camel_case_names_become_snake_case() {
        assert_eq!(snake("authUser"), "auth_user");
        assert_eq!(slug("x.len() > 3 && ok"), "x_len_3_ok");
    }
}
