#!/usr/bin/env node
// `edgeshift` on the PATH (npm link / npx): runs the TypeScript CLI through tsx, no build step.
import { register } from "tsx/esm/api";
register();
await import("../cli/edgeshift.ts");
