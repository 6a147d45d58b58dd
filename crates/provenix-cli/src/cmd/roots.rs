//! What the closure commands share: root arguments, the mirror table, the
//! identity tables (`sbom`, `vulns`), the Nix database, and the progress bar.

use std::collections::{HashMap, HashSet};
use std::io::{self, IsTerminal as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use provenix_core::identity::{IdentityTable, Inventory, InventoryOptions, MetaTable, RootOutputs};
use provenix_core::mirrors::MirrorTable;
use provenix_core::verify::Progress;
use provenix_formats::store_path::StorePath;
use provenix_store::db::NixDb;
use provenix_store::nix::NixArg;
use provenix_store::roots::{self, RootOptions, RootSource};

use crate::cli::Ctx;

/// Roots and the tables that describe their sources.
#[derive(Debug, clap::Args)]
pub(crate) struct RootArgs {
    /// A `.drv` path, an output path or `result` symlink (its deriver comes from the Nix database),
    /// a Nix file (`nix-instantiate`) or a flake reference (`nix path-info --derivation`).
    #[arg(required = true, value_name = "ROOT")]
    pub(crate) roots: Vec<String>,
    /// Attribute of a Nix-file root to evaluate, as with `nix-build -A` (repeatable).
    #[arg(short = 'A', long = "attr", value_name = "ATTR")]
    attrs: Vec<String>,
    /// Pass NAME = EXPR (a Nix expression) to a Nix-file root's function, as `nix-build --arg` (repeatable).
    #[arg(long = "arg", num_args = 2, value_names = ["NAME", "EXPR"], action = clap::ArgAction::Append)]
    nix_args: Vec<String>,
    /// Pass NAME = VALUE (a string) to a Nix-file root's function, as `nix-build --argstr` (repeatable).
    #[arg(long = "argstr", num_args = 2, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append)]
    nix_argstrs: Vec<String>,
    /// More `mirror://` sites, or replacements for built-in ones: a file of `name url [url...]` lines.
    #[arg(long, value_name = "FILE")]
    mirrors: Option<PathBuf>,
}

impl RootArgs {
    /// The built-in mirror table extended with the user's file.
    pub(crate) fn mirror_table(&self) -> anyhow::Result<MirrorTable> {
        let mut table = MirrorTable::builtin();
        if let Some(file) = &self.mirrors {
            table.extend(MirrorTable::load(file)?);
        }
        Ok(table)
    }

    /// The roots as `.drv` paths, each once, in the order given.
    pub(crate) fn resolve(&self, ctx: &Ctx, db: Option<&NixDb>) -> anyhow::Result<Vec<StorePath>> {
        Ok(self.resolve_roots(ctx, db)?.into_iter().map(|r| r.drv).collect())
    }

    /// The roots with the arguments they came from, each `.drv` once, in the order given.
    pub(crate) fn resolve_roots(&self, ctx: &Ctx, db: Option<&NixDb>) -> anyhow::Result<Vec<roots::Root>> {
        Ok(dedup_roots(self.resolve_all(ctx, db)?))
    }

    /// The roots, each `.drv` once in the order given, and per `.drv` the outputs the user named
    /// when every argument for it was an output path (see [`named_outputs`]). A `.drv` named both
    /// ways keeps the argument that stands for all its outputs, since that is the one a refusal of
    /// an unbuilt output has to name.
    pub(crate) fn resolve_scoped(
        &self,
        ctx: &Ctx,
        db: Option<&NixDb>,
    ) -> anyhow::Result<(Vec<roots::Root>, RootOutputs)> {
        let all = self.resolve_all(ctx, db)?;
        let named = named_outputs(&all);
        Ok((dedup_roots_whole_first(all), named))
    }

    fn resolve_all(&self, ctx: &Ctx, db: Option<&NixDb>) -> anyhow::Result<Vec<roots::Root>> {
        let pairs = |values: &[String]| -> Vec<(String, String)> {
            values.chunks_exact(2).filter_map(|c| Some((c.first()?.clone(), c.get(1)?.clone()))).collect()
        };
        let mut args: Vec<NixArg> =
            pairs(&self.nix_args).into_iter().map(|(name, expr)| NixArg::Expr { name, expr }).collect();
        args.extend(pairs(&self.nix_argstrs).into_iter().map(|(name, value)| NixArg::Str { name, value }));
        let options = RootOptions { attrs: self.attrs.clone(), args };
        Ok(match db {
            Some(db) => roots::resolve(&ctx.store, &self.roots, &options, &|p| {
                db.deriver(p).map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            }),
            None => roots::resolve(&ctx.store, &self.roots, &options, &roots::nix_deriver(&ctx.store)),
        }?)
    }
}

impl RootArgs {
    /// The same options for one root argument alone, for commands whose roots play
    /// different parts (`diff OLD NEW`, `review sign SOURCE --diff-from OLD`).
    pub(crate) fn only(&self, root: &str) -> RootArgs {
        RootArgs {
            roots: vec![root.to_owned()],
            attrs: self.attrs.clone(),
            mirrors: self.mirrors.clone(),
            nix_args: self.nix_args.clone(),
            nix_argstrs: self.nix_argstrs.clone(),
        }
    }
}

fn dedup_roots(all: Vec<roots::Root>) -> Vec<roots::Root> {
    let mut seen = HashSet::new();
    all.into_iter().filter(|r| seen.insert(r.drv.clone())).collect()
}

/// As [`dedup_roots`], but where a `.drv` was also given by an argument that stands for all its
/// outputs (a `.drv`, Nix file or flake root), that argument is kept in place of an output path.
fn dedup_roots_whole_first(all: Vec<roots::Root>) -> Vec<roots::Root> {
    let is_output = |r: &roots::Root| matches!(r.source, RootSource::Output(_));
    let mut kept: Vec<roots::Root> = Vec::new();
    let mut at: HashMap<StorePath, usize> = HashMap::new();
    for root in all {
        match at.get(&root.drv).and_then(|&i| kept.get_mut(i)) {
            Some(first) if is_output(first) && !is_output(&root) => *first = root,
            Some(_) => {}
            None => {
                at.insert(root.drv.clone(), kept.len());
                kept.push(root);
            }
        }
    }
    kept
}

/// Per `.drv`: the output paths named for it, when it was only ever named by output paths (an
/// output path or `result` link stands for that output; a `.drv`, Nix file or flake root stands
/// for all outputs, so such a `.drv` is left out).
pub(crate) fn named_outputs(all: &[roots::Root]) -> RootOutputs {
    let mut named = RootOutputs::new();
    let mut whole: HashSet<&StorePath> = HashSet::new();
    for root in all {
        match &root.source {
            RootSource::Output(path) => {
                let paths = named.entry(root.drv.clone()).or_default();
                if !paths.contains(path) {
                    paths.push(path.clone());
                }
            }
            _ => {
                whole.insert(&root.drv);
            }
        }
    }
    named.retain(|drv, _| !whole.contains(drv));
    named
}

/// Where component identities come from (`sbom`, `vulns`).
#[derive(Debug, clap::Args)]
pub(crate) struct IdentityArgs {
    /// More pname -> CPE/repository entries, replacing built-in ones (TOML, see docs/identities.md; repeatable).
    #[arg(long, value_name = "FILE")]
    identities: Vec<PathBuf>,
    /// Package metadata (licenses, CPEs, homepage) from `nix-env -qa --json --meta` or `nix eval --json`.
    #[arg(long, value_name = "FILE")]
    meta: Option<PathBuf>,
}

impl IdentityArgs {
    /// The inventory options: the roots' mirror table, the built-in identity table extended with the
    /// user's files, the metadata file.
    pub(crate) fn options(
        &self,
        roots: &RootArgs,
        runtime: bool,
        root_outputs: RootOutputs,
    ) -> anyhow::Result<InventoryOptions> {
        let mut identities = IdentityTable::builtin();
        for file in &self.identities {
            identities.extend(IdentityTable::load(file)?);
        }
        let meta = self.meta.as_deref().map(MetaTable::load).transpose()?;
        Ok(InventoryOptions {
            mirrors: roots.mirror_table()?,
            identities,
            meta,
            runtime,
            root_outputs,
            skip_realisation: false,
        })
    }
}

/// For `--runtime`: fails naming the first root (as the user wrote it) whose outputs are not
/// realised, since the runtime closure of an unbuilt root is unknown, not empty. `instead` is what
/// the command offers besides building (for example "use --buildtime").
pub(crate) fn ensure_roots_built(
    ctx: &Ctx,
    roots: &[roots::Root],
    inv: &Inventory,
    instead: &str,
) -> anyhow::Result<()> {
    let Some((rt, first)) = inv.runtime.as_ref().and_then(|rt| Some((rt, rt.unrealised_roots.first()?))) else {
        return Ok(());
    };
    let unrealised = rt.unrealised_roots.join(", ");
    let drv = first.split_once('!').map_or(first.as_str(), |(d, _)| d);
    let arg = roots.iter().find(|r| ctx.store.dir().display(&r.drv) == drv).map_or(drv, |r| r.arg.as_str());
    anyhow::bail!(
        "--runtime: root `{arg}` is not built ({unrealised} not realised in the store); build it, \
         name only its built outputs (an output path or `result` link), or {instead}"
    )
}

/// `STORE_DIR/HASH-NAME[/SUB]` under `--store ROOT`: its physical path (`None` without `--store`
/// or for a path outside the logical store directory).
pub(crate) fn map_store_path(ctx: &Ctx, text: &str) -> anyhow::Result<Option<PathBuf>> {
    let dir = ctx.store.dir();
    if ctx.store.root().is_none() || !text.starts_with(&format!("{}/", dir.as_str())) {
        return Ok(None);
    }
    let (path, rest) = dir.parse_path_prefix(text).with_context(|| format!("{text}: not a store path"))?;
    let physical = ctx.store.physical(&path);
    // No trailing `/`: it would make a symlink output be followed.
    let rest = rest.trim_matches('/');
    Ok(Some(if rest.is_empty() { physical } else { physical.join(rest) }))
}

/// Where a file argument of `nar dump`/`nar hash` is read: a logical store path is read under
/// `--store ROOT`, anything else as it is.
pub(crate) fn physical_arg(ctx: &Ctx, arg: &Path) -> anyhow::Result<PathBuf> {
    match arg.to_str() {
        Some(text) => Ok(map_store_path(ctx, text)?.unwrap_or_else(|| arg.to_path_buf())),
        None => Ok(arg.to_path_buf()),
    }
}

/// The `--store ROOT` (and `--store-dir DIR` when it is not `/nix/store`) a printed provenix
/// command needs to see the same store, each with its leading space, or nothing for the host's
/// store.
pub(crate) fn store_flag(ctx: &Ctx) -> String {
    let mut flag = ctx.store.root().map(|root| format!(" --store {}", root.display())).unwrap_or_default();
    if ctx.store.dir().as_str() != "/nix/store" {
        flag.push_str(&format!(" --store-dir {}", ctx.store.dir()));
    }
    flag
}

/// A bundle given as the root: its `.drv` files unpacked into a throwaway store, which the
/// command reads instead of `--store` (removed when dropped).
pub(crate) struct BundleRoot {
    /// The throwaway store root; kept alive for the command.
    _dir: tempfile::TempDir,
    /// The store to read.
    pub(crate) store: provenix_store::Store,
}

/// When the only root is a provenix bundle: checks its stream against its manifest (the same
/// check `rebuild` makes before importing: every path's NAR hash, every `.drv` recomputed),
/// unpacks its `.drv` files into a throwaway store and puts the bundle's roots in its place.
/// `None` when no root is a bundle; an error when a bundle is mixed with other roots, or with a
/// Nix database (`nix_db`: the flag that named one, as given, e.g. `--db FILE`).
pub(crate) fn bundle_root(roots: &mut RootArgs, nix_db: Option<&str>) -> anyhow::Result<Option<BundleRoot>> {
    use provenix_core::bundle::{BundleReader, PathKind};
    use provenix_formats::export::ExportReader;
    let is_bundle = |arg: &String| {
        let path = Path::new(arg);
        path.is_file() && roots::sniff(path).is_some_and(|(what, _)| what == "a provenix bundle")
    };
    let Some(file) = roots.roots.iter().find(|a| is_bundle(a)).cloned() else { return Ok(None) };
    anyhow::ensure!(
        roots.roots.len() == 1,
        "root `{file}` is a provenix bundle: give it as the only root (its roots are read from it)"
    );
    if let Some(flag) = nix_db {
        anyhow::bail!("root `{file}` is a provenix bundle, which has no Nix database: leave out {flag}");
    }
    let reader = BundleReader::open(Path::new(&file)).with_context(|| format!("root `{file}`"))?;
    provenix_core::rebuild::check_stream(&reader, &provenix_core::verify::NoProgress)
        .with_context(|| format!("root `{file}`"))?;
    let dir = tempfile::Builder::new().prefix("provenix-bundle-").tempdir().context("creating a temp store")?;
    let store = provenix_store::Store::new(reader.store_dir().clone(), Some(dir.path().to_owned()));
    let physical = store.physical_dir();
    std::fs::create_dir_all(&physical).with_context(|| format!("creating {}", physical.display()))?;
    let mut stream = ExportReader::new(reader.export_stream()?, reader.store_dir());
    for want in &reader.manifest().paths {
        let mut nar = Vec::new();
        let sink: &mut dyn io::Write = if want.kind == PathKind::Drv { &mut nar } else { &mut io::sink() };
        let entry = stream.next_path(sink).with_context(|| format!("root `{file}`: reading {}", want.path))?;
        let Some(entry) = entry else { break };
        if want.kind == PathKind::Drv {
            provenix_store::nar::unpack(io::Cursor::new(nar), &store.physical(&entry.path))
                .with_context(|| format!("root `{file}`: unpacking {}", want.path))?;
        }
    }
    roots.roots = reader.manifest().roots.iter().map(|r| r.drv.clone()).collect();
    Ok(Some(BundleRoot { _dir: dir, store }))
}

/// Opens the Nix database: `--db`, or the store's own when it exists.
pub(crate) fn open_db(ctx: &Ctx) -> anyhow::Result<Option<NixDb>> {
    match &ctx.db {
        Some(path) => {
            let db = NixDb::open(path, ctx.store.dir().clone()).with_context(|| format!("--db {}", path.display()))?;
            Ok(Some(db))
        }
        None => Ok(NixDb::open_for(&ctx.store)?),
    }
}

/// A progress bar on stderr, shown only on a terminal, never with `--json` or `-q`.
pub(crate) struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub(crate) fn new(ctx: &Ctx) -> Bar {
        let show = !ctx.json && !ctx.quiet && std::io::stderr().is_terminal();
        Bar { bar: show.then(|| ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())) }
    }
}

impl Progress for Bar {
    fn begin(&self, phase: &str, total: u64, bytes: bool) {
        let Some(bar) = &self.bar else { return };
        let template = if bytes {
            "{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{msg:20} [{bar:30}] {pos}/{len} eta {eta}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.reset();
        bar.set_length(total);
        bar.set_position(0);
        bar.set_message(phase.to_owned());
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn end(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Human size: bytes in binary units.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} B"),
        _ => format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("B")),
    }
}

/// A why-chain as names joined by arrows.
pub(crate) fn chain_names(chain: &[String]) -> String {
    chain.iter().map(|p| short_name(p)).collect::<Vec<_>>().join(" -> ")
}

pub(crate) use provenix_core::identity::short_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn chains_show_names() {
        let chain = ["/nix/store/aaaa-app.drv".to_owned(), "/nix/store/bbbb-src-1.0.tar.gz.drv".to_owned()];
        assert_eq!(chain_names(&chain), "app -> src-1.0.tar.gz");
    }
}
