//! A source's instrument names, gathered from its parsers: each parser numbers the names it
//! meets itself; here they get the source's numbers, in order of first appearance in the
//! input (blocks are delivered in input order, whatever the thread count).

use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub(super) struct Names {
    index: HashMap<Arc<str>, u32, ahash::RandomState>,
    names: Vec<Arc<str>>,
    /// Per parser: its symbol index → the source's.
    per_parser: Vec<Vec<u32>>,
}

impl Names {
    /// Learns the names parser `p` first met in a block (its indexes `from` on); returns the
    /// parser's map from its indexes to the source's.
    pub(super) fn learn(&mut self, p: usize, new: &[Arc<str>], from: u32) -> &[u32] {
        if self.per_parser.len() <= p {
            self.per_parser.resize_with(p + 1, Vec::new);
        }
        let map = &mut self.per_parser[p];
        debug_assert_eq!(map.len(), from as usize);
        for name in new {
            let next = self.names.len() as u32;
            let id = *self.index.entry(Arc::clone(name)).or_insert(next);
            if id == next {
                self.names.push(Arc::clone(name));
            }
            map.push(id);
        }
        &self.per_parser[p]
    }

    /// The name of the source's index `i`.
    pub(super) fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", |n| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_numberings_become_one_in_order_of_delivery() {
        let n = |s: &str| Arc::<str>::from(s);
        let mut names = Names::default();
        assert_eq!(names.learn(0, &[n("A"), n("B")], 0), [0, 1]);
        assert_eq!(names.learn(1, &[n("B"), n("C")], 0), [1, 2], "B known from parser 0");
        assert_eq!(names.learn(0, &[n("C")], 2), [0, 1, 2]);
        assert_eq!((names.name(0), names.name(2), names.name(9)), ("A", "C", ""));
    }
}
