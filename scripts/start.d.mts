export const RUN_FILE: string;
export function readDevVars(path?: string): Record<string, string>;
export function startLocal(options?: {
  workerPort?: number;
  emulatorPort?: number;
  persistTo?: string;
  verbose?: boolean;
  log?: (line: string) => void;
}): Promise<{
  workerUrl: string;
  emulatorHost: string;
  projectId: string;
  realStream: boolean;
  streamAccess: { baseUrl: string; apiKey: string; secret: string };
  stream: { url: string } | null;
  workerOutput: () => string;
  stop: () => Promise<void>;
}>;
export function curlSequence(workerUrl: string, emulatorHost: string): string;
