// The script of the page test/e2e/ofrep-browser.test.ts opens through edgeshift, bundled for the
// browser by esbuild at test time: the official web SDK with the OFREP web provider, set up as an
// app's front end would, writing what it resolves into #sdk as JSON at start and after every change
// the provider's polling reports; a failure goes to #error, so the test can say what went wrong.
import { OpenFeature, ProviderEvents, type EvaluationDetails, type FlagValue } from "@openfeature/web-sdk";
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";

// The Node project checking this file has no DOM types; a `lib="dom"` reference here would give
// them to every file it checks. This is all the page touches.
declare const document: { getElementById(id: string): { textContent: string | null } };
declare const location: { origin: string };

const provider = new OFREPWebProvider({
  baseUrl: location.origin + "/__edgeshift",
  // Polling is off by default. Short, for a test: the Worker's KV cache is the slower part anyway.
  pollInterval: 300,
});

let renders = 0;

function render() {
  const client = OpenFeature.getClient();
  const shown = ({ value, variant, reason, errorCode }: EvaluationDetails<FlagValue>) => ({
    value,
    variant,
    reason,
    errorCode,
  });
  document.getElementById("sdk").textContent = JSON.stringify({
    renders: ++renders,
    details: {
      "new-checkout": shown(client.getBooleanDetails("new-checkout", false)),
      theme: shown(client.getStringDetails("theme", "code-default")),
      "max-items": shown(client.getNumberDetails("max-items", -1)),
      limits: shown(client.getObjectDetails("limits", {})),
      "secret-launch": shown(client.getBooleanDetails("secret-launch", false)),
    },
    /** What the last bulk evaluation returned, beside what the SDK makes of a missing key. */
    bulk: Object.keys(provider.flagCache).sort(),
  });
}

try {
  // Someone else's key on purpose: a browser is evaluated as its own visitor, whatever it claims.
  await OpenFeature.setProviderAndWait(provider, { targetingKey: "someone-else" });
  render();
  OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, render);
} catch (e) {
  document.getElementById("error").textContent = String((e as Error)?.stack ?? e);
}
