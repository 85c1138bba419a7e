// Records every content-security-policy violation of the page in
// `window.__keshiCsp`. The end-to-end tests read it and fail on any entry: a blocked
// inline style or handler does nothing visible (that is how the progress bars
// stayed full), so it must fail loudly somewhere. Harmless in releases: it only
// records what the browser already refused.

export interface CspViolation {
  directive: string;
  blocked: string;
  source: string;
  line: number;
  sample: string;
}

declare global {
  interface Window {
    __keshiCsp: CspViolation[];
  }
}

const seen: CspViolation[] = [];
window.__keshiCsp = seen;
document.addEventListener("securitypolicyviolation", (e) => {
  const v = {
    directive: e.effectiveDirective || e.violatedDirective,
    blocked: e.blockedURI,
    source: e.sourceFile,
    line: e.lineNumber,
    sample: e.sample,
  };
  seen.push(v);
  console.warn("CSP violation", v);
});
