//! The compact entry list of one side: what [`super::archive`] collects
//! while it streams an input, and what the comparison merges.
//!
//! Every path lives once in one string arena; a record is the path's range
//! there, the entry's position in the input and its [`Node`] (64 bytes), so
//! a side costs about 64 bytes plus its path per entry, with no allocation
//! per entry. Entries arrive in input order and are sorted once by path at
//! the end; the checks that need lookups (an entry given twice, a hard link
//! to an earlier file, an entry below a symlink) run on the sorted list by
//! binary search, and stripping the single top directory only moves each
//! range's start. O(n log n) for n entries, no quadratic case.

use std::collections::BTreeMap;

use super::archive::Node;

/// One entry: its path's range in the arena, its position in the input, its node.
#[derive(Debug, Clone)]
struct Record {
    start: usize,
    len: u32,
    seq: u32,
    node: Node,
}

/// A hard link, resolved once every entry is known.
#[derive(Debug, Clone)]
struct Link {
    path: String,
    target: String,
    seq: u32,
}

/// Why a manifest cannot be finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ManifestError {
    /// A path given twice with different content.
    Twice(String),
    /// A hard link (`path`, `target`) to no file earlier in the input.
    BadLink(String, String),
}

/// Entries in input order, not yet checked.
#[derive(Debug, Default)]
pub(super) struct Collecting {
    paths: String,
    records: Vec<Record>,
    links: Vec<Link>,
}

impl Collecting {
    /// Entries so far (hard links included).
    pub(super) fn len(&self) -> usize {
        self.records.len() + self.links.len()
    }

    fn next_seq(&self) -> u32 {
        u32::try_from(self.len()).unwrap_or(u32::MAX)
    }

    /// Adds an entry.
    pub(super) fn push(&mut self, path: &str, node: Node) {
        let seq = self.next_seq();
        let start = self.paths.len();
        self.paths.push_str(path);
        self.records.push(Record { start, len: u32::try_from(path.len()).unwrap_or(u32::MAX), seq, node });
    }

    /// Adds a hard link to `target`, which must be a file earlier in the input.
    pub(super) fn push_link(&mut self, path: String, target: String) {
        let seq = self.next_seq();
        self.links.push(Link { path, target, seq });
    }

    /// Sorts by path, resolves hard links and refuses paths given twice with different content
    /// (a directory twice, or the same file twice, is kept once: tar allows both).
    pub(super) fn finish(self) -> Result<Manifest, ManifestError> {
        let Collecting { mut paths, mut records, links } = self;
        sort(&paths, &mut records);
        if !links.is_empty() {
            // Links in input order, each to a file earlier than itself (a link to an earlier link
            // included, found among those resolved already).
            let mut resolved: BTreeMap<&str, (Node, u32)> = BTreeMap::new();
            let mut added = Vec::new();
            for link in &links {
                let earlier = resolved
                    .get(link.target.as_str())
                    .cloned()
                    .or_else(|| find(&paths, &records, &link.target).map(|r| (r.node.clone(), r.seq)));
                match earlier {
                    Some((node @ Node::File { .. }, seq)) if seq < link.seq => {
                        resolved.insert(link.path.as_str(), (node.clone(), link.seq));
                        added.push((link, node));
                    }
                    _ => return Err(ManifestError::BadLink(link.path.clone(), link.target.clone())),
                }
            }
            for (link, node) in added {
                let start = paths.len();
                paths.push_str(&link.path);
                records.push(Record {
                    start,
                    len: u32::try_from(link.path.len()).unwrap_or(u32::MAX),
                    seq: link.seq,
                    node,
                });
            }
            sort(&paths, &mut records);
        }
        // Equal paths are adjacent now, in input order.
        let mut kept: Vec<Record> = Vec::with_capacity(records.len());
        for r in records {
            if let Some(last) = kept.last()
                && path_of(&paths, last) == path_of(&paths, &r)
            {
                if last.node != r.node {
                    return Err(ManifestError::Twice(path_of(&paths, &r).to_owned()));
                }
                continue;
            }
            kept.push(r);
        }
        kept.shrink_to_fit();
        paths.shrink_to_fit();
        Ok(Manifest { paths, records: kept })
    }
}

fn path_of<'a>(paths: &'a str, r: &Record) -> &'a str {
    paths.get(r.start..r.start + r.len as usize).unwrap_or_default()
}

/// Sorts by path, then input order (stable).
fn sort(paths: &str, records: &mut [Record]) {
    records.sort_by(|x, y| path_of(paths, x).cmp(path_of(paths, y)).then(x.seq.cmp(&y.seq)));
}

/// Entries sorted by path, each path once.
#[derive(Debug, Clone, Default)]
pub(super) struct Manifest {
    paths: String,
    records: Vec<Record>,
}

/// The record of `path` in records sorted by path.
fn find<'a>(paths: &str, records: &'a [Record], path: &str) -> Option<&'a Record> {
    let i = records.binary_search_by(|r| path_of(paths, r).cmp(path)).ok()?;
    records.get(i)
}

impl Manifest {
    /// The node at `path`.
    pub(super) fn get(&self, path: &str) -> Option<&Node> {
        find(&self.paths, &self.records, path).map(|r| &r.node)
    }

    /// Entries by path, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.records.iter().map(|r| (path_of(&self.paths, r), &r.node))
    }

    /// Whether any entry is a symlink.
    pub(super) fn has_symlinks(&self) -> bool {
        self.records.iter().any(|r| matches!(r.node, Node::Symlink { .. }))
    }

    /// The single top directory, if every entry is it or below it (and it is not a file or
    /// symlink).
    pub(super) fn single_top(&self) -> Option<&str> {
        let top = |p: &'_ str| p.split('/').next().unwrap_or_default().to_owned();
        let first = self.iter().next().map(|(p, _)| top(p))?;
        if self.iter().any(|(p, _)| p.split('/').next() != Some(first.as_str())) {
            return None;
        }
        let (p, node) = self.iter().next()?;
        if p == first && *node != Node::Directory {
            return None;
        }
        p.split('/').next()
    }

    /// Drops `top` and its `top/` prefix from every path below it (the caller checked that every
    /// entry is `top` or below it, so the order is unchanged).
    pub(super) fn strip(&mut self, top: &str) {
        let cut = top.len() + 1;
        let paths = &self.paths;
        self.records.retain(|r| path_of(paths, r) != top);
        for r in &mut self.records {
            r.start += cut;
            r.len = r.len.saturating_sub(u32::try_from(cut).unwrap_or(u32::MAX));
        }
    }

    /// Regular files and symlinks.
    pub(super) fn files(&self) -> usize {
        self.records.iter().filter(|r| !matches!(r.node, Node::Directory)).count()
    }

    /// As a map (the public [`super::Tree`]).
    pub(super) fn to_map(&self) -> BTreeMap<String, Node> {
        self.iter().map(|(p, n)| (p.to_owned(), n.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(byte: u8) -> Node {
        Node::File { executable: false, size: 1, sha256: [byte; 32] }
    }

    #[test]
    fn entries_come_out_sorted_with_links_resolved_and_the_top_stripped() {
        let mut c = Collecting::default();
        c.push("p/b", file(1));
        c.push("p", Node::Directory);
        c.push("p/a", file(2));
        c.push_link("p/c".into(), "p/a".into());
        c.push_link("p/d".into(), "p/c".into());
        c.push("p", Node::Directory);
        c.push("p/b", file(1));
        let mut m = c.finish().unwrap();
        let paths: Vec<&str> = m.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["p", "p/a", "p/b", "p/c", "p/d"]);
        assert_eq!(m.get("p/d"), Some(&file(2)));
        assert_eq!(m.single_top(), Some("p"));
        m.strip("p");
        let paths: Vec<&str> = m.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["a", "b", "c", "d"]);
        assert_eq!(m.files(), 4);
    }

    #[test]
    fn twice_with_other_content_and_links_forward_are_refused() {
        let mut c = Collecting::default();
        c.push("a", file(1));
        c.push("a", file(2));
        assert_eq!(c.finish().unwrap_err(), ManifestError::Twice("a".into()));
        let mut c = Collecting::default();
        c.push_link("l".into(), "a".into());
        c.push("a", file(1));
        assert_eq!(c.finish().unwrap_err(), ManifestError::BadLink("l".into(), "a".into()));
    }

    #[test]
    fn a_top_that_is_a_file_or_two_tops_are_not_stripped() {
        let mut c = Collecting::default();
        c.push("p", file(1));
        assert_eq!(c.finish().unwrap().single_top(), None);
        let mut c = Collecting::default();
        c.push("p/a", file(1));
        c.push("p!/a", file(1));
        assert_eq!(c.finish().unwrap().single_top(), None);
        let mut c = Collecting::default();
        c.push("p/a", file(1));
        assert_eq!(c.finish().unwrap().single_top(), Some("p"));
    }
}
