//! CVSS v3.0 and v3.1 base scores from vector strings (OSV gives only the
//! vector), by the formulas of the CVSS v3.1 specification, section 7.

/// The base score of a `CVSS:3.x/...` vector, with its version; `None` when
/// the vector is not v3 or lacks a base metric.
pub(crate) fn v3_base_score(vector: &str) -> Option<(f64, &'static str)> {
    let mut parts = vector.split('/');
    let version = match parts.next()? {
        "CVSS:3.1" => "3.1",
        "CVSS:3.0" => "3.0",
        _ => return None,
    };
    let (mut av, mut ac, mut pr, mut ui, mut scope, mut c, mut i, mut a) =
        (None, None, None, None, None, None, None, None);
    for part in parts {
        let (metric, value) = part.split_once(':')?;
        match metric {
            "AV" => av = Some(pick(value, &[("N", 0.85), ("A", 0.62), ("L", 0.55), ("P", 0.2)])?),
            "AC" => ac = Some(pick(value, &[("L", 0.77), ("H", 0.44)])?),
            "PR" => pr = Some(value),
            "UI" => ui = Some(pick(value, &[("N", 0.85), ("R", 0.62)])?),
            "S" => scope = Some(pick(value, &[("U", 0.0), ("C", 1.0)])? > 0.5),
            "C" => c = Some(cia(value)?),
            "I" => i = Some(cia(value)?),
            "A" => a = Some(cia(value)?),
            _ => {}
        }
    }
    let changed = scope?;
    let pr = match (pr?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let iss = 1.0 - (1.0 - c?) * (1.0 - i?) * (1.0 - a?);
    let impact = if changed { 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15) } else { 6.42 * iss };
    let exploitability = 8.22 * av? * ac? * pr * ui?;
    if impact <= 0.0 {
        return Some((0.0, version));
    }
    let raw = if changed { (1.08 * (impact + exploitability)).min(10.0) } else { (impact + exploitability).min(10.0) };
    Some((round_up(raw, version), version))
}

fn pick(value: &str, table: &[(&str, f64)]) -> Option<f64> {
    table.iter().find(|(k, _)| *k == value).map(|(_, v)| *v)
}

fn cia(value: &str) -> Option<f64> {
    pick(value, &[("H", 0.56), ("L", 0.22), ("N", 0.0)])
}

/// The specification's Roundup: the smallest one-decimal number >= `x`
/// (3.1 avoids floating-point artefacts by working in integers).
fn round_up(x: f64, version: &str) -> f64 {
    if version == "3.0" {
        return (x * 10.0).ceil() / 10.0;
    }
    // Scores are within 0..=10, so the integer conversion cannot overflow.
    #[allow(clippy::cast_possible_truncation)]
    let int = (x * 100_000.0).round() as i64;
    if int % 10_000 == 0 { int as f64 / 100_000.0 } else { ((int / 10_000) + 1) as f64 / 10.0 }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::v3_base_score;

    // Scores as NVD publishes them for these vectors.
    #[rstest]
    #[case::xz_backdoor("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)]
    #[case::scope_changed("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0)]
    #[case::medium("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1)]
    #[case::local("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8)]
    #[case::v30("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9)]
    #[case::no_impact("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0)]
    fn scores_like_nvd(#[case] vector: &str, #[case] score: f64) {
        assert_eq!(v3_base_score(vector).map(|s| s.0), Some(score));
    }

    #[rstest]
    #[case::v4("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")]
    #[case::missing_metric("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H")]
    #[case::bad_value("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")]
    #[case::not_a_vector("high")]
    fn refuses_other_vectors(#[case] vector: &str) {
        assert_eq!(v3_base_score(vector), None);
    }
}
