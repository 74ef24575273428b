import { execFileSync } from "node:child_process";
import { expect, it } from "vitest";
import { shellWord } from "../../cli/shell-word";

it("leaves safe words alone and quotes the rest so that sh reads each back as one word", () => {
  expect(shellWord("/tmp/edgeshift-dev-Ab3x")).toBe("/tmp/edgeshift-dev-Ab3x");
  expect(shellWord("--persist-to")).toBe("--persist-to");
  expect(shellWord("/Users/a b/T/x")).toBe("'/Users/a b/T/x'");
  for (const word of ["/Users/a b/T/x", "it's", `{"on":false}`, "$HOME `x` \\ * ;", ""]) {
    // printf repeats its format for every word it gets: one pair of brackets is one word.
    const out = execFileSync("sh", ["-c", `printf '[%s]' ${shellWord(word)}`], { encoding: "utf8" });
    expect(out).toBe(`[${word}]`);
  }
});
