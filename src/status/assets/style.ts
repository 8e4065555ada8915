/** The page's stylesheet: system fonts only, light and high-contrast (readable in sunlight), phone first. */
export const STYLE_CSS = `
:root {
  --bg: #f3f5f7; --card: #fff; --ink: #14181f; --muted: #5b6573; --line: #d9dee5;
  --ok: #116329; --ok-bg: #dafbe1; --warn: #7a4d00; --warn-bg: #fff1c2; --crit: #a40e26; --crit-bg: #ffe3e6;
  --idle: #3b4450; --idle-bg: #e7eaee; --accent: #0b57d0;
  --ingest: #0b57d0; --forward: #1a7f37; --drop: #cf222e; --backlog: #8250df;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
button, input, select { font: inherit; }
h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
h2 { font-size: .8rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 .6rem; display: flex; gap: .5rem; align-items: baseline; flex-wrap: wrap; }
h3 { font-size: .75rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: .9rem 0 .3rem; }
.card > h3:first-child { margin-top: 0; }
.muted { color: var(--muted); }
.small { font-size: .85rem; }
.top { display: flex; align-items: center; gap: .75rem; padding: .6rem 1rem; background: #1d2430; color: #fff; flex-wrap: wrap; }
.brand { font-weight: 700; font-size: 1.05rem; margin: 0; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.gw { font-weight: 400; opacity: .85; margin-left: .4rem; }
.meta { flex: 1; }
.who { display: flex; gap: .6rem; align-items: center; font-size: .9rem; }
.link { background: none; border: 1px solid #8893a3; color: #fff; border-radius: 6px; padding: .25rem .6rem; cursor: pointer; }
.live { font-size: .8rem; padding: .15rem .5rem; border-radius: 999px; background: #2f3a4a; }
.live.on::before { content: "● "; color: #4ade80; }
.live.off::before { content: "● "; color: #f87171; }
main { padding: .75rem; max-width: 1400px; margin: 0 auto; }
.grid { display: grid; gap: .75rem; grid-template-columns: 1fr; }
@media (min-width: 640px) { .grid { grid-template-columns: repeat(2, 1fr); } }
@media (min-width: 1000px) { .grid { grid-template-columns: repeat(3, 1fr); } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: .9rem 1rem; min-width: 0; }
.wide { grid-column: 1 / -1; }
.login { max-width: 380px; margin: 3rem auto; }
.login form { display: grid; gap: .5rem; }
.login input { padding: .55rem .6rem; border: 1px solid var(--line); border-radius: 6px; }
.primary { background: var(--accent); color: #fff; border: 0; border-radius: 6px; padding: .55rem; cursor: pointer; }
.error { color: var(--crit); }
.verdict { border-radius: 10px; padding: .8rem 1rem; margin-bottom: .75rem; border: 2px solid; }
.verdict.ok { background: var(--ok-bg); border-color: var(--ok); color: var(--ok); }
.verdict.warn { background: var(--warn-bg); border-color: #d4a72c; color: var(--warn); }
.verdict.crit { background: var(--crit-bg); border-color: var(--crit); color: var(--crit); }
.verdict.stale { background: var(--idle-bg); border-color: var(--idle); color: var(--ink); }
.verdict a { color: inherit; font-weight: 600; }
body.stale #view-main, body.stale #view-device { filter: grayscale(1); opacity: .5; }
.icon.stale { background: var(--idle); } .icon.stale::before { content: "?"; }
.verdict.stale li::marker { color: var(--idle); }
.verdict-title { font-size: 1.35rem; font-weight: 700; margin: 0; text-transform: none; letter-spacing: 0; color: inherit; }
.verdict ul { margin: .35rem 0 0; padding-left: 1.2rem; color: var(--ink); }
.verdict li.crit { color: var(--crit); font-weight: 600; }
.verdict li::marker { color: #d4a72c; }
.verdict li.crit::marker { color: var(--crit); }
.verdict-title { display: flex; align-items: center; flex-wrap: nowrap; }
.icon { display: inline-flex; flex: none; width: 1.5em; height: 1.5em; border-radius: 50%; align-items: center; justify-content: center; color: #fff; font-weight: 800; margin-right: .5rem; font-size: .85em; }
.icon.ok { background: var(--ok); }
.icon.ok::before { content: ""; width: .35em; height: .7em; border: solid #fff; border-width: 0 .2em .2em 0; transform: translateY(-.08em) rotate(45deg); }
.icon.warn { background: #b88a00; } .icon.crit { background: var(--crit); }
.icon.warn::before, .icon.crit::before { content: "!"; }
.big { font-size: 1.6rem; font-weight: 700; margin-bottom: .4rem; font-variant-numeric: tabular-nums; }
.big .muted { font-size: .9rem; font-weight: 400; }
.since { margin: -.2rem 0 .5rem; }
.explain { margin: 0 0 .35rem; color: var(--muted); }
.outage { margin: 0 0 .35rem; font-weight: 600; }
.outage.down { color: var(--crit); } .outage.degraded { color: var(--warn); }
.cause { margin: 0 0 .3rem; padding: .35rem .55rem; border-radius: 6px; background: var(--crit-bg); color: var(--crit); }
details.raw, .result details { margin: 0 0 .5rem; }
details summary { cursor: pointer; color: var(--muted); }
details code { display: block; overflow-wrap: anywhere; white-space: pre-wrap; background: var(--bg); padding: .3rem .45rem; border-radius: 4px; margin-top: .25rem; }
.then { margin: .4rem 0 0; color: var(--warn); }
dd.alert { color: var(--crit); font-weight: 700; }
.empty { padding: .8rem; background: var(--bg); border-radius: 6px; margin: .4rem 0; }
.plain { list-style: none; margin: 0; padding: 0; }
.plain li { padding: .15rem 0; overflow-wrap: anywhere; }
.alert { color: var(--crit); }
a.dev-link { color: inherit; font-weight: 600; -webkit-user-drag: none; }
#devices tbody tr { cursor: pointer; }
#devices tbody tr:hover td { background: #f6f8fa; }
#devices.is-empty thead { display: none; }
.device-view { margin-top: .25rem; }
.device-title { font-size: 1.3rem; text-transform: none; letter-spacing: 0; color: var(--ink); margin: .2rem 0 .75rem; }
.device-id { overflow-wrap: anywhere; }
.recent { list-style: none; margin: 0; padding: 0; }
.recent li { padding: .3rem 0; border-bottom: 1px solid var(--bg); overflow-wrap: anywhere; }
pre.payload { margin: .25rem 0 0; padding: .3rem .45rem; background: var(--bg); border-radius: 4px; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .8rem; max-height: 8rem; overflow: auto; }
.history-box { margin-top: .8rem; }
.history-box summary { font-size: .75rem; text-transform: uppercase; letter-spacing: .05em; }
.unit { font-size: .85rem; font-weight: 400; color: var(--muted); }
.pill { display: inline-block; padding: .1rem .7rem; border-radius: 999px; font-size: 1.1rem; background: var(--idle-bg); color: var(--idle); }
.pill.connected, .pill.online { background: var(--ok-bg); color: var(--ok); }
.pill.degraded, .pill.paused, .pill.unconfigured { background: var(--warn-bg); color: var(--warn); }
.pill.down, .pill.offline { background: var(--crit-bg); color: var(--crit); }
td .pill, .history .pill { font-size: .8rem; padding: 0 .5rem; }
.kv { display: grid; grid-template-columns: auto 1fr; gap: .2rem .9rem; margin: 0; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.bar { height: 8px; background: var(--idle-bg); border-radius: 4px; margin-top: .6rem; overflow: hidden; }
.bar > div { height: 100%; width: 0; background: var(--forward); }
.bar > div.warn { background: #d4a72c; } .bar > div.crit { background: var(--crit); }
.actions { display: flex; flex-wrap: wrap; gap: .4rem; margin-top: .8rem; }
.actions button, #btn-diag { border: 1px solid var(--line); background: #f6f8fa; border-radius: 6px; padding: .45rem .7rem; cursor: pointer; }
.actions button:hover, #btn-diag:hover { border-color: var(--accent); }
.actions button:disabled { opacity: .5; cursor: wait; }
#diag-form { margin-top: .8rem; }
.result { margin: .5rem 0 0; padding: .35rem .55rem; border-radius: 6px; }
.result.ok { background: var(--ok-bg); color: var(--ok); }
.result.fail { background: var(--crit-bg); color: var(--crit); }
.history, .log { list-style: none; margin: 0; padding: 0; max-height: 220px; overflow: auto; }
.history li, .log li { padding: .2rem 0; border-bottom: 1px solid var(--bg); }
.history time, .log time { color: var(--muted); font-variant-numeric: tabular-nums; margin-right: .4rem; }
.log .lvl { display: inline-block; min-width: 3.2rem; font-weight: 700; text-transform: uppercase; font-size: .75rem; }
.log .lvl.warn { color: var(--warn); } .log .lvl.error, .log .lvl.fatal { color: var(--crit); }
.log code { background: var(--bg); padding: 0 .25rem; border-radius: 3px; }
.reasons { margin: .4rem 0 0; padding-left: 1.1rem; color: var(--crit); }
.legend { text-transform: none; letter-spacing: 0; font-size: .85rem; color: var(--ink); }
.sw { display: inline-block; width: .9rem; height: .25rem; margin: 0 .25rem 0 .5rem; vertical-align: middle; border-radius: 2px; }
.sw.ingest { background: var(--ingest); } .sw.forward { background: var(--forward); } .sw.drop { background: var(--drop); } .sw.backlog { background: var(--backlog); }
.chart-box { position: relative; }
.chart-tip { position: absolute; top: 0; background: #1d2430; color: #fff; padding: .2rem .45rem; border-radius: 4px; pointer-events: none; white-space: nowrap; }
#chart .s.backlog { stroke: var(--backlog); stroke-dasharray: 5 3; }
#chart .axis-backlog { fill: var(--backlog); }
#chart .cursor { stroke: var(--ink); stroke-width: 1; opacity: .4; }
#chart { width: 100%; height: 200px; display: block; }
#chart .grid-line { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
#chart text { fill: var(--muted); font-size: 11px; }
#chart .s { fill: none; stroke-width: 2; vector-effect: non-scaling-stroke; stroke-linejoin: round; }
#chart .dot.ingest { fill: var(--ingest); } #chart .dot.forward { fill: var(--forward); } #chart .dot.drop { fill: var(--drop); }
#chart .s.ingest { stroke: var(--ingest); } #chart .s.forward { stroke: var(--forward); } #chart .s.drop { stroke: var(--drop); }
.filters { display: flex; gap: .5rem; flex-wrap: wrap; margin-bottom: .5rem; }
.filters input { flex: 1; min-width: 12rem; padding: .4rem .55rem; border: 1px solid var(--line); border-radius: 6px; }
.filters select { padding: .4rem; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.table-wrap { overflow-x: auto; max-height: 480px; overflow-y: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { padding: .35rem .55rem; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { position: sticky; top: 0; background: #f6f8fa; cursor: pointer; user-select: none; font-weight: 600; }
th[aria-sort="ascending"]::after { content: " ▲"; } th[aria-sort="descending"]::after { content: " ▼"; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fff6f6; }
td.alert { color: var(--crit); font-weight: 600; }
.net { list-style: none; padding: 0; margin: 0; }
.net li { padding: .15rem 0; overflow-wrap: anywhere; }
.foot { text-align: center; padding: 1rem; }
.foot a { color: var(--muted); }
[hidden] { display: none !important; }
@media (max-width: 520px) {
  .big { font-size: 1.35rem; }
  .top { padding: .5rem .7rem; }
  main { padding: .5rem; }
  .chart-tip { white-space: normal; }
}
.phone-only { display: none; }
/* A phone: each device a card, its id first and always in view; no sideways scrolling. */
@media (max-width: 640px) {
  .filters select.phone-only { display: block; }
  .table-wrap { overflow: visible; max-height: none; }
  #devices, #devices tbody { display: block; }
  #devices thead { display: none; }
  #devices tr { display: grid; grid-template-columns: 1fr 1fr; gap: 0 .75rem; padding: .45rem .1rem; border-bottom: 1px solid var(--line); }
  #devices td { display: block; border: 0; padding: .05rem 0; white-space: normal; text-align: left; min-width: 0; }
  #devices td.id { font-size: 1rem; overflow-wrap: anywhere; }
  #devices td:nth-child(2) { text-align: right; }
  #devices td:nth-child(5) { display: none; }
  #devices td:nth-child(n+3)::before { content: attr(data-label) ": "; color: var(--muted); }
  #devices td.num { text-align: left; }
}
`
