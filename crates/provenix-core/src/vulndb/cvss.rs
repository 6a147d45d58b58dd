//! CVSS base scores from vector strings (OSV gives only the vector): v3.0
//! and v3.1 by the formulas of the v3.1 specification, v4.0 by its
//! MacroVector tables, both as RustSec's `cvss` crate computes them.
//!
//! Only the base metrics are read. A vector may also carry temporal, threat,
//! environmental or supplemental metrics (`E:U`, `MAV:L`, `CR:H`, `S:P`...);
//! they describe one deployment, not the vulnerability, so they are left out
//! rather than turning a v4.0 base score into a CVSS-BT or -BE one. A vector
//! that lacks a base metric, gives one twice or with a value the version does
//! not define, or has a component that is not `metric:value`, has no score.

use std::fmt::Write as _;
use std::str::FromStr as _;

/// The base metrics of v3.0 and v3.1, in the specification's order.
const V3_BASE: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];
/// The base metrics of v4.0, in the specification's order.
const V4_BASE: [&str; 11] = ["AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"];

/// The base score of a `CVSS:3.0`, `CVSS:3.1` or `CVSS:4.0` vector, with its
/// version; `None` for any other text or a vector whose base metrics are not
/// each given once (see the module documentation).
pub(crate) fn base_score(vector: &str) -> Option<(f64, &'static str)> {
    let mut parts = vector.split('/');
    let prefix = parts.next()?;
    let (version, base): (&'static str, &[&str]) = match prefix {
        "CVSS:3.1" => ("3.1", &V3_BASE),
        "CVSS:3.0" => ("3.0", &V3_BASE),
        "CVSS:4.0" => ("4.0", &V4_BASE),
        _ => return None,
    };
    let metrics: Vec<(&str, &str)> = parts.map(|part| part.split_once(':')).collect::<Option<_>>()?;
    let mut base_only = prefix.to_owned();
    for &name in base {
        let mut values = metrics.iter().filter(|(m, _)| *m == name);
        let (_, value) = values.next()?;
        if values.next().is_some() {
            return None;
        }
        write!(base_only, "/{name}:{value}").ok()?;
    }
    let score = if version == "4.0" {
        cvss::v4::Vector::from_str(&base_only).ok()?.score().value()
    } else {
        cvss::v3::Vector::from_str(&base_only).ok()?.score().value()
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
    // Threat, environmental, supplemental and temporal metrics are not base metrics: the base
    // score stays (the `cvss` crate alone scores the first as CVSS-BT 8.1).
    #[case::v4_threat("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U", 9.3, "4.0")]
    #[case::v4_environmental(
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/CR:L/IR:L/AR:L/MAV:P/MVC:N",
        9.3,
        "4.0"
    )]
    #[case::v4_supplemental(
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/S:P/R:U/U:Red",
        9.3,
        "4.0"
    )]
    #[case::v4_any_order("CVSS:4.0/SA:N/SI:N/SC:N/VA:H/VI:H/VC:H/UI:N/PR:N/AT:N/AC:L/AV:N", 9.3, "4.0")]
    #[case::v3_temporal("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:C", 9.8, "3.1")]
    #[case::v3_environmental("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MAV:P/CR:L", 9.8, "3.1")]
    #[case::v3_unknown_metric("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/XX:Y", 9.8, "3.1")]
    fn scores_like_nvd(#[case] vector: &str, #[case] score: f64, #[case] version: &str) {
        assert_eq!(base_score(vector), Some((score, version)), "{vector}");
    }

    #[rstest]
    #[case::v2("AV:N/AC:L/Au:N/C:P/I:P/A:P")]
    #[case::v4_missing_metric("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H")]
    #[case::missing_metric("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H")]
    #[case::bad_value("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")]
    #[case::v4_bad_value("CVSS:4.0/AV:N/AC:L/AT:Q/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")]
    #[case::twice("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:L")]
    #[case::v4_twice("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/VC:L")]
    #[case::no_colon("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E")]
    #[case::trailing_slash("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/")]
    #[case::lower_case_metric("CVSS:3.1/av:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")]
    #[case::unknown_version("CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")]
    #[case::not_a_vector("high")]
    #[case::empty("")]
    fn refuses_other_vectors(#[case] vector: &str) {
        assert_eq!(base_score(vector), None);
    }
}
