//! Consciousness state (LUKHAS `/consciousness/state`): what the caller's pipeline is doing
//! now and what its last interaction attended to, derived from the runs themselves — the
//! stage in progress, the last run's confidence decaying with time, where its attention
//! came from (the input, the memories, the requested focus), its risk and claims. Kept per
//! process; it is state, not history (the interactions themselves are memory folds).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::round3;
use crate::domain::identity::Principal;
use crate::error::DomainResult;

/// Awareness halves about every seven minutes: e^(−age / 600 s).
const AWARENESS_DECAY_SECS: f64 = 600.0;
/// After a run this long ago the caller is dormant rather than attentive.
const ATTENTIVE_SECS: i64 = 300;
const MAX_USERS: usize = 100_000;

/// What one completed interaction leaves for the state.
#[derive(Clone, Debug)]
pub struct LastRun {
    pub interaction_id: String,
    pub ended_at: DateTime<Utc>,
    pub confidence: f64,
    /// Shares of the attention weight from the input, the memories and the focus.
    pub sources: [f64; 3],
    pub attention_confidence: f64,
    pub risk: f64,
    pub memories_retrieved: bool,
    pub claims_held: bool,
    pub stored: bool,
}

#[derive(Default)]
struct UserActivity {
    /// The stage the newest run reached, while any run is in progress.
    in_flight: Option<&'static str>,
    /// Runs in progress (a batch runs several at once).
    running: usize,
    /// When the current mode began.
    since: Option<DateTime<Utc>>,
    last: Option<LastRun>,
}

#[derive(Default)]
pub struct Activity {
    users: Mutex<HashMap<String, UserActivity>>,
}

/// Clears the caller's stage in progress when the run ends, however it ends.
pub struct RunGuard<'a> {
    activity: &'a Activity,
    user: String,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let mut users = self.activity.lock();
        if let Some(entry) = users.get_mut(&self.user) {
            entry.running = entry.running.saturating_sub(1);
            if entry.running == 0 && entry.in_flight.take().is_some() {
                entry.since = Some(Utc::now());
            }
        }
    }
}

impl RunGuard<'_> {
    /// The run reached `stage`.
    pub fn enter(&self, stage: &'static str) {
        if let Some(entry) = self.activity.lock().get_mut(&self.user) {
            entry.in_flight = Some(stage);
        }
    }

    /// The run completed.
    pub fn finish(self, last: LastRun) {
        if let Some(entry) = self.activity.lock().get_mut(&self.user) {
            entry.last = Some(last);
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AttentionShare {
    pub target: &'static str,
    pub weight: f64,
    pub stage: &'static str,
}

#[derive(Clone, Debug)]
pub struct ConsciousnessState {
    /// `MATRIZ_PROCESSING` (a run is in progress), `ATTENTIVE` (the last run ended within
    /// five minutes) or `DORMANT`.
    pub mode: &'static str,
    /// The last run's confidence × e^(−age / 600 s); 0 before any run.
    pub awareness: f64,
    pub active_stage: Option<&'static str>,
    pub memory_active: bool,
    pub attention_focused: bool,
    pub thought_processing: bool,
    /// `low` (risk < 0.2), `medium` (< 0.5) or `high`; none before any run.
    pub risk_assessment: Option<&'static str>,
    pub intent_verified: bool,
    pub action_ready: bool,
    pub distribution: Vec<AttentionShare>,
    pub mode_seconds: u64,
    pub last_interaction: Option<String>,
}

impl Activity {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, UserActivity>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A run of `user`'s pipeline starts.
    pub fn start(&self, user: &str) -> RunGuard<'_> {
        let mut users = self.lock();
        if users.len() >= MAX_USERS && !users.contains_key(user) {
            // Forget the longest-idle callers first; runs in progress are kept.
            let cutoff = Utc::now() - chrono::Duration::seconds(ATTENTIVE_SECS);
            users.retain(|_, a| a.in_flight.is_some() || a.since.is_some_and(|s| s > cutoff));
        }
        let entry = users.entry(user.to_string()).or_default();
        if entry.running == 0 {
            entry.since = Some(Utc::now());
        }
        entry.running += 1;
        entry.in_flight = Some("memory");
        RunGuard {
            activity: self,
            user: user.to_string(),
        }
    }

    pub fn state(&self, principal: &Principal) -> DomainResult<ConsciousnessState> {
        let actor = principal.actor()?;
        let now = Utc::now();
        let users = self.lock();
        let entry = users.get(&actor.user_id);
        let in_flight = entry.and_then(|e| e.in_flight);
        let last = entry.and_then(|e| e.last.clone());
        let since = entry.and_then(|e| e.since);
        let age = |at: DateTime<Utc>| (now - at).num_milliseconds().max(0) as f64 / 1000.0;
        let mode = match (&in_flight, &last) {
            (Some(_), _) => "MATRIZ_PROCESSING",
            (None, Some(l)) if age(l.ended_at) < ATTENTIVE_SECS as f64 => "ATTENTIVE",
            _ => "DORMANT",
        };
        let awareness = last.as_ref().map_or(0.0, |l| {
            l.confidence * (-age(l.ended_at) / AWARENESS_DECAY_SECS).exp()
        });
        let distribution = last.as_ref().map_or_else(Vec::new, |l| {
            [
                ("user_query", l.sources[0], "attention"),
                ("context_memory", l.sources[1], "memory"),
                ("requested_focus", l.sources[2], "attention"),
            ]
            .into_iter()
            .filter(|(_, w, _)| *w > 0.0)
            .map(|(target, weight, stage)| AttentionShare {
                target,
                weight: round3(weight),
                stage,
            })
            .collect()
        });
        Ok(ConsciousnessState {
            mode,
            awareness: round3(awareness),
            active_stage: in_flight,
            memory_active: last.as_ref().is_some_and(|l| l.memories_retrieved),
            attention_focused: last.as_ref().is_some_and(|l| l.attention_confidence >= 0.5),
            thought_processing: in_flight == Some("thought"),
            risk_assessment: last.as_ref().map(|l| match l.risk {
                r if r < 0.2 => "low",
                r if r < 0.5 => "medium",
                _ => "high",
            }),
            intent_verified: last.as_ref().is_some_and(|l| l.claims_held),
            action_ready: last.as_ref().is_some_and(|l| l.stored),
            distribution,
            mode_seconds: since.map_or(0, |s| age(s) as u64),
            last_interaction: last.map(|l| l.interaction_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_processing_until_their_last_run_ends() {
        let activity = Activity::default();
        let in_flight = || activity.lock().get("u").and_then(|e| e.in_flight);
        let first = activity.start("u");
        let second = activity.start("u");
        second.enter("thought");
        drop(first);
        assert_eq!(in_flight(), Some("thought"), "one run is still going");
        drop(second);
        assert_eq!(in_flight(), None);
        assert_eq!(activity.lock()["u"].running, 0);
    }
}
