// Reads docs/openapi.yaml for tests/e2e/t_openapi.sh. The packages come from the directory in
// $OA_MODULES (an `npm ci` of this directory's lock file), so nothing is fetched at test time.
//   validate FILE          OpenAPI 3.1 validation (swagger-parser); exit 1 with the reason
//   routes FILE PROGRAM    "METHOD PATH[ token]" for each operation PROGRAM serves, sorted
//   plan FILE PROGRAM      one tab-separated line per operation PROGRAM serves (see below)
//   check FILE             stdin: one JSON line per answer {desc, method, path, status, body};
//                          prints "ok<TAB>DESC" or "FAIL<TAB>DESC<TAB>why" after validating each body
//                          against the documented response schema (JSON Schema 2020-12)
'use strict';
const path = require('path');
const modules = process.env.OA_MODULES || path.join(__dirname, 'node_modules');
const SwaggerParser = require(path.join(modules, '@apidevtools/swagger-parser'));
const Ajv2020 = require(path.join(modules, 'ajv/dist/2020')).default;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

function operations(api, program) {
  const out = [];
  for (const [p, item] of Object.entries(api.paths || {})) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const programs = op['x-programs'];
      if (!Array.isArray(programs) || programs.length === 0)
        throw new Error(`${m.toUpperCase()} ${p}: x-programs is missing`);
      if (program && !programs.includes(program)) continue;
      const security = op.security !== undefined ? op.security : api.security || [];
      const bearer = security.some((s) => Object.keys(s).length > 0);
      const anonymous = security.some((s) => Object.keys(s).length === 0);
      // token: bearer required; local: anonymous (from loopback) or bearer; neither: public
      out.push({ method: m.toUpperCase(), path: p, op, item,
                 token: bearer && !anonymous, local: bearer && anonymous });
    }
  }
  return out;
}

// Top-level fields every body of this schema has: allOf adds up, oneOf/anyOf keep what all
// branches share.
function required(schema) {
  if (!schema || typeof schema !== 'object') return [];
  let req = new Set(schema.required || []);
  for (const s of schema.allOf || []) for (const f of required(s)) req.add(f);
  const alts = schema.oneOf || schema.anyOf;
  if (alts && alts.length) {
    let common = new Set(required(alts[0]));
    for (const s of alts.slice(1)) {
      const r = new Set(required(s));
      common = new Set([...common].filter((f) => r.has(f)));
    }
    for (const f of common) req.add(f);
  }
  return [...req].sort();
}

function concretePath(p, op, item) {
  const params = [...(item.parameters || []), ...(op.parameters || [])];
  return p.replace(/\{([^}]+)\}/g, (_, name) => {
    const prm = params.find((x) => x.in === 'path' && x.name === name);
    if (!prm || prm.example === undefined) throw new Error(`${p}: no example for {${name}}`);
    return encodeURIComponent(String(prm.example));
  });
}

// method, path, concrete path, token 0/1, documented codes, success codes, success content
// type, required fields of the success body, has a request body 0/1, example body or "-"
function plan(api, program) {
  const lines = [];
  for (const o of operations(api, program)) {
    const codes = Object.keys(o.op.responses || {});
    const success = codes.filter((c) => /^2/.test(c));
    const first = o.op.responses[success[0]] || {};
    const [ctype, media] = Object.entries(first.content || {})[0] || ['-', {}];
    const rb = o.op.requestBody;
    const rbMedia = rb && rb.content && rb.content['application/json'];
    const example = rbMedia && rbMedia.example !== undefined ? JSON.stringify(rbMedia.example) : '-';
    lines.push([o.method, o.path, concretePath(o.path, o.op, o.item), o.token ? 1 : 0,
                codes.join(','), success.join(','), ctype, required(media.schema).join(',') || '-',
                rb ? 1 : 0, example].join('\t'));
  }
  return lines;
}

async function check(api) {
  // OpenAPI keywords (example, x-...) are not JSON Schema: not strict about unknown ones.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const input = require('fs').readFileSync(0, 'utf8').split('\n').filter((l) => l.trim());
  let failed = 0;
  for (const line of input) {
    const a = JSON.parse(line);
    const op = (api.paths[a.path] || {})[a.method.toLowerCase()];
    const resp = op && op.responses[String(a.status)];
    const media = resp && resp.content && (resp.content['application/json'] || resp.content['application/problem+json']);
    let why = null;
    if (!resp) why = `status ${a.status} is not documented`;
    else if (!media || !media.schema) why = `no JSON schema documented for ${a.status}`;
    else {
      let body;
      try { body = JSON.parse(a.body); } catch (e) { why = `not JSON: ${e.message}`; }
      if (!why && !ajv.validate(media.schema, body))
        why = ajv.errorsText(ajv.errors, { dataVar: 'body' });
    }
    if (why) failed++;
    console.log(why ? `FAIL\t${a.desc}\t${why}` : `ok\t${a.desc}`);
  }
  return failed;
}

async function main() {
  const [cmd, file, program] = process.argv.slice(2);
  if (cmd === 'validate') {
    await SwaggerParser.validate(file);
    const api = await SwaggerParser.parse(file);
    if (!/^3\.1\./.test(api.openapi)) throw new Error(`openapi is ${api.openapi}, not 3.1`);
    operations(api); // every operation names its programs
    console.log(`valid: ${api.info.title}, OpenAPI ${api.openapi}`);
  } else if (cmd === 'routes') {
    const api = await SwaggerParser.parse(file);
    const lines = operations(api, program).map((o) => `${o.method} ${o.path}${o.token ? ' token' : o.local ? ' local' : ''}`);
    console.log(lines.sort().join('\n'));
  } else if (cmd === 'plan') {
    const api = await SwaggerParser.dereference(file);
    console.log(plan(api, program).join('\n'));
  } else if (cmd === 'check') {
    await check(await SwaggerParser.dereference(file));
  } else {
    throw new Error('usage: spec.cjs validate|routes|plan FILE [PROGRAM]');
  }
}

main().catch((e) => {
  console.error(`spec.cjs: ${e.message}`);
  process.exit(1);
});
