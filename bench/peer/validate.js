#!/usr/bin/env node
// The peer of bench/run.sh: validates Kubernetes manifests against a Portcullis schema store
// (written by `portcullis schemas import`) the way `kubeconform -strict -n 1` would, with the
// fastest validator reachable from npm: ajv 8 (compiled validators) and js-yaml 4.
//
//   node bench/peer/validate.js --schemas STORE [--quiet] PATH...
//
// PATH is a manifest file or a directory searched for *.yaml, *.yml and *.json files. Every
// document must name an apiVersion and kind that the store knows (no -ignore-missing-schemas).
// -strict semantics: every schema object that has `properties` and no `additionalProperties`
// gets `additionalProperties: false`; duplicate keys are errors (js-yaml's default).
// Quantity accepts strings and numbers, IntOrString strings and integers, as in kubeconform's
// schemas. Prints one line per invalid object and a summary line; exits 0 when every object
// is valid, 1 otherwise, 2 on a usage error.
'use strict';

const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');
const yaml = require('js-yaml');

function usage(message) {
  process.stderr.write(`validate.js: ${message}\nusage: validate.js --schemas STORE [--quiet] PATH...\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let store = null;
let quiet = false;
const inputs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--schemas') store = args[++i];
  else if (args[i] === '--quiet') quiet = true;
  else inputs.push(args[i]);
}
if (!store) usage('--schemas is required');
if (inputs.length === 0) usage('no manifest paths');

const base = 'https://store.portcullis.invalid/';

// kubeconform -strict: no field that the schema does not name.
function strictify(schema) {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return;
  if (schema.properties && schema.additionalProperties === undefined &&
      schema['x-kubernetes-preserve-unknown-fields'] !== true) {
    schema.additionalProperties = false;
  }
  if (schema.properties) for (const k of Object.keys(schema.properties)) strictify(schema.properties[k]);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    strictify(schema.additionalProperties);
  }
  if (Array.isArray(schema.items)) schema.items.forEach(strictify);
  else strictify(schema.items);
  for (const k of ['allOf', 'anyOf', 'oneOf']) if (Array.isArray(schema[k])) schema[k].forEach(strictify);
  strictify(schema.not);
}

function loadStore(dir) {
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
  const defs = JSON.parse(fs.readFileSync(path.join(dir, '_definitions.json'), 'utf8'));
  delete defs.$schema;
  defs.$id = base + '_definitions.json';
  for (const [name, def] of Object.entries(defs.definitions)) {
    if (name === 'io.k8s.apimachinery.pkg.api.resource.Quantity') {
      defs.definitions[name] = { type: ['string', 'number'] };
    } else if (name === 'io.k8s.apimachinery.pkg.util.intstr.IntOrString') {
      defs.definitions[name] = { type: ['string', 'integer'] };
    } else {
      strictify(def);
    }
  }
  const kinds = new Map();
  for (const k of index.kinds) kinds.set(k.apiVersion + '\u001f' + k.kind, k.file);
  return { defs, kinds };
}

const { defs, kinds } = loadStore(store);
// Formats of the Kubernetes OpenAPI document: date-time is checked (as kubeconform does), the
// numeric and binary ones are accepted as they are (kubeconform does not check them either).
const formats = {
  int32: true, int64: true, double: true, float: true, byte: true, 'int-or-string': true,
  'date-time': /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/,
};
const ajv = new Ajv({ strict: false, allErrors: false, formats, validateSchema: false });
ajv.addSchema(defs);

// One compiled validator per kind, compiled on first use (as kubeconform loads schemas).
const validators = new Map();
function validatorFor(apiVersion, kind) {
  const key = apiVersion + '\u001f' + kind;
  let v = validators.get(key);
  if (v !== undefined) return v;
  const file = kinds.get(key);
  if (!file) {
    v = null;
  } else {
    const schema = JSON.parse(fs.readFileSync(path.join(store, file), 'utf8'));
    delete schema.$schema;
    schema.$id = base + file;
    v = ajv.compile(schema);
  }
  validators.set(key, v);
  return v;
}

function collect(p, out) {
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    for (const e of fs.readdirSync(p).sort()) collect(path.join(p, e), out);
  } else if (/\.(ya?ml|json)$/.test(p)) {
    out.push(p);
  }
}

const files = [];
for (const p of inputs) collect(p, files);

let objects = 0;
let invalid = 0;
const report = (file, what, message) => {
  invalid++;
  if (!quiet) process.stdout.write(`${file}: ${what}: ${message}\n`);
};
for (const file of files) {
  const text = fs.readFileSync(file, 'utf8');
  let docs;
  try {
    docs = yaml.loadAll(text, null, { filename: file });
  } catch (e) {
    report(file, 'yaml', e.message.split('\n')[0]);
    continue;
  }
  for (const doc of docs) {
    if (doc === null || doc === undefined) continue;
    objects++;
    if (typeof doc !== 'object' || Array.isArray(doc) || typeof doc.apiVersion !== 'string' ||
        typeof doc.kind !== 'string') {
      report(file, 'object', 'not a Kubernetes object (apiVersion and kind are required)');
      continue;
    }
    const what = `${doc.kind} ${doc.metadata && doc.metadata.name}`;
    const validate = validatorFor(doc.apiVersion, doc.kind);
    if (!validate) {
      report(file, what, `no schema for ${doc.apiVersion} ${doc.kind}`);
      continue;
    }
    if (!validate(doc)) {
      const e = validate.errors[0];
      const extra = e.params && e.params.additionalProperty ? ` "${e.params.additionalProperty}"` : '';
      report(file, what, `${e.instancePath || '/'} ${e.message}${extra}`);
    }
  }
}
process.stdout.write(`peer: ${files.length} files, ${objects} objects, ${invalid} invalid ` +
                     `(ajv ${require('ajv/package.json').version}, js-yaml ${require('js-yaml/package.json').version}, node ${process.versions.node})\n`);
process.exit(invalid ? 1 : 0);
