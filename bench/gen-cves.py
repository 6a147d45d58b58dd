#!/usr/bin/env python3
"""Generates vulnerability data for benchmarking `provenix vulns`.

    python3 bench/gen-cves.py --out DIR [--count 200000] [--closure-size 40000]
                              [--cve5 4000] [--osv 4000] [--seed 5]

Writes, in the formats users download them in:

    DIR/db/nvd/nvdcve-2.0-page-NNNN.json   NVD CVE API 2.0 pages of 2,000 CVEs each
    DIR/db/cve5/cves/YEAR/NNxxx/CVE-*.json CVE JSON 5 records (cvelistV5 layout)
    DIR/db/osv/ECOSYSTEM/ID.json           OSV records
    DIR/identities.toml                    provenix identity table for the closure
    DIR/expected.txt                       the findings the data is built to give

The mix is like real NVD: most entries name products that are not in the
scanned closure (random vendors and products); a few percent name packages of
the closure of bench/gen-closure.nix (`--arg n CLOSURE_SIZE`), whose identity is
`gen:pkg-<i>` at version `<i mod 7>.<i mod 11>`. Those use exact versions,
wildcards, versionStart/End Including/Excluding bounds (on and one past the
edge), AND-configurations with a Linux or Windows platform CPE, another vendor's
product of the same name, and rejected entries; each is built to hit or to
miss, and the hits are listed in expected.txt as `ID pname version format rule`.

Deterministic: the same arguments give the same bytes (no wall clock).
"""

import argparse
import json
import math
import os
import random
import shutil
import sys
import time

PAGE = 2000
TIMESTAMP = "2026-11-01T00:00:00.000"
SYLLABLES = ("ka lo mi ne ra su ti vo ze ba do fu gi ha ju ke ly mo nu pe qu "
             "ri sa to ux vi wa xe yo zu an el in on ur ex ix al or et").split()
CWES = ["CWE-79", "CWE-787", "CWE-20", "CWE-125", "CWE-78", "CWE-89", "CWE-416",
        "CWE-22", "CWE-352", "CWE-434", "CWE-476", "CWE-190", "CWE-287", "CWE-400"]
ECOSYSTEMS = ["PyPI", "npm", "crates.io", "Go", "Maven", "RubyGems"]

# CVSS v3.1 base metrics: (name, {value: weight}).
AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
AC = {"L": 0.77, "H": 0.44}
UI = {"N": 0.85, "R": 0.62}
CIA = {"H": 0.56, "L": 0.22, "N": 0.0}
LONG = {
    "AV": {"N": "NETWORK", "A": "ADJACENT_NETWORK", "L": "LOCAL", "P": "PHYSICAL"},
    "AC": {"L": "LOW", "H": "HIGH"}, "PR": {"N": "NONE", "L": "LOW", "H": "HIGH"},
    "UI": {"N": "NONE", "R": "REQUIRED"}, "S": {"U": "UNCHANGED", "C": "CHANGED"},
    "CIA": {"H": "HIGH", "L": "LOW", "N": "NONE"},
}


def roundup(x):
    i = round(x * 100000)
    return i / 100000.0 if i % 10000 == 0 else (math.floor(i / 10000) + 1) / 10.0


def cvss31(rng):
    """A random CVSS 3.1 vector with its base score, computed as the spec says."""
    av, ac, ui = rng.choice("NNNALP"), rng.choice("LLLH"), rng.choice("NNR")
    pr, s = rng.choice("NNLH"), rng.choice("UUUC")
    c, i, a = rng.choice("HHLN"), rng.choice("HHLN"), rng.choice("HLNN")
    if c == i == a == "N":
        c = "L"
    prw = {"N": 0.85, "L": 0.68 if s == "C" else 0.62, "H": 0.5 if s == "C" else 0.27}[pr]
    iss = 1 - (1 - CIA[c]) * (1 - CIA[i]) * (1 - CIA[a])
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if s == "C" else 6.42 * iss
    expl = 8.22 * AV[av] * AC[ac] * prw * UI[ui]
    if impact <= 0:
        base = 0.0
    elif s == "U":
        base = roundup(min(impact + expl, 10))
    else:
        base = roundup(min(1.08 * (impact + expl), 10))
    sev = "NONE" if base == 0 else "LOW" if base < 4 else "MEDIUM" if base < 7 else "HIGH" if base < 9 else "CRITICAL"
    vector = f"CVSS:3.1/AV:{av}/AC:{ac}/PR:{pr}/UI:{ui}/S:{s}/C:{c}/I:{i}/A:{a}"
    data = {
        "version": "3.1", "vectorString": vector,
        "attackVector": LONG["AV"][av], "attackComplexity": LONG["AC"][ac],
        "privilegesRequired": LONG["PR"][pr], "userInteraction": LONG["UI"][ui],
        "scope": LONG["S"][s], "confidentialityImpact": LONG["CIA"][c],
        "integrityImpact": LONG["CIA"][i], "availabilityImpact": LONG["CIA"][a],
        "baseScore": base, "baseSeverity": sev,
    }
    return data, round(expl, 1), round(max(impact, 0), 1)


def uuid(rng):
    h = f"{rng.getrandbits(128):032X}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def word(rng, n):
    return "".join(rng.choice(SYLLABLES) for _ in range(n))


def closure_packages(n):
    """(i, pname, version) of the packages in bench/gen-closure.nix with `n` nodes.

    Node i has children iff 2i+1 < n; a childless node is a package when
    i mod 3 == 2 and a fixed-output source otherwise."""
    return [(i, f"pkg-{i}", f"{i % 7}.{i % 11}") for i in range(n) if 2 * i + 1 < n or i % 3 == 2]


def cpe(part, vendor, product, version="*", update="*"):
    return f"cpe:2.3:{part}:{vendor}:{product}:{version}:{update}:*:*:*:*:*:*"


class Gen:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        rng = self.rng
        self.packages = closure_packages(args.closure_size)
        # Every 50th package also names its upstream repository (for OSV GIT ranges).
        self.repos = {i: f"https://git.example.org/gen/pkg-{i}" for i, _, _ in self.packages[::50]}
        # 20,000 vendors with 1-4 products each: software the closure does not have.
        self.products = []
        for v in range(20000):
            vendor = word(rng, rng.randint(2, 4)) + ("_project" if v % 9 == 0 else "")
            for _ in range(rng.randint(1, 4)):
                self.products.append((vendor, word(rng, rng.randint(2, 4)) + rng.choice(["", "", "_server", "lib", "-utils"])))
        self.expected = []
        self.stats = {}

    def count(self, key):
        self.stats[key] = self.stats.get(key, 0) + 1

    def date(self, year):
        r = self.rng
        return f"{year}-{r.randint(1, 12):02}-{r.randint(1, 28):02}T{r.randint(0, 23):02}:{r.randint(0, 59):02}:{r.randint(0, 59):02}.{r.randint(0, 999):03}"

    def random_version(self):
        r = self.rng
        return ".".join(str(r.randint(0, 20)) for _ in range(r.choice((2, 3, 3, 4))))

    # --- NVD 2.0 ------------------------------------------------------------
    def match(self, criteria, vulnerable=True, **bounds):
        m = {"vulnerable": vulnerable, "criteria": criteria}
        m.update(bounds)
        m["matchCriteriaId"] = uuid(self.rng)
        return m

    def foreign_matches(self):
        """cpeMatch entries for software that is not in the closure."""
        r = self.rng
        vendor, product = r.choice(self.products)
        k = r.random()
        if k < 0.06:  # the kernel-like case: many ranges of one product
            out = []
            for _ in range(r.randint(10, 40)):
                lo = f"{r.randint(2, 6)}.{r.randint(0, 19)}"
                out.append(self.match(cpe("a", vendor, product), versionStartIncluding=lo, versionEndExcluding=f"{lo}.{r.randint(1, 200)}"))
            return out
        n = r.choice((1, 1, 1, 2, 3, 5))
        out = []
        for _ in range(n):
            s = r.random()
            if s < 0.4:
                out.append(self.match(cpe("a", vendor, product, self.random_version())))
            elif s < 0.8:
                out.append(self.match(cpe("a", vendor, product), versionEndExcluding=self.random_version()))
            elif s < 0.9:
                out.append(self.match(cpe("a", vendor, product), versionStartIncluding=self.random_version(), versionEndIncluding=self.random_version()))
            else:
                out.append(self.match(cpe("a", vendor, product)))
        return out

    def closure_configuration(self, i, pname, version):
        """One configuration naming closure package i; returns (configurations, hit, rule, rejected)."""
        r = self.rng
        a, b = i % 7, i % 11
        prod = lambda v="*", u="*": cpe("a", "gen", pname, v, u)  # noqa: E731
        rule = r.choices(
            ["exact", "exact-other", "wildcard", "range-in", "end-incl-edge", "end-excl-edge",
             "start-excl-edge", "start-above", "end-major", "linux-and", "windows-and",
             "other-vendor", "rejected", "multi"],
            weights=[10, 6, 5, 12, 5, 6, 4, 4, 6, 6, 6, 8, 3, 5])[0]
        hit = True
        if rule == "exact":
            ms = [self.match(prod(version))]
        elif rule == "exact-other":
            ms, hit = [self.match(prod(f"{a}.{b + 1}"))], False
        elif rule == "wildcard":
            ms = [self.match(prod())]
        elif rule == "range-in":
            ms = [self.match(prod(), versionStartIncluding=f"{a}.0", versionEndExcluding=f"{a}.{b + 1}")]
        elif rule == "end-incl-edge":
            ms = [self.match(prod(), versionEndIncluding=version)]
        elif rule == "end-excl-edge":
            ms, hit = [self.match(prod(), versionEndExcluding=version)], False
        elif rule == "start-excl-edge":
            ms, hit = [self.match(prod(), versionStartExcluding=version)], False
        elif rule == "start-above":
            ms, hit = [self.match(prod(), versionStartIncluding=f"{a + 1}.0", versionEndExcluding=f"{a + 2}.0")], False
        elif rule == "end-major":
            # a < a.b when b > 0; a.0 equals a (missing trailing zeros are equal)
            first = {"versionStartExcluding": f"{a}"} if b > 0 else {"versionStartIncluding": f"{a}"}
            ms = [self.match(prod(), versionEndExcluding=f"{a + 1}", **first)]
        elif rule == "other-vendor":
            ms, hit = [self.match(cpe("a", word(r, 3), pname))], False
        elif rule == "multi":  # several versions listed, one is ours
            ms = [self.match(prod(f"{a}.{b + k}")) for k in (3, 2, 1)] + [self.match(prod(version))]
        else:
            ms = [self.match(prod(), versionEndExcluding=f"{a}.{b + 1}")]
        if rule in ("linux-and", "windows-and"):
            platform = cpe("o", "linux", "linux_kernel") if rule == "linux-and" else cpe("o", "microsoft", "windows")
            hit = rule == "linux-and"
            confs = [{"operator": "AND", "nodes": [
                {"operator": "OR", "negate": False, "cpeMatch": ms},
                {"operator": "OR", "negate": False, "cpeMatch": [self.match(platform, vulnerable=False)]},
            ]}]
        else:
            confs = [{"nodes": [{"operator": "OR", "negate": False, "cpeMatch": ms}]}]
        if rule == "rejected":
            hit = False
        return confs, hit, rule, rule == "rejected"

    def nvd_entry(self, cve_id, year, target):
        r = self.rng
        published = self.date(year)
        vendor, product = r.choice(self.products)
        rejected = False
        hit = False
        if target is not None:
            i, pname, version = target
            confs, hit, rule, rejected = self.closure_configuration(i, pname, version)
            self.count(f"nvd closure {rule}")
            if hit:
                self.expected.append(f"{cve_id} {pname} {version} nvd {rule}")
            vendor, product = "gen", pname
        else:
            k = r.random()
            if k < 0.05:
                rejected, confs = True, []
                self.count("nvd rejected (no configurations)")
            elif k < 0.15:
                confs = []
                self.count("nvd not yet analysed (no configurations)")
            elif k < 0.2:
                plat = cpe("o", "microsoft", "windows") if r.random() < 0.5 else cpe("o", "linux", "linux_kernel")
                confs = [{"operator": "AND", "nodes": [
                    {"operator": "OR", "negate": False, "cpeMatch": self.foreign_matches()},
                    {"operator": "OR", "negate": False, "cpeMatch": [self.match(plat, vulnerable=False)]}]}]
                self.count("nvd other software, with platform")
            else:
                confs = [{"nodes": [{"operator": "OR", "negate": False, "cpeMatch": self.foreign_matches()}]}]
                self.count("nvd other software")
        if rejected:
            self.count("nvd rejected (all)")
        cve = {
            "id": cve_id,
            "sourceIdentifier": rng_source(r, vendor),
            "published": published,
            "lastModified": f"{min(year + r.randint(0, 2), 2026)}{published[4:]}",
            "vulnStatus": "Rejected" if rejected else ("Awaiting Analysis" if not confs else r.choice(["Analyzed", "Analyzed", "Modified"])),
        }
        if rejected:
            cve["descriptions"] = [{"lang": "en", "value": "Rejected reason: This candidate was withdrawn by its CNA. Further investigation showed that it was not a security issue."}]
        else:
            cve["descriptions"] = [{"lang": "en", "value": description(r, vendor, product)}]
        cve["metrics"] = {}
        if not rejected:
            data, expl, imp = cvss31(r)
            cve["metrics"]["cvssMetricV31"] = [{"source": "nvd@nist.gov", "type": "Primary", "cvssData": data,
                                                "exploitabilityScore": expl, "impactScore": imp}]
            cve["weaknesses"] = [{"source": "nvd@nist.gov", "type": "Primary",
                                  "description": [{"lang": "en", "value": r.choice(CWES)}]}]
        if confs:
            cve["configurations"] = confs
        cve["references"] = [{"url": f"https://{vendor.replace('_', '-')}.example.com/advisories/{cve_id.lower()}", "source": cve["sourceIdentifier"],
                              "tags": ["Vendor Advisory"]}] + [
            {"url": f"https://lists.example.org/archives/{year}/{r.randint(1, 99999)}", "source": cve["sourceIdentifier"], "tags": ["Mailing List", "Third Party Advisory"]}
            for _ in range(r.randint(0, 3))]
        return {"cve": cve}

    # --- CVE JSON 5 ---------------------------------------------------------
    def cve5_record(self, cve_id, year, target):
        r = self.rng
        rejected = False
        if target is not None:
            i, pname, version = target
            a, b = i % 7, i % 11
            rule = r.choice(["exact", "less-than", "less-than-edge", "less-than-or-equal", "other-version", "rejected"])
            hit = rule in ("exact", "less-than", "less-than-or-equal")
            if rule == "exact":
                versions = [{"version": version, "status": "affected"}]
            elif rule == "less-than":
                versions = [{"version": "0", "lessThan": f"{a}.{b + 1}", "status": "affected", "versionType": "custom"}]
            elif rule == "less-than-edge":
                versions = [{"version": "0", "lessThan": version, "status": "affected", "versionType": "custom"}]
            elif rule == "less-than-or-equal":
                versions = [{"version": "0", "lessThanOrEqual": version, "status": "affected", "versionType": "custom"}]
            elif rule == "other-version":
                versions = [{"version": f"{a + 1}.{b}", "status": "affected"}]
            else:
                versions, rejected = [{"version": version, "status": "affected"}], True
            affected = [{"vendor": "gen", "product": pname, "defaultStatus": "unaffected", "versions": versions}]
            self.count(f"cve5 closure {rule}")
            if hit:
                self.expected.append(f"{cve_id} {pname} {version} cve5 {rule}")
            vendor, product = "gen", pname
        else:
            vendor, product = r.choice(self.products)
            v = self.random_version()
            affected = [{"vendor": vendor, "product": product, "defaultStatus": "unaffected",
                         "versions": [{"version": "0", "lessThan": v, "status": "affected", "versionType": "semver"}]}]
            if r.random() < 0.05:
                rejected = True
            self.count("cve5 other software")
        published = self.date(year)
        meta = {"cveId": cve_id, "assignerOrgId": uuid(r).lower(), "assignerShortName": vendor[:16],
                "state": "REJECTED" if rejected else "PUBLISHED", "datePublished": published + "Z",
                "dateUpdated": f"{min(year + r.randint(0, 2), 2026)}{published[4:]}Z"}
        if rejected:
            self.count("cve5 rejected")
            cna = {"providerMetadata": {"orgId": meta["assignerOrgId"]},
                   "rejectedReasons": [{"lang": "en", "value": "This CVE ID was rejected: it is a duplicate."}]}
        else:
            data, _, _ = cvss31(r)
            cna = {
                "providerMetadata": {"orgId": meta["assignerOrgId"], "shortName": meta["assignerShortName"]},
                "title": f"{product}: {r.choice(['buffer overflow', 'path traversal', 'use after free', 'SQL injection'])}",
                "descriptions": [{"lang": "en", "value": description(r, vendor, product)}],
                "affected": affected,
                "metrics": [{"format": "CVSS", "cvssV3_1": {k: v for k, v in data.items()}}],
                "problemTypes": [{"descriptions": [{"lang": "en", "type": "CWE", "cweId": r.choice(CWES), "description": "weakness"}]}],
                "references": [{"url": f"https://{vendor.replace('_', '-')}.example.com/sec/{cve_id.lower()}"}],
            }
        return {"dataType": "CVE_RECORD", "dataVersion": "5.1", "cveMetadata": meta, "containers": {"cna": cna}}

    # --- OSV ----------------------------------------------------------------
    def osv_record(self, n, year, alias, target):
        r = self.rng
        osv_id = "GHSA-" + "-".join("".join(r.choice("23456789cfghjmpqrvwx") for _ in range(4)) for _ in range(3))
        rec = {"schema_version": "1.6.0", "id": osv_id, "modified": self.date(min(year + 1, 2026)) + "Z",
               "published": self.date(year) + "Z", "aliases": [alias]}
        withdrawn = r.random() < 0.03
        if target is not None:
            i, pname, version = target
            a, b = i % 7, i % 11
            hit = r.random() < 0.6
            tags = [f"v{a}.{b - k}" for k in range(1, 3) if b - k >= 0] + ([f"v{version}"] if hit else [f"v{a}.{b + 1}"])
            eco = "GIT"
            affected = [{"ranges": [{"type": "GIT", "repo": self.repos[i],
                                     "events": [{"introduced": "0"}, {"fixed": f"{r.getrandbits(160):040x}"}]}],
                         "versions": tags}]
            if withdrawn:
                hit = False
            self.count("osv closure repo " + ("withdrawn" if withdrawn else "tag listed" if hit else "tag not listed"))
            if hit:
                self.expected.append(f"{osv_id} {pname} {version} osv git-tags")
        else:
            eco = r.choice(ECOSYSTEMS)
            name = word(r, r.randint(2, 4)) if eco != "Go" else f"github.com/{word(r, 2)}/{word(r, 3)}"
            fixed = self.random_version()
            affected = [{"package": {"ecosystem": eco, "name": name, "purl": f"pkg:{eco.lower()}/{name}"},
                         "ranges": [{"type": "ECOSYSTEM" if eco != "Go" else "SEMVER",
                                     "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
            self.count(f"osv {eco}")
        if withdrawn:
            rec["withdrawn"] = self.date(min(year + 1, 2026)) + "Z"
            self.count("osv withdrawn")
        rec["summary"] = f"{r.choice(['Denial of service', 'Remote code execution', 'Information disclosure'])} in {word(r, 3)}"
        rec["details"] = description(r, "x", word(r, 3))
        rec["affected"] = affected
        rec["references"] = [{"type": "ADVISORY", "url": f"https://nvd.nist.gov/vuln/detail/{alias}"}]
        rec["database_specific"] = {"severity": r.choice(["LOW", "MODERATE", "HIGH", "CRITICAL"]), "cwe_ids": [r.choice(CWES)]}
        return osv_id, eco, rec


def rng_source(r, vendor):
    return r.choice(["cve@mitre.org", "secalert@redhat.com", "security@example.org", f"psirt@{vendor.replace('_', '-')}.example.com"])


def description(r, vendor, product):
    what = r.choice(["A buffer overflow", "An integer overflow", "A use-after-free", "Improper input validation",
                     "A path traversal", "Cross-site scripting", "An out-of-bounds read", "A NULL pointer dereference"])
    where = r.choice(["the parser", "the HTTP handler", "the image decoder", "the authentication module", "the archive reader"])
    return (f"{what} in {where} of {vendor} {product} allows a {r.choice(['remote', 'local'])} attacker to "
            f"{r.choice(['execute arbitrary code', 'cause a denial of service', 'read sensitive memory', 'bypass access checks'])} "
            f"via a crafted {r.choice(['request', 'file', 'packet', 'archive'])}.")


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory (replaced)")
    ap.add_argument("--count", type=int, default=200000, help="NVD 2.0 CVE entries (default 200000)")
    ap.add_argument("--cve5", type=int, default=4000, help="CVE JSON 5 records (default 4000)")
    ap.add_argument("--osv", type=int, default=4000, help="OSV records (default 4000)")
    ap.add_argument("--closure-size", type=int, default=40000, help="nodes of bench/gen-closure.nix (default 40000)")
    ap.add_argument("--closure-share", type=float, default=0.03, help="share of entries naming closure packages (default 0.03)")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    start = time.monotonic()
    g = Gen(args)
    r = g.rng
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    db = os.path.join(args.out, "db")
    for d in ("nvd", "cve5/cves", "osv"):
        os.makedirs(os.path.join(db, d))

    # NVD: ids spread over 1999-2026 with more in recent years, in id order (as the API pages them).
    years = list(range(1999, 2027))
    weights = [1 + (y - 1999) ** 2 for y in years]
    per_year = {y: 0 for y in years}
    for y in r.choices(years, weights, k=args.count):
        per_year[y] += 1
    ids = []
    for y in years:
        seq = sorted(r.sample(range(1, 60000), per_year[y]))
        ids += [(f"CVE-{y}-{s:04}", y) for s in seq]
    pages = (len(ids) + PAGE - 1) // PAGE
    for p in range(pages):
        chunk = ids[p * PAGE:(p + 1) * PAGE]
        vulns = [g.nvd_entry(cid, y, r.choice(g.packages) if r.random() < args.closure_share else None) for cid, y in chunk]
        write_json(os.path.join(db, "nvd", f"nvdcve-2.0-page-{p:04}.json"), {
            "resultsPerPage": len(chunk), "startIndex": p * PAGE, "totalResults": len(ids),
            "format": "NVD_CVE", "version": "2.0", "timestamp": TIMESTAMP, "vulnerabilities": vulns})

    # CVE JSON 5 and OSV: ids 60000+ so they do not collide with the NVD ones.
    for k in range(args.cve5):
        y = r.choice(years[-8:])
        cid = f"CVE-{y}-{60000 + k}"
        rec = g.cve5_record(cid, y, r.choice(g.packages) if r.random() < args.closure_share else None)
        d = os.path.join(db, "cve5", "cves", str(y), f"{(60000 + k) // 1000}xxx")
        os.makedirs(d, exist_ok=True)
        write_json(os.path.join(d, cid + ".json"), rec)
    repo_pkgs = [t for t in g.packages if t[0] in g.repos]
    for k in range(args.osv):
        y = r.choice(years[-8:])
        target = r.choice(repo_pkgs) if r.random() < args.closure_share * 3 else None
        osv_id, eco, rec = g.osv_record(k, y, f"CVE-{y}-{80000 + k}", target)
        d = os.path.join(db, "osv", eco)
        os.makedirs(d, exist_ok=True)
        write_json(os.path.join(d, osv_id + ".json"), rec)

    with open(os.path.join(args.out, "identities.toml"), "w") as f:
        f.write(f"# provenix identities for bench/gen-closure.nix with n = {args.closure_size} (bench/gen-cves.py)\n")
        for i, pname, _ in g.packages:
            f.write(f'\n["{pname}"]\ncpe = ["gen:{pname}"]\n')
            if i in g.repos:
                f.write(f'repo = "{g.repos[i]}"\n')
    with open(os.path.join(args.out, "expected.txt"), "w") as f:
        f.write("".join(line + "\n" for line in sorted(g.expected)))

    size = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(db) for fn in fns)
    files = sum(len(fns) for _, _, fns in os.walk(db))
    print(f"NVD 2.0: {len(ids)} CVEs in {pages} pages; CVE JSON 5: {args.cve5} records; OSV: {args.osv} records")
    for k in sorted(g.stats):
        print(f"  {k}: {g.stats[k]}")
    print(f"closure: {len(g.packages)} packages of {args.closure_size} nodes in identities.toml ({len(g.repos)} with repo)")
    print(f"expected findings (ID x package): {len(g.expected)} ({len(set(e.split()[0] for e in g.expected))} ids, "
          f"{len(set(e.split()[1] for e in g.expected))} packages)")
    print(f"db: {files} files, {size / 1e6:.1f} MB; took {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
