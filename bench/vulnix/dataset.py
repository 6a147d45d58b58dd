#!/usr/bin/env python3
"""The small dataset that runs vulnix and provenix side by side.

    python3 bench/vulnix/dataset.py write OUT
    python3 bench/vulnix/dataset.py table OUT VULNIX.txt PROVENIX.txt|-

`write` makes, from the one definition below:

    OUT/feed/nvdcve-1.1-YEAR.json.gz (+ .meta)  NVD JSON 1.1 feeds for vulnix: the six years
                                                vulnix 1.10.1 fetches (this year and the five
                                                before) and `modified`; all entries are in
                                                this year's feed and in `modified`
    OUT/db/nvd/nvdcve-2.0-page-0000.json        the same entries as one NVD CVE API 2.0 page
    OUT/identities.toml                         provenix identities of the packages
    OUT/packages.json                           the packages, read by bench/vulnix/closure.nix

`table` prints a Markdown table of both tools' answers (lines `ID pname version`,
vulnix's with its own pname split of the drv name) for every (entry, package)
pair the definition names, with the rule each pair tests.

Entries use the CPE match fields as the NVD API 2.0 names them; the 1.1 feed
carries the same ones (`cpe23Uri` for `criteria`, `cpe_match` for `cpeMatch`,
`children` for an AND-configuration's nodes).
"""

import datetime
import gzip
import hashlib
import json
import os
import sys

# A package: pname, version, identity (CPE vendor:product), and optionally the drv
# name when it is not pname-version (nixpkgs' python packages) and patch names.
PACKAGES = [
    dict(pname="zlib", version="1.2.13", cpe="zlib:zlib"),
    dict(pname="openssl", version="1.1.1s", cpe="openssl:openssl"),
    dict(pname="openssl", version="1.1.1t", cpe="openssl:openssl"),
    dict(pname="gnupg", version="2.0-rc1", cpe="gnupg:gnupg"),
    dict(pname="gnupg", version="2.0", cpe="gnupg:gnupg"),
    dict(pname="firefox", version="153.0", cpe="mozilla:firefox"),
    dict(pname="unzip", version="6.0", cpe="info-zip:unzip"),
    dict(pname="screen", version="4.9.0", cpe="gnu:screen"),
    dict(pname="putty", version="0.78", cpe="simon_tatham:putty"),
    dict(pname="sudo", version="1.9.12", cpe="sudo_project:sudo"),
    dict(pname="bash", version="5.2", cpe="gnu:bash"),
    dict(pname="pillow", version="10.0.0", cpe="python:pillow", name="python3.11-pillow-10.0.0"),
    dict(pname="expat", version="2.5.0", cpe="libexpat_project:libexpat"),
    dict(pname="libtiff", version="4.5.0", cpe="libtiff:libtiff", patches=["CVE-2026-90120.patch"]),
]


def m(cpe, **bounds):
    """A vulnerable cpeMatch: `cpe` is `part:vendor:product[:version[:update]]`."""
    parts = cpe.split(":") + ["*"] * (5 - len(cpe.split(":")))
    return dict(criteria="cpe:2.3:" + ":".join(parts) + ":*:*:*:*:*:*", vulnerable=True, **bounds)


WINDOWS = dict(criteria="cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*", vulnerable=False)
LINUX = dict(criteria="cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*", vulnerable=False)

# An entry: id, configurations (a list of OR-lists of matches, or ("AND", apps, platforms)),
# rejected, and per package (pname@version) what vulnix and provenix should say
# (True = finding) and why.
ENTRIES = [
    dict(id="CVE-2026-90001", conf=[[m("a:zlib:zlib:1.2.13")]],
         expect={"zlib@1.2.13": (True, True, "exact version")}),
    dict(id="CVE-2026-90002", conf=[[m("a:zlib:zlib", versionStartIncluding="1.2.0", versionEndExcluding="1.2.14")]],
         expect={"zlib@1.2.13": (True, True, "range [1.2.0, 1.2.14)")}),
    dict(id="CVE-2026-90003", conf=[[m("a:zlib:zlib", versionEndExcluding="1.2.13")]],
         expect={"zlib@1.2.13": (False, False, "versionEndExcluding equal to the version: not affected (edge)")}),
    dict(id="CVE-2026-90004", conf=[[m("a:zlib:zlib", versionEndIncluding="1.2.13")]],
         expect={"zlib@1.2.13": (True, True, "versionEndIncluding equal to the version: affected (edge)")}),
    dict(id="CVE-2026-90005", conf=[[m("a:openssl:openssl", versionEndExcluding="1.1.1t")]],
         expect={"openssl@1.1.1s": (True, True, "letter suffixes: 1.1.1s < 1.1.1t (Nix's order agrees)"),
                 "openssl@1.1.1t": (False, False, "letter suffixes: 1.1.1t is the fixed version")}),
    dict(id="CVE-2026-90006", conf=[[m("a:gnupg:gnupg", versionEndExcluding="2.0")]],
         expect={"gnupg@2.0-rc1": (False, True, "2.0-rc1 is a pre-release of 2.0, so below it; vulnix uses Nix's "
                                   "order, where `rc` after `2.0` sorts above the release"),
                 "gnupg@2.0": (False, False, "versionEndExcluding 2.0: the release is fixed")}),
    dict(id="CVE-2026-90007", conf=[[m("a:gnupg:gnupg", versionStartIncluding="2.0", versionEndExcluding="2.1")]],
         expect={"gnupg@2.0-rc1": (True, False, "the same order the other way round: for vulnix 2.0-rc1 >= 2.0 "
                                   "(false positive); the bug came with 2.0"),
                 "gnupg@2.0": (True, True, "range [2.0, 2.1)")}),
    dict(id="CVE-2026-90008", conf=[[m("a:gnupg:gnupg:2.0:rc1")]],
         expect={"gnupg@2.0-rc1": (True, True, "CPE version 2.0 with update rc1 is 2.0-rc1"),
                 "gnupg@2.0": (False, False, "CPE version 2.0 with update rc1 is not 2.0")}),
    dict(id="CVE-2026-90009", conf=[[m("a:mozilla:firefox:153.0.0")]],
         expect={"firefox@153.0": (False, True, "exact version 153.0.0: missing trailing zeros are equal; vulnix "
                                   "compares exact versions as strings")}),
    dict(id="CVE-2026-90010", conf=[[m("a:mozilla:firefox", versionEndExcluding="153.0.0")]],
         expect={"firefox@153.0": (True, False, "fixed in 153.0.0, which is 153.0; in Nix's order 153.0 < 153.0.0 "
                                   "(false positive)")}),
    dict(id="CVE-2026-90011", conf=[[m("a:info-zip:unzip")]],
         expect={"unzip@6.0": (False, True, "unbounded wildcard (version `*`, no bounds): every version; vulnix "
                               "drops matches without a version or bound")}),
    dict(id="CVE-2026-90012", conf=[[m("a:acme:screen", versionEndExcluding="5.0")]],
         expect={"screen@4.9.0": (True, False, "vendor mismatch: acme's `screen`, not GNU screen; vulnix ignores "
                                  "vendors")}),
    dict(id="CVE-2026-90013", conf=[[m("a:gnu:screen", versionEndExcluding="5.0")]],
         expect={"screen@4.9.0": (True, True, "the same range for our vendor (gnu)")}),
    dict(id="CVE-2026-90014", conf=[("AND", [m("a:simon_tatham:putty", versionEndExcluding="0.81")], [WINDOWS])],
         expect={"putty@0.78": (True, False, "AND-configuration with platform o:microsoft:windows: Windows-only, "
                                "not a Linux store; vulnix ignores AND and `o:` CPEs")}),
    dict(id="CVE-2026-90015", conf=[("AND", [m("a:sudo_project:sudo", versionEndExcluding="1.9.13")], [LINUX])],
         expect={"sudo@1.9.12": (True, True, "AND-configuration with platform o:linux:linux_kernel: a Linux store "
                                 "qualifies")}),
    dict(id="CVE-2026-90016", conf=[[m("a:gnu:bash", versionEndIncluding="5.2")]], rejected=True,
         expect={"bash@5.2": (True, False, "rejected CVE (2.0 vulnStatus `Rejected`, 1.1 `** REJECT **` "
                              "description) that still carries a configuration; vulnix does not look")}),
    dict(id="CVE-2026-90017", conf=[[m("a:python:pillow", versionEndExcluding="10.0.1")]],
         expect={"pillow@10.0.0": (False, True, "drv name python3.11-pillow-10.0.0, env pname pillow: vulnix "
                                   "splits the name (pname python3.11-pillow)")}),
    dict(id="CVE-2026-90018", conf=[[m("a:libexpat_project:libexpat", versionEndExcluding="2.6.0")]],
         expect={"expat@2.5.0": (False, True, "CPE product libexpat is not the pname expat; the identity table maps "
                                 "it, vulnix knows only product = pname")}),
    dict(id="CVE-2026-90120", conf=[[m("a:libtiff:libtiff", versionEndExcluding="4.6.0")]],
         expect={"libtiff@4.5.0": (False, False, "patched: patch CVE-2026-90120.patch names exactly this id")}),
    dict(id="CVE-2026-9012", conf=[[m("a:libtiff:libtiff", versionEndExcluding="4.6.0")]],
         expect={"libtiff@4.5.0": (True, True, "not patched: CVE-2026-90120.patch does not name CVE-2026-9012")}),
]


def key(p):
    return f"{p['pname']}@{p['version']}"


def drv_name(p):
    return p.get("name", f"{p['pname']}-{p['version']}")


def cvss(i):
    score = [9.8, 7.5, 5.3, 8.1][i % 4]
    sev = "CRITICAL" if score >= 9 else "HIGH" if score >= 7 else "MEDIUM"
    vec = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    return score, sev, vec


def description(e):
    if e.get("rejected"):
        return "** REJECT ** DO NOT USE THIS CANDIDATE NUMBER. Reason: it was withdrawn by its CNA."
    return f"Generated entry for the vulnix comparison ({e['id']})."


def nvd11_item(i, e):
    score, sev, vec = cvss(i)

    def node(matches):
        out = []
        for x in matches:
            y = {"vulnerable": x["vulnerable"], "cpe23Uri": x["criteria"]}
            y.update({k: v for k, v in x.items() if k.startswith("version")})
            y["cpe_name"] = []
            out.append(y)
        return {"operator": "OR", "children": [], "cpe_match": out}

    nodes = []
    for c in e["conf"]:
        if isinstance(c, tuple):
            nodes.append({"operator": "AND", "children": [node(c[1]), node(c[2])], "cpe_match": []})
        else:
            nodes.append(node(c))
    return {
        "cve": {"data_type": "CVE", "data_format": "MITRE", "data_version": "4.0",
                "CVE_data_meta": {"ID": e["id"], "ASSIGNER": "cve@mitre.org"},
                "problemtype": {"problemtype_data": [{"description": [{"lang": "en", "value": "CWE-787"}]}]},
                "references": {"reference_data": [{"url": f"https://example.org/{e['id']}", "name": e["id"],
                                                   "refsource": "MISC", "tags": []}]},
                "description": {"description_data": [{"lang": "en", "value": description(e)}]}},
        "configurations": {"CVE_data_version": "4.0", "nodes": nodes},
        "impact": {} if e.get("rejected") else {"baseMetricV3": {
            "cvssV3": {"version": "3.1", "vectorString": vec, "attackVector": "NETWORK", "attackComplexity": "LOW",
                       "privilegesRequired": "NONE", "userInteraction": "NONE", "scope": "UNCHANGED",
                       "confidentialityImpact": "HIGH", "integrityImpact": "HIGH", "availabilityImpact": "HIGH",
                       "baseScore": score, "baseSeverity": sev},
            "exploitabilityScore": 3.9, "impactScore": 5.9}},
        "publishedDate": "2026-01-15T10:15Z",
        "lastModifiedDate": "2026-02-01T12:00Z",
    }


def nvd20_item(i, e):
    score, sev, vec = cvss(i)

    def node(matches):
        out = []
        for n, x in enumerate(matches):
            y = dict(x)
            y["matchCriteriaId"] = hashlib.sha256(f"{e['id']}{n}{x['criteria']}".encode()).hexdigest()[:32].upper()
            y["matchCriteriaId"] = "-".join((y["matchCriteriaId"][:8], y["matchCriteriaId"][8:12],
                                            y["matchCriteriaId"][12:16], y["matchCriteriaId"][16:20],
                                            y["matchCriteriaId"][20:]))
            out.append(y)
        return {"operator": "OR", "negate": False, "cpeMatch": out}

    confs = []
    for c in e["conf"]:
        if isinstance(c, tuple):
            confs.append({"operator": "AND", "nodes": [node(c[1]), node(c[2])]})
        else:
            confs.append({"nodes": [node(c)]})
    cve = {
        "id": e["id"], "sourceIdentifier": "cve@mitre.org", "published": "2026-01-15T10:15:00.000",
        "lastModified": "2026-02-01T12:00:00.000", "vulnStatus": "Rejected" if e.get("rejected") else "Analyzed",
        "descriptions": [{"lang": "en", "value": description(e)}], "metrics": {},
    }
    if not e.get("rejected"):
        cve["metrics"]["cvssMetricV31"] = [{"source": "nvd@nist.gov", "type": "Primary",
                                           "cvssData": {"version": "3.1", "vectorString": vec, "baseScore": score,
                                                        "baseSeverity": sev},
                                           "exploitabilityScore": 3.9, "impactScore": 5.9}]
        cve["weaknesses"] = [{"source": "nvd@nist.gov", "type": "Primary",
                              "description": [{"lang": "en", "value": "CWE-787"}]}]
    cve["configurations"] = confs
    cve["references"] = [{"url": f"https://example.org/{e['id']}", "source": "cve@mitre.org"}]
    return {"cve": cve}


def write(out):
    keys = {key(p) for p in PACKAGES}
    for e in ENTRIES:
        for k in e["expect"]:
            assert k in keys, f"{e['id']} names unknown package {k}"
    os.makedirs(os.path.join(out, "feed"), exist_ok=True)
    os.makedirs(os.path.join(out, "db", "nvd"), exist_ok=True)
    items = [nvd11_item(i, e) for i, e in enumerate(ENTRIES)]
    this_year = datetime.date.today().year  # vulnix fetches range(this_year - 5, this_year + 1)
    for name in [str(y) for y in range(this_year - 5, this_year + 1)] + ["modified"]:
        chosen = items if name in (str(this_year), "modified") else []
        raw = json.dumps({"CVE_data_type": "CVE", "CVE_data_format": "MITRE", "CVE_data_version": "4.0",
                          "CVE_data_numberOfCVEs": str(len(chosen)), "CVE_data_timestamp": "2026-02-01T12:00Z",
                          "CVE_Items": chosen}, indent=1).encode()
        gz = gzip.compress(raw, mtime=0)
        base = os.path.join(out, "feed", f"nvdcve-1.1-{name}")
        with open(base + ".json.gz", "wb") as f:
            f.write(gz)
        with open(base + ".meta", "w") as f:
            f.write(f"lastModifiedDate:2026-02-01T12:00:00-05:00\r\nsize:{len(raw)}\r\nzipSize:{len(gz)}\r\n"
                    f"gzSize:{len(gz)}\r\nsha256:{hashlib.sha256(raw).hexdigest().upper()}\r\n")
    page = {"resultsPerPage": len(ENTRIES), "startIndex": 0, "totalResults": len(ENTRIES), "format": "NVD_CVE",
            "version": "2.0", "timestamp": "2026-02-01T12:00:00.000",
            "vulnerabilities": [nvd20_item(i, e) for i, e in enumerate(ENTRIES)]}
    with open(os.path.join(out, "db", "nvd", "nvdcve-2.0-page-0000.json"), "w") as f:
        json.dump(page, f, indent=1)
    with open(os.path.join(out, "identities.toml"), "w") as f:
        f.write("# provenix identities for bench/vulnix/closure.nix (bench/vulnix/dataset.py)\n")
        for pname in sorted({p["pname"]: p for p in PACKAGES}):
            cpe = next(p["cpe"] for p in PACKAGES if p["pname"] == pname)
            f.write(f'\n["{pname}"]\ncpe = ["{cpe}"]\n')
    with open(os.path.join(out, "packages.json"), "w") as f:
        json.dump([{"name": drv_name(p), "pname": p["pname"], "version": p["version"],
                    "patches": p.get("patches", [])} for p in PACKAGES], f, indent=1)


def read_lines(path):
    if path == "-":
        return None
    with open(path) as f:
        return {tuple(line.split()) for line in f if line.strip()}


def table(out, vulnix_path, provenix_path):
    vulnix, provenix = read_lines(vulnix_path), read_lines(provenix_path)
    by_key = {key(p): p for p in PACKAGES}
    seen_v, seen_p = set(), set()

    def say(answer, expected):
        s = "**affected**" if answer else "not affected"
        return s if answer == expected else f"{s} (expected {'affected' if expected else 'not affected'})"

    print("| CVE | package | vulnix says | provenix says | why |")
    print("|:---|:---|:---|:---|:---|")
    agree = differ = 0
    for e in ENTRIES:
        for k, (ev, ep, why) in e["expect"].items():
            p = by_key[k]
            # vulnix names a package by its own split of the drv name; provenix by env pname and version.
            vline = next((t for t in (vulnix or ()) if t[0] == e["id"] and "-".join(t[1:]) == drv_name(p)), None)
            pline = (e["id"], p["pname"], p["version"])
            v = vline is not None
            if vline:
                seen_v.add(vline)
            pv = "n/a" if provenix is None else say(pline in provenix, ep)
            if provenix is not None and pline in provenix:
                seen_p.add(pline)
            if provenix is not None:
                agree, differ = (agree + 1, differ) if v == (pline in provenix) else (agree, differ + 1)
            print(f"| {e['id']} | {drv_name(p)} | {say(v, ev)} | {pv} | {why} |")
    extra = sorted((vulnix or set()) - seen_v)
    extra_p = sorted((provenix or set()) - seen_p)
    print()
    if provenix is None:
        print("provenix vulns not available yet: its column is n/a.")
    else:
        print(f"The two agree on {agree} pairs and differ on {differ}.")
    for who, lines in (("vulnix", extra), ("provenix", extra_p)):
        for t in lines:
            print(f"Also reported by {who}, not in the definition: `{' '.join(t)}`.")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "table":
        table(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
