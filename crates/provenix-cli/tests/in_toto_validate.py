#!/usr/bin/env python3
"""Validates the in-toto statement in a DSSE envelope written by `provenix rebuild
--attest-key`, with in-toto's own Python bindings (PyPI `in-toto-attestation`, pinned
in the venv scripts/install-deps.sh makes), for tests/cli_bundle_rebuild.rs.

Usage: in_toto_validate.py ENVELOPE.json

1. the envelope's payloadType is `application/vnd.in-toto+json`;
2. the payload parses into in-toto's Statement protobuf with no unknown field
   (json_format.Parse), and `Statement.validate()` passes;
3. for SLSA provenance v1, the predicate parses into in-toto's Provenance
   protobuf with no unknown field (timestamps as RFC 3339);
4. every ResourceDescriptor (subjects, resolvedDependencies, byproducts,
   builderDependencies) passes `ResourceDescriptor.validate()` and has at least
   one of uri, digest and content, as the ResourceDescriptor spec requires (the
   Python binding checks only name/uri/digest).

Exit 0 and one `ok:` line per check when valid; 1 with every message when not.
"""

import base64
import json
import sys


def main() -> int:
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
    from in_toto_attestation.v1.statement import Statement

    envelope = json.loads(open(sys.argv[1], "rb").read())
    problems = []
    if envelope.get("payloadType") != "application/vnd.in-toto+json":
        problems.append(f"payloadType is {envelope.get('payloadType')!r}")
    payload = base64.b64decode(envelope["payload"], validate=True)

    pb = statement_pb2.Statement()
    json_format.Parse(payload, pb, ignore_unknown_fields=False)
    Statement.copy_from_pb(pb).validate()
    print("ok: Statement parses and validates")

    descriptors = [(f"subject[{i}]", rd) for i, rd in enumerate(pb.subject)]
    if pb.predicate_type == "https://slsa.dev/provenance/v1":
        prov = provenance_pb2.Provenance()
        json_format.ParseDict(json.loads(payload)["predicate"], prov, ignore_unknown_fields=False)
        print("ok: predicate parses as SLSA Provenance v1")
        bd, rd = prov.build_definition, prov.run_details
        if not bd.build_type:
            problems.append("buildDefinition.buildType is empty")
        if not rd.builder.id:
            problems.append("runDetails.builder.id is empty")
        descriptors += [(f"resolvedDependencies[{i}]", d) for i, d in enumerate(bd.resolved_dependencies)]
        descriptors += [(f"byproducts[{i}]", d) for i, d in enumerate(rd.byproducts)]
        descriptors += [(f"builderDependencies[{i}]", d) for i, d in enumerate(rd.builder.builder_dependencies)]
    for where, d in descriptors:
        try:
            ResourceDescriptor.copy_from_pb(d).validate()
        except ValueError as e:
            problems.append(f"{where}: {e}")
        if not (d.uri or len(d.digest) or d.content):
            problems.append(f"{where} ({d.name!r}) has none of uri, digest, content")
    if problems:
        for p in problems:
            print(f"invalid: {p}")
        return 1
    print(f"ok: {len(descriptors)} ResourceDescriptors each have uri, digest or content")
    return 0


if __name__ == "__main__":
    sys.exit(main())
