// docs/openapi.yaml against itself and against a running carteiro (openapi_check.sh starts it):
//   - the document is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator: the official
//     JSON Schemas of the specification);
//   - every example in it matches its own schema (request bodies, parameters, answers);
//   - every operation of the HTTP API is sent to the daemon, once per example (a request
//     body's or a path parameter's, in the document's order, so the GET of a job follows its
//     POST), and once without the token where it needs one; each answer's status must be the
//     example's x-expect-status (else one the operation documents), its Content-Type one
//     documented for that status, and its body valid against that schema (Ajv, JSON Schema
//     2020-12);
//   - a method a path does not take is answered 405 with Allow and an Error body, and a path
//     that is no route 404 with an Error body;
//   - the webhook listener (the path with its own `servers`) gets each request example, signed
//     at test time with the test's secrets the way its provider signs (x-provider-kind), sent
//     to such an account, then again (a provider's retry); and every refusal the document
//     lists (unsigned, forged, stale, not configured, not the provider's format, too large,
//     encoded, unknown account, method): each answer judged as above and equal to the
//     documented example it names. Every example of the listener's answers is seen, but the
//     503s and the 500 (the spool failing, the daemon stopping, memory running out), which
//     are checked against the listener's source instead; /metrics then counts exactly the
//     examples' events as stored, and as many duplicates.
// Prints "ok: ..." / "FAIL: ..." lines; exits 1 on any failure.
// usage: node openapi_check.mjs TOOLS_DIR DOC BASE_URL TOKEN HOOKS_JSON
// HOOKS_JSON (written by openapi_check.sh): {"base": the listener's URL, "public_url":
// webhook_public_url, "accounts": {"whatsapp": name, "sms": name, "email": name},
// "unconfigured": a whatsapp account without webhook keys, "wa_app_secret", "wa_verify_token",
// "twilio_auth_token", "sendgrid_key_pem": the private key's PEM file, "max_body": bytes,
// "src": the source tree}.
import { createHmac, generateKeyPairSync, sign as signWith } from "node:crypto";
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { pathToFileURL } from "node:url";

const [toolsDir, docPath, base, token, hooksJson] = process.argv.slice(2);
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
    for (const p of [...(item.parameters ?? []), ...(op.parameters ?? [])].map(deref))
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
// The webhook listener's path (its own `servers`) is another server: checked further down.
const apiPaths = Object.entries(doc.paths).filter(([, item]) => item.servers === undefined);
const ops = [];
for (const [path, item] of apiPaths)
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
for (const [path, item] of apiPaths) {
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

// ---- the webhook listener ----
const hooks = JSON.parse(readFileSync(hooksJson, "utf8"));
const hookPaths = Object.entries(doc.paths).filter(([, item]) => item.servers !== undefined);
check(hookPaths.length === 1 && hookPaths[0][0] === "/webhooks/{account}",
      `the one path with its own servers is /webhooks/{account} (got ${hookPaths.map(([p]) => p)})`);
const [hookPath, hookItem] = hookPaths[0] ?? ["/webhooks/{account}", {}];
const hookGet = hookItem.get, hookPost = hookItem.post;
const hookUrl = (account, query) => `/webhooks/${encodeURIComponent(account)}${query ? `?${query}` : ""}`;
const seen = new Set(); // "GET 403 wrong-token": the documented answers the listener gave

async function hookSend(method, path, { headers = {}, body } = {}) {
  const r = await fetch(hooks.base + path, { method, headers, body, signal: AbortSignal.timeout(15000) });
  return { status: r.status, type: (r.headers.get("content-type") ?? "").split(";")[0].trim(),
           allow: r.headers.get("allow"), text: await r.text() };
}
// judge, then: the body is the documented example `name` of that status, exactly.
function judgeHook(what, op, M, ans, expect, name) {
  judge(what, op, ans, expect);
  if (name === undefined || ans.status !== expect) return;
  const media = deref(op.responses[String(expect)])?.content?.[ans.type];
  const ex = media?.examples?.[name];
  if (!check(ex !== undefined, `${what}: the ${expect} answer has an example '${name}' for ${ans.type}`)) return;
  let value = ans.text;
  if (ans.type === "application/json") { try { value = JSON.parse(ans.text); } catch { value = undefined; } }
  if (check(isDeepStrictEqual(value, ex.value), `${what}: the body is the documented example '${name}'`))
    seen.add(`${M} ${expect} ${name}`);
  else console.log(`  expected ${JSON.stringify(ex.value)}, got ${JSON.stringify(ans.text)}`);
}

// Bodies as each provider puts them on the wire. Meta escapes non-ASCII characters and "/"
// (and signs those bytes); Twilio form-encodes; SendGrid sends plain JSON.
const metaJson = (v) => JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).replaceAll("/", "\\/");
const wire = (kind, v) => kind === "whatsapp" ? metaJson(v) : kind === "sms" ? new URLSearchParams(Object.entries(v)).toString() : JSON.stringify(v);
const mediaOf = { whatsapp: "application/json", sms: "application/x-www-form-urlencoded", email: "application/json" };
const sgKey = readFileSync(hooks.sendgrid_key_pem, "utf8");
const otherKey = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
// The signature headers of `body` sent to `path`, as each provider makes them (README
// "Webhooks: what the providers send back"); options sign wrongly on purpose.
function signed(kind, path, body, { secret, key, ts, url } = {}) {
  if (kind === "whatsapp")
    return { "x-hub-signature-256": `sha256=${createHmac("sha256", secret ?? hooks.wa_app_secret).update(body).digest("hex")}` };
  if (kind === "sms") {
    // the URL Twilio called, then every parameter sorted by name (then value), name then value
    const pairs = [...new URLSearchParams(body)].map(([n, v]) => [Buffer.from(n), Buffer.from(v)]);
    pairs.sort((a, b) => Buffer.compare(a[0], b[0]) || Buffer.compare(a[1], b[1]));
    const mac = createHmac("sha1", secret ?? hooks.twilio_auth_token).update(url ?? hooks.public_url + path);
    for (const [n, v] of pairs) mac.update(n).update(v);
    return { "x-twilio-signature": mac.digest("base64") };
  }
  const t = String(ts ?? Math.floor(Date.now() / 1000));
  return { "x-twilio-email-event-webhook-signature": signWith("sha256", Buffer.from(t + body), key ?? sgKey).toString("base64"),
           "x-twilio-email-event-webhook-timestamp": t };
}
// Twilio's own example (its webhook security page): this signer signs as Twilio does.
check(signed("sms", "", "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212",
             { secret: "12345", url: "https://mycompany.com/myapp.php?foo=1&bar=2" })["x-twilio-signature"] === "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
      "the test signs Twilio's example request as Twilio does");
async function post(kind, account, body, { query, headers, sign = {}, unsigned = false, drop } = {}) {
  const path = hookUrl(account, query);
  const h = { "content-type": mediaOf[kind], ...(unsigned ? {} : signed(kind, path, body, sign)), ...headers };
  if (drop !== undefined) delete h[drop];
  return hookSend("POST", path, { headers: h, body });
}

// The request examples, each to an account of its kind, then again as a provider retries.
const storedWant = { whatsapp: 0, sms: 0, email: 0 };
const eventsIn = (kind, v) => kind === "sms" ? 1 : kind === "email" ? v.length
  : v.entry.flatMap((e) => e.changes ?? []).filter((c) => c.field === "messages")
      .reduce((n, c) => n + (c.value.statuses ?? []).length + (c.value.messages ?? []).length, 0);
for (const [ct, media] of Object.entries(hookPost?.requestBody?.content ?? {})) {
  for (const [name, ex] of Object.entries(media.examples ?? {})) {
    const kind = ex["x-provider-kind"];
    if (!check(mediaOf[kind] === ct, `POST ${hookPath} example '${name}': x-provider-kind ${kind} sends ${ct}`)) continue;
    storedWant[kind] += eventsIn(kind, ex.value);
    const ok = kind === "sms" ? "twilio" : "whatsapp-sendgrid";
    for (const round of ["", " again"]) {
      const ans = await post(kind, hooks.accounts[kind], wire(kind, ex.value), { query: ex["x-query"] });
      judgeHook(`POST ${hookPath} example '${name}'${round}`, hookPost, "POST", ans, ex["x-expect-status"] ?? 200, ok);
    }
  }
}

// The handshake and its refusals.
const wa = hooks.accounts.whatsapp;
const param = (op, n) => (op?.parameters ?? []).map(deref).find((p) => p.name === n);
const challenge = Object.values(param(hookGet, "hub.challenge")?.examples ?? {})[0]?.value;
const shake = (token, ch = challenge, mode = "subscribe") =>
  new URLSearchParams([["hub.mode", mode], ["hub.verify_token", token], ...(ch === null ? [] : [["hub.challenge", ch]])]).toString();
const gets = [
  ["handshake", wa, shake(hooks.wa_verify_token), 200, "challenge"],
  ["handshake, another verify token", wa, shake("guess"), 403, "wrong-token"],
  ["handshake without hub.challenge", wa, shake(hooks.wa_verify_token, null), 400, "bad-handshake"],
  ["handshake, hub.mode unsubscribe", wa, shake(hooks.wa_verify_token, challenge, "unsubscribe"), 400, "bad-handshake"],
  ["handshake, a challenge with a space", wa, shake(hooks.wa_verify_token, "1 2"), 400, "bad-handshake"],
  ["handshake, an account without webhook keys", hooks.unconfigured, shake("guess"), 403, "not-configured"],
  ["an sms account", hooks.accounts.sms, "", 405, "not-whatsapp"],
  ["an email account", hooks.accounts.email, "", 405, "not-whatsapp"],
  ["an unknown account", "nobody", shake(hooks.wa_verify_token), 404, "unknown"],
];
for (const [what, account, query, status, name] of gets) {
  const ans = await hookSend("GET", hookUrl(account, query));
  judgeHook(`GET ${hookPath}: ${what}`, hookGet, "GET", ans, status, name);
  if (status === 405) check(ans.allow === "POST", `GET ${hookPath}: ${what}: Allow: POST (got ${ans.allow})`);
}
const head = await hookSend("HEAD", hookUrl(wa, shake(hooks.wa_verify_token)));
check(head.status === 200 && head.text === "" && head.type === "text/plain",
      `HEAD ${hookPath}: handshake answered as GET, without the body (got ${head.status} ${head.type} [${head.text}])`);

// The POSTs' refusals: each provider's, with bodies the document's own examples where a
// signature is what is wrong.
const firstOf = (kind) => Object.values(hookPost?.requestBody?.content?.[mediaOf[kind]]?.examples ?? {})
  .find((ex) => ex["x-provider-kind"] === kind);
const waBody = wire("whatsapp", firstOf("whatsapp").value);
const twEx = firstOf("sms"), twBody = wire("sms", twEx.value);
const sgBody = wire("email", firstOf("email").value);
const manyEvents = `[${Array(5001).fill('{"event":"open","sg_event_id":"e"}').join(",")}]`;
const posts = [
  ["whatsapp, unsigned", () => post("whatsapp", wa, waBody, { unsigned: true }), 401, "unsigned"],
  ["sms, unsigned", () => post("sms", hooks.accounts.sms, twBody, { unsigned: true }), 401, "unsigned"],
  ["email, unsigned", () => post("email", hooks.accounts.email, sgBody, { unsigned: true }), 401, "unsigned"],
  ["email, a signature without its timestamp", () => post("email", hooks.accounts.email, sgBody,
    { drop: "x-twilio-email-event-webhook-timestamp" }), 401, "unsigned"],
  ["whatsapp, signed with another secret", () => post("whatsapp", wa, waBody, { sign: { secret: "another-secret" } }), 403, "forged"],
  ["whatsapp, a malformed signature", () => post("whatsapp", wa, waBody, { headers: { "x-hub-signature-256": "sha256=zz" } }), 403, "forged"],
  ["whatsapp, the body changed after signing", () => post("whatsapp", wa, waBody.replace("failed", "read"),
    { headers: signed("whatsapp", hookUrl(wa), waBody) }), 403, "forged"],
  ["sms, signed for another URL (another job)", () => post("sms", hooks.accounts.sms, twBody,
    { query: twEx["x-query"], headers: signed("sms", hookUrl(hooks.accounts.sms, "job=inv-other&part=1"), twBody) }), 403, "forged"],
  ["sms, signed with another token", () => post("sms", hooks.accounts.sms, twBody, { query: twEx["x-query"], sign: { secret: "another-token" } }), 403, "forged"],
  ["email, signed with another key", () => post("email", hooks.accounts.email, sgBody, { sign: { key: otherKey } }), 403, "forged"],
  ["email, signed an hour ago", () => post("email", hooks.accounts.email, sgBody, { sign: { ts: Math.floor(Date.now() / 1000) - 3600 } }), 403, "stale"],
  ["whatsapp, an account without webhook keys", () => post("whatsapp", hooks.unconfigured, waBody), 403, "not-configured"],
  ["whatsapp, signed, not JSON", () => post("whatsapp", wa, "not json"), 400, "not-json"],
  ["whatsapp, signed, an array", () => post("whatsapp", wa, "[]"), 400, "whatsapp-not-an-object"],
  ["whatsapp, signed, another object", () => post("whatsapp", wa, '{"object":"page","entry":[]}'), 400, "whatsapp-another-object"],
  ["whatsapp, signed, no entry", () => post("whatsapp", wa, '{"object":"whatsapp_business_account"}'), 400, "whatsapp-no-entry"],
  ["email, signed, an object", () => post("email", hooks.accounts.email, "{}"), 400, "sendgrid-not-an-array"],
  ["whatsapp, over webhook_max_body_kb", () => post("whatsapp", wa, `"${"a".repeat(hooks.max_body)}"`, { unsigned: true }), 413, "too-large"],
  ["email, signed, 5,001 events", () => post("email", hooks.accounts.email, manyEvents), 413, "too-many-events"],
  ["whatsapp, signed, Content-Encoding: gzip", () => post("whatsapp", wa, waBody, { headers: { "content-encoding": "gzip" } }), 415, "encoded"],
  ["an unknown account", () => post("whatsapp", "nobody", waBody), 404, "unknown"],
];
check(manyEvents.length < hooks.max_body, `5,001 events (${manyEvents.length} bytes) fit in webhook_max_body_kb`);
for (const [what, send, status, name] of posts) {
  const ans = await send();
  judgeHook(`POST ${hookPath}: ${what}`, hookPost, "POST", ans, status, name);
}

// Paths and methods the listener has no route for.
const noSuch = deref(hookPost?.responses?.["404"])?.content?.["application/json"];
for (const p of ["/webhooks/", `/webhooks/${wa}/x`, "/metrics", "/v1/jobs"]) {
  const ans = await hookSend("GET", p);
  check(ans.status === 404, `GET ${p} on the listener: 404 (got ${ans.status})`);
  valid(noSuch?.schema ?? {}, JSON.parse(ans.text || "null"), `GET ${p} on the listener: the 404 body is documented`);
}
const put = await hookSend("PUT", hookUrl(wa), { body: "{}" });
check(put.status === 405, `PUT ${hookPath}: 405 (got ${put.status})`);
const taken = methods.filter((m) => hookItem[m]).map((m) => m.toUpperCase()).sort().join(",");
check((put.allow ?? "").split(/, */).filter((a) => a !== "HEAD").sort().join(",") === taken,
      `PUT ${hookPath}: Allow names the documented methods (${put.allow})`);
valid({ $ref: "#/components/schemas/WebhookMethodError" }, JSON.parse(put.text || "null"), `PUT ${hookPath}: the 405 body is documented`);
const onApi = await send("GET", hookUrl(wa));
check(onApi.status === 404, `GET /webhooks/${wa} on the HTTP API: 404 (got ${onApi.status})`);

// Every documented answer of the listener was seen, but what the test cannot cause here.
const notCaused = new Set(["POST 503 not-stored", "POST 503 stopping"]);
for (const [M, op] of [["GET", hookGet], ["POST", hookPost]])
  for (const [status, r] of Object.entries(op?.responses ?? {}))
    for (const media of Object.values(deref(r).content ?? {}))
      for (const name of Object.keys(media.examples ?? {})) {
        const key = `${M} ${status} ${name}`;
        if (!notCaused.has(key)) check(seen.has(key), `${M} ${hookPath}: the documented answer ${status} '${name}' was given`);
      }

// The listener's own error texts (src/http/webhook.c, with the statuses of provider.h's
// check table) are each documented for their status, the ones not caused above included.
const webhookC = readFileSync(`${hooks.src}/src/http/webhook.c`, "utf8");
const providerH = readFileSync(`${hooks.src}/src/provider/provider.h`, "utf8");
const checkStatus = Object.fromEntries([...providerH.matchAll(/X\((\w+), (\d+), "/g)].map((m) => [m[1], Number(m[2])]));
const texts = [
  ...[...webhookC.matchAll(/ct__http_send_error\(req, (\d+), "([^"]*)"\)/g)].map((m) => [Number(m[1]), m[2]]),
  ...[...webhookC.matchAll(/unavailable\(req, "([^"]*)"\)/g)].map((m) => [503, m[1]]),
  ...[...webhookC.matchAll(/case CT_WEBHOOK_(\w+):\s*return "([^"]*)";/g)].map((m) => [checkStatus[m[1]], m[2]]),
];
check(texts.length >= 12, `the listener's error texts found in src/http/webhook.c (${texts.length})`);
for (const [status, text] of texts) {
  const schemas = [hookGet, hookPost].map((op) => deref(op?.responses?.[String(status)])?.content?.["application/json"]?.schema)
    .filter((s) => s !== undefined);
  const ok = schemas.some((s) => compile(s)({ error: text }));
  check(ok, `src/http/webhook.c: ${status} {"error": "${text}"} is documented for ${hookPath}`);
}

// The examples' events were stored, once each: the second round found them all.
const metrics = await (await fetch(`${base}/metrics`)).text();
const counter = (account, result) => {
  const line = metrics.split("\n").find((l) => l.startsWith(`carteiro_webhook_events_total{account="${account}",result="${result}"} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
};
for (const kind of ["whatsapp", "sms", "email"]) {
  const a = hooks.accounts[kind];
  check(counter(a, "stored") === storedWant[kind], `${a}: ${storedWant[kind]} events stored (got ${counter(a, "stored")})`);
  check(counter(a, "duplicate") === storedWant[kind], `${a}: ${storedWant[kind]} duplicates (got ${counter(a, "duplicate")})`);
}

console.log(`${oks} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
