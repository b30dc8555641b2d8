/**
 * A PromQL string literal of any text. PromQL strings follow Go's string literal rules
 * (prometheus/prometheus `promql/parser/lex.go`): inside double quotes, `\` and `"` are escaped and
 * control characters are written as escapes, so a label value such as `a"} or vector(1) #` stays one
 * value instead of ending the matcher. Lone UTF-16 surrogates (not valid UTF-8) become U+FFFD.
 */
export function promqlString(value: string): string {
  const escaped = String(value)
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD")
    .replace(/[\\"\u0000-\u001f\u007f]/g, (c) => {
      switch (c) {
        case "\\":
          return "\\\\";
        case '"':
          return '\\"';
        case "\n":
          return "\\n";
        case "\r":
          return "\\r";
        case "\t":
          return "\\t";
        default:
          return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
      }
    });
  return `"${escaped}"`;
}
