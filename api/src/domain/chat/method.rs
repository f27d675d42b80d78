//! The memory method: a rolling window of the last 21 interactions and at most 3
//! summaries. Storing an interaction that would make the window exceed 21 first folds the
//! oldest 7 into a new summary; a fourth summary makes the two oldest merge into one.

pub const WINDOW: usize = 21;
pub const FOLD: usize = 7;
pub const MAX_SUMMARIES: usize = 3;

/// What has to happen before one more interaction is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Fold the oldest [`FOLD`] interactions of the window into a new summary.
    pub fold: bool,
    /// Then merge the two oldest summaries (the fold made one too many).
    pub merge: bool,
}

pub fn plan(window: usize, summaries: usize) -> Plan {
    let fold = window + 1 > WINDOW;
    Plan {
        fold,
        merge: fold && summaries + 1 > MAX_SUMMARIES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(window, summaries)` after storing one more interaction.
    fn store((window, summaries): (usize, usize)) -> (usize, usize) {
        let plan = plan(window, summaries);
        let window = if plan.fold { window - FOLD } else { window };
        let summaries = summaries + usize::from(plan.fold) - usize::from(plan.merge);
        (window + 1, summaries)
    }

    fn after(n: usize) -> (usize, usize) {
        (0..n).fold((0, 0), |state, _| store(state))
    }

    #[test]
    fn counts_at_the_boundaries() {
        assert_eq!(after(1), (1, 0));
        assert_eq!(after(21), (21, 0));
        assert_eq!(after(22), (15, 1));
        assert_eq!(after(28), (21, 1));
        assert_eq!(after(29), (15, 2));
        assert_eq!(after(36), (15, 3));
        assert_eq!(after(42), (21, 3));
        assert_eq!(after(43), (15, 3));
        assert_eq!(after(85), (15, 3));
    }

    #[test]
    fn never_beyond_the_limits() {
        let mut state = (0, 0);
        for _ in 0..500 {
            state = store(state);
            assert!(state.0 <= WINDOW && state.1 <= MAX_SUMMARIES, "{state:?}");
        }
    }
}
