// The `rollout` KV document: the one place an operator states what edgeshift should do.
// Pure module (no Workers imports) so the CLI's `validate` and the Worker share it.
// Every field is documented in docs/storage-schema.md; keep the two in step.
//
// Objects are strict so a typo ("precent") is reported instead of silently ignored, and
// nested objects use `z.prefault(…, {})` so their defaults apply when the object is omitted.
// Written with zod/mini (lib/zod.ts says why): functions and `.check(…)` rather than method chains.
import * as z from "../lib/zod";
import { parseCidr } from "../lib/cidr";
import { goalKeySchema } from "./goals";

export const SLOTS = ["blue", "green"] as const;
export type Slot = (typeof SLOTS)[number];
export const otherSlot = (s: Slot): Slot => (s === "blue" ? "green" : "blue");

const upperCase = z.toUpperCase();

/** Canary share is kept to 0.01 % resolution: that is what 10,000 buckets can express. */
export const percent = (what: string) =>
  z.pipe(
    z
      .number({ error: `${what} must be a number from 0 to 100` })
      .check(z.minimum(0, `${what} must be at least 0`), z.maximum(100, `${what} must be at most 100`)),
    z.transform((n: number) => Math.round(n * 100) / 100),
  );

/**
 * A share of requests written as a fraction, 0–1. The usual slip is a percent (5 meaning 5 %),
 * so the message converts the value that was given.
 */
const share = (what: string) => {
  const error = (issue: { input?: unknown }) => {
    const v = issue.input;
    const asShare =
      typeof v === "number" && v > 1 && v <= 100 ? `, so ${v} % is ${Number((v / 100).toPrecision(12))}` : "";
    return `${what} must be a share 0–1: 0.05 means 5 %${asShare}`;
  };
  return z.number({ error }).check(z.minimum(0, { error }), z.maximum(1, { error }));
};

/** Whole seconds in a range; one message for every way to miss it, since the range is the fix. */
const wholeSeconds = (what: string, min: number, max: number, example: number) => {
  const upTo = max % 86400 === 0 ? `${max} (${max / 86400} days)` : `${max}`;
  const error = `${what} must be whole seconds, ${min}–${upTo}, e.g. ${example}`;
  return z.int({ error }).check(z.minimum(min, error), z.maximum(max, error));
};

/** A whole count in a range; one message for every way to miss it. */
const wholeCount = (what: string, min: number, max: number, example: number, unit: string) => {
  const error = `${what} must be a whole number of ${unit}, ${min}–${max}, e.g. ${example}`;
  return z.int({ error }).check(z.minimum(min, error), z.maximum(max, error));
};

/** A multiple of stable's figure: 1 is "no worse than stable". */
const ratio = (what: string, of: string, example: number) =>
  z
    .number({ error: `${what} must be a number, at least 1: ${example} means ${example} × stable's ${of}` })
    .check(z.minimum(1, `${what} must be at least 1: ${example} means ${example} × stable's ${of}`));

/**
 * Labels that reach a header (`release` → x-edgeshift-release and the explain header, rule names
 * → the explain header) or sit beside them (`salt`). RFC 9110 §5.5 allows a field value of
 * visible characters with spaces and tabs between them; we allow visible ASCII (0x21–0x7E) with
 * spaces between them, nothing else: CR/LF/NUL make `Headers.set` throw ("Invalid
 * header value"), tabs and obs-text (0x80–0xFF) are legal but read differently by each client,
 * and characters above 0xFF cannot be sent at all (headers are byte strings).
 */
const LABEL = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
export const label = (what: string, max: number, example: string, where: string) => {
  const error = `${what} must be 1–${max} visible ASCII characters (letters, digits, punctuation; spaces only between them), e.g. "${example}": it ${where}, so line breaks, tabs and non-ASCII are not allowed`;
  return z.string({ error }).check(z.minLength(1, error), z.maxLength(max, error), z.regex(LABEL, error));
};

/** List lengths: each far above real use, each small enough that a list cannot crowd out the document. */
export const LIST_LIMITS = {
  headerValues: 1000,
  cidr: 1000,
  countries: 300,
  colos: 500,
  compareHeaders: 32,
  rules: 50,
  steps: 50,
  guardrails: 5,
} as const;
/** A header value longer than this is a token, not a group anyone targets (sticky keys over 1024 are ignored too). */
export const MAX_HEADER_VALUE_CHARS = 1024;

export const list = <T extends z.core.SomeType>(element: T, what: string, max: number, example: string) =>
  z.array(element).check(z.maxLength(max, `${what} may hold at most ${max} entries: ${example}`));

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerName = z
  .string()
  .check(z.regex(HEADER_NAME, "must be an HTTP header name such as x-user-id"), z.toLowerCase());

export const stickyBySchema = z
  .string({ error: 'stickyBy must be "cookie", "ip", "header:<name>" or "cookie:<name>"' })
  .check(
    z.refine(
      (s) =>
        s === "cookie" ||
        s === "ip" ||
        /^header:[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s) ||
        /^cookie:[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s),
      {
        message:
          'stickyBy must be "cookie", "ip", "header:<name>" (e.g. header:x-user-id) or "cookie:<name>" (e.g. cookie:session)',
      },
    ),
  );

/** Per-origin timeout: one number for both, or one per slot. */
const timeoutMs = z
  .int()
  .check(
    z.minimum(100, "timeoutMs must be at least 100 ms"),
    z.maximum(120_000, "timeoutMs must be at most 120000 ms"),
  );

export const rollbackSchema = z.strictObject({
  /** Canary error rate (0–1) above which the canary is rolled back. */
  maxErrorRate: z._default(share("maxErrorRate"), 0.05),
  /** Canary requests needed in the window before any judgement: no rollback on 3 errors out of 3. */
  minRequests: z._default(
    z
      .int({ error: "minRequests must be a whole number of requests, at least 1, e.g. 50" })
      .check(z.minimum(1, "minRequests must be a whole number of requests, at least 1, e.g. 50")),
    50,
  ),
  /** Length of the sliding window the rates are computed over. */
  windowSeconds: z._default(wholeSeconds("windowSeconds", 5, 3600, 60), 60),
  /**
   * Compare with stable in the same window so a shared outage (a common database, an upstream)
   * does not blame the canary: trip only if the canary's rate is at least `maxRatio` × stable's
   * AND exceeds it by at least `minDelta`. `false` judges the canary on `maxErrorRate` alone.
   */
  relative: z.prefault(
    z.union(
      [
        z.literal(false),
        z.strictObject({
          maxRatio: z._default(ratio("maxRatio", "error rate", 2), 2),
          minDelta: z._default(share("minDelta"), 0.02),
        }),
      ],
      { error: 'relative must be false (judge on maxErrorRate alone) or an object such as {"maxRatio": 2}' },
    ),
    {},
  ),
  /**
   * Latency rule on a percentile of the canary's answers. Trips when the canary's percentile is
   * above `maxMs` (absolute) or above stable's × `maxRatio` plus `minDeltaMs` (relative).
   */
  latency: z.prefault(
    z.union(
      [
        z.literal(false),
        z.strictObject({
          percentile: z._default(
            z.union([z.literal(50), z.literal(90), z.literal(95), z.literal(99)], {
              error: "percentile must be 50, 90, 95 or 99",
            }),
            99,
          ),
          maxMs: z.optional(
            z
              .number({ error: "maxMs must be milliseconds above 0, e.g. 800" })
              .check(z.positive("maxMs must be milliseconds above 0, e.g. 800")),
          ),
          maxRatio: z._default(ratio("maxRatio", "latency", 3), 3),
          minDeltaMs: z._default(
            z
              .number({ error: "minDeltaMs must be milliseconds, at least 0, e.g. 250" })
              .check(z.minimum(0, "minDeltaMs must be milliseconds, at least 0, e.g. 250")),
            250,
          ),
        }),
      ],
      { error: 'latency must be false (no latency rule) or an object such as {"percentile": 99, "maxMs": 800}' },
    ),
    {},
  ),
  /** Mirrored (shadow) answers that differ from stable's, as a share, above which the canary fails. */
  maxShadowMismatchRate: z._default(share("maxShadowMismatchRate"), 0.2),
  /**
   * "enforce" rolls back; "observe" judges and records what it would have done (event
   * "would-roll-back", webhook, status) and changes nothing. docs/verdict.md.
   */
  mode: z._default(
    z.enum(["enforce", "observe"], {
      error: 'mode must be "enforce" (roll back) or "observe" (record what would be done, change nothing)',
    }),
    "enforce",
  ),
  /**
   * The quorum (docs/verdict.md): no rule trips until failures come from at least `minVisitors`
   * distinct visitors on at least `minNetworks` distinct networks (IPv4 /24, IPv6 /48).
   */
  minVisitors: z._default(wholeCount("minVisitors", 1, 10_000, 5, "failing visitors"), 5),
  minNetworks: z._default(wholeCount("minNetworks", 1, 1000, 2, "networks (IPv4 /24, IPv6 /48)"), 2),
  /** Requests one visitor can weigh in the window (its error rate kept): padding buys nothing beyond it. */
  perVisitorCap: z._default(wholeCount("perVisitorCap", 1, 100_000, 10, "requests per visitor"), 10),
  /** Weighted requests one network can weigh in the window: minting visitor ids from one address buys nothing. */
  perNetworkCap: z._default(wholeCount("perNetworkCap", 1, 1_000_000, 50, "requests per network"), 50),
  /** Confidence of the sequential canary-vs-stable test on the failing-visitor share: 0.99 is α = 1 %. */
  confidence: z._default(
    z
      .number({ error: "confidence must be a number from 0.8 to 0.9999, e.g. 0.99 (a 1 % false-positive rate)" })
      .check(
        z.minimum(0.8, "confidence must be at least 0.8, e.g. 0.99 (a 1 % false-positive rate)"),
        z.maximum(0.9999, "confidence must be at most 0.9999, e.g. 0.99 (a 1 % false-positive rate)"),
      ),
    0.99,
  ),
});
export type RollbackRules = z.output<typeof rollbackSchema>;

const THIRTY_DAYS = 30 * 86400;

/**
 * What an approval step does when nobody approves within `approveTimeoutSeconds` (README "Staged
 * plans"). "wait" is the default: silence is not a decision, so the plan records the timeout (event,
 * webhook) and keeps waiting; "rollback" and "promote" (the step taken as approved) must be chosen.
 */
export const ON_TIMEOUT = ["wait", "rollback", "promote"] as const;
export type OnTimeout = (typeof ON_TIMEOUT)[number];

/**
 * One plan step: a bare percent (held `stepSeconds`), or an object with its own hold time and,
 * with `approve: true`, a person's approval (`edgeshift approve`) before the plan goes on.
 */
const stepSchema = z.union(
  [
    percent("a step"),
    z
      .strictObject({
        percent: percent("a step's percent"),
        seconds: z.optional(wholeSeconds("seconds", 1, THIRTY_DAYS, 600)),
        approve: z.optional(
          z.boolean({ error: "approve must be true (wait for `edgeshift approve` after the hold) or false" }),
        ),
        approveTimeoutSeconds: z.optional(wholeSeconds("approveTimeoutSeconds", 1, THIRTY_DAYS, 3600)),
        onTimeout: z.optional(
          z.enum(ON_TIMEOUT, {
            error:
              'onTimeout must be "wait" (record the timeout, keep waiting), "rollback" or "promote" (go on as if approved)',
          }),
        ),
      })
      .check(
        z.superRefine((s, ctx) => {
          if (s.approve !== true && (s.approveTimeoutSeconds !== undefined || s.onTimeout !== undefined))
            ctx.addIssue({
              code: "custom",
              path: [s.approveTimeoutSeconds !== undefined ? "approveTimeoutSeconds" : "onTimeout"],
              message: `${s.approveTimeoutSeconds !== undefined ? "approveTimeoutSeconds" : "onTimeout"} applies only to a step with "approve": true: add it, e.g. {"percent": ${s.percent}, "approve": true, "approveTimeoutSeconds": ${s.approveTimeoutSeconds ?? 3600}}`,
            });
          else if (s.onTimeout !== undefined && s.approveTimeoutSeconds === undefined)
            ctx.addIssue({
              code: "custom",
              path: ["onTimeout"],
              message: `onTimeout needs approveTimeoutSeconds (without it the step waits for approval however long it takes), e.g. {"percent": ${s.percent}, "approve": true, "approveTimeoutSeconds": 3600, "onTimeout": "${s.onTimeout}"}`,
            });
        }),
      ),
  ],
  {
    error:
      'a step must be a percent 0–100 such as 25, or an object such as {"percent": 25, "seconds": 600} or {"percent": 50, "approve": true}',
  },
);

// Parsed by the same code that matches requests (lib/cidr.ts), so what validates is what matches.
const cidr = z.string({ error: "must be an IP address or CIDR range such as 203.0.113.0/24 or 2001:db8::/32" }).check(
  z.maxLength(64, "must be an IP address or CIDR range such as 203.0.113.0/24 (at most 64 characters)"),
  z.superRefine((s, ctx) => {
    const p = parseCidr(s);
    if (!p.ok) ctx.addIssue({ code: "custom", message: p.message });
  }),
);

const country = z.string().check(z.length(2, "must be a two-letter country code such as NZ"), upperCase);
const colo = z
  .string()
  .check(
    z.minLength(3, "must be a colo code such as AKL"),
    z.maxLength(4, "must be a colo code such as AKL"),
    upperCase,
  );
const countries = list(country, "a country list", LIST_LIMITS.countries, "there are fewer countries than that");
const colos = list(colo, "a colo list", LIST_LIMITS.colos, "there are fewer Cloudflare colos than that");
const headerValue = z
  .string()
  .check(
    z.maxLength(
      MAX_HEADER_VALUE_CHARS,
      `a header value to match must be at most ${MAX_HEADER_VALUE_CHARS} characters: match a short group value such as "1" or "beta"`,
    ),
  );

/**
 * What a targeting rule matches on (all given must match); shared by the rollout's rules and a
 * flag's (src/model/flags.ts), so both match requests the same way (src/routing/targeting.ts).
 */
export const ruleConditions = {
  header: z.optional(
    z.strictObject({
      name: headerName,
      values: list(
        headerValue,
        "header.values",
        LIST_LIMITS.headerValues,
        'target a group your app sets ("x-beta: 1") rather than listing every user',
      ).check(z.minLength(1)),
    }),
  ),
  cidr: z.optional(
    list(cidr, "cidr", LIST_LIMITS.cidr, "merge addresses into wider ranges such as 203.0.113.0/24").check(
      z.minLength(1),
    ),
  ),
  country: z.optional(countries.check(z.minLength(1))),
  colo: z.optional(colos.check(z.minLength(1))),
};

/** A rule's name: it is sent in the explain header. */
export const ruleName = z.optional(
  label("a rule's name", 64, "beta-testers", "is sent in the x-edgeshift-explain header"),
);

/** A rule must say what it matches: one refinement for the rollout's rules and the flags'. */
export const hasCondition = z.refine<{ header?: unknown; cidr?: unknown; country?: unknown; colo?: unknown }>(
  (r) => r.header !== undefined || r.cidr !== undefined || r.country !== undefined || r.colo !== undefined,
  { message: "a rule needs at least one of header, cidr, country, colo" },
);

/** Targeting: requests that match any rule go to `slot` before percentages are looked at. */
export const ruleSchema = z
  .strictObject({
    name: ruleName,
    slot: z._default(z.enum(["canary", "stable"]), "canary"),
    ...ruleConditions,
  })
  .check(hasCondition);
export type TargetingRule = z.output<typeof ruleSchema>;

/** Written only by the controller when it rolls the canary back; shown by `wrangler kv key get`. */
export const rolledBackSchema = z.looseObject({
  at: z.string(),
  reason: z.string(),
  release: z.optional(z.string()),
  by: z.optional(z.string()),
  figures: z.optional(z.record(z.string(), z.unknown())),
});

export const rolloutSchema = z
  .strictObject({
    /** The canary's share of traffic, 0–100. Missing: 0, everyone on stable. */
    percent: z._default(percent("percent"), 0),
    /** Which slot is the canary; the other is stable. Flips on promotion. */
    canary: z._default(z.enum(SLOTS, { error: 'canary must be "green" or "blue"' }), "green"),
    stickyBy: z._default(stickyBySchema, "cookie"),
    /** Label of the canary build, shown in status and logs and sent to the origin (so header-safe: `label`). */
    release: z.optional(label("release", 128, "v2.3.1", "is sent in the x-edgeshift-release header")),
    /** Bucketing salt. Default: `release`, so each release samples a different population. */
    salt: z.optional(
      z.union([z.literal(""), label("salt", 128, "checkout-2026", "is a label like release (its default)")], {
        error:
          'salt must be "" or 1–128 visible ASCII characters (letters, digits, punctuation; spaces only between them), e.g. "checkout-2026"',
      }),
    ),
    /**
     * Bump to retry a rolled-back release with an otherwise identical document. (Any change to
     * the document is a new attempt; a byte-identical copy is indistinguishable from a stale one.)
     */
    attempt: z.optional(z.int().check(z.minimum(0))),
    timeoutMs: z._default(
      z.union([timeoutMs, z.strictObject({ blue: z.optional(timeoutMs), green: z.optional(timeoutMs) })], {
        error: 'timeoutMs must be whole milliseconds 100–120000, or one per slot such as {"green": 2000}',
      }),
      10_000,
    ),
    rollback: z.prefault(
      z.union([z.literal(false), rollbackSchema], {
        error: 'rollback must be false (no automatic rollback) or an object such as {"maxErrorRate": 0.05}',
      }),
      {},
    ),
    rolledBack: z.optional(rolledBackSchema),
    /** Staged plan: ascending percents; each held `stepSeconds` (or its own `seconds`) while healthy. */
    steps: z.optional(
      list(stepSchema, "steps", LIST_LIMITS.steps, "a plan of a few steps such as [1, 5, 25, 50, 100]").check(
        z.minLength(1),
      ),
    ),
    stepSeconds: z._default(wholeSeconds("stepSeconds", 1, THIRTY_DAYS, 300), 300),
    /** After the last step has held healthy, promote automatically (roles swap, percent 0). */
    autoPromote: z._default(z.boolean(), true),
    rules: z._default(
      list(ruleSchema, "rules", LIST_LIMITS.rules, "put several values in one rule's list instead"),
      [],
    ),
    /** Share (0–100) of stable's GET/HEAD requests mirrored to the canary in the background. */
    shadowPercent: z._default(percent("shadowPercent"), 0),
    shadow: z.prefault(
      z.strictObject({
        /** Response headers compared between stable and the mirrored canary answer. */
        compareHeaders: z._default(
          list(headerName, "compareHeaders", LIST_LIMITS.compareHeaders, "compare the few headers that matter"),
          ["content-type"],
        ),
        compareBody: z._default(z.boolean(), true),
        /** Bodies larger than this are not hashed (counted as "not compared"). */
        maxBodyBytes: z._default(z.int().check(z.minimum(0), z.maximum(10 * 1024 * 1024)), 256 * 1024),
      }),
      {},
    ),
    /** Per-location staging: if set, only requests from these colos/countries may reach the canary. */
    locations: z.optional(z.strictObject({ colos: z.optional(colos), countries: z.optional(countries) })),
    /** Sample-ratio check: pause a plan when the observed canary share of new visitors drifts from `percent`. */
    sampleRatioCheck: z._default(z.boolean(), true),
    /**
     * Goals (declared in the `flags` document) the canary must not make worse by more than
     * `maxDrop` points of conversion: a plan step waits until that is shown, and a drop shown beyond
     * it rolls back (src/experiments/guardrails.ts).
     */
    guardrails: z.optional(
      z
        .record(
          goalKeySchema,
          z.strictObject({
            maxDrop: share("maxDrop"),
          }),
        )
        .check(
          z.refine(
            (g) => Object.keys(g).length <= LIST_LIMITS.guardrails,
            `at most ${LIST_LIMITS.guardrails} guardrails: keep the goals that must not drop, e.g. {"checkout": {"maxDrop": 0.01}}`,
          ),
        ),
    ),
  })
  .check(
    z.superRefine((doc, ctx) => {
      if (doc.steps) {
        const ps = doc.steps.map((s) => (typeof s === "number" ? s : s.percent));
        for (let i = 1; i < ps.length; i++) {
          if (ps[i] <= ps[i - 1]) {
            ctx.addIssue({
              code: "custom",
              path: ["steps", i],
              message: `steps must be strictly ascending: ${ps[i]} follows ${ps[i - 1]} (e.g. [1, 5, 25, 50, 100])`,
            });
          }
        }
      }
    }),
  );

export type RolloutInput = z.input<typeof rolloutSchema>;
export type Rollout = z.output<typeof rolloutSchema>;

/** The config every isolate starts with and falls back to: everyone on stable (blue). */
export const ALL_STABLE: Rollout = rolloutSchema.parse({});

/** A step's approval: how long a person has, null for no limit, and what happens then. */
export interface StepApproval {
  timeoutSeconds: number | null;
  onTimeout: OnTimeout;
}

/** Percent, hold time and approval (absent: none) of step `i`, whatever form it was written in. */
export function stepAt(doc: Rollout, i: number): { percent: number; seconds: number; approve?: StepApproval } {
  const s = doc.steps![i];
  if (typeof s === "number") return { percent: s, seconds: doc.stepSeconds };
  const base = { percent: s.percent, seconds: s.seconds ?? doc.stepSeconds };
  return s.approve
    ? { ...base, approve: { timeoutSeconds: s.approveTimeoutSeconds ?? null, onTimeout: s.onTimeout ?? "wait" } }
    : base;
}
