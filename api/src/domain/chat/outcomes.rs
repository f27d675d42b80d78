//! What became of the commands a chat turn left waiting for approval. The turn stored
//! `approval_required`; the approval and the run that follows it are recorded on the
//! terminal run, so history reads the run's state over the stored execution instead of
//! keeping a second copy that could disagree.

use std::collections::HashMap;

use orrery_entities::terminal_run;
use serde_json::Value;

use super::Execution;
use crate::domain::terminal::approvals::{PENDING, REJECTED, RUNNING};

/// `execution` as its approval's run now stands.
pub fn resolve(execution: &mut Execution, runs: &HashMap<String, terminal_run::Model>) {
    let Some(run) = execution.approval_id.as_ref().and_then(|id| runs.get(id)) else {
        return;
    };
    match run.status.as_str() {
        PENDING => {}
        RUNNING => execution.status = RUNNING.into(),
        REJECTED => {
            execution.status = REJECTED.into();
            execution.stderr = "The approval was declined; the command was not run.".into();
        }
        finished => {
            let result: Value = run
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or_default();
            execution.status = finished.to_string();
            execution.stdout = result["stdout"].as_str().unwrap_or_default().to_string();
            execution.stderr = result["stderr"].as_str().unwrap_or_default().to_string();
            execution.exit_code = result["exitCode"].as_i64().map(|c| c as i32);
            execution.duration_ms = result["duration"].as_u64().unwrap_or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting() -> Execution {
        Execution {
            status: "approval_required".into(),
            stdout: String::new(),
            stderr: String::new(),
            exit_code: None,
            duration_ms: 0,
            verdict: "approval_required".into(),
            reasons: vec!["deletes files".into()],
            approval_id: Some("appr_1".into()),
        }
    }

    fn run(status: &str, result: Option<&str>) -> HashMap<String, terminal_run::Model> {
        let model = terminal_run::Model {
            id: "appr_1".into(),
            user_id: "u".into(),
            session: Some("s".into()),
            command: "rm old.log".into(),
            cwd: None,
            reasons: "[]".into(),
            status: status.into(),
            resolved_by: Some("u".into()),
            result: result.map(str::to_string),
            created_at: chrono::Utc::now(),
            resolved_at: None,
        };
        HashMap::from([("appr_1".to_string(), model)])
    }

    #[test]
    fn a_finished_run_fills_the_execution() {
        let mut execution = waiting();
        let result = r#"{"status":"success","exitCode":0,"stdout":"gone\n","stderr":"","duration":12,"killed":false}"#;
        resolve(&mut execution, &run("success", Some(result)));
        assert_eq!(execution.status, "success");
        assert_eq!(execution.stdout, "gone\n");
        assert_eq!(execution.exit_code, Some(0));
        assert_eq!(execution.duration_ms, 12);
        assert_eq!(execution.reasons, vec!["deletes files".to_string()]);
    }

    #[test]
    fn pending_rejected_and_unknown_runs() {
        let mut execution = waiting();
        resolve(&mut execution, &run(PENDING, None));
        assert_eq!(execution, waiting());
        resolve(&mut execution, &HashMap::new());
        assert_eq!(execution, waiting());
        resolve(&mut execution, &run(REJECTED, None));
        assert_eq!(execution.status, "rejected");
        assert!(execution.stderr.contains("declined"));
    }
}
