// docs/openapi.yaml against itself and against a running carteiro (openapi_check.sh starts it):
//   - the document is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator: the official
//     JSON Schemas of the specification);
//   - every example in it matches its own schema (request bodies, parameters, answers);
//   - every operation is sent to the daemon, once per example (a request body's or a path
//     parameter's, in the document's order, so the GET of a job follows its POST), and once
//     without the token where it needs one; each answer's status must be the example's
//     x-expect-status (else one the operation documents), its Content-Type one documented for
//     that status, and its body valid against that schema (Ajv, JSON Schema 2020-12);
//   - a method a path does not take is answered 405 with Allow and an Error body, and a path
//     that is no route 404 with an Error body.
// Prints "ok: ..." / "FAIL: ..." lines; exits 1 on any failure.
// usage: node openapi_check.mjs TOOLS_DIR DOC BASE_URL TOKEN
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [toolsDir, docPath, base, token] = process.argv.slice(2);
const mod = (name, file) => import(pathToFileURL(`${toolsDir}/node_modules/${name}/${file}`).href);
const { Validator } = await mod("@seriousme/openapi-schema-validator", "index.js");
const YAML = (await mod("yaml", "dist/index.js")).default;
const Ajv2020 = (await mod("ajv", "dist/2020.js")).default;
const addFormats = (await mod("ajv-formats", "dist/index.js")).default;

let failures = 0, oks = 0;
const check = (cond, msg) => {
  if (cond) { oks++; console.log(`ok: ${msg}`); } else { failures++; console.log(`FAIL: ${msg}`); }
  return cond;
};

// ---- the document itself ----
const validator = new Validator();
const res = await validator.validate(docPath);
check(res.valid, `${docPath} is valid OpenAPI ${validator.version}`);
if (!res.valid) console.log(JSON.stringify(res.errors, null, 2).slice(0, 4000));
const doc = YAML.parse(readFileSync(docPath, "utf8"));
check(doc.openapi.startsWith("3.1."), "OpenAPI 3.1");

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
// A schema of the document, compiled with the document's components beside it so that
// "#/components/schemas/X" resolves.
const cache = new Map();
const compile = (schema) => {
  const key = JSON.stringify(schema);
  if (!cache.has(key)) cache.set(key, ajv.compile({ ...schema, components: doc.components }));
  return cache.get(key);
};
const valid = (schema, value, what) => {
  const v = compile(schema);
  const ok = v(value);
  check(ok, what);
  if (!ok) console.log("  " + ajv.errorsText(v.errors).slice(0, 1000));
  return ok;
};
const deref = (o) => {
  while (o && o.$ref) o = o.$ref.split("/").slice(1).reduce((a, k) => a[k], doc);
  return o;
};

// ---- examples against their schemas ----
const methods = ["get", "post", "put", "delete", "patch", "head"];
for (const [path, item] of Object.entries(doc.paths)) {
  for (const m of methods.filter((m) => item[m])) {
    const op = item[m];
    for (const [ct, media] of Object.entries(op.requestBody?.content ?? {}))
      for (const [name, ex] of Object.entries(media.examples ?? {}))
        valid(media.schema, ex.value, `${m.toUpperCase()} ${path}: request example '${name}' (${ct}) matches its schema`);
    for (const p of (op.parameters ?? []).map(deref))
      for (const [name, ex] of Object.entries(p.examples ?? {}))
        valid(p.schema, ex.value, `${m.toUpperCase()} ${path}: parameter ${p.name} example '${name}' matches its schema`);
    for (const [status, r0] of Object.entries(op.responses)) {
      const r = deref(r0);
      for (const [ct, media] of Object.entries(r.content ?? {}))
        for (const [name, ex] of Object.entries(media.examples ?? {}))
          valid(media.schema, ex.value, `${m.toUpperCase()} ${path}: ${status} example '${name}' (${ct}) matches its schema`);
    }
  }
}

// ---- the daemon's answers ----
async function send(method, path, { body, auth = true, ct } = {}) {
  const headers = {};
  if (auth) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = ct;
  const r = await fetch(base + path, { method, headers, body, signal: AbortSignal.timeout(15000) });
  return { status: r.status, type: (r.headers.get("content-type") ?? "").split(";")[0].trim(),
           allow: r.headers.get("allow"), text: await r.text() };
}
function judge(what, op, ans, expect) {
  if (expect !== undefined) check(ans.status === expect, `${what}: status ${expect} (got ${ans.status})`);
  const r = deref(op.responses[String(ans.status)]);
  if (!check(r !== undefined, `${what}: status ${ans.status} is documented`)) return;
  const media = r.content?.[ans.type];
  if (!check(media !== undefined, `${what}: Content-Type ${ans.type} documented for ${ans.status}`)) return;
  let value = ans.text;
  if (ans.type === "application/json") {
    try { value = JSON.parse(ans.text); } catch { check(false, `${what}: the body is JSON`); return; }
  }
  valid(media.schema, value, `${what}: the ${ans.status} answer matches its schema`);
}
// POST before GET, so that a job posted by an example can be read back by the next.
const ops = [];
for (const [path, item] of Object.entries(doc.paths))
  for (const m of methods.filter((m) => item[m])) ops.push({ path, m, op: item[m] });
ops.sort((a, b) => (a.m === "post" ? 0 : 1) - (b.m === "post" ? 0 : 1));
for (const { path, m, op } of ops) {
  const M = m.toUpperCase();
  const secured = (op.security ?? doc.security ?? []).some((s) => Object.keys(s).length > 0);
  const jsonBody = op.requestBody?.content?.["application/json"];
  const pathParams = (op.parameters ?? []).map(deref).filter((p) => p.in === "path");
  if (jsonBody) {
    for (const [name, ex] of Object.entries(jsonBody.examples ?? {})) {
      const ans = await send(M, path, { body: JSON.stringify(ex.value), ct: "application/json" });
      judge(`${M} ${path} example '${name}'`, op, ans, ex["x-expect-status"]);
    }
  } else if (pathParams.length > 0) {
    const p = pathParams[0];
    for (const [name, ex] of Object.entries(p.examples ?? {})) {
      const ans = await send(M, path.replace(`{${p.name}}`, encodeURIComponent(ex.value)));
      judge(`${M} ${path} with ${p.name} '${name}'`, op, ans, ex["x-expect-status"]);
    }
  } else {
    const ans = await send(M, path);
    judge(`${M} ${path}`, op, ans, undefined);
    check(ans.status < 300 || M !== "GET" || path === "/readyz", `${M} ${path} succeeds (got ${ans.status})`);
  }
  const concrete = pathParams.length > 0 ? path.replace(`{${pathParams[0].name}}`, "x") : path;
  if (secured) {
    const ans = await send(M, concrete, jsonBody ? { body: "{}", ct: "application/json", auth: false } : { auth: false });
    judge(`${M} ${path} without the token`, op, ans, 401);
  }
}
// Methods a path does not take, and a path that is no route.
const errorSchema = { $ref: "#/components/schemas/Error" };
for (const [path, item] of Object.entries(doc.paths)) {
  const other = item.post ? "GET" : "DELETE";
  const ans = await send(other, path.replace(/\{[^}]+\}/, "x"));
  check(ans.status === 405, `${other} ${path}: 405 (got ${ans.status})`);
  const taken = methods.filter((m) => item[m]).map((m) => m.toUpperCase());
  check((ans.allow ?? "").split(/, */).filter((a) => a !== "HEAD").sort().join(",") === taken.sort().join(","),
        `${other} ${path}: Allow names the documented methods (${ans.allow})`);
  valid(errorSchema, JSON.parse(ans.text || "null"), `${other} ${path}: the 405 body is an Error`);
}
const nr = await send("GET", "/v1/no-such-route");
check(nr.status === 404, `GET /v1/no-such-route: 404 (got ${nr.status})`);
valid(errorSchema, JSON.parse(nr.text || "null"), "the 404 body is an Error");

console.log(`${oks} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
