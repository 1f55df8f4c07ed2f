#!/usr/bin/python3
"""Validates every N5 request the test PCF (pcf.py) recorded against the TS 29.514 schema parts
in tests/data/ts29514_app_session.schema.json (python3-jsonschema):
  POST .../app-sessions            body: AppSessionContext, Content-Type application/json
  PATCH .../app-sessions/{id}      body: AppSessionContextUpdateDataPatch,
                                   Content-Type application/merge-patch+json
  POST .../app-sessions/{id}/delete  no body, or EventsSubscReqData
and, in each body, that every medComponents key is its medCompN and every medSubComps key its
fNum (the spec keys the maps so). Prints one line per problem and "checked N requests";
exit 1 when a request fails or none was recorded.

  n5_check.py RECORD SCHEMA
"""
import json
import re
import sys

import jsonschema

API = "/npcf-policyauthorization/v1/app-sessions"


def kind(rec):
    m, p = rec.get("method"), rec.get("path", "")
    if m == "POST" and p == API:
        return "AppSessionContext", "application/json"
    if m == "PATCH" and re.fullmatch(re.escape(API) + r"/[^/]+", p):
        return "AppSessionContextUpdateDataPatch", "application/merge-patch+json"
    if m == "POST" and re.fullmatch(re.escape(API) + r"/[^/]+/delete", p):
        return "EventsSubscReqData", None
    return None, None


def keys_match(body):
    errs = []
    comps = ((body or {}).get("ascReqData") or {}).get("medComponents") or {}
    for k, c in comps.items():
        if not isinstance(c, dict):
            continue
        if str(c.get("medCompN")) != k:
            errs.append("medComponents key %s is not its medCompN %s" % (k, c.get("medCompN")))
        for sk, sc in (c.get("medSubComps") or {}).items():
            if isinstance(sc, dict) and str(sc.get("fNum")) != sk:
                errs.append("medSubComps key %s is not its fNum %s" % (sk, sc.get("fNum")))
    return errs


def main():
    record, schema_path = sys.argv[1], sys.argv[2]
    with open(schema_path) as f:
        schema = json.load(f)
    defs = schema["definitions"]
    bad = checked = 0
    with open(record) as f:
        for n, line in enumerate(f, 1):
            rec = json.loads(line)
            if rec.get("dir") != "in":
                continue
            name, ctype = kind(rec)
            errs = []
            if not name:
                errs.append("not an Npcf_PolicyAuthorization request")
            else:
                body = rec.get("body")
                if name == "EventsSubscReqData" and body is None:
                    pass  # a delete without a body
                else:
                    v = jsonschema.Draft7Validator({"$ref": "#/definitions/" + name,
                                                    "definitions": defs})
                    errs += ["%s: %s" % ("/".join(map(str, e.absolute_path)) or "(body)",
                                         e.message) for e in v.iter_errors(body)]
                    errs += keys_match(body)
                if ctype and (rec.get("ctype") or "").split(";")[0].strip() != ctype:
                    errs.append("Content-Type %s, not %s" % (rec.get("ctype"), ctype))
            checked += 1
            for e in errs:
                print("line %d (%s %s): %s" % (n, rec.get("method"), rec.get("path"), e))
            bad += bool(errs)
    print("checked %d requests, %d invalid" % (checked, bad))
    sys.exit(1 if bad or not checked else 0)


if __name__ == "__main__":
    main()
