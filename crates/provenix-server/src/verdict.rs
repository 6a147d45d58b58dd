//! Verdicts: do the builders that reported an output agree?
//!
//! Per output path, over every report about it (a builder may report it
//! more than once, and may disagree with itself):
//!
//! | verdict | rule |
//! |---|---|
//! | `reproduced` | one NAR hash among all reports, from two or more builders |
//! | `disputed` | more than one NAR hash |
//! | `single` | one NAR hash, from one builder |
//! | `unknown` | no report |
//!
//! A `.drv` gets the verdict of its outputs: `disputed` if any is,
//! `reproduced` if all are, otherwise `single`.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::store::ReportRow;

/// What the reports about an output say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Two or more builders, one hash.
    Reproduced,
    /// More than one hash.
    Disputed,
    /// One builder, one hash.
    Single,
    /// No report.
    Unknown,
}

/// The verdict of the reports about one output path.
pub fn of_output<'a>(reports: impl IntoIterator<Item = &'a ReportRow>) -> Verdict {
    let mut hashes = BTreeSet::new();
    let mut builders = BTreeSet::new();
    for r in reports {
        hashes.insert(r.nar_hash);
        builders.insert(r.builder.as_str());
    }
    match (hashes.len(), builders.len()) {
        (0, _) => Verdict::Unknown,
        (1, 1) => Verdict::Single,
        (1, _) => Verdict::Reproduced,
        _ => Verdict::Disputed,
    }
}

/// The verdict of a derivation from its outputs' verdicts.
pub fn of_outputs(verdicts: &[Verdict]) -> Verdict {
    if verdicts.is_empty() {
        Verdict::Unknown
    } else if verdicts.contains(&Verdict::Disputed) {
        Verdict::Disputed
    } else if verdicts.iter().all(|v| *v == Verdict::Reproduced) {
        Verdict::Reproduced
    } else {
        Verdict::Single
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(builder: &str, hash: u8) -> ReportRow {
        ReportRow {
            index: 0,
            drv: String::new(),
            output: "out".into(),
            path: String::new(),
            nar_hash: [hash; 32],
            builder: builder.into(),
            time: String::new(),
        }
    }

    #[test]
    fn verdicts_follow_the_table() {
        assert_eq!(of_output(&[]), Verdict::Unknown);
        assert_eq!(of_output(&[row("a", 1)]), Verdict::Single);
        assert_eq!(of_output(&[row("a", 1), row("a", 1)]), Verdict::Single);
        assert_eq!(of_output(&[row("a", 1), row("b", 1)]), Verdict::Reproduced);
        assert_eq!(of_output(&[row("a", 1), row("b", 1), row("c", 2)]), Verdict::Disputed);
        assert_eq!(of_output(&[row("a", 1), row("a", 2)]), Verdict::Disputed, "a builder disagreeing with itself");
        assert_eq!(of_outputs(&[Verdict::Reproduced, Verdict::Single]), Verdict::Single);
        assert_eq!(of_outputs(&[Verdict::Reproduced, Verdict::Disputed]), Verdict::Disputed);
        assert_eq!(of_outputs(&[Verdict::Reproduced, Verdict::Reproduced]), Verdict::Reproduced);
    }
}
