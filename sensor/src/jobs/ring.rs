//! The newest request times of a job, in a ring of fixed capacity.
//!
//! What [`std::collections::VecDeque`] would do with `pop_front` and `push_back`, for the
//! one pattern the period estimator needs (push, dropping the oldest once full; read the
//! newest; lay them out oldest first for an analysis), in fewer instructions and a smaller
//! header: a steady poll pushes one time into a ring, and the ring's capacity is its window,
//! so the push reads nothing beyond the header (docs/BENCHMARKS.md, eighth session).

/// Up to `capacity` times, oldest dropped first.
#[derive(Debug, Clone)]
pub struct Ring {
    slots: Box<[u64]>,
    /// Where the next time goes.
    next: u32,
    len: u32,
}

impl Ring {
    /// An empty ring of `capacity` times (at least one; at most `u32::MAX`).
    pub fn with_capacity(capacity: usize) -> Ring {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        Ring { slots: vec![0; capacity].into_boxed_slice(), next: 0, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Adds `t` as the newest, dropping the oldest when the ring is full.
    #[inline]
    pub fn push(&mut self, t: u64) {
        if let Some(slot) = self.slots.get_mut(self.next as usize) {
            *slot = t;
        }
        self.next += 1;
        if self.next as usize == self.slots.len() {
            self.next = 0;
        }
        if (self.len as usize) < self.slots.len() {
            self.len += 1;
        }
    }

    /// The newest time.
    pub fn back(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let newest = self.next.checked_sub(1).unwrap_or(self.len - 1);
        self.slots.get(newest as usize).copied()
    }

    /// The `i`-th oldest time.
    pub fn get(&self, i: usize) -> Option<u64> {
        if i >= self.len() {
            return None;
        }
        // The oldest is at `next` once the ring is full, at 0 until then.
        let oldest = if self.len() == self.capacity() { self.next as usize } else { 0 };
        let at = oldest + i;
        self.slots.get(if at >= self.capacity() { at - self.capacity() } else { at }).copied()
    }

    pub fn clear(&mut self) {
        self.next = 0;
        self.len = 0;
    }

    /// The times, oldest first, as one slice (rotating the ring in place if it wrapped).
    pub fn make_contiguous(&mut self) -> &[u64] {
        if self.len() == self.capacity() && self.next != 0 {
            self.slots.rotate_left(self.next as usize);
            self.next = 0;
        }
        // Not full: never wrapped, so the times are the first `len` slots.
        self.slots.get(..self.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Random pushes, clears and reads against a `VecDeque` used the way the estimator used
    /// one; any difference fails.
    #[test]
    fn behaves_like_a_bounded_deque() {
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for capacity in [1, 2, 3, 7, 8, 64] {
            let mut ring = Ring::with_capacity(capacity);
            let mut model: VecDeque<u64> = VecDeque::new();
            for step in 0..5_000 {
                match next() % 20 {
                    0 => {
                        ring.clear();
                        model.clear();
                    }
                    1 | 2 => {
                        assert_eq!(ring.make_contiguous(), model.make_contiguous(), "capacity {capacity}, step {step}");
                    }
                    _ => {
                        let t = next();
                        if model.len() >= capacity {
                            model.pop_front();
                        }
                        model.push_back(t);
                        ring.push(t);
                    }
                }
                assert_eq!(ring.len(), model.len());
                assert_eq!(ring.back(), model.back().copied());
                for i in [0, 1, model.len() / 2, model.len().saturating_sub(1), model.len(), model.len() + 1] {
                    assert_eq!(ring.get(i), model.get(i).copied(), "capacity {capacity}, step {step}, index {i}");
                }
            }
        }
    }
}
