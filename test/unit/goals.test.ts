// Goals (src/model/goals.ts, src/experiments/goals.ts): declared beside the flags, validated with
// errors that say the fix, matched against a request's method, path, status and the origin's signal.
import { describe, expect, it } from "vitest";
import { parseFlags } from "../../src/model/parse";
import { compileGoals, goalsReached } from "../../src/experiments/goals";

const parse = (goals: unknown) => parseFlags(JSON.stringify({ flags: {}, goals }));
const compiled = (goals: unknown) => {
  const r = parse(goals);
  if (!r.ok) throw new Error(r.summary);
  return compileGoals(r.doc.goals);
};

describe("the goals field of the flags document", () => {
  it("is optional, and a request pattern or an origin signal", () => {
    const r = parseFlags(JSON.stringify({ flags: {} }));
    expect(r.ok && r.doc.goals).toEqual({});
    expect(
      parse({ checkout: { method: "post", path: "/checkout", status: "2xx" }, signup: { signal: "signup" } }).ok,
    ).toBe(true);
  });

  it.each([
    [{ g: {} }, "a goal needs a path"],
    [{ g: { path: "/a", signal: "x" } }, "not both"],
    [{ g: { path: "checkout" } }, 'path must start with "/"'],
    [{ g: { path: "/a", status: "2xxx" } }, 'status must be a class such as "2xx"'],
    [{ g: { path: "/a", method: "po st" } }, "method must be an HTTP method"],
    [{ "bad key": { path: "/a" } }, "a goal's key must be"],
  ])("%j says %s", (goals, message) => {
    const r = parse(goals);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.summary).toContain(message);
  });

  it("refuses more than 20 goals", () => {
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`g${i}`, { path: `/p${i}` }]));
    const r = parse(many);
    expect(!r.ok && r.summary).toContain("at most 20 goals");
  });
});

describe("which goals a request reached", () => {
  const c = compiled({
    checkout: { method: "POST", path: "/checkout", status: "2xx" },
    "any-product": { path: "/products/*" },
    created: { path: "/orders", status: 201 },
    signup: { signal: "signup" },
    newsletter: { signal: "newsletter" },
  });

  it("matches method, exact path or prefix, status class or code", () => {
    expect(goalsReached(c, "POST", "/checkout", 200, null)).toEqual(["checkout"]);
    expect(goalsReached(c, "GET", "/checkout", 200, null)).toEqual([]);
    expect(goalsReached(c, "POST", "/checkout", 502, null)).toEqual([]);
    expect(goalsReached(c, "POST", "/checkout/x", 200, null)).toEqual([]);
    expect(goalsReached(c, "GET", "/products/42", 404, null)).toEqual(["any-product"]);
    expect(goalsReached(c, "POST", "/orders", 201, null)).toEqual(["created"]);
    expect(goalsReached(c, "POST", "/orders", 200, null)).toEqual([]);
    expect(goalsReached(c, "POST", "/checkout", null, null)).toEqual([]);
  });

  it("reads the origin's signals, one or a list", () => {
    expect(c.readsSignal).toBe(true);
    expect(goalsReached(c, "GET", "/", 200, "signup")).toEqual(["signup"]);
    expect(goalsReached(c, "GET", "/", 200, "newsletter, signup")).toEqual(["signup", "newsletter"]);
    expect(goalsReached(c, "GET", "/", 200, "signups")).toEqual([]);
    expect(compiled({ a: { path: "/a" } }).readsSignal).toBe(false);
  });
});
