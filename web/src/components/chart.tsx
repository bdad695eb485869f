// The printer's history charts: uPlot, loaded with the page that charts (not in the first
// load). The daemon's history fills them when the page opens; live printer events append.
import { useEffect, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { api } from '../api';
import { ErrorBox, Loading } from './ui';
import { appendSample, History, Series, toColumns } from '../history';
import { store } from '../live';

let uplotMod: Promise<typeof uPlot> | null = null;
const loadUplot = () => (uplotMod ??= Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(([m]) => m.default as typeof uPlot));

function Chart(props: { title: string; unit: string; data: uPlot.AlignedData; series: Series[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    let gone = false;
    let ro: ResizeObserver | null = null;
    loadUplot().then((UPlot) => {
      if (gone || !box.current) return;
      const css = getComputedStyle(document.documentElement);
      const fg = css.getPropertyValue('--muted').trim() || '#888';
      const grid = css.getPropertyValue('--line').trim() || '#8884';
      const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
      plot.current = new UPlot(
        {
          width: box.current.clientWidth,
          height: 200,
          legend: { live: true },
          scales: { x: { time: true } },
          axes: [axis, { ...axis, values: (_u: uPlot, v: number[]) => v.map((x) => `${x}${props.unit}`) }],
          series: [{}, ...props.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, dash: s.dash, spanGaps: false }))],
        },
        props.data,
        box.current,
      );
      ro = new ResizeObserver(() => box.current && plot.current?.setSize({ width: box.current.clientWidth, height: 200 }));
      ro.observe(box.current);
    });
    return () => {
      gone = true;
      ro?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [props.series.map((s) => s.key).join()]);
  useEffect(() => {
    plot.current?.setData(props.data);
  }, [props.data]);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      {/* the height is reserved so the page does not move when the chart arrives */}
      <div ref={box} class="chart-box" role="img" aria-label={`${props.title} over the last hour`} />
    </figure>
  );
}

export function HistoryCharts(props: { printerId: number }) {
  const [h, setH] = useState<History | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const load = () => api.get<History>(`/api/v1/printers/${props.printerId}/history`).then(setH, (e) => setErr(e.message));
  useEffect(() => {
    load();
  }, [props.printerId]);
  // live reports add a point at most every interval, so the chart moves without polling
  useEffect(
    () =>
      store.subscribe(props.printerId, () => {
        const p = store.printers.get(props.printerId);
        if (p) setH((cur) => (cur ? appendSample(cur, p, Date.now()) : cur));
      }),
    [props.printerId],
  );
  if (err) return <ErrorBox error={err} onRetry={load} />;
  if (!h) return <Loading label="Loading the history" />;
  const c = toColumns(h);
  return (
    <div class="charts">
      <Chart title="Temperatures" unit="°" data={c.temps.data} series={c.temps.series} />
      {c.fans.series.length > 0 && <Chart title="Fans" unit="%" data={c.fans.data} series={c.fans.series} />}
      {c.ams.map((a) => (
        <Chart key={a.id} title={`AMS ${a.id >= 128 ? `HT ${a.id - 127}` : a.id + 1} humidity and temperature`} unit="" data={a.data} series={a.series} />
      ))}
    </div>
  );
}
