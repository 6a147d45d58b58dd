//! The sequencer: the only writer of the log.
//!
//! Accepted entries queue on a channel, in groups (one request's entries,
//! which get consecutive indices). The sequencer takes the first waiting
//! group, then every group already waiting and those that keep arriving,
//! until the queue has been idle for [`IDLE_LINGER`], the batch interval
//! has passed since the first, or the batch holds [`MAX_BATCH`] entries.
//! While a batch commits, the next one queues up, so under load a batch is
//! whatever arrived during the previous commit (group commit), and a lone
//! entry waits about [`IDLE_LINGER`], not the interval. It assigns
//! consecutive indices, appends
//! their leaf hashes to the in-memory right edge of the tree
//! ([`RightEdge`]), signs a checkpoint over the new root and writes
//! entries, changed tiles and checkpoint in one transaction
//! ([`crate::store::LogStore::append_batch`]). Only after that commit does
//! any submitter hear its index: an acknowledged entry is on disk. If the
//! write fails every entry of the batch is refused and the edge is reloaded
//! from storage, so memory never runs ahead of the database. After a
//! commit it hands the batch's tiles to the [`TileCache`], so receipts are
//! proved from memory.
//!
//! Cost per batch: one transaction (one fsync), one ed25519 signature, and
//! per entry one leaf hash plus an amortised 1/255 tile hash.

use std::sync::Arc;
use std::time::Duration;

use provenix_formats::log::checkpoint::Checkpoint;
use provenix_formats::log::merkle::{self, leaf_hash};
use provenix_formats::log::note::Note;
use provenix_formats::log::tile::{MAX_TILE_LEVEL, RightEdge, TILE_WIDTH, hashes_at};
use provenix_formats::signature::SecretKey;
use tokio::sync::{mpsc, oneshot};

use crate::store::{Batch, LogStore, NewEntry, StoreError};
use crate::tiles::TileCache;

/// Most entries in one batch (a last group may take it a little over).
pub const MAX_BATCH: usize = 8192;

/// How long the queue may be idle before a batch is written.
pub const IDLE_LINGER: Duration = Duration::from_millis(1);

/// Where a group of entries landed.
#[derive(Debug, Clone)]
pub struct Sequenced {
    /// The index of its first entry; the others follow it.
    pub index: u64,
    /// The tree size of the checkpoint that first covers it.
    pub size: u64,
    /// That checkpoint, signed.
    pub checkpoint: Arc<Vec<u8>>,
}

/// One request's entries, sequenced together.
pub(crate) struct Pending {
    pub(crate) entries: Vec<NewEntry>,
    pub(crate) reply: oneshot::Sender<Result<Sequenced, ()>>,
}

/// Reads the right edge of the stored tree and checks it against the latest checkpoint's root.
pub fn load_edge(store: &dyn LogStore) -> Result<RightEdge, StoreError> {
    let Some((size, note)) = store.latest_checkpoint()? else { return Ok(RightEdge::default()) };
    let mut partial = Vec::new();
    for level in 0..=MAX_TILE_LEVEL {
        let width = RightEdge::partial_width(level, size) as usize;
        if width == 0 {
            partial.push(Vec::new());
            continue;
        }
        let index = hashes_at(level, size) / TILE_WIDTH;
        let bytes = store.tile(level, index)?.unwrap_or_default();
        let hashes: Vec<[u8; 32]> = bytes
            .get(..width * 32)
            .ok_or_else(|| StoreError::Corrupt(format!("tile {level}/{index} is shorter than tree size {size} needs")))?
            .chunks_exact(32)
            .map(|c| <[u8; 32]>::try_from(c).unwrap_or_default())
            .collect();
        partial.push(hashes);
    }
    let mut edge = RightEdge::from_tiles(size, partial).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let root = merkle::root(&mut edge, size).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let stored = Note::parse(&note)
        .ok()
        .and_then(|n| Checkpoint::parse_text(&n.text).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("the checkpoint at size {size} does not parse")))?;
    if stored.root != root || stored.size != size {
        return Err(StoreError::Corrupt(format!("the tiles' root at size {size} is not the latest checkpoint's")));
    }
    Ok(edge)
}

/// Signs and stores the checkpoint of an empty log, if the log has none.
pub(crate) fn init_empty(store: &dyn LogStore, key: &SecretKey, origin: &str) -> Result<(), StoreError> {
    if store.latest_checkpoint()?.is_some() {
        return Ok(());
    }
    let checkpoint = sign(key, origin, 0, merkle::empty_root())?;
    store.append_batch(&Batch { first_index: 0, entries: vec![], tiles: vec![], size: 0, checkpoint })
}

fn sign(key: &SecretKey, origin: &str, size: u64, root: [u8; 32]) -> Result<Vec<u8>, StoreError> {
    Checkpoint { origin: origin.to_owned(), size, root, extensions: vec![] }
        .sign(key)
        .map_err(|e| StoreError::Corrupt(format!("signing the checkpoint: {e}")))
}

pub(crate) struct Sequencer {
    pub(crate) store: Arc<dyn LogStore>,
    pub(crate) key: SecretKey,
    pub(crate) origin: String,
    pub(crate) interval: Duration,
    pub(crate) edge: RightEdge,
    pub(crate) tiles: Arc<TileCache>,
}

impl Sequencer {
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        while let Some(first) = rx.recv().await {
            let deadline = tokio::time::Instant::now() + self.interval;
            let mut count = first.entries.len();
            let mut batch = vec![first];
            while count < MAX_BATCH {
                let next = match rx.try_recv() {
                    Ok(p) => Some(p),
                    Err(mpsc::error::TryRecvError::Empty) => {
                        let until = deadline.min(tokio::time::Instant::now() + IDLE_LINGER);
                        tokio::time::timeout_at(until, rx.recv()).await.ok().flatten()
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                };
                let Some(p) = next else { break };
                count += p.entries.len();
                batch.push(p);
            }
            let mut replies = Vec::with_capacity(batch.len());
            let mut entries = Vec::with_capacity(count);
            for p in batch {
                replies.push((p.entries.len() as u64, p.reply));
                entries.extend(p.entries);
            }
            let store = self.store.clone();
            let key = self.key.clone();
            let origin = self.origin.clone();
            let edge = self.edge.clone();
            let tiles = self.tiles.clone();
            let result =
                tokio::task::spawn_blocking(move || write_batch(&*store, &tiles, &key, &origin, edge, entries)).await;
            match result {
                Ok(Ok((edge, first_index, size, note))) => {
                    self.edge = edge;
                    let note = Arc::new(note);
                    let mut index = first_index;
                    for (n, reply) in replies {
                        let _ = reply.send(Ok(Sequenced { index, size, checkpoint: note.clone() }));
                        index += n;
                    }
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %crate::error::chain(&e), "writing a batch failed; its entries are refused");
                    for (_, reply) in replies {
                        let _ = reply.send(Err(()));
                    }
                    let store = self.store.clone();
                    match tokio::task::spawn_blocking(move || load_edge(&*store)).await {
                        Ok(Ok(edge)) => self.edge = edge,
                        _ => {
                            tracing::error!("reloading the tree from storage failed; the sequencer stops");
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "the batch task failed");
                    for (_, reply) in replies {
                        let _ = reply.send(Err(()));
                    }
                }
            }
        }
    }
}

type Written = (RightEdge, u64, u64, Vec<u8>);

fn write_batch(
    store: &dyn LogStore,
    cache: &TileCache,
    key: &SecretKey,
    origin: &str,
    mut edge: RightEdge,
    entries: Vec<NewEntry>,
) -> Result<Written, StoreError> {
    let first_index = edge.size();
    let tiles = edge.append(entries.iter().map(|e| leaf_hash(&e.data)));
    let size = edge.size();
    let root = merkle::root(&mut edge, size).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let checkpoint = sign(key, origin, size, root)?;
    let batch = Batch { first_index, entries, tiles, size, checkpoint };
    store.append_batch(&batch)?;
    cache.publish(&batch.tiles, size);
    Ok((edge, first_index, size, batch.checkpoint))
}
