import { defineConfig } from "vite";

// Preact through esbuild's JSX transform: no Babel, no plugin.
export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    // Hashed file names under /assets: the API serves them as immutable.
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
  },
  server: {
    // `npm run dev` talks to a Cutroom on :8080 through Vite's proxy, so
    // the app stays same-origin as in production (the session cookie).
    proxy: {
      "/v1": { target: "http://127.0.0.1:8080", changeOrigin: false },
      "/storage": { target: "http://127.0.0.1:8080", changeOrigin: false },
    },
  },
});
