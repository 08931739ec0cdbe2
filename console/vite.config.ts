import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The gateway serves the built console (dist/) and the API on one origin; in development the
// dev server stands in for it and forwards the API, WebSocket included.
const gateway = process.env.GATEWAY_URL ?? 'http://127.0.0.1:5173';

export default defineConfig({
  plugins: [react()],
  server: {
    port: 5174,
    strictPort: true,
    proxy: { '/graphql': { target: gateway, ws: true, changeOrigin: true } },
  },
  preview: { port: 5174, strictPort: true },
  build: {
    outDir: 'dist',
    sourcemap: true,
    rollupOptions: {
      output: {
        manualChunks: {
          react: ['react', 'react-dom', 'react-router-dom'],
          mui: ['@mui/material', '@mui/lab', '@emotion/react', '@emotion/styled'],
          graphql: ['urql', '@urql/core', 'graphql', 'graphql-ws'],
        },
      },
    },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
  },
});
