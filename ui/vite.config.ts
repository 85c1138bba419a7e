import { defineConfig } from "vite";

// The UI is plain TypeScript: no framework, no runtime dependency but @tauri-apps/api.
export default defineConfig({
  root: "ui",
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2021",
    sourcemap: false,
  },
});
