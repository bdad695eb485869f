import { defineConfig } from 'vitest/config';
import preact from '@preact/preset-vite';

// The build is embedded in the daemon (tools/webgen): hashed names under assets/ are served
// immutable, everything else no-cache. PD_DEV_API points `npm run dev` at a running daemon.
export default defineConfig({
  plugins: [preact()],
  build: {
    target: 'es2020',
    assetsDir: 'assets',
    sourcemap: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 200,
  },
  server: {
    proxy: { '/api': process.env.PD_DEV_API || 'http://127.0.0.1:8080' },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
