//! The web UI in a real browser: a server on 127.0.0.1 with signed reports
//! submitted over HTTP, its pages loaded by Debian's headless `chromium`
//! (`scripts/install-deps.sh` installs it), the rendered DOM's text checked,
//! and screenshots kept under `target/ui-screenshots/` as test artifacts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{key, signed, state};

/// The rendered DOM of `url`, as Chromium dumps it.
fn dump_dom(profile: &Path, url: &str) -> String {
    let out = chromium(profile).arg("--dump-dom").arg(url).output().expect("running chromium");
    assert!(out.status.success(), "chromium --dump-dom {url}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn chromium(profile: &Path) -> Command {
    let bin =
        which("chromium").expect("`chromium` is not installed: run scripts/install-deps.sh (Debian package chromium)");
    let mut c = Command::new(bin);
    // --no-sandbox: tests run as root, where Chromium's own sandbox refuses to start.
    c.args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// The text a reader sees: tags dropped, entities of the escaper decoded, whitespace collapsed.
fn text(dom: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let mut in_style = false;
    let mut rest = dom;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("<style") {
            in_style = true;
        } else if rest.starts_with("</style>") {
            in_style = false;
        }
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag && !in_style => out.push(c),
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
    }
    let out = out.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn post(base: &str, body: Vec<u8>) -> u16 {
    let resp = ureq::post(&format!("{base}/api/v1/reports")).send(&body[..]).expect("submitting a report");
    resp.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_the_pages_of_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (key("builder-a"), key("builder-b"), key("builder-c"));
    let st = state(&dir.path().join("log.sqlite"), &[&a, &b, &c], None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, provenix_server::router(st)).into_future());

    let profile = dir.path().join("chromium-profile");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    let base2 = base.clone();
    let pages = tokio::task::spawn_blocking(move || {
        // pkg 1 reproduced by a and b; pkg 2 disputed (c differs); pkg 3 single.
        for (k, n, h) in [(&a, 1, 1), (&b, 1, 1), (&a, 2, 1), (&b, 2, 1), (&c, 2, 9), (&a, 3, 5)] {
            assert_eq!(post(&base2, signed(k, n, h)), 201);
        }
        let drv2 = common::report("x", 2, 0).drv;
        let urls = [
            ("overview", format!("{base2}/")),
            ("derivation", format!("{base2}/ui/derivation?path={drv2}")),
            ("disagreements", format!("{base2}/ui/disagreements")),
            ("builder", format!("{base2}/ui/builders/builder-c")),
            ("search", format!("{base2}/ui/search?q=pkg-3")),
        ];
        std::fs::create_dir_all(&shots).unwrap();
        let mut pages = Vec::new();
        for (name, url) in &urls {
            pages.push((*name, text(&dump_dom(&profile, url))));
        }
        for (name, url) in &urls[..2] {
            let png = shots.join(format!("{name}.png"));
            let _ = std::fs::remove_file(&png);
            let out = chromium(&profile)
                .arg(format!("--screenshot={}", png.display()))
                .arg("--window-size=1280,900")
                .arg(url)
                .output()
                .unwrap();
            assert!(out.status.success(), "chromium --screenshot {url}: {}", String::from_utf8_lossy(&out.stderr));
            let bytes = std::fs::read(&png).unwrap();
            assert!(
                bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
                "{} is not a real screenshot",
                png.display()
            );
        }
        pages
    })
    .await
    .unwrap();
    server.abort();

    let hash = |h: u8| {
        provenix_formats::hash::Hash::from_digest(provenix_formats::hash::HashAlgo::Sha256, &[h; 32])
            .unwrap()
            .to_prefixed_nixbase32()
    };
    let get = |name: &str| pages.iter().find(|(n, _)| *n == name).map(|(_, t)| t.as_str()).unwrap();
    let overview = get("overview");
    for expected in [
        "6 reports",
        "3 builders",
        "3 output paths",
        "1 reproduced",
        "1 disputed",
        "50.0% reproducibility rate",
        "tree size 6",
        "origin log.test",
    ] {
        assert!(overview.contains(expected), "overview lacks `{expected}`: {overview}");
    }
    let drv = get("derivation");
    assert!(drv.contains("verdict: disputed"), "{drv}");
    assert!(drv.contains(&format!("{} builder-a , builder-b", hash(1))), "{drv}");
    assert!(drv.contains(&format!("{} builder-c", hash(9))), "{drv}");
    let dis = get("disagreements");
    assert!(
        dis.contains("1 output paths with more than one NAR hash") && dis.contains(&common::report("x", 2, 0).path)
    );
    let builder = get("builder");
    assert!(builder.contains("builder builder-c") && builder.contains("1 0 1 0.0%"), "{builder}");
    let search = get("search");
    assert!(search.contains("1 output paths match pkg-3") && search.contains("single"), "{search}");
}
