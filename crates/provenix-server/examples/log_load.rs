//! Load test of the log server (run by `bench/log_load.sh`, numbers in BENCHMARKS.md).
//!
//! `log_load DB CONCURRENCY SECONDS PREFILL [BATCH] [PROOF_CLIENTS]`: opens
//! (creates) the log DB (a SQLite file, or a `postgres://` URL), optionally prefills it with PREFILL entries
//! straight through the storage (same batches the sequencer writes), starts
//! the server in process on 127.0.0.1, and for SECONDS runs CONCURRENCY
//! threads that each POST signed reports (signed beforehand, as builders do)
//! over keep-alive connections and wait for the receipts: one report per
//! request to `/api/v1/reports` when BATCH is 1 (the default), else BATCH
//! reports per request to `/api/v1/reports/batch`. Then PROOF_CLIENTS
//! threads (default CONCURRENCY) ask for inclusion proofs of random entries
//! for SECONDS/3. Prints reports/s, receipt latency p50/p99 (per request),
//! proofs/s and their latency, RSS now and at peak (of the whole process,
//! submitters and their pre-signed reports included), the tile cache's
//! size, and disk bytes per entry (on PostgreSQL: the growth of
//! `pg_database_size` over the empty schema's; the PostgreSQL server's own
//! CPU and memory are outside this process).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use provenix_formats::log::checkpoint::Checkpoint;
use provenix_formats::log::merkle::{leaf_hash, root};
use provenix_formats::log::report::Report;
use provenix_formats::log::tile::RightEdge;
use provenix_formats::signature::SecretKey;
use provenix_formats::store_path::StoreDir;
use provenix_server::store::postgres::PostgresStore;
use provenix_server::store::sqlite::SqliteStore;
use provenix_server::store::{Batch, LogStore, NewEntry};

fn report(builder: &str, n: u64) -> Report {
    let hash: String =
        (0..32).map(|i| b"0123456789abcdfghijklmnpqrsvwxyz"[((n >> (i % 13)) as usize + i) % 32] as char).collect();
    Report {
        drv: format!("/nix/store/{hash}-pkg-{n}.drv"),
        output: "out".into(),
        path: format!("/nix/store/{hash}-pkg-{n}"),
        nar_hash: leaf_hash(&n.to_le_bytes()),
        nar_size: Some(n),
        builder: builder.into(),
        system: Some("x86_64-linux".into()),
        nix_version: "2.8.0".into(),
        time: "2026-12-07T09:00:00Z".into(),
        attestation: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len() as f64 - 1.0) * p) as usize).copied().unwrap_or_default()
}

/// CPU seconds used so far by this process, and by its threads named `submitter`/`prover` (the load generator).
fn cpu_seconds() -> (f64, f64) {
    let ticks = |stat: &str| -> f64 {
        // Fields after the `(comm)`: state is 3rd, utime 14th and stime 15th of the whole line.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    };
    let all = ticks(&std::fs::read_to_string("/proc/self/stat").unwrap());
    let mut clients = 0.0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "submitter" || comm.trim() == "prover" {
            clients += std::fs::read_to_string(task.path().join("stat")).map_or(0.0, |s| ticks(&s));
        }
    }
    (all, clients)
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn prefill(store: &dyn LogStore, log_key: &SecretKey, builder: &str, count: u64) {
    let mut edge = RightEdge::default();
    let mut done = 0u64;
    store
        .append_batch(&Batch {
            first_index: 0,
            entries: vec![],
            tiles: vec![],
            size: 0,
            checkpoint: sign(log_key, &mut edge),
        })
        .unwrap();
    while done < count {
        let n = (count - done).min(8192);
        let entries: Vec<NewEntry> = (done..done + n)
            .map(|i| {
                let r = report(builder, 1 << 40 | i);
                NewEntry { data: r.to_bytes(), report: r }
            })
            .collect();
        let tiles = edge.append(entries.iter().map(|e| leaf_hash(&e.data)));
        let checkpoint = sign(log_key, &mut edge);
        store.append_batch(&Batch { first_index: done, entries, tiles, size: edge.size(), checkpoint }).unwrap();
        done += n;
    }
}

fn sign(key: &SecretKey, edge: &mut RightEdge) -> Vec<u8> {
    let size = edge.size();
    let root = root(edge, size).unwrap();
    Checkpoint { origin: key.name().into(), size, root, extensions: vec![] }.sign(key).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (db, concurrency, seconds, prefill_count, batch, proof_clients) = match args.as_slice() {
        [_, db, c, s, p, rest @ ..] if rest.len() <= 2 => {
            let c: usize = c.parse().unwrap();
            let batch: usize = rest.first().map_or(1, |b| b.parse().unwrap());
            let proof_clients: usize = rest.get(1).map_or(c, |p| p.parse().unwrap());
            (db.clone(), c, s.parse::<u64>().unwrap(), p.parse::<u64>().unwrap(), batch, proof_clients)
        }
        _ => panic!("usage: log_load DB CONCURRENCY SECONDS PREFILL [BATCH] [PROOF_CLIENTS]"),
    };
    let log_key = SecretKey::from_seed("log.bench", [1; 32]).unwrap();
    let builder = SecretKey::from_seed("builder-bench", [2; 32]).unwrap();
    // The database's size on disk, in bytes.
    let (store, disk_bytes): (Arc<dyn LogStore>, Box<dyn Fn() -> u64>) = if db.starts_with("postgres") {
        let pg = Arc::new(PostgresStore::open(&db).unwrap());
        let (p, empty) = (pg.clone(), pg.database_size().unwrap());
        (pg, Box::new(move || p.database_size().unwrap().saturating_sub(empty)))
    } else {
        let file = std::path::PathBuf::from(db.strip_prefix("sqlite:").unwrap_or(&db));
        let store = Arc::new(SqliteStore::open(&file).unwrap());
        let bytes = move || {
            ["", "-wal"]
                .iter()
                .filter_map(|s| std::fs::metadata(format!("{}{s}", file.display())).ok())
                .map(|m| m.len())
                .sum()
        };
        (store, Box::new(bytes))
    };
    let t = Instant::now();
    prefill(&*store, &log_key, builder.name(), prefill_count);
    println!("prefill: {prefill_count} entries in {:.1} s", t.elapsed().as_secs_f64());

    // Signed in advance, on two threads: builders sign on their own machines.
    // Each submitter gets its request bodies ready to send.
    let t = Instant::now();
    let total: usize = std::env::var("LOG_LOAD_REPORTS").map_or(500_000, |v| v.parse().unwrap());
    let per_thread = (total / concurrency.max(1)).max(batch);
    let sign_one = |n: usize| report(builder.name(), n as u64).sign(&builder).unwrap().to_bytes();
    let bodies: Vec<Arc<Vec<Vec<u8>>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..concurrency)
            .collect::<Vec<_>>()
            .chunks(concurrency.div_ceil(2).max(1))
            .map(|ws| {
                let ws = ws.to_vec();
                scope.spawn(move || {
                    ws.into_iter()
                        .map(|w| {
                            let reports: Vec<Vec<u8>> = (0..per_thread).map(|i| sign_one(w * per_thread + i)).collect();
                            let bodies = if batch == 1 {
                                reports
                            } else {
                                reports
                                    .chunks(batch)
                                    .map(|c| {
                                        let texts: Vec<String> =
                                            c.iter().map(|e| String::from_utf8(e.clone()).unwrap()).collect();
                                        serde_json::to_vec(&serde_json::json!({ "entries": texts })).unwrap()
                                    })
                                    .collect()
                            };
                            Arc::new(bodies)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    println!("signed {} reports in advance in {:.1} s", per_thread * concurrency, t.elapsed().as_secs_f64());

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let config = provenix_server::Config {
        log_key: log_key.clone(),
        builders: vec![builder.to_public()],
        admin_token: None,
        batch_interval: Duration::from_millis(50),
        store_dir: StoreDir::default(),
    };
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = runtime.block_on(provenix_server::start(config, store.clone())).unwrap();
    let cache = state.tiles().clone();
    runtime.spawn(async move { provenix_server::serve(listener, state).await });

    let run = |what: &'static str, clients: usize, secs: u64| -> (u64, Vec<Duration>, (f64, f64)) {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..clients)
            .map(|w| {
                let (stop, count, url, bodies) = (stop.clone(), count.clone(), url.clone(), bodies[w].clone());
                let name = if what == "submit" { "submitter" } else { "prover" };
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn(move || {
                        let agent = ureq::Agent::new_with_defaults();
                        let mut lat = Vec::new();
                        let mut i = 0usize;
                        while !stop.load(Ordering::Relaxed) {
                            let t = Instant::now();
                            if what == "submit" {
                                let Some(body) = bodies.get(i) else {
                                    eprintln!("a submitter ran out of pre-signed reports: raise LOG_LOAD_REPORTS");
                                    break;
                                };
                                let endpoint = if batch == 1 { "reports" } else { "reports/batch" };
                                let mut resp = agent.post(format!("{url}/api/v1/{endpoint}")).send(&body[..]).unwrap();
                                resp.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
                            } else {
                                let index = (i as u64).wrapping_mul(2_654_435_761) % prefill_count.max(1);
                                let mut resp =
                                    agent.get(format!("{url}/api/v1/proofs/inclusion?index={index}")).call().unwrap();
                                resp.body_mut().read_to_vec().unwrap();
                            }
                            lat.push(t.elapsed());
                            count.fetch_add(if what == "submit" { batch as u64 } else { 1 }, Ordering::Relaxed);
                            i += 1;
                        }
                        lat
                    })
                    .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_secs(secs));
        // Client threads' CPU, read while they still exist.
        let cpu = cpu_seconds();
        stop.store(true, Ordering::Relaxed);
        let mut all: Vec<Duration> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort();
        (count.load(Ordering::Relaxed), all, cpu)
    };

    let t = Instant::now();
    let cpu0 = cpu_seconds();
    let (n, lat, cpu1) = run("submit", concurrency, seconds);
    let elapsed = t.elapsed().as_secs_f64();
    let server_cpu = (cpu1.0 - cpu0.0) - (cpu1.1 - cpu0.1);
    println!(
        "submit: {concurrency} submitters, {batch} reports per request, {seconds} s: {n} reports, {:.0} reports/s, \
receipt latency p50 {:.1} ms p99 {:.1} ms",
        n as f64 / elapsed,
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "submit CPU: server {:.1} s ({:.0} us per report, {:.2} cores), submitters {:.1} s, over {elapsed:.1} s",
        server_cpu,
        server_cpu * 1e6 / n.max(1) as f64,
        server_cpu / elapsed,
        cpu1.1 - cpu0.1
    );
    let proof_secs = (seconds / 3).max(5);
    let (n, lat, _) = run("proof", proof_clients, proof_secs);
    println!(
        "proofs: log of {} entries, {proof_clients} clients, {:.0} proofs/s, latency p50 {:.2} ms p99 {:.2} ms",
        store.latest_checkpoint().unwrap().map_or(0, |c| c.0),
        n as f64 / proof_secs as f64,
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3
    );
    let size = store.latest_checkpoint().unwrap().map_or(0, |c| c.0);
    let bytes = disk_bytes();
    println!(
        "RSS {} MiB, peak {} MiB; tile cache {} of at most {} tiles; disk {:.0} bytes/entry ({size} entries, {bytes} bytes)",
        status_kib("VmRSS:") / 1024,
        status_kib("VmHWM:") / 1024,
        cache.len(),
        cache.capacity(),
        bytes as f64 / size.max(1) as f64
    );
}
