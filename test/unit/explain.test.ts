// The x-edgeshift-explain header's pure parts, in Node (WebCrypto is global in Node ≥ 19). The
// header on a real response is tested in workerd: test/worker/explain.test.ts.
import { describe, expect, it } from "vitest";
import { rolloutSchema } from "../../src/model/rollout";
import { EXPLAIN_HEADER, explainValue, type ExplainFacts } from "../../src/proxy/explain";
import { explainRequested } from "../../src/worker/credentials";
import { compileRouting, decide } from "../../src/routing/decide";

const TOKEN = "s3cret-admin-token-0123456789abcdef";
const asking = (value: string) => new Headers({ [EXPLAIN_HEADER]: value });

describe("explainRequested", () => {
  const env = { ADMIN_TOKEN: TOKEN };
  // Each case from its own address: wrong tokens are counted per address (credentials.ts).
  let ip = 0;
  const from = (value: string) => {
    const h = asking(value);
    h.set("cf-connecting-ip", `192.0.2.${++ip}`);
    return h;
  };

  it("is true only for the exact ADMIN_TOKEN", async () => {
    expect(await explainRequested(from(TOKEN), env)).toBe(true);
    for (const wrong of ["", "wrong", TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase()])
      expect(await explainRequested(from(wrong), env), JSON.stringify(wrong)).toBe(false);
  });

  it("is false without the header", async () => {
    expect(await explainRequested(new Headers(), env)).toBe(false);
  });

  it("is off when ADMIN_TOKEN is unset, empty or too short, whatever the request sends", async () => {
    expect(await explainRequested(from(""), {})).toBe(false);
    expect(await explainRequested(from(""), { ADMIN_TOKEN: "" })).toBe(false);
    expect(await explainRequested(from("anything"), {})).toBe(false);
    expect(await explainRequested(from("short-token"), { ADMIN_TOKEN: "short-token" })).toBe(false);
  });
});

describe("explainValue", () => {
  const facts = (over: Partial<ExplainFacts> & { percent?: number; rules?: unknown[] } = {}): ExplainFacts => {
    const { percent = 100, rules, ...rest } = over;
    const c = compileRouting(rolloutSchema.parse({ percent, release: "v2.4.0", rules }), "fp", "kv");
    const decision = decide(c, "visitor-1", null, {
      headers: new Headers({ "x-beta": "1" }),
      ip: null,
      country: null,
      colo: null,
    });
    return {
      decision,
      threshold: c.threshold,
      release: c.doc.release,
      source: "kv",
      failover: null,
      answeredBy: decision.slot,
      ...rest,
    };
  };

  it("names the slot, role, reason, bucket, threshold, release and source", () => {
    const f = facts();
    expect(explainValue(f)).toBe(
      `slot=green; role=canary; reason=bucket; bucket=${f.decision.bucket}; threshold=10000; release=v2.4.0; source=kv`,
    );
  });

  it("adds the rule that matched", () => {
    const f = facts({
      percent: 0,
      rules: [{ name: "beta-testers", slot: "canary", header: { name: "x-beta", values: ["1"] } }],
    });
    expect(f.decision.reason).toBe("rule");
    expect(explainValue(f)).toMatch(/; reason=rule; .*; rule=beta-testers$/);
  });

  it("after a failover, says who answered and why, beside the decision", () => {
    const f = facts({ failover: "green->blue status=500", answeredBy: "blue", source: "controller" });
    expect(explainValue(f)).toMatch(
      /^slot=blue; role=canary; reason=bucket; .*; source=controller; failover=green->blue status=500$/,
    );
  });

  it("leaves release empty when the document has none", () => {
    expect(explainValue(facts({ release: undefined }))).toContain("; release=; ");
  });
});
