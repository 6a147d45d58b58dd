//! CVSS base scores from vector strings (OSV gives only the vector): v3.0
//! and v3.1 by the formulas of the v3.1 specification, v4.0 by its
//! MacroVector tables, both as RustSec's `cvss` crate computes them.

use std::str::FromStr as _;

/// The base metrics every v3 vector must have.
const V3_BASE: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];

/// The base score of a `CVSS:3.0`, `CVSS:3.1` or `CVSS:4.0` vector, with its
/// version; `None` for any other text or a vector that lacks a base metric.
pub(crate) fn base_score(vector: &str) -> Option<(f64, &'static str)> {
    let version = match vector.split('/').next()? {
        "CVSS:3.1" => "3.1",
        "CVSS:3.0" => "3.0",
        "CVSS:4.0" => "4.0",
        _ => return None,
    };
    let score = if version == "4.0" {
        cvss::v4::Vector::from_str(vector).ok()?.score().value()
    } else {
        // The crate scores a v3 vector that lacks a base metric; the specification calls it invalid.
        let has = |metric: &str| vector.split('/').any(|part| part.split_once(':').is_some_and(|(m, _)| m == metric));
        if !V3_BASE.iter().all(|m| has(m)) {
            return None;
        }
        cvss::v3::Vector::from_str(vector).ok()?.score().value()
    };
    Some((score, version))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::base_score;

    // Scores as NVD and the FIRST calculators publish them for these vectors.
    #[rstest]
    #[case::xz_backdoor("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "3.1")]
    #[case::scope_changed("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, "3.1")]
    #[case::medium("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, "3.1")]
    #[case::local("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, "3.1")]
    #[case::v30("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, "3.0")]
    #[case::no_impact("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0, "3.1")]
    #[case::v4_network("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, "4.0")]
    #[case::v4_everything("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 10.0, "4.0")]
    #[case::v4_local("CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.5, "4.0")]
    #[case::v4_no_impact("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0, "4.0")]
    fn scores_like_nvd(#[case] vector: &str, #[case] score: f64, #[case] version: &str) {
        assert_eq!(base_score(vector), Some((score, version)), "{vector}");
    }

    #[rstest]
    #[case::v2("AV:N/AC:L/Au:N/C:P/I:P/A:P")]
    #[case::v4_missing_metric("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H")]
    #[case::missing_metric("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H")]
    #[case::bad_value("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")]
    #[case::not_a_vector("high")]
    #[case::empty("")]
    fn refuses_other_vectors(#[case] vector: &str) {
        assert_eq!(base_score(vector), None);
    }
}
