export function freePort(): Promise<number>;
export function startAuthEmulator(
  projectId: string,
  options?: { port?: number; timeoutMs?: number; root?: string; log?: (line: string) => void },
): Promise<{ host: string; stop: () => Promise<void> }>;
