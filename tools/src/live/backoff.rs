//! Capped exponential backoff between reconnection attempts.

use std::time::Duration;

/// The wait before each reconnection attempt: `min`, doubling per failed attempt up to `max`;
/// back to `min` after a connection that worked.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `min` (at least 1 ms), capped at `max` (at least `min`).
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let min = min.max(Duration::from_millis(1));
        Backoff { min, max: max.max(min), next: min }
    }

    /// The wait before the next attempt; the one after it doubles, up to the cap.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// A connection worked: the next failure waits `min` again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1000));
        let waits: Vec<_> = (0..6).map(|_| b.next_wait()).collect();
        assert_eq!(waits, [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
        b.reset();
        assert_eq!(b.next_wait(), ms(100));
        assert_eq!(Backoff::new(ms(0), ms(0)).next_wait(), ms(1), "never a busy loop");
    }
}
