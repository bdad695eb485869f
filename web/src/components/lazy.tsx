// A component whose code loads on its first render (a chunk of its own, not in the first load).
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ErrorBox, Loading } from './ui';

export function lazy<P extends object>(load: () => Promise<ComponentType<P>>) {
  let loaded: ComponentType<P> | null = null;
  let pending: Promise<ComponentType<P>> | null = null;
  return function Lazy(props: P) {
    // an initialiser, not the component itself: useState would call a function given as is
    const [, setC] = useState(() => loaded);
    const [err, setErr] = useState(false);
    const [attempt, setAttempt] = useState(0);
    useEffect(() => {
      if (loaded) return;
      // a failed load (offline, a new build replaced the chunk) is tried again on request
      (pending ??= load()).then(
        (c) => setC(() => (loaded = c)),
        () => {
          pending = null;
          setErr(true);
        },
      );
    }, [attempt]);
    if (loaded) {
      const C = loaded;
      return <C {...props} />;
    }
    if (err)
      return (
        <ErrorBox
          error="This part of printdeck could not be loaded: check the connection."
          onRetry={() => {
            setErr(false);
            setAttempt((n) => n + 1);
          }}
        />
      );
    return <Loading />;
  };
}
