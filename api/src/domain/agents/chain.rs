//! Chains: a preset, a list of steps, or a DAG of agent nodes. Whatever the form, it becomes
//! a [`Plan`]: steps in an order they may start in, each knowing the steps it waits for.

use std::collections::{BTreeMap, HashMap};

use super::catalogue::{self, Agent};
use crate::error::{DomainError, DomainResult};

pub const MAX_STEPS: usize = 5;
pub const MAX_NODES: usize = 20;
const MAX_NAME: usize = 100;
const MAX_TEMPLATE: usize = 20_000;

pub enum ChainRequest {
    Preset(String),
    /// Agent slugs, run one after the other.
    Steps(Vec<String>),
    Graph(Graph),
}

pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

pub struct Node {
    pub id: String,
    pub agent: String,
    pub prompt_template: Option<String>,
}

pub struct Edge {
    pub from: String,
    pub to: String,
}

#[derive(Debug)]
pub struct PlanStep {
    pub node: String,
    pub agent: &'static Agent,
    pub template: Option<String>,
    /// Indexes (into [`Plan::steps`]) of the steps whose outputs this one receives.
    pub after: Vec<usize>,
}

#[derive(Debug)]
pub struct Plan {
    pub name: String,
    pub steps: Vec<PlanStep>,
}

fn known_agent(slug: &str, field: String) -> DomainResult<&'static Agent> {
    catalogue::agent(slug).ok_or_else(|| {
        DomainError::invalid(
            field,
            format!("unknown agent '{slug}' (GET /agents/list lists them)"),
        )
    })
}

fn linear(name: &str, slugs: &[&str], field: &str) -> DomainResult<Plan> {
    let steps = slugs
        .iter()
        .enumerate()
        .map(|(i, slug)| {
            Ok(PlanStep {
                node: format!("step-{}", i + 1),
                agent: known_agent(slug, format!("{field}[{i}].agent"))?,
                template: None,
                after: if i == 0 { vec![] } else { vec![i - 1] },
            })
        })
        .collect::<DomainResult<_>>()?;
    Ok(Plan {
        name: name.to_string(),
        steps,
    })
}

fn is_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl ChainRequest {
    /// The one form a request gives: exactly one of a preset, steps or a graph.
    pub fn from_parts(
        preset: Option<String>,
        steps: Option<Vec<String>>,
        graph: Option<Graph>,
    ) -> DomainResult<Self> {
        match (preset, steps, graph) {
            (Some(preset), None, None) => Ok(Self::Preset(preset)),
            (None, Some(steps), None) => Ok(Self::Steps(steps)),
            (None, None, Some(graph)) => Ok(Self::Graph(graph)),
            _ => Err(DomainError::invalid(
                "preset",
                "give exactly one of preset, steps or chain",
            )),
        }
    }
}

/// Checks the request and orders it. Every error names the field, node or edge at fault.
pub fn plan(request: ChainRequest) -> DomainResult<Plan> {
    match request {
        ChainRequest::Preset(id) => {
            let preset = catalogue::preset(&id).ok_or_else(|| {
                let known: Vec<&str> = catalogue::PRESETS.iter().map(|p| p.id).collect();
                DomainError::invalid(
                    "preset",
                    format!("unknown preset '{id}'; presets: {}", known.join(", ")),
                )
            })?;
            linear(preset.id, preset.steps, "preset.steps")
        }
        ChainRequest::Steps(slugs) => {
            if slugs.is_empty() || slugs.len() > MAX_STEPS {
                return Err(DomainError::invalid(
                    "steps",
                    format!("a chain has 1 to {MAX_STEPS} steps"),
                ));
            }
            let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
            linear("custom", &slugs, "steps")
        }
        ChainRequest::Graph(graph) => plan_graph(graph),
    }
}

fn plan_graph(graph: Graph) -> DomainResult<Plan> {
    let name = graph.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(DomainError::invalid(
            "chain.name",
            format!("a chain's name has 1 to {MAX_NAME} characters"),
        ));
    }
    if graph.nodes.is_empty() || graph.nodes.len() > MAX_NODES {
        return Err(DomainError::invalid(
            "chain.nodes",
            format!("a chain has 1 to {MAX_NODES} nodes"),
        ));
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut agents = Vec::with_capacity(graph.nodes.len());
    for (i, node) in graph.nodes.iter().enumerate() {
        if !is_node_id(&node.id) {
            return Err(DomainError::invalid(
                format!("chain.nodes[{i}].id"),
                "a node id has 1 to 64 letters, digits, '-' or '_'",
            ));
        }
        if index.insert(node.id.as_str(), i).is_some() {
            return Err(DomainError::invalid(
                format!("chain.nodes[{i}].id"),
                format!("node id '{}' is used twice", node.id),
            ));
        }
        agents.push(known_agent(&node.agent, format!("chain.nodes[{i}].agent"))?);
        if let Some(template) = &node.prompt_template {
            if template.chars().count() > MAX_TEMPLATE {
                return Err(DomainError::invalid(
                    format!("chain.nodes[{i}].promptTemplate"),
                    format!("a prompt template has at most {MAX_TEMPLATE} characters"),
                ));
            }
        }
    }
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); graph.nodes.len()];
    for (e, edge) in graph.edges.iter().enumerate() {
        let end = |id: &str, side: &str| {
            index.get(id).copied().ok_or_else(|| {
                DomainError::invalid(
                    format!("chain.edges[{e}].{side}"),
                    format!("edge {e} names node '{id}', which is not in chain.nodes"),
                )
            })
        };
        let (from, to) = (end(&edge.from, "from")?, end(&edge.to, "to")?);
        if from == to {
            return Err(DomainError::invalid(
                format!("chain.edges[{e}]"),
                format!("edge {e} joins node '{}' to itself", edge.from),
            ));
        }
        if preds[to].contains(&from) {
            return Err(DomainError::invalid(
                format!("chain.edges[{e}]"),
                format!("edge {} → {} appears twice", edge.from, edge.to),
            ));
        }
        preds[to].push(from);
    }
    let order = topological(&preds).map_err(|cycle| {
        let path: Vec<&str> = cycle.iter().map(|&i| graph.nodes[i].id.as_str()).collect();
        DomainError::invalid(
            "chain.edges",
            format!("the chain has a cycle: {}", path.join(" → ")),
        )
    })?;
    for (i, node) in graph.nodes.iter().enumerate() {
        if let Some(template) = &node.prompt_template {
            let allowed: Vec<&str> = preds[i]
                .iter()
                .map(|&p| graph.nodes[p].id.as_str())
                .collect();
            check_template(template, &allowed).map_err(|message| {
                DomainError::invalid(format!("chain.nodes[{i}].promptTemplate"), message)
            })?;
        }
    }
    let position: HashMap<usize, usize> = order.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let mut nodes: Vec<Option<Node>> = graph.nodes.into_iter().map(Some).collect();
    let steps = order
        .iter()
        .map(|&i| {
            let node = nodes[i].take().expect("each node is ordered once");
            let mut after: Vec<usize> = preds[i].iter().map(|p| position[p]).collect();
            after.sort_unstable();
            PlanStep {
                node: node.id,
                agent: agents[i],
                template: node.prompt_template,
                after,
            }
        })
        .collect();
    Ok(Plan {
        name: name.to_string(),
        steps,
    })
}

/// Kahn's algorithm, taking ready nodes in declaration order; on a cycle, the nodes of one.
fn topological(preds: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = preds.len();
    let mut waiting: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (to, from) in preds.iter().enumerate() {
        for &f in from {
            succs[f].push(to);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(next) = ready.pop_first() {
        order.push(next);
        for &s in &succs[next] {
            waiting[s] -= 1;
            if waiting[s] == 0 {
                ready.insert(s);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Walk predecessors from a node left over until one repeats: that stretch is a cycle.
    let start = (0..n)
        .find(|&i| waiting[i] > 0)
        .expect("a node is left over");
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    let mut path = Vec::new();
    let mut at = start;
    while !seen.contains_key(&at) {
        seen.insert(at, path.len());
        path.push(at);
        at = *preds[at]
            .iter()
            .find(|&&p| waiting[p] > 0)
            .expect("a left-over node waits on a left-over node");
    }
    let mut cycle: Vec<usize> = path[seen[&at]..].to_vec();
    cycle.reverse();
    cycle.push(cycle[0]);
    Err(cycle)
}

/// The `{{…}}` variables of a template.
fn variables(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        out.push(after[..close].trim());
        rest = &after[close + 2..];
    }
    out
}

fn check_template(template: &str, predecessors: &[&str]) -> Result<(), String> {
    for variable in variables(template) {
        let ok = match variable.strip_prefix("outputs.") {
            Some(node) => predecessors.contains(&node),
            None => matches!(variable, "context" | "previous"),
        };
        if !ok {
            return Err(format!(
                "unknown variable {{{{{variable}}}}}: use {{{{context}}}}, {{{{previous}}}} or {{{{outputs.<id>}}}} of a node with an edge to this one"
            ));
        }
    }
    Ok(())
}

/// What a step is asked: its template with the variables filled in, or else the chain's
/// context followed by each predecessor's output under a heading.
pub fn prompt(
    template: Option<&str>,
    context: &str,
    predecessors: &[(&str, &str, &str)],
) -> String {
    let previous = || {
        predecessors
            .iter()
            .map(|(node, agent, output)| format!("## Output of {node} ({agent})\n\n{output}"))
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    match template {
        None if predecessors.is_empty() => context.to_string(),
        None => format!("{context}\n\n{}", previous()),
        Some(template) => {
            let mut out = String::with_capacity(template.len() + context.len());
            let mut rest = template;
            while let Some(open) = rest.find("{{") {
                let after = &rest[open + 2..];
                let Some(close) = after.find("}}") else { break };
                out.push_str(&rest[..open]);
                let variable = after[..close].trim();
                match variable.strip_prefix("outputs.") {
                    Some(node) => {
                        if let Some((_, _, output)) =
                            predecessors.iter().find(|(n, _, _)| *n == node)
                        {
                            out.push_str(output);
                        }
                    }
                    None if variable == "context" => out.push_str(context),
                    None => out.push_str(&previous()),
                }
                rest = &after[close + 2..];
            }
            out.push_str(rest);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, agent: &str) -> Node {
        Node {
            id: id.into(),
            agent: agent.into(),
            prompt_template: None,
        }
    }

    fn edge(from: &str, to: &str) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
        }
    }

    fn graph(nodes: Vec<Node>, edges: Vec<Edge>) -> DomainResult<Plan> {
        plan(ChainRequest::Graph(Graph {
            name: "g".into(),
            nodes,
            edges,
        }))
    }

    fn field_and_message(err: DomainError) -> (String, String) {
        match err {
            DomainError::Invalid { field, message } => (field.unwrap_or_default(), message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_diamond_orders_its_branches_after_their_common_start() {
        let plan = graph(
            vec![
                node("join", "documentation"),
                node("a", "code-review"),
                node("b", "testing-validation"),
                node("root", "requirements-analyzer"),
            ],
            vec![
                edge("root", "a"),
                edge("root", "b"),
                edge("a", "join"),
                edge("b", "join"),
            ],
        )
        .unwrap();
        let order: Vec<&str> = plan.steps.iter().map(|s| s.node.as_str()).collect();
        assert_eq!(order, ["root", "a", "b", "join"]);
        assert_eq!(plan.steps[3].after, [1, 2]);
        assert_eq!(plan.steps[1].after, [0]);
    }

    #[test]
    fn every_invalid_graph_names_what_is_wrong() {
        let (field, message) = field_and_message(
            graph(vec![node("a", "code-review"), node("a", "seo")], vec![]).unwrap_err(),
        );
        assert_eq!(field, "chain.nodes[1].id");
        assert!(message.contains("'a' is used twice"), "{message}");

        let (field, _) =
            field_and_message(graph(vec![node("a", "no-such-agent")], vec![]).unwrap_err());
        assert_eq!(field, "chain.nodes[0].agent");

        let (field, message) = field_and_message(
            graph(vec![node("a", "code-review")], vec![edge("a", "ghost")]).unwrap_err(),
        );
        assert_eq!(field, "chain.edges[0].to");
        assert!(message.contains("'ghost'"), "{message}");

        let (field, message) = field_and_message(
            graph(
                vec![
                    node("a", "code-review"),
                    node("b", "seo"),
                    node("c", "docker"),
                ],
                vec![edge("a", "b"), edge("b", "c"), edge("c", "b")],
            )
            .unwrap_err(),
        );
        assert_eq!(field, "chain.edges");
        assert!(
            message.contains("b → c → b") || message.contains("c → b → c"),
            "{message}"
        );

        let too_many = (0..21).map(|i| node(&format!("n{i}"), "seo")).collect();
        let (field, _) = field_and_message(graph(too_many, vec![]).unwrap_err());
        assert_eq!(field, "chain.nodes");

        let mut templated = node("b", "seo");
        templated.prompt_template = Some("{{outputs.c}} and {{context}}".into());
        let (field, message) = field_and_message(
            graph(
                vec![node("a", "code-review"), templated, node("c", "docker")],
                vec![edge("a", "b")],
            )
            .unwrap_err(),
        );
        assert_eq!(field, "chain.nodes[1].promptTemplate");
        assert!(message.contains("{{outputs.c}}"), "{message}");
    }

    #[test]
    fn steps_and_presets_become_linear_plans() {
        let plan = plan(ChainRequest::Preset("deploy".into())).unwrap();
        let agents: Vec<&str> = plan.steps.iter().map(|s| s.agent.slug).collect();
        assert_eq!(agents, ["code-review", "testing-validation", "deployment"]);
        assert_eq!(plan.steps[2].after, [1]);
        let six = vec!["seo".to_string(); 6];
        assert!(super::plan(ChainRequest::Steps(six)).is_err());
        assert!(super::plan(ChainRequest::Preset("nope".into())).is_err());
    }

    #[test]
    fn templates_receive_the_context_and_the_predecessors_outputs() {
        let preds = [("a", "code-review", "A said"), ("b", "seo", "B said")];
        assert_eq!(
            prompt(Some("Q: {{context}} | {{ outputs.b }}"), "ctx", &preds),
            "Q: ctx | B said"
        );
        let all = prompt(None, "ctx", &preds);
        assert!(
            all.starts_with("ctx\n\n## Output of a (code-review)\n\nA said"),
            "{all}"
        );
        assert_eq!(prompt(None, "ctx", &[]), "ctx");
    }
}
