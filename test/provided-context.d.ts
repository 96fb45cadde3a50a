// Values test/node/global-setup.ts hands to the tests inside workerd (vitest's provide/inject).
declare module 'vitest' {
  export interface ProvidedContext {
    fixtureOrigin: string;
  }
}
export {};
