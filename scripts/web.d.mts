export function buildWeb(outdir?: string): Promise<string>;
export function serveWeb(dir: string, port?: number): Promise<{ url: string; close: () => Promise<void> }>;
