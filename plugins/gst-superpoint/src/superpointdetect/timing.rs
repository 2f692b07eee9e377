//! Live-stream timing of `superpointdetect`: the measured per-frame cost it adds to the latency
//! query, and the one warning about late frames QoS drops (the element counts them in
//! `frames-dropped`).

use std::collections::VecDeque;
use std::time::Duration;

/// How many recent frames the reported cost is the maximum of.
const WINDOW: usize = 16;

/// A new cost this much above the reported one (ratio) makes the element post a latency message.
const REPORT_RATIO: f64 = 1.25;

/// Per-frame cost and QoS warning of one running element (made on start).
#[derive(Debug, Default)]
pub(super) struct Timing {
    /// Wall time of the last [`WINDOW`] detections (map, network, post-processing), newest last.
    recent: VecDeque<Duration>,
    /// The cost the last latency query was answered with.
    reported: Option<Duration>,
    /// Whether the one "slower than the stream" warning was posted.
    warned: bool,
}

impl Timing {
    /// Records the wall time of one detection. Returns true when the cost grew so much since the
    /// last latency answer (by [`REPORT_RATIO`]) that the pipeline should query latency again.
    pub(super) fn record(&mut self, cost: Duration) -> bool {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(cost);
        match self.reported {
            Some(r) => self.cost() > r.mul_f64(REPORT_RATIO),
            None => false,
        }
    }

    /// The latency to report: the slowest of the recent detections (zero before the first).
    pub(super) fn cost(&self) -> Duration {
        self.recent.iter().copied().max().unwrap_or_default()
    }

    /// The cost for a latency answer; remembered to tell when it is outdated.
    pub(super) fn report(&mut self) -> Duration {
        let cost = self.cost();
        self.reported = Some(cost);
        cost
    }

    /// Notes one frame dropped by QoS. Returns true the first time only: the caller warns once.
    pub(super) fn drop_frame(&mut self) -> bool {
        !std::mem::replace(&mut self.warned, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn cost_is_the_slowest_recent_detection() {
        let mut t = Timing::default();
        assert_eq!(t.cost(), Duration::ZERO);
        t.record(ms(40));
        t.record(ms(90));
        t.record(ms(50));
        assert_eq!(t.cost(), ms(90));
        // The 90 ms frame leaves the window after WINDOW newer ones.
        for _ in 0..WINDOW {
            t.record(ms(30));
        }
        assert_eq!(t.cost(), ms(30));
    }

    #[test]
    fn a_cost_well_above_the_reported_one_asks_for_a_new_latency_query() {
        let mut t = Timing::default();
        assert!(!t.record(ms(100)), "nothing reported yet");
        assert_eq!(t.report(), ms(100));
        assert!(!t.record(ms(120)), "within 25 %");
        assert!(t.record(ms(130)));
        assert_eq!(t.report(), ms(130));
        assert!(!t.record(ms(100)));
    }

    #[test]
    fn drops_are_warned_about_once() {
        let mut t = Timing::default();
        assert!(t.drop_frame());
        assert!(!t.drop_frame());
        assert!(!t.drop_frame());
    }
}
