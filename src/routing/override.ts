// PLACEHOLDER (owned by the plans/targeting work): tester override tokens, HMAC-signed with
// OVERRIDE_SECRET, carried in a header or cookie. WebCrypto runs only when a token is present.
export const OVERRIDE_HEADER = "x-edgeshift-override";
export const OVERRIDE_COOKIE = "edgeshift_override";

export type OverrideTarget = "canary" | "stable" | "blue" | "green";
export interface OverrideClaims {
  target: OverrideTarget;
  /** Unix seconds. */
  exp: number;
  /** Who it was minted for (shown in explain headers and logs). */
  sub?: string;
}

/** The claims of a valid, unexpired token; null for anything else (never throws). */
export async function verifyOverride(_token: string, _secret: string, _nowSeconds: number): Promise<OverrideClaims | null> {
  return null;
}
