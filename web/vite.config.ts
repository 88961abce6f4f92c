/// <reference types="vitest/config" />
// Vite builds the dashboard into dist/, which gsm-server embeds (see gsm-server/build.rs).
// `npm run dev` proxies the API and WebSockets to a local server (GSM_DEV_SERVER, default :8080).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

const server = process.env.GSM_DEV_SERVER ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    // No inline module-preload polyfill or data: scripts: the server's CSP allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: { "/api": { target: server, ws: true } },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
