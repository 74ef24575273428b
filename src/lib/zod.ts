// zod/mini, the tree-shakable build of zod, with the English messages the full build loads on its
// own. The Worker's code imports zod from here, never "zod" (the full build was 764 KiB of the
// 966 KiB bundle every new isolate parses; scripts/bench-bundle.ts) nor "zod/mini" (without a
// locale, every check that has no message of its own says only "Invalid input"). The CLI runs in
// Node, where size does not matter, and keeps the full build.
import { config } from "zod/mini";
// The one locale by name: `locales.en` from the namespace would pull every language into the bundle.
import { en } from "zod/locales";

config(en());

export * from "zod/mini";
