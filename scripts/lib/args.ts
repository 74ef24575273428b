/** The number after `--<name>` on the command line, or `fallback` when the flag is absent. */
export function numberFlag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value))
    throw new Error(`--${name} takes a number, got ${JSON.stringify(process.argv[i + 1])}: e.g. --${name} ${fallback}`);
  return value;
}

/** The word after `--<name>`, one of `choices`, or `fallback` when the flag is absent. */
export function choiceFlag<C extends string>(name: string, choices: readonly C[], fallback: C): C {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = process.argv[i + 1];
  if (!(choices as readonly string[]).includes(value))
    throw new Error(
      `--${name} takes one of ${choices.join(", ")}, got ${JSON.stringify(value)}: e.g. --${name} ${fallback}`,
    );
  return value as C;
}

/** The word after `--<name>`, or `fallback` when the flag is absent. */
export function stringFlag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith("--")) throw new Error(`--${name} takes a value, e.g. --${name} HEAD~1`);
  return value;
}
