// Every relative link and #anchor of the repository's Markdown (README.md and docs/) must resolve:
// the file exists, and the anchor is a heading's slug in the target file as GitHub generates it.
// markdown-it parses (so a link inside a code block or span is no link), github-slugger slugs.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import MarkdownIt from "markdown-it";

type Token = MarkdownIt.Token;

/** One link of a Markdown file: where it is written and what it points at. */
export interface MarkdownLink {
  /** 1-based line of the source on which the link is written. */
  line: number;
  href: string;
}

/** What a Markdown file offers and asks: its heading slugs, in GitHub's form, and its links. */
export interface MarkdownFacts {
  anchors: Set<string>;
  links: MarkdownLink[];
}

type Slugger = { slug(value: string): string };

const md = new MarkdownIt({ html: true });

/** The text GitHub slugs a heading from: its rendered text, code spans without their backticks. */
function headingText(inline: Token): string {
  return (inline.children ?? [])
    .filter((t) => t.type === "text" || t.type === "code_inline")
    .map((t) => t.content)
    .join("");
}

/** The line a link is written on: the first line of its block holding the href, else the block's first. */
function lineOf(href: string, block: Token, lines: string[]): number {
  const [start, end] = block.map ?? [0, 1];
  for (let i = start; i < end; i++) if (lines[i]?.includes(href)) return i + 1;
  return start + 1;
}

/** Headings (and HTML anchors) and links of one Markdown text. `newSlugger` gives a fresh slugger (GitHub's numbering of repeats is per file). */
export function markdownFacts(text: string, newSlugger: () => Slugger): MarkdownFacts {
  const tokens = md.parse(text, {});
  const lines = text.split("\n");
  const slugger = newSlugger();
  const anchors = new Set<string>();
  const links: MarkdownLink[] = [];
  tokens.forEach((token, i) => {
    if (token.type === "heading_open") anchors.add(slugger.slug(headingText(tokens[i + 1])));
    if (token.type !== "inline") return;
    for (const child of token.children ?? []) {
      // An HTML anchor (`<a id="property-path"></a>`, as TypeDoc's Markdown writes) is a target too.
      if (child.type === "html_inline")
        for (const m of child.content.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]);
      const href =
        child.type === "link_open"
          ? child.attrGet("href")
          : child.type === "image"
            ? child.attrGet("src")
            : null;
      if (href !== null) links.push({ line: lineOf(String(href), token, lines), href: String(href) });
    }
  });
  return { anchors, links };
}

/** README.md and every Markdown file under docs/, relative to `root`, sorted. */
export function repositoryMarkdownFiles(root: string): string[] {
  const docs = path.join(root, "docs");
  const inDocs = existsSync(docs)
    ? readdirSync(docs, { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".md"))
        .map((f) => path.join("docs", f))
    : [];
  return ["README.md", ...inDocs].filter((f) => existsSync(path.join(root, f))).sort();
}

const EXTERNAL = /^([a-z][a-z0-9+.-]*:|\/\/)/i;
// GitHub's line anchors into a source file (`#L10`, `#L10-L20`).
const LINE_ANCHOR = /^L\d+(-L\d+)?$/;

/**
 * Checks every relative link of `files` (paths relative to `root`): each problem as
 * `<file>:<line>: <href>: <what is wrong>`. External links (a scheme, or `//host`) are not followed.
 */
export function brokenLinks(root: string, files: string[], newSlugger: () => Slugger): string[] {
  const facts = new Map<string, MarkdownFacts>();
  const factsOf = (file: string): MarkdownFacts => {
    let f = facts.get(file);
    if (!f) {
      f = markdownFacts(readFileSync(path.join(root, file), "utf8"), newSlugger);
      facts.set(file, f);
    }
    return f;
  };
  const problems: string[] = [];
  for (const file of files) {
    for (const { line, href } of factsOf(file).links) {
      if (EXTERNAL.test(href)) continue;
      const hash = href.indexOf("#");
      const target = decodeURIComponent(hash < 0 ? href : href.slice(0, hash));
      const anchor = hash < 0 ? undefined : decodeURIComponent(href.slice(hash + 1));
      const targetFile = path.normalize(
        target === ""
          ? file
          : target.startsWith("/")
            ? target.slice(1)
            : path.join(path.dirname(file), target),
      );
      const where = `${file}:${line}: ${href}`;
      if (targetFile.startsWith("..") || path.isAbsolute(targetFile)) {
        problems.push(`${where}: points outside the repository`);
        continue;
      }
      if (!existsSync(path.join(root, targetFile))) {
        problems.push(`${where}: no file ${targetFile}`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!targetFile.endsWith(".md") || statSync(path.join(root, targetFile)).isDirectory()) {
        if (!LINE_ANCHOR.test(anchor))
          problems.push(`${where}: #${anchor} into ${targetFile}, which has no headings`);
        continue;
      }
      if (!factsOf(targetFile).anchors.has(anchor)) {
        problems.push(`${where}: no heading with the anchor #${anchor} in ${targetFile}`);
      }
    }
  }
  return problems;
}

// `docs/operate.md#charts-from-a-mirror` or `README.md#…` as written in a comment of the code or a stack
// file; not the tail of a URL (`…/blob/main/docs/runbooks.md#…`, the runbook links, checked by the rules' tests).
const CODE_MENTION = /(?<![\w/.-])((?:README|docs\/[\w.-]+)\.md)#([\w-]+)/g;

/**
 * Checks every `README.md#…` and `docs/<file>.md#…` named in `files` (paths relative to `root`,
 * any text: code, stack files, workflows): each problem as `<file>:<line>: <mention>: <what is wrong>`.
 */
export function brokenCodeMentions(root: string, files: string[], newSlugger: () => Slugger): string[] {
  const anchors = new Map<string, Set<string> | undefined>();
  const anchorsOf = (target: string) => {
    if (!anchors.has(target)) {
      const file = path.join(root, target);
      anchors.set(
        target,
        existsSync(file) ? markdownFacts(readFileSync(file, "utf8"), newSlugger).anchors : undefined,
      );
    }
    return anchors.get(target);
  };
  const problems: string[] = [];
  for (const file of files) {
    readFileSync(path.join(root, file), "utf8")
      .split("\n")
      .forEach((text, i) => {
        for (const [mention, target, anchor] of text.matchAll(CODE_MENTION)) {
          const known = anchorsOf(target);
          if (!known) problems.push(`${file}:${i + 1}: ${mention}: no file ${target}`);
          else if (!known.has(anchor))
            problems.push(`${file}:${i + 1}: ${mention}: no heading with the anchor #${anchor} in ${target}`);
        }
      });
  }
  return problems;
}

/** github-slugger is an ES module; a CommonJS test loads it with import(). */
export async function githubSlugger(): Promise<() => Slugger> {
  const { default: GithubSlugger } = await import("github-slugger");
  return () => new GithubSlugger();
}
