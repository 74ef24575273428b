// Goals: what counts as a conversion for experiments (issue 12). Declared in the `flags` document
// beside the flags (src/model/flags.ts), so a goal costs no KV read of its own; documented in
// docs/storage-schema.md. Pure.
//
// A goal is one of two kinds:
// - a request pattern: `path` (exact, or a prefix ending in "*"), optionally `method` and `status`
//   (a class such as "2xx", or one code): "POST /checkout answered 2xx";
// - an origin signal: `signal`, a name the origin lists in its `x-edgeshift-goal` response header
//   (`x-edgeshift-goal: signup` or `signup, newsletter`), which edgeshift strips before the user
//   sees it (every `x-edgeshift-*` from the origin is: src/proxy/response-headers.ts).
import * as z from "../lib/zod";

export const GOAL_LIMITS = { goals: 20 } as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const goalKeySchema = z
  .string()
  .check(z.regex(NAME, 'a goal\'s key must be 1–64 letters, digits, ".", "_" or "-", e.g. "checkout"'));

const METHOD = /^[A-Z]{3,10}$/;
const STATUS_CLASS = /^[1-5]xx$/;

export const goalSchema = z
  .strictObject({
    description: z.optional(z.string().check(z.maxLength(500, "description may be at most 500 characters"))),
    method: z.optional(
      z.string().check(z.toUpperCase(), z.regex(METHOD, 'method must be an HTTP method such as "POST"')),
    ),
    path: z.optional(
      z
        .string()
        .check(
          z.regex(
            /^\/[^\s?#]{0,511}$/,
            'path must start with "/", without query or fragment, at most 512 characters: "/checkout", or a prefix such as "/checkout/*"',
          ),
        ),
    ),
    status: z.optional(
      z.union(
        [
          z.string().check(z.regex(STATUS_CLASS, 'status must be a class such as "2xx" or a code such as 201')),
          z.int().check(z.minimum(100), z.maximum(599)),
        ],
        { error: 'status must be a class such as "2xx" or a code such as 201' },
      ),
    ),
    signal: z.optional(goalKeySchema),
  })
  .check(
    z.superRefine((g, ctx) => {
      const pattern = g.path !== undefined || g.method !== undefined || g.status !== undefined;
      if (g.signal !== undefined && pattern)
        ctx.addIssue({
          code: "custom",
          message:
            "a goal is a request pattern (path, method, status) or an origin signal (signal), not both: split it into two goals",
        });
      else if (g.signal === undefined && g.path === undefined)
        ctx.addIssue({
          code: "custom",
          message:
            'a goal needs a path (e.g. {"method": "POST", "path": "/checkout", "status": "2xx"}) or a signal the origin sends (e.g. {"signal": "signup"})',
        });
    }),
  );
export type Goal = z.output<typeof goalSchema>;

export const goalsSchema = z._default(
  z
    .record(goalKeySchema, goalSchema)
    .check(
      z.refine(
        (g) => Object.keys(g).length <= GOAL_LIMITS.goals,
        `at most ${GOAL_LIMITS.goals} goals: each is counted per visitor in every report`,
      ),
    ),
  {},
);
