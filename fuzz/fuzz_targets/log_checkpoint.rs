#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| provenix_formats::fuzz_checks::log::checkpoint(data));
