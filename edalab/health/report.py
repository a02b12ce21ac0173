"""A standalone HTML report of a monitored ward: the methods scored as clinicians score early
warning (paged before the adverse event, how long before, at what alarm burden), the closed
loop, data quality and charts.

The file embeds plotly.js (``include_plotlyjs=True``), so it opens offline in any browser.
Every sentence of the verdict is computed from the table it describes.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from edalab.durations import parse_duration
from edalab.health.monitor import WardMonitor
from edalab.health.scoring import compare_methods, detection
from edalab.runtime.stats import RunStats
from edalab.streams.vitals import vitals_episodes

__all__ = ["METHOD_NAMES", "closed_loop_table", "closed_loop_verdict", "format_minutes",
           "report_table", "verdict", "write_report"]

#: How the verdict names each method.
METHOD_NAMES = {"news2": "NEWS2 alone", "anomaly": "The anomaly detector alone",
                "combined": "The combined policy"}


def format_minutes(minutes: float) -> str:
    """A duration in minutes as a clinician reads it.

    >>> format_minutes(95.4), format_minutes(40), format_minutes(-20), format_minutes(120)
    ('1 h 35 min', '40 min', '-20 min', '2 h')
    >>> format_minutes(float("nan"))
    '-'
    """
    if minutes != minutes:
        return "-"
    whole = round(minutes)
    sign, whole = ("-" if whole < 0 else ""), abs(whole)
    hours, rest = divmod(whole, 60)
    if not hours:
        return f"{sign}{rest} min"
    return f"{sign}{hours} h" + (f" {rest} min" if rest else "")


def _rate(value: float) -> str:
    return f"{value:.3f}"


def method_sentence(method: str, row: pd.Series) -> str:
    """One method's result in words, with its absolute numbers.

    >>> row = pd.Series({"episodes": 13, "detected": 11, "median_lead_minutes": 95.0,
    ...                  "lead_q1_minutes": 60.0, "lead_q3_minutes": 140.0, "false_alerts": 2,
    ...                  "false_alerts_per_patient_day": 0.025, "pages_per_nurse_hour": 0.071})
    >>> method_sentence("news2", row)  # doctest: +NORMALIZE_WHITESPACE
    'NEWS2 alone paged 11 of 13 deteriorations before the adverse event, a median 1 h 35 min
    ahead (IQR 1 h to 2 h 20 min); 2 false alerts (0.025 per patient-day); 0.071 pages per
    nurse-hour.'
    """
    name = METHOD_NAMES.get(method, method)
    n, hit = int(row["episodes"]), int(row["detected"])
    if hit:
        lead = (f", a median {format_minutes(row['median_lead_minutes'])} ahead (IQR "
                f"{format_minutes(row['lead_q1_minutes'])} to "
                f"{format_minutes(row['lead_q3_minutes'])})")
    else:
        lead = ""
    false = int(row["false_alerts"])
    return (f"{name} paged {hit} of {n} deteriorations before the adverse event{lead}; "
            f"{false} false alert{'' if false == 1 else 's'} "
            f"({_rate(row['false_alerts_per_patient_day'])} per patient-day); "
            f"{_rate(row['pages_per_nurse_hour'])} pages per nurse-hour.")


def _compare(a: pd.Series, b: pd.Series, name_a: str, name_b: str) -> str:
    """What `a` does against `b`, claiming only what the numbers show."""
    parts = []
    if a["detected"] != b["detected"]:
        more = "more" if a["detected"] > b["detected"] else "fewer"
        parts.append(f"pages {abs(int(a['detected'] - b['detected']))} {more} "
                     f"deterioration{'' if abs(a['detected'] - b['detected']) == 1 else 's'} "
                     "in time")
    else:
        parts.append("pages as many deteriorations in time")
    la, lb = a["median_lead_minutes"], b["median_lead_minutes"]
    if la == la and lb == lb and round(la) != round(lb):
        parts.append(f"with a median lead {format_minutes(abs(la - lb))} "
                     f"{'longer' if la > lb else 'shorter'}")
    fa, fb = int(a["false_alerts"]), int(b["false_alerts"])
    if fa != fb:
        parts.append(f"{abs(fa - fb)} {'more' if fa > fb else 'fewer'} false "
                     f"alert{'' if abs(fa - fb) == 1 else 's'}")
    else:
        parts.append("as many false alerts")
    pa, pb = a["pages_per_nurse_hour"], b["pages_per_nurse_hour"]
    if round(pa, 3) != round(pb, 3):
        parts.append(f"{'more' if pa > pb else 'fewer'} pages per nurse-hour "
                     f"({_rate(pa)} against {_rate(pb)})")
    return f"Against {_mid(name_b)}, {_mid(name_a)} " + ", ".join(parts) + "."


def _mid(name: str) -> str:
    """A method's name inside a sentence ("The combined policy" -> "the combined policy")."""
    return name[0].lower() + name[1:] if name.startswith("The ") else name


def verdict(table: pd.DataFrame) -> str:
    """The methods in words, and the combined policy against NEWS2 alone, from the numbers.

    >>> t = pd.DataFrame({"episodes": [10, 10], "detected": [8, 9],
    ...                   "median_lead_minutes": [100.0, 130.0], "lead_q1_minutes": [60.0, 90.0],
    ...                   "lead_q3_minutes": [150.0, 200.0], "false_alerts": [0, 3],
    ...                   "false_alerts_per_patient_day": [0.0, 0.0375],
    ...                   "pages_per_nurse_hour": [0.05, 0.08]}, index=["news2", "combined"])
    >>> print(verdict(t).splitlines()[-1])  # doctest: +NORMALIZE_WHITESPACE
    Against NEWS2 alone, the combined policy pages 1 more deterioration in time, with a median
    lead 30 min longer, 3 more false alerts, more pages per nurse-hour (0.080 against 0.050).
    """
    if not len(table) or int(table["episodes"].max()) == 0:
        return ("No deterioration reached its adverse event within the record: there is no "
                "emergency to have warned of, so detection and lead time are not scored.")
    lines = [method_sentence(m, row) for m, row in table.iterrows()]
    if {"news2", "combined"} <= set(table.index):
        lines.append(_compare(table.loc["combined"], table.loc["news2"],
                              METHOD_NAMES["combined"], METHOD_NAMES["news2"]))
    return "\n".join(lines)


#: Column headers of `report_table`: each states its unit, and the lead time its sign.
HEADERS = {
    "detected": "paged before the adverse event",
    "median_lead_minutes": "median lead before the adverse event (+ = ahead)",
    "lead_q1_minutes": "lead, 1st quartile, min",
    "lead_q3_minutes": "lead, 3rd quartile, min",
    "false_alerts": "false alerts",
    "false_alerts_per_patient_day": "false alerts per patient-day",
    "pages": "pages",
    "pages_per_nurse_hour": "pages per nurse-hour",
    "compensated": "episodes that stayed compensated (not scored)",
}


def report_table(table: pd.DataFrame) -> pd.DataFrame:
    """`compare_methods`'s table as people read it: counts "k of n", the median lead in hours
    and minutes (its quartiles in minutes), rates to three decimals, headers with units and the lead
    time's sign.

    >>> t = pd.DataFrame({"episodes": [10], "detected": [8], "missed": [2], "compensated": [3],
    ...                   "median_lead_minutes": [100.0], "lead_q1_minutes": [60.0],
    ...                   "lead_q3_minutes": [150.0], "pages": [17], "false_alerts": [2],
    ...                   "false_alerts_per_patient_day": [0.025],
    ...                   "pages_per_nurse_hour": [0.0708]}, index=["news2"])
    >>> report_table(t).iloc[0].astype(str).tolist()
    ['8 of 10', '1 h 40 min', '60', '150', '2', '0.025', '17', '0.071', '3']
    """
    out = pd.DataFrame(index=table.index)
    out["detected"] = [f"{int(d)} of {int(n)}" for d, n in
                       zip(table["detected"], table["episodes"], strict=True)]
    out["median_lead_minutes"] = table["median_lead_minutes"].map(format_minutes)
    for name in ("lead_q1_minutes", "lead_q3_minutes"):
        out[name] = [f"{v:.0f}" if v == v else "-" for v in table[name]]
    out["false_alerts"] = table["false_alerts"].astype(int)
    out["false_alerts_per_patient_day"] = table["false_alerts_per_patient_day"].map(_rate)
    out["pages"] = table["pages"].astype(int)
    out["pages_per_nurse_hour"] = table["pages_per_nurse_hour"].map(_rate)
    out["compensated"] = table["compensated"].astype(int)
    return out.rename(columns=HEADERS)


#: Column headers of the closed-loop table in the report.
CLOSED_LOOP_HEADERS = {"open_loop_adverse_events": "adverse events, nobody responding",
                       "adverse_events": "adverse events, with responses",
                       "prevented": "adverse events prevented", "pages": "pages",
                       "pages_per_nurse_hour": "pages per nurse-hour"}


def closed_loop_table(table: pd.DataFrame) -> pd.DataFrame:
    """`compare_closed_loop`'s table as people read it: headers in words, rates to three
    decimals, as `report_table`.

    >>> t = pd.DataFrame({"open_loop_adverse_events": [10], "adverse_events": [1],
    ...                   "prevented": [9], "pages": [17], "pages_per_nurse_hour": [0.0708]},
    ...                  index=["news2"])
    >>> closed_loop_table(t).iloc[0].astype(str).tolist()
    ['10', '1', '9', '17', '0.071']
    """
    return table.assign(pages_per_nurse_hour=table["pages_per_nurse_hour"].map(_rate)).rename(
        columns=CLOSED_LOOP_HEADERS)


def closed_loop_verdict(table: pd.DataFrame, response_time: str = "30 min") -> str:
    """The closed loop in words, per method (a `compare_closed_loop` table).

    >>> t = pd.DataFrame({"open_loop_adverse_events": [10], "adverse_events": [1],
    ...                   "prevented": [9], "pages": [17], "pages_per_nurse_hour": [0.0708]},
    ...                  index=["news2"])
    >>> closed_loop_verdict(t)  # doctest: +NORMALIZE_WHITESPACE
    'With a response 30 min after each page: NEWS2 alone prevented 9 of 10 adverse events
    (1 still happened) at 0.071 pages per nurse-hour.'
    """
    parts = [f"{_mid(METHOD_NAMES.get(m, m)) if i else METHOD_NAMES.get(m, m)} prevented "
             f"{int(r['prevented'])} of "
             f"{int(r['open_loop_adverse_events'])} adverse events "
             f"({int(r['adverse_events'])} still happened) at "
             f"{_rate(r['pages_per_nurse_hour'])} pages per nurse-hour"
             for i, (m, r) in enumerate(table.iterrows())]
    return f"With a response {response_time} after each page: " + "; ".join(parts) + "."


def _table_html(frame: pd.DataFrame) -> str:
    return frame.to_html(float_format=lambda v: f"{v:,.3f}", border=0, classes="t")


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines())


def write_report(monitor: WardMonitor, path: str | Path, stats: RunStats | None = None,
                 title: str = "edalab ward monitoring report", *,
                 closed_loop: pd.DataFrame | None = None,
                 response_time: str = "30min") -> Path:
    """Write the report of a run `monitor` (fed a `vitals` frame) to `path`; returns it.

    The closed-loop table (`edalab.health.closed_loop.compare_closed_loop`, with the
    monitor's settings and `response_time`) is computed unless given as `closed_loop`.
    """
    from edalab.health.charts import episode_detection, patient_vitals, tradeoff, ward_levels
    from edalab.health.closed_loop import compare_closed_loop

    delay = format_minutes(parse_duration(response_time, name="response_time")
                           / pd.Timedelta("1min"))
    ward = monitor.ward
    if ward is None:
        raise ValueError("the monitor was not fed a vitals frame: no ground truth to score")
    alerts = {m: monitor.alerts(m) for m in monitor.methods}
    table = compare_methods(alerts, ward)
    episodes = vitals_episodes(ward)
    found = {m: detection(a, episodes) for m, a in alerts.items()}
    if closed_loop is None:
        closed_loop = compare_closed_loop(ward, monitor.methods, response_time=response_time,
                                          **monitor.options)
    figs = [tradeoff(table), episode_detection(found), ward_levels(monitor.assessed())]
    first = episodes.dropna(subset=["adverse_event"])
    if len(first):
        patient = first.iloc[0]["patient_id"]
        fig = patient_vitals(ward, patient)
        pages = alerts[monitor.methods[-1]]
        mine = pages[(pages["patient_id"] == patient)
                     & pages["type"].isin(["alert.raised", "alert.escalated"])]
        for k, (t, level) in enumerate(zip(mine["time"], mine["level"], strict=True)):
            x = t.tz_convert("UTC").tz_localize(None).isoformat()
            fig.add_vline(x=x, line={"color": "#6a1b9a", "width": 1})
            # Staggered, so pages minutes apart do not print over each other.
            fig.add_annotation(x=x, y=0.25 + 0.22 * (k % 3), yref="paper",
                               text=f"page: {level}",
                               showarrow=False, textangle=-90, xanchor="right",
                               font={"color": "#6a1b9a"})
        figs.append(fig)
    charts = [f.to_html(full_html=False, include_plotlyjs=(i == 0))
              for i, f in enumerate(figs)]
    quality = pd.DataFrame([monitor.quality()]).T.rename(columns={0: "count"})
    n_emergency = int(episodes["adverse_event"].notna().sum())
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{ward['patient_id'].nunique()} patients, {len(ward):,} observation sets, "
        f"{len(episodes)} deterioration episodes, of which {n_emergency} reached their adverse "
        "event (the emergency: shock, respiratory failure on oxygen, or a fall in "
        "consciousness) within the record.</p>",
        "<h2>Methods side by side</h2>", _table_html(report_table(table)),
        _paragraphs(verdict(table)),
        "<p>An episode counts as detected only when its patient is paged (from 1 h before its "
        "onset on) before its adverse event; lead time is how long before. A page outside "
        "every episode is a false alert. Alarm burden counts every page, 8 patients per "
        "nurse.</p>",
        "<h2>Closed loop: adverse events prevented</h2>",
        _table_html(closed_loop_table(closed_loop)),
        f"<p>{html.escape(closed_loop_verdict(closed_loop, delay))} Each method ran on the "
        "same ward with a response team that arrives after each page; a response before the "
        "adverse event treats the patient, who recovers.</p>",
        "<h2>Data quality</h2>", _table_html(quality),
    ]
    if stats is not None:
        parts += ["<h2>Run statistics</h2>", f"<p>{html.escape(stats.summary())}</p>",
                  _table_html(stats.to_frame())]
    parts += ["<h2>Charts</h2>", *charts]
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em;"
            "max-width:1100px}table.t{border-collapse:collapse}table.t td,table.t th{padding:"
            "2px 8px;border-bottom:1px solid #ddd;text-align:right}table.t td{white-space:"
            "nowrap}</style></head><body>"
            + "\n".join(parts) + "</body></html>")
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out
