//! The default bodies of [`LogStore`]'s summary queries: they read every
//! entry in pages through [`LogStore::entries`], so they work on every
//! backend unchanged, at a cost that grows with the log. Backends override
//! them with indexed queries.

use std::collections::{BTreeMap, BTreeSet};

use provenix_formats::log::report::Entry;
use provenix_formats::store_path::StoreDir;

use super::{LogStore, OutputHit, ReportRow, StoreError, Summary, search_matches};
use crate::verdict;

/// Entries read per storage call.
const PAGE: u64 = 1000;

/// Calls `f` with every entry of the latest checkpoint's tree, as a report
/// row, in order. An entry that does not parse (the log only holds checked
/// ones) is a corrupt store.
fn scan<S: LogStore + ?Sized>(store: &S, store_dir: &StoreDir, mut f: impl FnMut(ReportRow)) -> Result<(), StoreError> {
    let size = store.latest_checkpoint()?.map_or(0, |(n, _)| n);
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

pub(super) fn summary<S: LogStore + ?Sized>(store: &S, store_dir: &StoreDir) -> Result<Summary, StoreError> {
    let mut by_path: BTreeMap<String, (BTreeSet<[u8; 32]>, BTreeSet<String>)> = BTreeMap::new();
    let mut reports = 0;
    scan(store, store_dir, |r| {
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

pub(super) fn search<S: LogStore + ?Sized>(
    store: &S,
    store_dir: &StoreDir,
    needle: &str,
    limit: u64,
) -> Result<(Vec<OutputHit>, bool), StoreError> {
    let mut by_path: BTreeMap<String, Vec<ReportRow>> = BTreeMap::new();
    scan(store, store_dir, |r| {
        if by_path.contains_key(&r.path) || search_matches(store_dir, needle, &r.path, &r.drv) {
            by_path.entry(r.path.clone()).or_default().push(r);
        }
    })?;
    let more = by_path.len() as u64 > limit;
    let hits = by_path
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .filter_map(|(path, rows)| {
            let first = rows.first()?;
            Some(OutputHit {
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
