import * as path from "node:path";
import ts from "typescript";
// TypeDoc 0.28 is an ES module: loaded with import() from this CommonJS tree, its types alone imported here.
import type {
  Context,
  DeclarationReflection,
  ProjectReflection,
  ReflectionKind as Kinds,
} from "typedoc" with { "resolution-mode": "import" };
import { REPO_ROOT } from "../testkit/stack-file";

type TypeDoc = typeof import("typedoc", { with: { "resolution-mode": "import" } });

/** Where `npm run docs` writes the component package's API reference (Markdown, read on GitHub). */
export const API_DOCS_DIR = path.join(REPO_ROOT, "docs", "api");

export interface ApiReferenceOptions {
  /** The package's public surface. @default components/index.ts */
  entryPoint?: string;
  /** @default tsconfig.components.json, the packed package's own */
  tsconfig?: string;
  /** Where the Markdown goes; unset: check the doc comments only, write nothing. */
  out?: string;
}

export interface ApiReferenceResult {
  /** Every warning and error TypeDoc logged, one line each: an undocumented export is one. */
  problems: string[];
}

/**
 * Kinds whose exported declarations need a doc comment. Properties are checked apart
 * (`checkPropertiesDocumented`): those of interfaces and classes are options and outputs, but the
 * members of a constant's or a function result's inferred type are not an API of their own.
 */
const REQUIRED_KINDS = [
  "Enum",
  "EnumMember",
  "Variable",
  "Function",
  "Class",
  "Interface",
  "TypeAlias",
  "Method",
  "Accessor",
] as const;

/**
 * An option is a property declared in a type: of an exported interface or class, of an inline object
 * type inside one (`GlobalStoreArgs.replicas.insert`), or of an object type alias. The reader of
 * `new X(name, args)` needs each one's meaning and default. Members of a shape TypeScript inferred
 * from a value (`metricNames()`'s result) are documented by that value.
 */
function isOption(
  ReflectionKind: typeof Kinds,
  property: DeclarationReflection,
  inferred: ReadonlySet<DeclarationReflection>,
): boolean {
  if (inferred.has(property)) return false;
  for (let owner = property.parent; owner; owner = owner.parent) {
    if (owner.kindOf(ReflectionKind.Interface | ReflectionKind.Class | ReflectionKind.TypeAlias)) return true;
    if (owner.kindOf(ReflectionKind.Variable | ReflectionKind.Function | ReflectionKind.SomeSignature))
      return false;
  }
  return false;
}

function checkPropertiesDocumented(
  ReflectionKind: typeof Kinds,
  project: ProjectReflection,
  inferred: ReadonlySet<DeclarationReflection>,
  warn: (message: string) => void,
): void {
  for (const reflection of project.getReflectionsByKind(ReflectionKind.Property)) {
    const property = reflection as DeclarationReflection;
    if (property.hasComment() || !isOption(ReflectionKind, property, inferred)) continue;
    const source = project.getSymbolIdFromReflection(property)?.packagePath ?? "an unknown file";
    warn(
      `${property.getFriendlyFullName()} (Property), defined in ${source}, does not have any documentation`,
    );
  }
}

const VALUE_MEMBERS = new Set([
  ts.SyntaxKind.PropertyAssignment,
  ts.SyntaxKind.ShorthandPropertyAssignment,
  ts.SyntaxKind.MethodDeclaration,
]);

/**
 * The component package's API reference from its JSDoc (TypeDoc + typedoc-plugin-markdown). Fails
 * (returns problems) on an export, or an option of an exported interface or class, without a doc
 * comment, and on a `{@link}` that resolves to nothing. Source links are left out, so a change that
 * only moves lines or files leaves the reference unchanged.
 */
export async function apiReference(options: ApiReferenceOptions = {}): Promise<ApiReferenceResult> {
  const { Application, Converter, DeclarationReflection, LogLevel, ReflectionKind }: TypeDoc =
    await import("typedoc");
  const problems: string[] = [];
  const app = await Application.bootstrapWithPlugins({
    entryPoints: [options.entryPoint ?? path.join(REPO_ROOT, "components", "index.ts")],
    tsconfig: options.tsconfig ?? path.join(REPO_ROOT, "tsconfig.components.json"),
    plugin: ["typedoc-plugin-markdown"],
    // `npm test` type-checks the whole tree first (tsc --noEmit); TypeDoc needs only the declarations.
    skipErrorChecking: true,
    readme: "none",
    name: "@sonic-observability/components",
    disableSources: true,
    excludePrivate: true,
    excludeInternal: true,
    excludeProtected: true,
    sort: ["kind", "alphabetical"],
    validation: { notExported: false, notDocumented: true, invalidLink: true },
    requiredToBeDocumented: [...REQUIRED_KINDS],
    treatValidationWarningsAsErrors: true,
    logLevel: LogLevel.Warn,
    // typedoc-plugin-markdown: one page for the one module keeps docs/api/ to a single file.
    router: "module",
    hidePageHeader: true,
    useCodeBlocks: true,
    parametersFormat: "table",
    interfacePropertiesFormat: "table",
    classPropertiesFormat: "table",
    typeAliasPropertiesFormat: "table",
    enumMembersFormat: "table",
  } as Parameters<typeof Application.bootstrapWithPlugins>[0]);
  // Collected, not printed: the caller prints them (the CLI) or asserts on them (the test).
  app.logger.log = (message, level) => {
    // eslint-disable-next-line no-control-regex
    if (level >= LogLevel.Warn) problems.push(String(message).replace(/\x1b\[[0-9;]*m/g, ""));
  };
  const inferred = new Set<DeclarationReflection>();
  app.converter.on(Converter.EVENT_RESOLVE_END, (context: Context) => {
    for (const reflection of Object.values(context.project.reflections)) {
      if (!(reflection instanceof DeclarationReflection)) continue;
      // Members inherited from Pulumi's ComponentResource (urn, getProvider, isInstance) are Pulumi's
      // API, documented by Pulumi: every component would repeat them.
      if (reflection.inheritedFrom && !reflection.inheritedFrom.reflection)
        context.project.removeReflection(reflection);
      else if (
        reflection.kindOf(ReflectionKind.Property) &&
        context.getSymbolFromReflection(reflection)?.declarations?.every((d) => VALUE_MEMBERS.has(d.kind))
      )
        inferred.add(reflection);
    }
  });
  app.on(Application.EVENT_VALIDATE_PROJECT, (project: ProjectReflection) =>
    checkPropertiesDocumented(ReflectionKind, project, inferred, (message) =>
      app.logger.validationWarning(message),
    ),
  );
  const project = await app.convert();
  if (!project) return { problems: problems.length ? problems : ["TypeDoc could not convert the project"] };
  app.validate(project);
  if (problems.length === 0 && options.out)
    await app.outputs.writeOutput({ name: "markdown", path: options.out }, project);
  return { problems };
}
