//! The provenix rebuild transparency log server.
//!
//! Builders submit signed build reports (or DSSE rebuild attestations);
//! the server checks each against the registered builder keys, and the
//! [`sequencer`] appends accepted ones, in batches, to an RFC 9162 Merkle
//! log whose hashes are stored as C2SP tiles and whose checkpoints it signs
//! with the log key. Anyone can fetch checkpoints, tiles, entries and
//! proofs, and per output path or `.drv` the reports and a [`verdict`].
//! The HTTP API is documented in `docs/log.md`.
//!
//! [`router`] builds the axum application from an [`AppState`]; [`start`]
//! opens the state (and starts the sequencer) from a [`Config`];
//! [`serve`] runs it on a listener until shutdown.
#![warn(missing_docs)]

pub mod error;
mod routes;
pub mod sequencer;
pub mod store;
pub mod tiles;
pub mod verdict;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use provenix_formats::log::report::Report;
use provenix_formats::signature::{PublicKey, SecretKey, TrustedKeys};
use provenix_formats::store_path::StoreDir;
use tokio::sync::{mpsc, oneshot};

pub use error::AppError;
use sequencer::{Pending, Sequenced};
use store::{LogStore, NewEntry, StoreError};
use tiles::TileCache;

/// Largest request body, in bytes: one entry or attestation envelope.
pub const MAX_BODY_LEN: usize = 1 << 20;

/// How the server is set up.
pub struct Config {
    /// The log key; its name is the checkpoints' origin line.
    pub log_key: SecretKey,
    /// Builders to register at start (added to those already stored).
    pub builders: Vec<PublicKey>,
    /// The token of the admin API; `None` turns it off.
    pub admin_token: Option<String>,
    /// How long the sequencer waits for more entries after the first of a batch.
    pub batch_interval: Duration,
    /// The store directory report paths must be under.
    pub store_dir: StoreDir,
}

/// Longest batch interval accepted.
pub const MAX_BATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Storage failed.
    #[error("log storage")]
    Store(#[from] StoreError),
    /// The log key's name cannot sign checkpoints.
    #[error("log key `{0}` cannot sign C2SP notes (its name contains `+`)")]
    LogKeyName(String),
    /// A stored builder key does not parse.
    #[error("stored builder key of `{0}` is invalid")]
    BuilderKey(String),
    /// The batch interval is over [`MAX_BATCH_INTERVAL`].
    #[error("batch interval {0:?} is longer than 1 s")]
    Interval(Duration),
    /// A blocking task failed.
    #[error("startup task")]
    Join(#[from] tokio::task::JoinError),
}

struct Inner {
    store: Arc<dyn LogStore>,
    store_dir: StoreDir,
    builders: RwLock<Arc<TrustedKeys>>,
    origin: String,
    log_public: PublicKey,
    admin_token: Option<String>,
    queue: mpsc::Sender<Pending>,
    tiles: Arc<TileCache>,
}

/// What every handler gets: storage, builder keys, the sequencer's queue.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// Opens the log: registers `config.builders`, signs the empty checkpoint of
/// a new log, loads and checks the tree's right edge, and starts the sequencer.
pub async fn start(config: Config, store: Arc<dyn LogStore>) -> Result<AppState, StartError> {
    if config.batch_interval > MAX_BATCH_INTERVAL {
        return Err(StartError::Interval(config.batch_interval));
    }
    let origin = config.log_key.name().to_owned();
    if origin.contains('+') {
        return Err(StartError::LogKeyName(origin));
    }
    let (s, key, o, new_builders) = (store.clone(), config.log_key.clone(), origin.clone(), config.builders.clone());
    let (edge, keys) = tokio::task::spawn_blocking(move || -> Result<_, StartError> {
        for b in &new_builders {
            s.add_builder(b.name(), &b.to_string())?;
        }
        sequencer::init_empty(&*s, &key, &o)?;
        let edge = sequencer::load_edge(&*s)?;
        let mut keys = TrustedKeys::new();
        for (name, text) in s.builders()? {
            keys.insert(PublicKey::parse(&text).map_err(|_| StartError::BuilderKey(name))?);
        }
        Ok((edge, keys))
    })
    .await??;
    let (queue, rx) = mpsc::channel(sequencer::MAX_BATCH * 4);
    let tiles = Arc::new(TileCache::new(tiles::DEFAULT_TILE_CACHE));
    let seq = sequencer::Sequencer {
        store: store.clone(),
        key: config.log_key.clone(),
        origin: origin.clone(),
        interval: config.batch_interval,
        edge,
        tiles: tiles.clone(),
    };
    tokio::spawn(seq.run(rx));
    Ok(AppState {
        inner: Arc::new(Inner {
            store,
            store_dir: config.store_dir,
            builders: RwLock::new(Arc::new(keys)),
            origin,
            log_public: config.log_key.to_public(),
            admin_token: config.admin_token,
            queue,
            tiles,
        }),
    })
}

impl AppState {
    /// The storage.
    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.inner.store
    }

    /// The checkpoints' origin line (the log key's name).
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The log's public key.
    pub fn log_public_key(&self) -> &PublicKey {
        &self.inner.log_public
    }

    /// The tiles in memory that receipts and proofs are read from.
    pub fn tiles(&self) -> &Arc<TileCache> {
        &self.inner.tiles
    }

    pub(crate) fn store_dir(&self) -> &StoreDir {
        &self.inner.store_dir
    }

    pub(crate) fn admin_token(&self) -> Option<&str> {
        self.inner.admin_token.as_deref()
    }

    /// The registered builder keys, as of now.
    pub fn builder_keys(&self) -> Arc<TrustedKeys> {
        self.inner.builders.read().map(|k| k.clone()).unwrap_or_default()
    }

    pub(crate) fn set_builder_keys(&self, keys: TrustedKeys) {
        if let Ok(mut k) = self.inner.builders.write() {
            *k = Arc::new(keys);
        }
    }

    /// Queues checked entries and waits until they are sequenced and stored,
    /// at consecutive indices from the answer's.
    pub(crate) async fn sequence(&self, entries: Vec<(Vec<u8>, Report)>) -> Result<Sequenced, AppError> {
        let (reply, rx) = oneshot::channel();
        let unavailable = || {
            AppError::client(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the log is not accepting entries",
            )
        };
        let entries = entries.into_iter().map(|(data, report)| NewEntry { data, report }).collect();
        self.inner.queue.send(Pending { entries, reply }).await.map_err(|_| unavailable())?;
        rx.await.map_err(|_| unavailable())?.map_err(|()| unavailable())
    }
}

/// The application: every route of `docs/log.md`.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}

/// Serves `router(state)` on `listener` until ctrl-c or SIGTERM, then drains.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

/// Errors running the server from a blocking caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The runtime or the listener could not start.
    #[error("starting the server on {addr}")]
    Io {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Opening the log failed.
    #[error("opening the log")]
    Start(#[from] StartError),
}

/// Runs the server on `listen` until ctrl-c or SIGTERM, from synchronous code
/// (the CLI): builds a tokio runtime, opens the log, binds, calls `ready`
/// with the bound address, and serves.
pub fn run_blocking(
    config: Config,
    store: Arc<dyn LogStore>,
    listen: std::net::SocketAddr,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), RunError> {
    let io = |source| RunError::Io { addr: listen, source };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(io)?;
    runtime.block_on(async move {
        let state = start(config, store).await?;
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(io)?;
        let addr = listener.local_addr().map_err(io)?;
        ready(addr);
        serve(listener, state).await.map_err(io)
    })
}
