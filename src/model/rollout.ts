// The `rollout` KV document: the one place an operator states what edgeshift should do.
// Pure module (no Workers imports) so the CLI's `validate` and the Worker share it.
// Every field is documented in docs/storage-schema.md; keep the two in step.
//
// Objects are strict so a typo ("precent") is reported instead of silently ignored, and
// nested objects use `.prefault({})` so their defaults apply when the object is omitted.
import { z } from "zod";
import { parseCidr } from "../lib/cidr";

export const SLOTS = ["blue", "green"] as const;
export type Slot = (typeof SLOTS)[number];
export const otherSlot = (s: Slot): Slot => (s === "blue" ? "green" : "blue");

/** Canary share is kept to 0.01 % resolution: that is what 10,000 buckets can express. */
const percent = (what: string) =>
  z
    .number({ error: `${what} must be a number from 0 to 100` })
    .min(0, `${what} must be at least 0`)
    .max(100, `${what} must be at most 100`)
    .transform((n) => Math.round(n * 100) / 100);

const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be an HTTP header name such as x-user-id")
  .transform((s) => s.toLowerCase());

export const stickyBySchema = z
  .string({ error: 'stickyBy must be "cookie", "ip", "header:<name>" or "cookie:<name>"' })
  .refine(
    (s) =>
      s === "cookie" ||
      s === "ip" ||
      /^header:[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s) ||
      /^cookie:[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s),
    {
      message:
        'stickyBy must be "cookie", "ip", "header:<name>" (e.g. header:x-user-id) or "cookie:<name>" (e.g. cookie:session)',
    },
  );

/** Per-origin timeout: one number for both, or one per slot. */
const timeoutMs = z
  .number()
  .int()
  .min(100, "timeoutMs must be at least 100 ms")
  .max(120_000, "timeoutMs must be at most 120000 ms");

export const rollbackSchema = z.strictObject({
  /** Canary error rate (0–1) above which the canary is rolled back. */
  maxErrorRate: z.number().min(0).max(1).default(0.05),
  /** Canary requests needed in the window before any judgement: no rollback on 3 errors out of 3. */
  minRequests: z.number().int().min(1).default(50),
  /** Length of the sliding window the rates are computed over. */
  windowSeconds: z.number().int().min(5).max(3600).default(60),
  /**
   * Compare with stable in the same window so a shared outage (a common database, an upstream)
   * does not blame the canary: trip only if the canary's rate is at least `maxRatio` × stable's
   * AND exceeds it by at least `minDelta`. `false` judges the canary on `maxErrorRate` alone.
   */
  relative: z
    .union([
      z.literal(false),
      z.strictObject({
        maxRatio: z.number().min(1).default(2),
        minDelta: z.number().min(0).max(1).default(0.02),
      }),
    ])
    .prefault({}),
  /**
   * Latency rule on a percentile of the canary's answers. Trips when the canary's percentile is
   * above `maxMs` (absolute) or above stable's × `maxRatio` plus `minDeltaMs` (relative).
   */
  latency: z
    .union([
      z.literal(false),
      z.strictObject({
        percentile: z.union([z.literal(50), z.literal(90), z.literal(95), z.literal(99)]).default(99),
        maxMs: z.number().positive().optional(),
        maxRatio: z.number().min(1).default(3),
        minDeltaMs: z.number().min(0).default(250),
      }),
    ])
    .prefault({}),
  /** Mirrored (shadow) answers that differ from stable's, as a share, above which the canary fails. */
  maxShadowMismatchRate: z.number().min(0).max(1).default(0.2),
});
export type RollbackRules = z.output<typeof rollbackSchema>;

/** One plan step: a bare percent (held `stepSeconds`), or a percent with its own hold time. */
const stepSchema = z.union([
  percent("a step"),
  z.strictObject({
    percent: percent("a step's percent"),
    seconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86400),
  }),
]);

// Parsed by the same code that matches requests (lib/cidr.ts), so what validates is what matches.
const cidr = z
  .string({ error: "must be an IP address or CIDR range such as 203.0.113.0/24 or 2001:db8::/32" })
  .superRefine((s, ctx) => {
    const p = parseCidr(s);
    if (!p.ok) ctx.addIssue({ code: "custom", message: p.message });
  });

/** Targeting: requests that match any rule go to `slot` before percentages are looked at. */
export const ruleSchema = z
  .strictObject({
    name: z.string().max(64).optional(),
    slot: z.enum(["canary", "stable"]).default("canary"),
    header: z.strictObject({ name: headerName, values: z.array(z.string()).min(1) }).optional(),
    cidr: z.array(cidr).min(1).optional(),
    country: z
      .array(
        z
          .string()
          .length(2)
          .transform((s) => s.toUpperCase()),
      )
      .min(1)
      .optional(),
    colo: z
      .array(
        z
          .string()
          .min(3)
          .max(4)
          .transform((s) => s.toUpperCase()),
      )
      .min(1)
      .optional(),
  })
  .refine((r) => r.header || r.cidr || r.country || r.colo, {
    message: "a rule needs at least one of header, cidr, country, colo",
  });
export type TargetingRule = z.output<typeof ruleSchema>;

/** Written only by the controller when it rolls the canary back; shown by `wrangler kv key get`. */
export const rolledBackSchema = z
  .object({
    at: z.string(),
    reason: z.string(),
    release: z.string().optional(),
    by: z.string().optional(),
    figures: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

export const rolloutSchema = z
  .strictObject({
    /** The canary's share of traffic, 0–100. Missing: 0, everyone on stable. */
    percent: percent("percent").default(0),
    /** Which slot is the canary; the other is stable. Flips on promotion. */
    canary: z.enum(SLOTS, { error: 'canary must be "green" or "blue"' }).default("green"),
    stickyBy: stickyBySchema.default("cookie"),
    /** Free-form label of the canary build, shown in status and logs. */
    release: z.string().min(1).max(128).optional(),
    /** Bucketing salt. Default: `release`, so each release samples a different population. */
    salt: z.string().max(128).optional(),
    /**
     * Bump to retry a rolled-back release with an otherwise identical document. (Any change to
     * the document is a new attempt; a byte-identical copy is indistinguishable from a stale one.)
     */
    attempt: z.number().int().min(0).optional(),
    timeoutMs: z
      .union([timeoutMs, z.strictObject({ blue: timeoutMs.optional(), green: timeoutMs.optional() })])
      .default(10_000),
    rollback: z.union([z.literal(false), rollbackSchema]).prefault({}),
    rolledBack: rolledBackSchema.optional(),
    /** Staged plan: ascending percents; each held `stepSeconds` (or its own `seconds`) while healthy. */
    steps: z.array(stepSchema).min(1).max(50).optional(),
    stepSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86400)
      .default(300),
    /** After the last step has held healthy, promote automatically (roles swap, percent 0). */
    autoPromote: z.boolean().default(true),
    rules: z.array(ruleSchema).max(50).default([]),
    /** Share (0–100) of stable's GET/HEAD requests mirrored to the canary in the background. */
    shadowPercent: percent("shadowPercent").default(0),
    shadow: z
      .strictObject({
        /** Response headers compared between stable and the mirrored canary answer. */
        compareHeaders: z.array(headerName).default(["content-type"]),
        compareBody: z.boolean().default(true),
        /** Bodies larger than this are not hashed (counted as "not compared"). */
        maxBodyBytes: z
          .number()
          .int()
          .min(0)
          .max(10 * 1024 * 1024)
          .default(256 * 1024),
      })
      .prefault({}),
    /** Per-location staging: if set, only requests from these colos/countries may reach the canary. */
    locations: z
      .strictObject({
        colos: z
          .array(
            z
              .string()
              .min(3)
              .max(4)
              .transform((s) => s.toUpperCase()),
          )
          .optional(),
        countries: z
          .array(
            z
              .string()
              .length(2)
              .transform((s) => s.toUpperCase()),
          )
          .optional(),
      })
      .optional(),
    /** Sample-ratio check: pause a plan when the observed canary share of new visitors drifts from `percent`. */
    sampleRatioCheck: z.boolean().default(true),
  })
  .superRefine((doc, ctx) => {
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
  });

export type RolloutInput = z.input<typeof rolloutSchema>;
export type Rollout = z.output<typeof rolloutSchema>;

/** The config every isolate starts with and falls back to: everyone on stable (blue). */
export const ALL_STABLE: Rollout = rolloutSchema.parse({});

/** Percent and hold time of step `i`, whatever form it was written in. */
export function stepAt(doc: Rollout, i: number): { percent: number; seconds: number } {
  const s = doc.steps![i];
  return typeof s === "number" ? { percent: s, seconds: doc.stepSeconds } : s;
}
