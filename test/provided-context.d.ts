// Values test/node/global-setup.ts hands to the tests inside workerd (vitest's provide/inject).
declare module 'vitest' {
  export interface ProvidedContext {
    fixtureOrigin: string;
    /** host:port of the Firebase Auth emulator started for this run. */
    authEmulatorHost: string;
  }
}
export {};
