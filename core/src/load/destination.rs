//! Where an eager verified read puts a file ([`Destination`]): memory handed out in disjoint
//! parts, each ready to be written only when the reader reaches it.
//!
//! Why not a plain `&mut [u8]`: memory must be initialized before Rust may write it through a
//! slice, and initializing a whole buffer up front (a binding's zeroed `bytes`) faults every page
//! of it in on one thread before the read starts — for a large file the longest serial step of a
//! load. A destination that initializes each part as the reader takes it moves that work into
//! the read, where it overlaps the hashing on the other cores.

/// Memory of [`Destination::len`] bytes that a verified read fills front to back, part by part.
///
/// Guarantee of an implementation: [`Destination::take_front`] and [`Destination::split_at`]
/// hand out disjoint memory that lives for `'b`, each part initialized (safe to read and write)
/// when it is handed out; nothing else writes it while the read runs.
pub trait Destination<'b>: Sized {
    /// The bytes not handed out yet.
    fn len(&self) -> usize;

    /// Whether every byte was handed out.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next `n` bytes (`n` at most [`Destination::len`]), ready to be written.
    fn take_front(&mut self, n: usize) -> &'b mut [u8];

    /// The first `at` bytes (at most [`Destination::len`]) and the rest, as two destinations
    /// (shards read side by side each fill their own).
    fn split_at(self, at: usize) -> (Self, Self);
}

impl<'b> Destination<'b> for &'b mut [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn take_front(&mut self, n: usize) -> &'b mut [u8] {
        let (front, rest) = std::mem::take(self).split_at_mut(n);
        *self = rest;
        front
    }

    fn split_at(self, at: usize) -> (Self, Self) {
        self.split_at_mut(at)
    }
}

#[cfg(test)]
mod tests {
    use super::Destination;

    #[test]
    fn a_slice_hands_out_its_parts_in_order_and_splits() {
        let mut memory = [0u8; 10];
        let (mut front, mut back) = Destination::split_at(&mut memory[..], 4);
        front.take_front(3).copy_from_slice(b"abc");
        front.take_front(1).copy_from_slice(b"d");
        assert!(Destination::is_empty(&front));
        back.take_front(6).copy_from_slice(b"efghij");
        assert_eq!(&memory, b"abcdefghij");
    }
}
