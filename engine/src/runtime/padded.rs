//! Cache padding for data written by one thread and read by others.

/// Aligns its content to 128 bytes (two cache lines, the unit adjacent-line prefetchers pull)
/// so that cells written by different threads never share a line.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
