// The charts: uPlot, loaded with the page that charts (not in the first load). The printer's
// history charts fill from the daemon's history and follow live printer events; the
// statistics screen draws bars and lines over periods. Every chart takes its container's
// width and follows it on resize, so a phone never scrolls sideways because of a canvas.
import { useEffect, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { api } from '../api';
import { ErrorBox, Loading } from './ui';
import { appendSample, History, historyPath, Series, toColumns } from '../history';
import { store } from '../live';
import { cumulative } from '../stats';

let uplotMod: Promise<typeof uPlot> | null = null;
const loadUplot = () => (uplotMod ??= Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(([m]) => m.default as typeof uPlot));

const HEIGHT = 200;

function themeAxis() {
  const css = getComputedStyle(document.documentElement);
  const fg = css.getPropertyValue('--muted').trim() || '#888';
  const grid = css.getPropertyValue('--line').trim() || '#8884';
  return { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
}

/** One uPlot in a box: made when uPlot has loaded, resized with the box, new data set in place.
 * `shape` names what needs a new plot (the series); anything else is a setData. */
function Plot(props: { label: string; shape: string; data: uPlot.AlignedData; options: (U: typeof uPlot) => Omit<uPlot.Options, 'width' | 'height'> }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    let gone = false;
    let ro: ResizeObserver | null = null;
    loadUplot().then((U) => {
      if (gone || !box.current) return;
      const el = box.current;
      plot.current = new U({ ...props.options(U), width: el.clientWidth, height: HEIGHT }, props.data, el);
      // the box's width is its container's: the canvas follows it, never the other way
      ro = new ResizeObserver(() => {
        const w = el.clientWidth;
        if (plot.current && w > 0 && Math.abs(w - plot.current.width) > 1) plot.current.setSize({ width: w, height: HEIGHT });
      });
      ro.observe(el);
    });
    return () => {
      gone = true;
      ro?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [props.shape]);
  useEffect(() => {
    plot.current?.setData(props.data);
  }, [props.data]);
  return <div ref={box} class="chart-box" role="img" aria-label={props.label} />;
}

function Chart(props: { title: string; unit: string; data: uPlot.AlignedData; series: Series[] }) {
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      {/* the height is reserved so the page does not move when the chart arrives */}
      <Plot
        label={`${props.title} over the last hour`}
        shape={props.series.map((s) => s.key).join()}
        data={props.data}
        options={() => {
          const axis = themeAxis();
          return {
            legend: { live: true },
            scales: { x: { time: true } },
            axes: [axis, { ...axis, values: (_u: uPlot, v: number[]) => v.map((x) => `${x}${props.unit}`) }],
            series: [{}, ...props.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, dash: s.dash, spanGaps: false }))],
          };
        }}
      />
    </figure>
  );
}

export interface PeriodSeries {
  label: string;
  color: string;
  values: (number | null)[];
}

/** Values per period: bars (stacked when `stacked`) or a line; the x axis names the periods. */
export function PeriodChart(props: { title: string; summary: string; periods: string[]; series: PeriodSeries[]; unit: string; kind: 'bars' | 'line'; stacked?: boolean; digits?: number }) {
  const { periods, series } = props;
  // the plot's formatters outlive a render: they read the newest labels and values from here
  const now = useRef(props);
  now.current = props;
  const xs = periods.map((_, i) => i);
  // stacked bars are drawn as running sums, the tallest first, so each layer shows above the
  // one below it; the legend and the cursor read each layer's own value
  const drawn = props.stacked ? cumulative(series.map((s) => ({ values: s.values.map((v) => v ?? 0) }))) : series.map((s) => s.values);
  const order = props.stacked ? series.map((_, i) => series.length - 1 - i) : series.map((_, i) => i);
  const data = [xs, ...order.map((i) => drawn[i])] as uPlot.AlignedData;
  const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${v.toFixed(props.digits ?? 0)}${props.unit}`);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <Plot
        label={props.summary}
        shape={`${props.kind}:${series.map((s) => s.label).join()}:${periods.length}`}
        data={data}
        options={(U) => {
          const axis = themeAxis();
          const bars = U.paths.bars!({ size: [0.7, 48] });
          return {
            legend: { live: true },
            cursor: { points: { show: props.kind === 'line' } },
            scales: { x: { time: false, range: (_u, mn, mx) => [mn - 0.5, mx + 0.5] }, y: { range: (_u, _mn, mx) => [0, mx > 0 ? mx * 1.08 : 1] } },
            axes: [
              { ...axis, splits: (u: uPlot) => {
                  // a label per period while they fit, else every n-th
                  const n = now.current.periods.length;
                  const step = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(u.width / 72))));
                  return now.current.periods.map((_, i) => i).filter((i) => i % step === 0);
                }, values: (_u: uPlot, v: number[]) => v.map((i) => now.current.periods[i] ?? ''), grid: { show: false } },
              { ...axis, size: 56, values: (_u: uPlot, v: number[]) => v.map((x) => `${+x.toFixed(2)}${props.unit}`) },
            ],
            series: [
              { label: 'Period', value: (_u: uPlot, i: number | null) => (i === null ? '—' : now.current.periods[i] ?? '—') },
              ...order.map((i) => ({
                label: series[i].label,
                stroke: series[i].color,
                fill: props.kind === 'bars' ? series[i].color : undefined,
                width: props.kind === 'bars' ? 0 : 2,
                paths: props.kind === 'bars' ? bars : undefined,
                points: { show: props.kind === 'line' },
                value: (_u: uPlot, _v: number | null, _s: number, idx: number | null) => fmt(idx === null ? null : now.current.series[i]?.values[idx]),
              })),
            ],
          };
        }}
      />
    </figure>
  );
}

export function HistoryCharts(props: { printerId: number }) {
  const [h, setH] = useState<History | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const box = useRef<HTMLDivElement>(null);
  // the daemon sends about one sample per pixel of the chart (min and max per bucket, so peaks
  // stay): a phone gets half of an hour's samples, a day's history stays small
  const load = () => {
    setErr(null);
    return api.get<History>(historyPath(props.printerId, box.current?.clientWidth ?? 0)).then(setH, (e) => setErr(e.message));
  };
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
  if (err || !h)
    return (
      <div ref={box} class="charts">
        {err ? <ErrorBox error={err} onRetry={load} /> : <Loading label="Loading the history" />}
      </div>
    );
  const c = toColumns(h);
  return (
    <div ref={box} class="charts">
      <Chart title="Temperatures" unit="°" data={c.temps.data} series={c.temps.series} />
      {c.fans.series.length > 0 && <Chart title="Fans" unit="%" data={c.fans.data} series={c.fans.series} />}
      {c.ams.map((a) => (
        <Chart key={a.id} title={`AMS ${a.id >= 128 ? `HT ${a.id - 127}` : a.id + 1} humidity and temperature`} unit="" data={a.data} series={a.series} />
      ))}
    </div>
  );
}
