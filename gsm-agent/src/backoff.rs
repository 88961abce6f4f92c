//! Reconnect delays: exponential growth with full jitter (the AWS "full jitter" scheme).
//!
//! The n-th delay after a failure is uniform in `[0, min(max, initial × 2ⁿ))`. Full jitter keeps a
//! fleet of agents that lost the server at the same moment from coming back in lockstep. The
//! random draw is a parameter, so the arithmetic is tested without randomness.

use std::time::Duration;

use crate::config::Backoff;

/// The delay before reconnect attempt `failures` (0 for the first retry), given a uniform draw
/// `unit` in `[0, 1)`.
pub fn delay(backoff: Backoff, failures: u32, unit: f64) -> Duration {
    let ceiling = backoff
        .initial
        .checked_mul(1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(backoff.max)
        .min(backoff.max);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// The delay before reconnect attempt `failures`, drawn at random.
pub fn jittered(backoff: Backoff, failures: u32) -> Duration {
    delay(backoff, failures, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff =
        Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(60) };

    #[test]
    fn the_ceiling_doubles_per_failure_up_to_the_cap() {
        let ms: Vec<_> =
            [0, 1, 2, 3, 9, 10, 40].iter().map(|&n| delay(BACKOFF, n, 1.0).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 51200, 60000, 60000]);
    }

    #[test]
    fn the_draw_scales_the_delay_between_zero_and_the_ceiling() {
        assert_eq!(delay(BACKOFF, 3, 0.0), Duration::ZERO);
        assert_eq!(delay(BACKOFF, 3, 0.5), Duration::from_millis(400));
        let random = jittered(BACKOFF, 3);
        assert!(random < Duration::from_millis(800), "{random:?}");
    }
}
