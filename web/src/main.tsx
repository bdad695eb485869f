import { render } from 'preact';
import { initToken } from './api';
import { App } from './app';
import { startLive } from './live';
import './styles.css';

initToken();
startLive();
render(<App />, document.getElementById('app')!);

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  navigator.serviceWorker.register('/sw.js').catch(() => {
    /* without it the dashboard still works, only not offline */
  });
}
