// Text files the tests read (Vite's ?raw imports, bundled into the test Worker).
declare module '*?raw' {
  const text: string;
  export default text;
}
