import "../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { fromJs, toJs } from "../native/js_bridge.ts";
import {
  countSecretMarkers,
  ENCODE_NONE,
  ENCODE_QUERY,
  percentEncode,
  renderJsonTemplate,
  renderTemplate,
  TEMPLATE_MAX_DEPTH,
  TemplateScope,
} from "./interpolate.ts";

const ENVELOPE = {
  context: {
    user: { id: 42, name: "Ann", tags: ["a", "b"], active: true, nothing: null },
    items: [{ id: "i-1" }, { id: "i-2" }],
    "odd key": { "a.b": "dotted" },
    "0": "zero",
  },
  deps: { fetch_user: { email: "ann@example.com", scores: [3, 4] } },
  step: { name: "send_mail", attempts: 2, max_attempts: 3, inputs: { lang: "de" } },
};
const scope = TemplateScope.of(fromJs(ENVELOPE));

function render(template: string, encoding = ENCODE_NONE): string {
  const r = renderTemplate(template, scope, "config.url", encoding);
  assert.equal(r.failure, null, r.failure?.error?.message);
  return r.text;
}

function failure(template: string): { code: string; message: string; details: unknown } {
  const r = renderTemplate(template, scope, "config.url", ENCODE_NONE);
  const error = r.failure?.error;
  assert.ok(error, `expected ${JSON.stringify(template)} to fail, got ${JSON.stringify(r.text)}`);
  assert.equal(error.retryable, false);
  return { code: error.code, message: error.message, details: toJs(error.details!) };
}

Deno.test("renderTemplate() reads context, deps, steps.<name>.result and step paths", () => {
  assert.equal(render("${context.user.name}"), "Ann");
  assert.equal(render("/u/${context.user.id}/${context.items[1].id}"), "/u/42/i-2");
  assert.equal(render("${deps.fetch_user.email}"), "ann@example.com");
  assert.equal(render("${steps.fetch_user.result.email}"), "ann@example.com");
  assert.equal(render("${steps.fetch_user.result.scores[1]}"), "4");
  assert.equal(render("${step.name}#${step.attempts}/${step.max_attempts}"), "send_mail#2/3");
  assert.equal(render("${step.inputs.lang}"), "de");
  assert.equal(render('${context["odd key"]["a.b"]}'), "dotted");
  assert.equal(render("${context['odd key']['a.b']}"), "dotted");
  assert.equal(render("${ context.user.name }"), "Ann");
  assert.equal(render("${context.items.0.id}"), "i-1");
  assert.equal(render("${context.0}"), "zero");
  assert.equal(render("${context.items[00].id}"), "i-1");
});

Deno.test("renderTemplate() writes values that are not strings as JSON", () => {
  assert.equal(render("${context.user.tags}"), '["a","b"]');
  assert.equal(render("${context.user.active}"), "true");
  assert.equal(render("${context.user.nothing}"), "null");
  assert.equal(render("${context.items[0]}"), '{"id":"i-1"}');
  assert.equal(
    render("${steps.fetch_user}"),
    '{"result":{"email":"ann@example.com","scores":[3,4]}}',
  );
  assert.equal(
    render("${steps}"),
    '{"fetch_user":{"result":{"email":"ann@example.com","scores":[3,4]}}}',
  );
});

Deno.test("renderTemplate() keeps $${ as a literal ${ and leaves other dollars alone", () => {
  assert.equal(render("$${context.user.id}"), "${context.user.id}");
  assert.equal(render("cost: $5 and $$ and $"), "cost: $5 and $$ and $");
  // Scanning left to right, `$${` is always the escape: `$$${x}` is `$` and a literal `${x}`.
  assert.equal(render("$$${context.user.id}"), "$${context.user.id}");
  assert.equal(render("{}${context.user.id}}"), "{}42}");
});

Deno.test("renderTemplate() leaves ${secrets.NAME} for the host and counts it", () => {
  const r = renderTemplate(
    "Bearer ${secrets.API_TOKEN} ${ secrets.OTHER_1 }",
    scope,
    "config.headers.authorization",
    ENCODE_NONE,
  );
  assert.equal(r.failure, null);
  assert.equal(r.text, "Bearer ${secrets.API_TOKEN} ${secrets.OTHER_1}");
  assert.equal(r.secrets, 2);
  for (const bad of ["${secrets.api}", "${secrets.A.B}", "${secrets[0]}", "${secrets.1A}"]) {
    assert.equal(failure(bad).code, "template_invalid", bad);
  }
});

Deno.test("renderTemplate() fails template_missing naming the path instead of rendering nothing", () => {
  const cases: [string, string, RegExp][] = [
    ["${context.user.email}", "context.user.email", /context\.user has no key "email"/],
    ["${context.items[5].id}", "context.items[5].id", /context\.items has 2 items/],
    ["${context.user.name.first}", "context.user.name.first", /context\.user\.name is a string/],
    ["${context.user.nothing.x}", "context.user.nothing.x", /context\.user\.nothing is null/],
    ["${deps.missing_step.x}", "deps.missing_step.x", /deps has no key "missing_step"/],
    ["${steps.missing_step.result}", "steps.missing_step.result", /deps has no step/],
    ["${steps.fetch_user.email}", "steps.fetch_user.email", /has only "result"/],
    ['${context["no such"]}', 'context["no such"]', /context has no key "no such"/],
  ];
  for (const [template, path, reason] of cases) {
    const f = failure(template);
    assert.equal(f.code, "template_missing", template);
    assert.deepEqual(f.details, { field: "config.url", path }, template);
    assert.match(f.message, reason, template);
    assert.ok(f.message.includes("config.url"), f.message);
  }
});

Deno.test("renderTemplate() rejects malformed placeholders with template_invalid and an offset", () => {
  const cases = [
    "${",
    "x${context.user.id",
    "${}",
    "${ }",
    "${context.}",
    "${context..a}",
    "${context[}",
    "${context[x]}",
    "${context[1234567890]}",
    '${context["a}',
    "${context.a b}",
    "${ctx.a}",
    "${env.HOME}",
  ];
  for (const template of cases) {
    const f = failure(template);
    assert.equal(f.code, "template_invalid", template);
    const details = f.details as { field: string; offset: number; template: string };
    assert.equal(details.field, "config.url");
    assert.equal(details.template, template);
    assert.equal(template.slice(details.offset, details.offset + 2), "${", template);
  }
});

Deno.test("renderTemplate() with ENCODE_QUERY percent-encodes text and values but not secret placeholders", () => {
  const s = TemplateScope.of(fromJs({ context: { q: "a b&c=d/é😀", n: 5 } }));
  const r = renderTemplate(
    "x ${context.q}-${context.n}-${secrets.KEY}",
    s,
    "config.query.q",
    ENCODE_QUERY,
  );
  assert.equal(r.failure, null);
  assert.equal(r.text, "x%20a%20b%26c%3Dd%2F%C3%A9%F0%9F%98%80-5-${secrets.KEY}");
  assert.equal(r.secrets, 1);
  // Data that looks like a placeholder is encoded, so it can never become one.
  const forged = TemplateScope.of(fromJs({ context: { v: "${secrets.KEY}" } }));
  const f = renderTemplate("${context.v}", forged, "config.query.v", ENCODE_QUERY);
  assert.equal(f.text, "%24%7Bsecrets.KEY%7D");
  assert.equal(countSecretMarkers(f.text), 0);
});

Deno.test("percentEncode() matches encodeURIComponent except for !'()* which it also encodes", () => {
  const samples = ["", "plain-._~", "a b", "ä€𝄞", "!'()*", "\u0000\u007f", "ab\ud800cd", "\udc00"];
  for (const text of samples) {
    const expected = encodeURIComponent(text.replace(/[\ud800-\udfff]/g, (c, i, s) => {
      const code = c.charCodeAt(0);
      const next = s.charCodeAt(i + 1);
      const prev = s.charCodeAt(i - 1);
      const paired = (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) ||
        (code >= 0xdc00 && prev >= 0xd800 && prev <= 0xdbff);
      return paired ? c : "\ufffd";
    })).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    assert.equal(percentEncode(text), expected, JSON.stringify(text));
  }
});

Deno.test("countSecretMarkers() counts every ${secrets. occurrence", () => {
  assert.equal(countSecretMarkers(""), 0);
  assert.equal(countSecretMarkers("${secrets.A} and ${secrets.B}${secrets."), 3);
  assert.equal(countSecretMarkers("$secrets.A {secrets.A}"), 0);
});

Deno.test("renderJsonTemplate() renders every string and keeps the type of whole placeholders", () => {
  const r = renderJsonTemplate(
    fromJs({
      id: "${context.user.id}",
      label: "user ${context.user.id}",
      tags: "${context.user.tags}",
      nested: [{ mail: "${deps.fetch_user.email}" }, 1, true, null],
      "${context.user.id}": "keys stay",
      token: "${secrets.API_TOKEN}",
      literal: "$${context.user.id}",
    }),
    scope,
    "config.body",
  );
  assert.equal(r.failure, null);
  assert.deepEqual(toJs(r.value), {
    id: 42,
    label: "user 42",
    tags: ["a", "b"],
    nested: [{ mail: "ann@example.com" }, 1, true, null],
    "${context.user.id}": "keys stay",
    token: "${secrets.API_TOKEN}",
    literal: "${context.user.id}",
  });
  assert.equal(r.secrets, 1);
});

Deno.test("renderJsonTemplate() names the config path of a missing value", () => {
  const r = renderJsonTemplate(
    fromJs({ a: [{ "b c": "x ${context.nope}" }] }),
    scope,
    "config.body",
  );
  assert.equal(r.failure?.error?.code, "template_missing");
  assert.deepEqual(toJs(r.failure!.error!.details!), {
    field: 'config.body.a[0]["b c"]',
    path: "context.nope",
  });
});

Deno.test("renderJsonTemplate() refuses templates nested deeper than TEMPLATE_MAX_DEPTH", () => {
  let deep: unknown = "x";
  for (let i = 0; i <= TEMPLATE_MAX_DEPTH + 1; i++) deep = [deep];
  const r = renderJsonTemplate(fromJs(deep), scope, "config.body");
  assert.equal(r.failure?.error?.code, "template_invalid");
  let fine: unknown = "${context.user.id}";
  for (let i = 0; i < TEMPLATE_MAX_DEPTH; i++) fine = [fine];
  assert.equal(renderJsonTemplate(fromJs(fine), scope, "config.body").failure, null);
});

Deno.test("TemplateScope.of() treats absent envelope members as null", () => {
  const empty = TemplateScope.of(fromJs({}));
  const r = renderTemplate("${context.a}", empty, "config.url", ENCODE_NONE);
  assert.equal(r.failure?.error?.code, "template_missing");
  assert.match(r.failure!.error!.message, /context is null/);
  assert.equal(renderTemplate("${context}", empty, "f", ENCODE_NONE).text, "null");
});
