// @ts-check
/**
 * The modules of a TypeScript tree, read with the TypeScript compiler's own
 * parser (no regular expressions): what each file imports, from which file,
 * and what it exports. One reader for the three checks built on it: import
 * cycles (scripts/check-cycles.mjs), the code map (scripts/code-map.mjs) and
 * exports nobody imports (scripts/check-exports.mjs).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';

/**
 * @typedef {{ target: string, names: string[] | '*', typeOnly: boolean }} Import
 *   names: the imported names, or '*' for a namespace import or `export *`
 * @typedef {{ name: string, line: number }} Export
 * @typedef {{ imports: Import[], exports: Export[] }} Module
 */

/** @param {string} dir @returns {string[]} */
export const sourceFiles = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules') return [];
    return statSync(path).isDirectory() ? sourceFiles(path) : /\.(ts|tsx|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });

/** @param {string} from @param {string} specifier */
function resolveImport(from, specifier) {
  if (!specifier.startsWith('.')) return undefined;
  const base = resolve(dirname(from), specifier.replace(/\?raw$/, ''));
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/** @param {ts.Node} node */
const modifiers = (node) => (ts.canHaveModifiers(node) ? (ts.getModifiers(node) ?? []) : []);
/** @param {ts.Node} node @param {ts.SyntaxKind} kind */
const has = (node, kind) => modifiers(node).some((modifier) => modifier.kind === kind);

/** @param {string} file @returns {Module} */
export function readModule(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  /** @type {Import[]} */
  const imports = [];
  /** @type {Export[]} */
  const exports = [];
  /** @param {ts.Node} node @param {string} name */
  const exported = (node, name) => exports.push({ name, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 });

  /** @param {ts.Node} node */
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const target = resolveImport(file, node.moduleSpecifier.text);
      const clause = node.importClause;
      if (target) {
        /** @type {string[] | '*'} */
        let names = [];
        if (clause?.name) names.push('default');
        const bindings = clause?.namedBindings;
        if (bindings && ts.isNamespaceImport(bindings)) names = '*';
        else if (bindings) for (const element of bindings.elements) names.push((element.propertyName ?? element.name).text);
        imports.push({ target, names, typeOnly: clause?.isTypeOnly ?? false });
      }
    } else if (ts.isExportDeclaration(node)) {
      const target =
        node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) ? resolveImport(file, node.moduleSpecifier.text) : undefined;
      const clause = node.exportClause;
      if (clause && ts.isNamedExports(clause)) {
        for (const element of clause.elements) exported(element, element.name.text);
        if (target)
          imports.push({
            target,
            names: clause.elements.map((element) => (element.propertyName ?? element.name).text),
            typeOnly: node.isTypeOnly,
          });
      } else if (target) {
        imports.push({ target, names: '*', typeOnly: node.isTypeOnly });
      }
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      const target = argument && ts.isStringLiteral(argument) ? resolveImport(file, argument.text) : undefined;
      if (target) imports.push({ target, names: '*', typeOnly: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      // `typeof import('./x')` or `import('./x').T` in a type
      const target = resolveImport(file, node.argument.literal.text);
      if (target)
        imports.push({ target, names: node.qualifier && ts.isIdentifier(node.qualifier) ? [node.qualifier.text] : '*', typeOnly: true });
    } else if (ts.isExportAssignment(node)) {
      exported(node, 'default');
    } else if (has(node, ts.SyntaxKind.ExportKeyword)) {
      if (has(node, ts.SyntaxKind.DefaultKeyword)) exported(node, 'default');
      else if (ts.isVariableStatement(node)) {
        for (const declaration of node.declarationList.declarations)
          if (ts.isIdentifier(declaration.name)) exported(declaration, declaration.name.text);
      } else if (
        (ts.isFunctionDeclaration(node) ||
          ts.isClassDeclaration(node) ||
          ts.isInterfaceDeclaration(node) ||
          ts.isTypeAliasDeclaration(node) ||
          ts.isEnumDeclaration(node)) &&
        node.name
      ) {
        exported(node, node.name.text);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { imports, exports };
}

/** @param {string[]} files @returns {Map<string, Module>} */
export const readModules = (files) => new Map(files.map((file) => [file, readModule(file)]));
