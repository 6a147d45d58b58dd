//! Placeholder; being written (#2).
