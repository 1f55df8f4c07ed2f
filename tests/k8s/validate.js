// Offline checks for tests/e2e/t_k8s.sh, on kubernetes-models' JSON schemas (no cluster).
//   node validate.js objects FILE   every object of a rendered overlay (multi-document YAML):
//                                   validated against its Kubernetes schema; prints
//                                   {"objects": [...], "configData": {"<configmap>/<key>": ...}}
//                                   (YAML values of ConfigMaps parsed, for the config checks);
//                                   each invalid object named on stderr, exit 1
//   node validate.js json FILE      one YAML file as JSON (config/*.yaml)
"use strict";
const fs = require("fs");
const YAML = require("yaml");

function modelFor(obj) {
  if (!obj || typeof obj.apiVersion !== "string" || typeof obj.kind !== "string")
    throw new Error("no apiVersion or kind");
  // "v1" -> kubernetes-models/v1, "apps/v1" -> kubernetes-models/apps/v1
  let mod;
  try {
    mod = require(`kubernetes-models/${obj.apiVersion}`);
  } catch (e) {
    throw new Error(`no schema for apiVersion ${obj.apiVersion}`);
  }
  if (typeof mod[obj.kind] !== "function")
    throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  return mod[obj.kind];
}

// kustomize v5 wraps a Secret's base64 over several lines; the API server's decoder skips the
// line breaks, the schema's "byte" format does not.
function secretDataUnwrapped(obj) {
  if (obj.kind !== "Secret" || !obj.data) return obj;
  const data = {};
  for (const [key, value] of Object.entries(obj.data))
    data[key] = typeof value === "string" ? value.replace(/\s+/g, "") : value;
  return { ...obj, data };
}

// kubectl 1.20's kustomize writes empty fields as null (volumeClaimTemplates: null), which the
// API server reads as absent; so does this check.
function withoutNulls(v) {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (v === null || typeof v !== "object") return v;
  const out = {};
  for (const [key, value] of Object.entries(v)) if (value !== null) out[key] = withoutNulls(value);
  return out;
}

function validateAll(file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  const objects = [];
  const configData = {};
  let bad = 0;
  for (const doc of docs) {
    if (doc.errors.length) {
      console.error(`YAML: ${doc.errors[0].message}`);
      bad++;
      continue;
    }
    const obj = doc.toJSON();
    if (obj === null) continue;
    const what = `${obj.kind || "?"}/${(obj.metadata && obj.metadata.name) || "?"}`;
    try {
      const Model = modelFor(obj);
      new Model(secretDataUnwrapped(withoutNulls(obj))).validate();
    } catch (e) {
      console.error(`${what}: ${e.message}`);
      bad++;
    }
    objects.push(obj);
    if (obj.kind === "ConfigMap" && obj.data)
      for (const [key, text] of Object.entries(obj.data))
        if (/\.ya?ml$/.test(key)) configData[`${obj.metadata.name}/${key}`] = YAML.parse(text);
  }
  process.stdout.write(JSON.stringify({ objects, configData }) + "\n");
  return bad === 0;
}

const [cmd, file] = process.argv.slice(2);
if (cmd === "objects" && file) {
  process.exit(validateAll(file) ? 0 : 1);
} else if (cmd === "json" && file) {
  process.stdout.write(JSON.stringify(YAML.parse(fs.readFileSync(file, "utf8"))) + "\n");
} else {
  console.error("usage: validate.js objects FILE | json FILE");
  process.exit(2);
}
