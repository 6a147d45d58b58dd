//! SIGINT and SIGTERM: remove every half-written file, then die of the
//! signal.
//!
//! Temp files, downloads, an index being built and a NAR being unpacked are
//! registered with `provenix_store::cleanup` while they are written. A thread
//! of our own waits for the signal (signal-hook's self-pipe, so nothing
//! unusual runs inside the handler), removes what is registered, and then
//! ends the process the way the signal would have, so a shell sees "killed
//! by SIGINT" as usual.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Starts the signal thread. Without it (no thread, no pipe), signals keep
/// their default action: the process still stops, only without cleaning up.
pub(crate) fn install() {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else { return };
    let _ = std::thread::Builder::new().name("provenix-signals".to_owned()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            provenix_store::cleanup::remove_all_then(|_| {
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal)
            });
        }
    });
}
