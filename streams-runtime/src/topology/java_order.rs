//! The orders Kafka Streams' `describe()` inherits from Java collections, reproduced exactly.
//!
//! `InternalTopologyBuilder#describeSubtopology` walks a sub-topology's nodes in the iteration
//! order of a `java.util.HashMap` keyed by node name, and keeps each node's successors and
//! predecessors in a `java.util.TreeSet` whose comparator reads sizes that are still growing
//! while the set is filled. The printed order of a `-->` line therefore depends on the hash
//! order and on the red-black tree's shape, not only on the comparator. Matching Kafka Streams'
//! text (and so its users' expectations and tooling) means doing the same: this module mirrors
//! `String#hashCode`, `HashMap`'s bucket layout and `TreeMap`'s insertion, nothing more.

use std::cmp::Ordering;

/// `java.lang.String#hashCode`: over UTF-16 code units, wrapping.
fn string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `java.util.HashMap#hash`: the high half folded into the low half.
fn spread(s: &str) -> u32 {
    let h = string_hash(s) as u32;
    h ^ (h >> 16)
}

/// `java.lang.String#compareTo`: UTF-16 code units, lexicographically.
pub(crate) fn compare_strings(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The order in which a `java.util.HashMap` (default capacity 16, load factor 0.75) filled
/// with `keys` in the given order iterates them: by bucket, then by insertion within a bucket.
/// Returns indices into `keys`.
///
/// A resize keeps the relative order of the keys that share a bucket, as Java's split of each
/// bin into a low and a high list does. Bins turned into trees (8 colliding keys in a table of
/// 64 buckets or more) are not modelled: no topology a person writes comes near that.
pub(crate) fn hash_map_order(keys: &[&str]) -> Vec<usize> {
    const TREEIFY_THRESHOLD: usize = 8;
    const MIN_TREEIFY_CAPACITY: usize = 64;
    let hashes: Vec<u32> = keys.iter().map(|k| spread(k)).collect();
    let mut buckets: Vec<Vec<usize>> = vec![Vec::new(); 16];
    let resize = |buckets: &mut Vec<Vec<usize>>| {
        let capacity = buckets.len() * 2;
        let mut grown: Vec<Vec<usize>> = vec![Vec::new(); capacity];
        for key in buckets.iter().flatten() {
            grown[hashes[*key] as usize & (capacity - 1)].push(*key);
        }
        *buckets = grown;
    };
    for (key, hash) in hashes.iter().enumerate() {
        let capacity = buckets.len();
        let bin = &mut buckets[*hash as usize & (capacity - 1)];
        let before = bin.len();
        bin.push(key);
        if before >= TREEIFY_THRESHOLD && capacity < MIN_TREEIFY_CAPACITY {
            resize(&mut buckets);
        }
        if key + 1 > buckets.len() * 3 / 4 {
            resize(&mut buckets);
        }
    }
    buckets.into_iter().flatten().collect()
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: usize,
    left: Option<usize>,
    right: Option<usize>,
    parent: Option<usize>,
    red: bool,
}

/// A `java.util.TreeSet` of node ids: a red-black tree filled by `java.util.TreeMap#put`'s
/// descent and rebalancing, so that a comparator whose answers change between insertions (as
/// Kafka Streams' does) yields the order Java yields.
#[derive(Debug, Default, Clone)]
pub(crate) struct TreeSet {
    entries: Vec<Entry>,
    root: Option<usize>,
}

impl TreeSet {
    /// Adds `key` unless the comparator finds it equal to an element.
    pub(crate) fn insert(&mut self, key: usize, compare: impl Fn(usize, usize) -> Ordering) {
        let Some(mut current) = self.root else {
            self.entries.push(Entry {
                key,
                left: None,
                right: None,
                parent: None,
                red: false,
            });
            self.root = Some(0);
            return;
        };
        let (parent, goes_left) = loop {
            let entry = self.entries[current];
            let next = match compare(key, entry.key) {
                Ordering::Less => (entry.left, true),
                Ordering::Greater => (entry.right, false),
                Ordering::Equal => return,
            };
            match next {
                (Some(child), _) => current = child,
                (None, left) => break (current, left),
            }
        };
        let id = self.entries.len();
        self.entries.push(Entry {
            key,
            left: None,
            right: None,
            parent: Some(parent),
            red: true,
        });
        if goes_left {
            self.entries[parent].left = Some(id);
        } else {
            self.entries[parent].right = Some(id);
        }
        self.fix_after_insertion(id);
    }

    /// The elements in the tree's order.
    pub(crate) fn in_order(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.entries.len());
        let mut stack = Vec::new();
        let mut current = self.root;
        while current.is_some() || !stack.is_empty() {
            while let Some(id) = current {
                stack.push(id);
                current = self.entries[id].left;
            }
            if let Some(id) = stack.pop() {
                out.push(self.entries[id].key);
                current = self.entries[id].right;
            }
        }
        out
    }

    fn parent(&self, x: Option<usize>) -> Option<usize> {
        x.and_then(|x| self.entries[x].parent)
    }

    fn left(&self, x: Option<usize>) -> Option<usize> {
        x.and_then(|x| self.entries[x].left)
    }

    fn right(&self, x: Option<usize>) -> Option<usize> {
        x.and_then(|x| self.entries[x].right)
    }

    fn is_red(&self, x: Option<usize>) -> bool {
        x.is_some_and(|x| self.entries[x].red)
    }

    fn set_red(&mut self, x: Option<usize>, red: bool) {
        if let Some(x) = x {
            self.entries[x].red = red;
        }
    }

    /// `TreeMap#fixAfterInsertion`, step for step.
    fn fix_after_insertion(&mut self, id: usize) {
        let mut x = Some(id);
        self.set_red(x, true);
        while x.is_some() && x != self.root && self.is_red(self.parent(x)) {
            let grandparent = self.parent(self.parent(x));
            if self.parent(x) == self.left(grandparent) {
                let uncle = self.right(grandparent);
                if self.is_red(uncle) {
                    self.set_red(self.parent(x), false);
                    self.set_red(uncle, false);
                    self.set_red(grandparent, true);
                    x = grandparent;
                } else {
                    if x == self.right(self.parent(x)) {
                        x = self.parent(x);
                        self.rotate_left(x);
                    }
                    self.set_red(self.parent(x), false);
                    let grandparent = self.parent(self.parent(x));
                    self.set_red(grandparent, true);
                    self.rotate_right(grandparent);
                }
            } else {
                let uncle = self.left(grandparent);
                if self.is_red(uncle) {
                    self.set_red(self.parent(x), false);
                    self.set_red(uncle, false);
                    self.set_red(grandparent, true);
                    x = grandparent;
                } else {
                    if x == self.left(self.parent(x)) {
                        x = self.parent(x);
                        self.rotate_right(x);
                    }
                    self.set_red(self.parent(x), false);
                    let grandparent = self.parent(self.parent(x));
                    self.set_red(grandparent, true);
                    self.rotate_left(grandparent);
                }
            }
        }
        let root = self.root;
        self.set_red(root, false);
    }

    /// Points `parent`'s link that held `old` (or the root) at `new`.
    fn replace_child(&mut self, parent: Option<usize>, old: usize, new: usize) {
        match parent {
            None => self.root = Some(new),
            Some(p) if self.entries[p].left == Some(old) => self.entries[p].left = Some(new),
            Some(p) => self.entries[p].right = Some(new),
        }
    }

    fn rotate_left(&mut self, p: Option<usize>) {
        let Some(p) = p else { return };
        let Some(r) = self.entries[p].right else {
            return;
        };
        let r_left = self.entries[r].left;
        self.entries[p].right = r_left;
        if let Some(rl) = r_left {
            self.entries[rl].parent = Some(p);
        }
        let grand = self.entries[p].parent;
        self.entries[r].parent = grand;
        self.replace_child(grand, p, r);
        self.entries[r].left = Some(p);
        self.entries[p].parent = Some(r);
    }

    fn rotate_right(&mut self, p: Option<usize>) {
        let Some(p) = p else { return };
        let Some(l) = self.entries[p].left else {
            return;
        };
        let l_right = self.entries[l].right;
        self.entries[p].left = l_right;
        if let Some(lr) = l_right {
            self.entries[lr].parent = Some(p);
        }
        let grand = self.entries[p].parent;
        self.entries[l].parent = grand;
        self.replace_child(grand, p, l);
        self.entries[l].right = Some(p);
        self.entries[p].parent = Some(l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hashes_are_javas() {
        // Values from the JDK: "".hashCode() == 0, "a" == 97, "hello" == 99162322,
        // "KSTREAM-SOURCE-0000000000" overflows and wraps.
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(string_hash("hello"), 99_162_322);
        assert_eq!(string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn a_hash_map_iterates_by_bucket_then_by_insertion() {
        // "Aa" and "BB" share a hash (2112): same bucket, insertion order kept.
        let keys = ["BB", "b", "Aa", "a"];
        let order: Vec<&str> = hash_map_order(&keys).into_iter().map(|i| keys[i]).collect();
        // spread("a") = 97 → bucket 1; "b" → 2; "BB"/"Aa" → 2112 ^ 0 = 2112 → bucket 0.
        assert_eq!(order, vec!["BB", "Aa", "a", "b"]);
    }

    #[test]
    fn a_tree_set_with_a_steady_comparator_sorts() {
        let mut set = TreeSet::default();
        for key in [5, 1, 9, 3, 7, 2, 8, 4, 6, 0, 5] {
            set.insert(key, |a, b| a.cmp(&b));
        }
        assert_eq!(set.in_order(), (0..10).collect::<Vec<_>>());
    }
}
