import * as ts from "typescript";

/**
 * Every name a module exports, values and types alike, sorted: what TypeScript resolves from its
 * declarations, `export *` chains followed. Used on the packed package's `index.d.ts`, so the names a
 * consumer can import are compared, not our reading of the barrel.
 */
export function exportedNames(entry: string): string[] {
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  if (!source) throw new Error(`${entry}: not found`);
  const module = checker.getSymbolAtLocation(source);
  if (!module) throw new Error(`${entry}: not a module`);
  return checker
    .getExportsOfModule(module)
    .map((s) => s.getName())
    .sort();
}
