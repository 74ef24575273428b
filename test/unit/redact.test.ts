// Text from outside on its way to a status or a terminal (src/lib/redact.ts).
import { expect, it } from "vitest";
import { redacted } from "../../src/lib/redact";

it("replaces every occurrence of each secret and drops control characters", () => {
  const url = "https://hooks.slack.com/services/T0/B0/abcdef";
  expect(redacted(`fetch ${url} failed; retry ${url}`, [url])).toBe("fetch <secret> failed; retry <secret>");
  expect(redacted("bad\u001b]8;;https://x\u0007link\r\nnext", [])).toBe("bad ]8;;https://x link next");
  expect(redacted("nothing secret here", ["s3cr3t-value"])).toBe("nothing secret here");
});
