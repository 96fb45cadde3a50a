import type { IncomingMessage, ServerResponse } from 'node:http';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
}
export interface ScriptedResponse {
  status: number;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  method?: string;
  delayMs?: number;
}
export interface StandInRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  bodyText: string;
}
export interface StandInResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}
export class StreamStandIn {
  constructor(options: { apiKey?: string; secret: string });
  apiKey: string | undefined;
  secret: string;
  users: Map<string, Record<string, unknown>>;
  deleted: Set<string>;
  requests: RecordedRequest[];
  script: ScriptedResponse[];
  handle(request: StandInRequest): Promise<StandInResponse>;
}
export function readNodeRequest(req: IncomingMessage, path?: string): Promise<StandInRequest>;
export function writeNodeResponse(res: ServerResponse, response: StandInResponse): void;
export function serveStreamStandIn(options: {
  apiKey?: string;
  secret: string;
  port?: number;
  log?: (line: string) => void;
}): Promise<{ url: string; standIn: StreamStandIn; close: () => Promise<void> }>;
