import { render } from 'preact';
import { App } from './app';
import { boot } from './auth';
import './styles.css';

// the stream starts once someone is signed in (app.tsx)
void boot();
render(<App />, document.getElementById('app')!);

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  navigator.serviceWorker.register('/sw.js').catch(() => {
    /* without it the dashboard still works, only not offline */
  });
}
