#!/usr/bin/env python3
"""Validates events against their JSON Schemas in events/schemas/.

usage: validate-events.py EVENTS.jsonl
Each line is an event as a consumer gets it from EventBridge (an envelope with `detail-type`
and `detail`). Exits 1, naming each event and what is wrong, if any event does not match the
schema of its detail-type, or its detail-type has none.
"""
import json
import pathlib
import sys

from jsonschema import Draft202012Validator, FormatChecker

schemas = pathlib.Path(__file__).resolve().parent.parent / "events" / "schemas"
problems = []
count = 0
for number, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    if not line.strip():
        continue
    count += 1
    event = json.loads(line)
    kind = event.get("detail-type", "")
    path = schemas / (kind.lower().replace(" ", "-") + ".json")
    if not path.is_file():
        problems.append(f"event {number}: detail-type {kind!r} has no schema ({path.name})")
        continue
    validator = Draft202012Validator(json.loads(path.read_text()), format_checker=FormatChecker())
    for error in validator.iter_errors(event.get("detail")):
        where = "/".join(str(p) for p in error.absolute_path) or "(detail)"
        problems.append(f"event {number} ({kind}): {where}: {error.message}")
for problem in problems:
    print(problem)
print(f"{count} event(s), {len(problems)} problem(s)")
sys.exit(1 if problems or count == 0 else 0)
