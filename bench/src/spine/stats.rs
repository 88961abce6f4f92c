//! Latency samples and their percentiles.
//!
//! Percentiles use the nearest-rank method on the sorted samples: p99 of 500 samples is the 495th
//! smallest, a value that was really observed, never an interpolation between two.

use std::time::Duration;

/// A set of latency samples.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    sorted: Vec<Duration>,
    is_sorted: bool,
}

impl Samples {
    /// An empty set with room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Self { sorted: Vec::with_capacity(n), is_sorted: true }
    }

    /// Adds one sample.
    pub fn push(&mut self, sample: Duration) {
        self.sorted.push(sample);
        self.is_sorted = false;
    }

    fn sort(&mut self) {
        if !self.is_sorted {
            self.sorted.sort_unstable();
            self.is_sorted = true;
        }
    }

    /// The `p`-th percentile (0 < p ≤ 100) by nearest rank; zero when there are no samples.
    pub fn percentile(&mut self, p: f64) -> Duration {
        self.sort();
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = (p / 100.0 * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }

    /// The largest sample.
    pub fn max(&mut self) -> Duration {
        self.sort();
        self.sorted.last().copied().unwrap_or_default()
    }
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values_ms: &[u64], p: f64, expect_ms: u64) {
        let mut samples = Samples::with_capacity(values_ms.len());
        for &v in values_ms {
            samples.push(Duration::from_millis(v));
        }
        assert_eq!(
            samples.percentile(p),
            Duration::from_millis(expect_ms),
            "p{p} of {values_ms:?}"
        );
    }

    #[test]
    fn percentiles_are_nearest_rank_over_sorted_samples() {
        let hundred: Vec<u64> = (1..=100).rev().collect();
        check(&hundred, 50.0, 50);
        check(&hundred, 99.0, 99);
        check(&hundred, 100.0, 100);
        check(&[7], 99.0, 7);
        check(&[3, 1, 2], 50.0, 2);
        check(&[], 50.0, 0);
    }
}
