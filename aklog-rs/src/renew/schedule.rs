//! When to refresh, and how long to wait between attempts when no KDC
//! answers. Pure arithmetic on ticket times (seconds since the epoch), so
//! the rules are tested without a clock.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The times of a ticket-granting ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketTimes {
    /// When it became valid.
    pub start: u32,
    /// When it ends.
    pub end: u32,
    /// Until when the KDC renews it (0: never).
    pub renew_till: u32,
    /// Whether it is renewable at all.
    pub renewable: bool,
}

impl TicketTimes {
    /// Whether a renewal could still extend it: renewable, and its
    /// renewable lifetime reaches past its end.
    pub fn can_be_extended(&self) -> bool {
        self.renewable && self.renew_till > self.end
    }
}

/// The shortest margin: below this, a refresh would race the expiry.
const MIN_MARGIN: u32 = 2;
/// The longest margin: a 10-hour ticket is refreshed an hour before its end.
const MAX_MARGIN: u32 = 3600;

/// When to refresh: a third of the ticket's lifetime before the earliest
/// of its end and the tokens' ends (between 2 s and an hour before), so a
/// refresh that needs a few retries still ends before anything expires.
/// A ticket of 20 s is refreshed about 7 s before its end; one of 10 h,
/// an hour before.
pub fn refresh_at(ticket: &TicketTimes, token_ends: impl IntoIterator<Item = u32>) -> u32 {
    let end = token_ends.into_iter().fold(ticket.end, u32::min);
    let lifetime = ticket.end.saturating_sub(ticket.start);
    let margin = (lifetime / 3).clamp(MIN_MARGIN, MAX_MARGIN);
    end.saturating_sub(margin)
}

/// Waits between attempts while no KDC answers: 1 s, doubling, at most a
/// minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

/// The first wait.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_WAIT }
    }
}

impl Backoff {
    /// The wait before the next attempt; the one after is twice as long.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(LONGEST_WAIT);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(start: u32, end: u32) -> TicketTimes {
        TicketTimes { start, end, renew_till: end + 1000, renewable: true }
    }

    #[test]
    fn a_third_of_the_lifetime_before_the_end() {
        assert_eq!(refresh_at(&ticket(1000, 1021), []), 1014);
        assert_eq!(refresh_at(&ticket(0, 36_000), []), 32_400);
    }

    #[test]
    fn the_margin_is_bounded_both_ways() {
        // A 3 s ticket still gets 2 s of margin; a week-long one an hour.
        assert_eq!(refresh_at(&ticket(100, 103), []), 101);
        assert_eq!(refresh_at(&ticket(0, 7 * 86_400), []), 7 * 86_400 - 3600);
    }

    #[test]
    fn a_token_ending_first_brings_the_refresh_forward() {
        assert_eq!(refresh_at(&ticket(0, 3000), [2000, 2500]), 1000);
    }

    #[test]
    fn a_ticket_ending_in_the_past_is_refreshed_at_once() {
        assert_eq!(refresh_at(&ticket(0, 1), []), 0);
    }

    #[test]
    fn only_a_renewable_ticket_with_lifetime_left_can_be_extended() {
        let t = ticket(0, 100);
        assert!(t.can_be_extended());
        assert!(!TicketTimes { renewable: false, ..t }.can_be_extended());
        assert!(!TicketTimes { renew_till: 100, ..t }.can_be_extended());
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..9).map(|_| b.next_wait().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
