import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const manifest = JSON.parse(readFileSync(new URL('../packages/auth/package.json', import.meta.url), 'utf8')) as {
  exports: Record<string, { 'tessera-source': string; types: string; default: string }>;
};

/**
 * Guards the public surface: adding, renaming or removing an export of any
 * subpath changes this snapshot, so it cannot happen by accident.
 */
describe('package exports', () => {
  it.each(Object.entries(manifest.exports))('%s', async (subpath, target) => {
    const source = `../packages/auth/${target['tessera-source'].slice(2)}`;
    const module = (await import(source)) as Record<string, unknown>;
    const surface = Object.keys(module)
      .sort()
      .map((name) => `${name}: ${typeof module[name]}`);
    expect(surface).toMatchSnapshot(subpath);
  });

  it('points every subpath at a built file and its types', () => {
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      expect(target.default, subpath).toMatch(/^\.\/dist\/.+\.js$/);
      expect(target.types, subpath).toBe(target.default.replace(/\.js$/, '.d.ts'));
      expect(target['tessera-source'], subpath).toBe(
        target.default.replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts'),
      );
    }
  });
});
