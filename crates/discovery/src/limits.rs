//! The bounds of one discovery attempt: what an upstream can make Toolgate
//! wait for, read and keep.

use std::time::Duration;

use crate::failure::{Failure, Status};

/// Bounds of one attempt. The defaults fit the largest real servers (a
/// hundred-odd tools with rich schemas is well under a megabyte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// For the whole conversation, handshake and every page included.
    pub deadline: Duration,
    /// Bytes read across every answer of the attempt.
    pub max_bytes: usize,
    /// Tools kept; one more makes the attempt `too_large`.
    pub max_tools: usize,
    /// Resources, and prompts, kept (each list on its own).
    pub max_listed: usize,
    /// Pages read per list; a server whose cursors never end is cut here.
    pub max_pages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(20),
            max_bytes: 4 * 1024 * 1024,
            max_tools: 1000,
            max_listed: 1000,
            max_pages: 100,
        }
    }
}

/// The bytes an attempt may still read.
#[derive(Debug)]
pub struct Budget {
    remaining: usize,
    limit: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Self {
            remaining: limit,
            limit,
        }
    }

    /// Takes `n` bytes from the budget, or fails once it is spent.
    pub fn spend(&mut self, n: usize) -> Result<(), Failure> {
        match self.remaining.checked_sub(n) {
            Some(left) => {
                self.remaining = left;
                Ok(())
            }
            None => Err(Failure::new(
                Status::TooLarge,
                format!("the upstream's answers exceed {} bytes in all", self.limit),
            )),
        }
    }

    pub fn remaining(&self) -> usize {
        self.remaining
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_the_byte_past_its_limit() {
        let mut budget = Budget::new(10);
        assert!(budget.spend(6).is_ok());
        assert!(budget.spend(4).is_ok());
        assert_eq!(budget.remaining(), 0);
        let failure = budget.spend(1).unwrap_err();
        assert_eq!(failure.status, Status::TooLarge);
    }
}
