#!/usr/bin/env python3
"""Review records and a policy for benchmarking `provenix policy check` (bench/run.sh policy).

Usage: gen-reviews.py --sources SOURCES.json --out DIR [--count 100000] [--reviewers 20]

SOURCES.json is `provenix sources --json ROOT`. Writes DIR/policy.toml (the reviewers' public
keys in Nix format, two per group, two independent reviewers required at level medium, delta
reviews counted, patches needing level high) and DIR/reviews/<reviewer>/<n>.json: COUNT review
records, each a DSSE envelope with an in-toto statement and a review predicate exactly as
docs/review.md describes, signed with ed25519 (python3-cryptography). Records go round robin
over the sources and reviewers, so most sources get several reviews; one record in ten covers
only some files, one in twenty is at level low, so some sources end up under-reviewed, and the
last sources get none. Deterministic: keys come from fixed seeds.
"""

import argparse
import base64
import json
import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def pae(payload_type: bytes, body: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(body), body)


def digest_of(source):
    algo, b64 = source["hash"].split("-", 1)
    hex_digest = base64.b64decode(b64).hex()
    return (algo if source["mode"] == "flat" else "nar" + algo[0].upper() + algo[1:]), hex_digest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--reviewers", type=int, default=20)
    args = ap.parse_args()
    with open(args.sources) as f:
        sources = [s for s in json.load(f)["sources"] if s["hashAlgo"] in ("sha256", "sha512")]
    keys = []
    for r in range(args.reviewers):
        key = Ed25519PrivateKey.from_private_bytes(bytes([r + 1]) * 32)
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        keys.append((f"reviewer{r}-1", key, base64.b64encode(public).decode()))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "policy.toml"), "w") as f:
        f.write('[require]\nreviewers = 2\nlevel = "medium"\ndelta = true\n\n')
        f.write('[[rule]]\nkinds = ["patch"]\nlevel = "high"\n\n')
        for r, (name, _, public) in enumerate(keys):
            f.write(f'[[reviewer]]\nname = "reviewer{r}"\ngroup = "org{r // 2}"\nkeys = ["{name}:{public}"]\n\n')
    payload_type = b"application/vnd.in-toto+json"
    # Leave the last 5% of the sources without any review.
    reviewed = sources[: max(1, len(sources) * 95 // 100)]
    for r in range(args.reviewers):
        os.makedirs(os.path.join(args.out, "reviews", f"reviewer{r}"), exist_ok=True)
    for n in range(args.count):
        s = reviewed[n % len(reviewed)]
        r = (n // len(reviewed) + n) % args.reviewers
        name, key, _ = keys[r]
        algo, hex_digest = digest_of(s)
        predicate = {
            "source": {"name": s["name"], "kind": s["kind"], "urls": s["urls"], "mode": s["mode"], "hash": s["hash"]},
            "scope": "files" if n % 10 == 9 else "whole",
            "level": "low" if n % 20 == 7 else "high",
            "understanding": "medium",
            "comment": f"benchmark review {n}",
        }
        if predicate["scope"] == "files":
            predicate["files"] = ["src/*.c", "configure.ac"]
        statement = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": s["name"], "digest": {algo: hex_digest}}],
            "predicateType": "https://provenix.dev/review/v1",
            "predicate": predicate,
        }
        body = json.dumps(statement, separators=(",", ":"), sort_keys=False).encode()
        sig = key.sign(pae(payload_type, body))
        envelope = {
            "payloadType": payload_type.decode(),
            "payload": base64.b64encode(body).decode(),
            "signatures": [{"keyid": name, "sig": base64.b64encode(sig).decode()}],
        }
        with open(os.path.join(args.out, "reviews", f"reviewer{r}", f"{n}.json"), "w") as f:
            json.dump(envelope, f, indent=2)
    print(f"{args.count} records by {args.reviewers} reviewers over {len(reviewed)} of {len(sources)} sources")


if __name__ == "__main__":
    sys.exit(main())
