#!/usr/bin/env python3
"""Validates an SBOM written by `provenix sbom`, offline, for tests/cli_sbom.rs.

Usage: sbom_validate.py cyclonedx|spdx FILE

Runs in the venv that scripts/install-deps.sh makes (pinned versions there):

cyclonedx:
  1. the official CycloneDX 1.6 JSON schema with `jsonschema` (draft-07, formats
     checked). The file is the one cyclonedx-python-lib bundles, which is the
     official 1.6.2 release with its two sub-schema references renamed to
     `*.SNAPSHOT.schema.json`; undoing the renames must give the release's
     SHA-256, checked here, so a changed bundle cannot slip in unnoticed;
  2. cyclonedx-python-lib's own JsonStrictValidator for 1.6;
  3. cyclonedx-python-lib's model: the document deserialised into a `Bom`
     and `Bom.validate()` (every dependency ref names a component).
spdx:
  1. the official SPDX 2.3 JSON schema with `jsonschema` (draft-07, formats
     checked): the file lib4sbom ships (its code is never run), byte-identical to
     `schemas/spdx-schema.json` at the spdx-spec `v2.3` tag (SHA-256 checked);
  2. spdx-tools: parse the file and `validate_full_spdx_document` for
     SPDX-2.3; any message is a failure.

Exit 0 and one `ok:` line per check when valid; 1 with every message when
not; 2 when the validators themselves are not as expected.
"""

import hashlib
import json
import sys
import warnings
from pathlib import Path

# SHA-256 of the official schema files (CycloneDX/specification tag 1.6.2
# schema/bom-1.6.schema.json; spdx/spdx-spec tag v2.3 schemas/spdx-schema.json).
CYCLONEDX_1_6_2 = "18f57f7482593bad9f21b4feed09084640cbeff419d62ad5090c5ceccca5b37d"
SPDX_2_3 = "239208b7ac287b3cf5d9a9af23f9d69863971102a5e1587a27a398b43490b89b"


class Broken(Exception):
    """The validators are not what this script expects."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def schema_errors(schema: dict, document: object, resources: dict) -> list:
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    registry = Registry().with_resources(
        (uri, Resource.from_contents(contents, default_specification=DRAFT7)) for uri, contents in resources.items()
    )
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def cyclonedx(path: Path) -> list:
    import cyclonedx.schema._res as res
    from cyclonedx.model.bom import Bom
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    found = []
    resdir = Path(res.__file__).parent
    bundled = (resdir / "bom-1.6.SNAPSHOT.schema.json").read_bytes()
    official = bundled.replace(b"spdx.SNAPSHOT.schema.json", b"spdx.schema.json").replace(
        b"jsf-0.82.SNAPSHOT.schema.json", b"jsf-0.82.schema.json"
    )
    if sha256(official) != CYCLONEDX_1_6_2:
        raise Broken(f"{resdir}/bom-1.6.SNAPSHOT.schema.json is not the official CycloneDX 1.6.2 schema")
    resources = {
        "http://cyclonedx.org/schema/spdx.schema.json": json.loads((resdir / "spdx.SNAPSHOT.schema.json").read_bytes()),
        "http://cyclonedx.org/schema/jsf-0.82.schema.json": json.loads(
            (resdir / "jsf-0.82.SNAPSHOT.schema.json").read_bytes()
        ),
    }
    errors = schema_errors(json.loads(official), document, resources)
    found += [f"official CycloneDX 1.6 schema: {e}" for e in errors]
    if not errors:
        print("ok: official CycloneDX 1.6.2 JSON schema (jsonschema)")

    strict = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    strict = [str(e) for e in strict] if strict else []
    found += [f"cyclonedx-python-lib JsonStrictValidator: {e}" for e in strict]
    if not strict:
        print("ok: cyclonedx-python-lib JsonStrictValidator 1.6")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bom = Bom.from_json(document)  # type: ignore[attr-defined]
            bom.validate()
        print(f"ok: cyclonedx-python-lib model ({len(bom.components)} components, {len(bom.dependencies)} dependencies)")
    except Exception as e:  # the library raises many exception types for bad input
        found.append(f"cyclonedx-python-lib model: {type(e).__name__}: {e}")
    return found


def spdx(path: Path) -> list:
    import importlib.util

    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    found = []
    # Located without importing lib4sbom: only its data file is used.
    spec = importlib.util.find_spec("lib4sbom")
    if spec is None or not spec.submodule_search_locations:
        raise Broken("lib4sbom (for the official SPDX 2.3 schema) is not installed")
    schema_file = Path(list(spec.submodule_search_locations)[0]) / "schemas" / "spdx" / "2.3-schema.json"
    schema_bytes = schema_file.read_bytes()
    if sha256(schema_bytes) != SPDX_2_3:
        raise Broken(f"{schema_file} is not the official SPDX 2.3 JSON schema")
    document = json.loads(path.read_text(encoding="utf-8"))
    errors = schema_errors(json.loads(schema_bytes), document, {})
    found += [f"official SPDX 2.3 schema: {e}" for e in errors]
    if not errors:
        print("ok: official SPDX 2.3 JSON schema (jsonschema)")

    try:
        parsed = parse_file(str(path))
    except Exception as e:  # SPDXParsingError carries a list of messages
        messages = getattr(e, "messages", None) or [str(e)]
        return found + [f"spdx-tools parser: {m}" for m in messages]
    messages = validate_full_spdx_document(parsed, "SPDX-2.3")
    found += [f"spdx-tools: {m.validation_message} ({m.context})" for m in messages]
    if not messages:
        print(f"ok: spdx-tools validate_full_spdx_document SPDX-2.3 ({len(parsed.packages)} packages)")
    return found


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("cyclonedx", "spdx"):
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(sys.argv[2])
    try:
        problems = cyclonedx(path) if sys.argv[1] == "cyclonedx" else spdx(path)
    except Broken as e:
        print(f"validator setup: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(f"INVALID: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
