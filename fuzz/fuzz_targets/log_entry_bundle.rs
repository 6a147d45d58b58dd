#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| provenix_core::fuzz_checks::log_entry_bundle(data));
