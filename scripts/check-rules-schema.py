#!/usr/bin/env python3
"""Validates schemas/rules.schema.json (JSON Schema 2020-12) and checks rules files against it.

With no arguments: the schema itself, rules.example.json (must pass) and a few broken documents
(each must fail), so a schema that accepts everything fails this check too.
Exit 0 when all hold; 1 otherwise; 2 when the jsonschema package is missing.
"""
import copy
import json
import pathlib
import sys

try:
    import jsonschema
except ImportError:
    print("check-rules-schema: the Python package jsonschema is not installed (pip install jsonschema)", file=sys.stderr)
    sys.exit(2)

root = pathlib.Path(__file__).resolve().parent.parent
schema = json.loads((root / "schemas" / "rules.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)

failures = 0
files = sys.argv[1:] or [str(root / "rules.example.json")]
for name in files:
    document = json.loads(pathlib.Path(name).read_text())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    for error in errors:
        print(f"{name}#/{'/'.join(str(p) for p in error.absolute_path)}: {error.message}", file=sys.stderr)
    failures += bool(errors)
    print(f"{name}: {'ok' if not errors else f'{len(errors)} schema error(s)'}")

if not sys.argv[1:]:
    example = json.loads((root / "rules.example.json").read_text())
    def broken(change):
        document = copy.deepcopy(example)
        change(document)
        return document
    cases = {
        "version 2": broken(lambda d: d.__setitem__("version", 2)),
        "unknown operator": broken(lambda d: d["rules"][0]["when"]["any"][0].__setitem__("op", "like")),
        "unknown field": broken(lambda d: d["rules"][0]["when"]["any"][0].__setitem__("field", "sender")),
        "route and ignore": broken(lambda d: d["rules"][0]["then"].__setitem__("route", {"pipeline": "sales"})),
        "rule without then": broken(lambda d: d["rules"][1].pop("then")),
        "in with a string": broken(lambda d: d["rules"][2]["when"]["any"][2].__setitem__("value", "bulk")),
        "bad priority": broken(lambda d: d["rules"][4]["then"]["route"].__setitem__("priority", "asap")),
        "ask_ai without fallback": broken(lambda d: d["rules"][-1]["then"]["ask_ai"].pop("fallback")),
        "unknown rule key": broken(lambda d: d["rules"][0].__setitem__("stopp", True)),
    }
    accepted = [label for label, document in cases.items() if validator.is_valid(document)]
    for label in accepted:
        print(f"schema accepts a broken document: {label}", file=sys.stderr)
    failures += len(accepted)
    print(f"broken documents rejected: {len(cases) - len(accepted)}/{len(cases)}")

sys.exit(1 if failures else 0)
