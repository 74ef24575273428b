// zod/mini, the tree-shakable build of zod, with the English messages the full build loads on its
// own. Import zod from here, never from "zod" or "zod/mini" directly: the full build was 764 KiB
// of the Worker's 966 KiB bundle (scripts/bench-bundle.ts), and mini without a locale says only
// "Invalid input" for every check that has no message of its own.
import { config } from "zod/mini";
// The one locale by name: `locales.en` from the namespace would pull every language into the bundle.
import { en } from "zod/locales";

config(en());

export * from "zod/mini";
