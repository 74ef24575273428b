/** The number after `--<name>` on the command line, or `fallback` when the flag is absent. */
export function numberFlag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value))
    throw new Error(`--${name} takes a number, got ${JSON.stringify(process.argv[i + 1])}: e.g. --${name} ${fallback}`);
  return value;
}
