//! The queries the UI needs beyond [`LogStore`]'s: the overview's counts and
//! search by name. Both read the log's entries in pages through
//! [`LogStore::entries`], so they work on every backend unchanged; their cost
//! grows with the log (a backend may later answer them from an index).

use std::collections::{BTreeMap, BTreeSet};

use provenix_formats::log::report::Entry;
use provenix_formats::store_path::StoreDir;

use crate::store::{LogStore, ReportRow, StoreError};
use crate::verdict::{self, Verdict};

/// Entries read per storage call.
const PAGE: u64 = 1000;

/// Calls `f` with every entry of the first `size`, as a report row, in order.
/// An entry that does not parse (the log only holds checked ones) is a corrupt store.
fn scan(store: &dyn LogStore, store_dir: &StoreDir, size: u64, mut f: impl FnMut(ReportRow)) -> Result<(), StoreError> {
    let mut start = 0;
    while start < size {
        let page = store.entries(start, PAGE.min(size - start))?;
        if page.is_empty() {
            return Err(StoreError::Corrupt(format!("entry {start} is missing")));
        }
        for (index, data) in page {
            let entry =
                Entry::parse(&data, store_dir).map_err(|e| StoreError::Corrupt(format!("entry {index}: {e}")))?;
            let r = entry.report;
            f(ReportRow {
                index,
                drv: r.drv,
                output: r.output,
                path: r.path,
                nar_hash: r.nar_hash,
                builder: r.builder,
                time: r.time,
            });
            start = index + 1;
        }
    }
    Ok(())
}

/// The overview's counts over the first `size` entries.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Summary {
    /// Reports.
    pub(super) reports: u64,
    /// Distinct output paths reported.
    pub(super) outputs: u64,
    /// Of those, reproduced.
    pub(super) reproduced: u64,
    /// Of those, disputed.
    pub(super) disputed: u64,
}

pub(super) fn summary(store: &dyn LogStore, store_dir: &StoreDir, size: u64) -> Result<Summary, StoreError> {
    let mut by_path: BTreeMap<String, (BTreeSet<[u8; 32]>, BTreeSet<String>)> = BTreeMap::new();
    let mut reports = 0;
    scan(store, store_dir, size, |r| {
        reports += 1;
        let (hashes, builders) = by_path.entry(r.path).or_default();
        hashes.insert(r.nar_hash);
        builders.insert(r.builder);
    })?;
    let mut s = Summary { reports, outputs: by_path.len() as u64, ..Summary::default() };
    for (hashes, builders) in by_path.values() {
        match (hashes.len(), builders.len()) {
            (1, n) if n >= 2 => s.reproduced += 1,
            (h, _) if h >= 2 => s.disputed += 1,
            _ => {}
        }
    }
    Ok(s)
}

/// One search hit: an output path, its derivation and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hit {
    pub(super) path: String,
    pub(super) drv: String,
    pub(super) output: String,
    pub(super) reports: u64,
    pub(super) verdict: Verdict,
}

/// Output paths whose path or `.drv` path contains `needle` (ASCII case-insensitive),
/// at most `limit`, in path order; and whether more matched.
pub(super) fn search(
    store: &dyn LogStore,
    store_dir: &StoreDir,
    size: u64,
    needle: &str,
    limit: usize,
) -> Result<(Vec<Hit>, bool), StoreError> {
    let needle = needle.to_ascii_lowercase();
    let mut by_path: BTreeMap<String, Vec<ReportRow>> = BTreeMap::new();
    scan(store, store_dir, size, |r| {
        if by_path.contains_key(&r.path)
            || r.path.to_ascii_lowercase().contains(&needle)
            || r.drv.to_ascii_lowercase().contains(&needle)
        {
            by_path.entry(r.path.clone()).or_default().push(r);
        }
    })?;
    let more = by_path.len() > limit;
    let hits = by_path
        .into_iter()
        .take(limit)
        .filter_map(|(path, rows)| {
            let first = rows.first()?;
            Some(Hit {
                drv: first.drv.clone(),
                output: first.output.clone(),
                reports: rows.len() as u64,
                verdict: verdict::of_output(&rows),
                path,
            })
        })
        .collect();
    Ok((hits, more))
}
