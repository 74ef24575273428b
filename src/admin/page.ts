// PLACEHOLDER (owned by the operator-experience work): the status page. Plain HTML/CSS/inline SVG,
// no build step; it reads the token from the URL fragment or a form and calls the JSON API.
export function statusPageHtml(): string {
  return "<!doctype html><title>edgeshift</title><p>status page coming</p>";
}
