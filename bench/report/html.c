/* The HTML report: one self-contained page, inline CSS and inline SVG, no scripts and no
 * external references, so it can be mailed, attached to a ticket or opened from a file system
 * years later and look the same.
 *
 * Every chart is drawn by the small SVG helpers below on a frame: an SVG of fixed size with
 * margins for the legend (top), tick labels and axis titles (left, bottom, and right when a
 * second axis is used). Axes start at zero and end on a "nice" round value (1, 2 or 5 times a
 * power of ten), so the ticks read as round numbers. Every string from the document goes
 * through esc(), in text and in attributes alike.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "report.h"
#include "report_int.h"

#define N 48

/* ---- text ---- */

static void esc(FILE *out, const char *s) {
  for (; *s != '\0'; s++) {
    switch (*s) {
    case '&':
      fputs("&amp;", out);
      break;
    case '<':
      fputs("&lt;", out);
      break;
    case '>':
      fputs("&gt;", out);
      break;
    case '"':
      fputs("&quot;", out);
      break;
    case '\'':
      fputs("&#39;", out);
      break;
    default:
      fputc(*s, out);
    }
  }
}

/* ---- SVG frames ---- */

typedef struct {
  FILE *out;
  double w, h, left, right, top, bottom;
  double x0, x1, y1, y2; /* x range; left and right axis maxima (both axes start at 0) */
} frame_t;

static double px(const frame_t *f, double x) {
  return f->left + (x - f->x0) / (f->x1 - f->x0) * (f->w - f->left - f->right);
}

static double py(const frame_t *f, double y, double ymax) {
  return f->h - f->bottom - y / ymax * (f->h - f->top - f->bottom);
}

/* A round step that cuts `range` into about `parts` pieces. */
static double nice_step(double range, double parts) {
  if (!(range > 0))
    return 1;
  double raw = range / parts, mag = pow(10, floor(log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

/* The axis end for data up to `max`: a whole number of nice steps, never 0. */
static double nice_max(double max) {
  if (!(max > 0))
    return 1;
  double step = nice_step(max, 5);
  return ceil(max / step - 1e-9) * step;
}

static const char *tick_text(char *buf, size_t cap, double v, double step) {
  int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  return cb__fmt_dec(buf, cap, v, decimals);
}

static void svg_open(frame_t *f, FILE *out, const char *label, double w, double h) {
  *f = (frame_t){0};
  f->out = out;
  f->w = w;
  f->h = h;
  fprintf(out,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 %.0f %.0f\" "
          "width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"",
          w, h, w, h);
  esc(out, label);
  fputs("\">\n", out);
}

static void svg_close(frame_t *f) { fputs("</svg>\n", f->out); }

/* Grid, ticks and tick labels of the left (and right, if f->y2 > 0) axis, the x axis line,
 * and the axis titles. Numeric x ticks when `xnumeric`; else the caller labels categories. */
static void axes(frame_t *f, bool xnumeric, const char *xlabel, const char *ylabel,
                 const char *y2label) {
  FILE *out = f->out;
  char t[N];
  double step = nice_step(f->y1, 5), bottom = f->h - f->bottom, right = f->w - f->right;
  for (double v = 0; v <= f->y1 + step * 1e-6; v += step) {
    double y = py(f, v, f->y1);
    fprintf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
            f->left, y, right, y);
    fprintf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
            f->left - 6, y + 4, tick_text(t, N, v, step));
  }
  if (f->y2 > 0) {
    double s2 = nice_step(f->y2, 5);
    for (double v = 0; v <= f->y2 + s2 * 1e-6; v += s2)
      fprintf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"start\">%s</text>\n",
              right + 6, py(f, v, f->y2) + 4, tick_text(t, N, v, s2));
  }
  if (xnumeric) {
    double xs = nice_step(f->x1 - f->x0, 10);
    for (double v = ceil(f->x0 / xs) * xs; v <= f->x1 + xs * 1e-6; v += xs) {
      double x = px(f, v);
      fprintf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x,
              bottom, x, bottom + 5);
      fprintf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
              x, bottom + 18, tick_text(t, N, v, xs));
    }
  }
  fprintf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", f->left,
          bottom, right, bottom);
  fprintf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", f->left,
          f->top, f->left, bottom);
  if (f->y2 > 0)
    fprintf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", right,
            f->top, right, bottom);
  fprintf(out, "<text class=\"label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
          (f->left + right) / 2, f->h - 8);
  esc(out, xlabel);
  fputs("</text>\n", out);
  double mid = (f->top + bottom) / 2;
  fprintf(out,
          "<text class=\"label\" x=\"16\" y=\"%.1f\" text-anchor=\"middle\" "
          "transform=\"rotate(-90 16 %.1f)\">",
          mid, mid);
  esc(out, ylabel);
  fputs("</text>\n", out);
  if (f->y2 > 0) {
    double x = f->w - 14;
    fprintf(out,
            "<text class=\"label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
            "transform=\"rotate(90 %.1f %.1f)\">",
            x, mid, x, mid);
    esc(out, y2label);
    fputs("</text>\n", out);
  }
}

typedef struct {
  const char *label, *color;
  char shape; /* 'l' line, 'd' dashed line, 'b' bar or area, 'o' dot */
} legend_key_t;

/* One row of swatches and labels above the plot. Labels are measured at ~6.5 px a character,
 * which is close enough for the 12 px sans-serif the page uses. */
static void legend(frame_t *f, const legend_key_t *keys, size_t n) {
  double x = f->left;
  for (size_t i = 0; i < n; i++) {
    const legend_key_t *k = &keys[i];
    if (k->shape == 'b')
      fprintf(f->out, "<rect x=\"%.1f\" y=\"10\" width=\"14\" height=\"12\" fill=\"%s\"/>\n", x,
              k->color);
    else if (k->shape == 'o')
      fprintf(f->out, "<circle cx=\"%.1f\" cy=\"16\" r=\"4\" fill=\"%s\"/>\n", x + 9, k->color);
    else
      fprintf(f->out,
              "<line x1=\"%.1f\" y1=\"16\" x2=\"%.1f\" y2=\"16\" stroke=\"%s\" "
              "stroke-width=\"3\"%s/>\n",
              x, x + 18, k->color, k->shape == 'd' ? " stroke-dasharray=\"5 3\"" : "");
    fprintf(f->out, "<text class=\"legend\" x=\"%.1f\" y=\"20\">", x + 22);
    esc(f->out, k->label);
    fputs("</text>\n", f->out);
    x += 22 + 6.5 * (double)strlen(k->label) + 22;
  }
}

static void polyline(frame_t *f, const double *x, const double *y, size_t n, double ymax,
                     const char *color, bool step, bool dashed) {
  fprintf(f->out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s points=\"", color,
          dashed ? " stroke-dasharray=\"5 3\"" : "");
  for (size_t i = 0; i < n; i++) {
    if (step && i > 0)
      fprintf(f->out, "%.1f,%.1f ", px(f, x[i]), py(f, y[i - 1], ymax));
    fprintf(f->out, "%.1f,%.1f%s", px(f, x[i]), py(f, y[i], ymax), i + 1 < n ? " " : "");
  }
  fputs("\"/>\n", f->out);
}

static double max_of(const double *v, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++)
    if (v[i] > m)
      m = v[i];
  return m;
}

static const char *channel_color(const char *name, size_t i) {
  static const char *const spare[] = {"#7b4fa0", "#8c564b", "#d6589f", "#17a2b8"};
  if (strcmp(name, "whatsapp") == 0)
    return "#1e9e4a";
  if (strcmp(name, "email") == 0)
    return "#2f6fb3";
  if (strcmp(name, "sms") == 0)
    return "#e6850e";
  return spare[i % 4];
}

/* ---- month charts ---- */

typedef struct {
  double *x, *y; /* scratch for one downsampled line */
} scratch_t;

static double time_end(const cb__doc_t *d) {
  double end = d->series.t[d->series.n - 1];
  for (size_t i = 0; i < d->ncycles; i++) {
    if (d->cycles[i].deadline_s > end)
      end = d->cycles[i].deadline_s;
    if (d->cycles[i].drained_s > end)
      end = d->cycles[i].drained_s;
  }
  return end > 0 ? end : 1;
}

static void time_frame(frame_t *f, const cb__doc_t *d, double right) {
  f->left = 78;
  f->right = right;
  f->top = 34;
  f->bottom = 48;
  f->x0 = 0;
  f->x1 = nice_max(time_end(d)); /* ends on a tick */
}

static void chart_throughput(const cb__doc_t *d, FILE *out, scratch_t *s) {
  const cb__series_t *se = &d->series;
  frame_t f;
  double top = 0;
  for (size_t c = 0; c < se->nchannels; c++)
    top = fmax(top, max_of(se->channels[c].v, se->n));
  svg_open(&f, out, "deliveries per second per channel over time, with each cycle's deadline", 1040,
           380);
  time_frame(&f, d, 24);
  f.top = 34;
  f.y1 = nice_max(top * 1.3); /* headroom above the data for the deadline labels */
  /* Each cycle's window, start to deadline, as a light band behind the data. */
  for (size_t i = 0; i < d->ncycles; i++) {
    const cb__cycle_t *c = &d->cycles[i];
    fprintf(out, "<rect class=\"window\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
            px(&f, c->start_s), f.top, px(&f, c->deadline_s) - px(&f, c->start_s),
            f.h - f.top - f.bottom);
  }
  axes(&f, true, "time since the start of the run (s)", "deliveries/s", NULL);
  for (size_t c = 0; c < se->nchannels; c++) {
    size_t n =
        cb__downsample_max(se->t, se->channels[c].v, se->n, CB_REPORT_MAX_POINTS, s->x, s->y);
    polyline(&f, s->x, s->y, n, f.y1, channel_color(se->channels[c].name, c), false, false);
  }
  for (size_t i = 0; i < d->ncycles; i++) {
    const cb__cycle_t *c = &d->cycles[i];
    char ix[N];
    double x = px(&f, c->deadline_s);
    fprintf(out, "<line class=\"deadline%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
            c->window_met ? "" : " missed", x, f.top, x, f.h - f.bottom);
    fprintf(
        out,
        "<text class=\"dl%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">cycle %s deadline</text>\n",
        c->window_met ? "" : " missed", x - 4, f.top + 14, cb__fmt_int(ix, N, c->index));
    if (!c->window_met)
      fprintf(
          out,
          "<text class=\"dl missed\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">not met</text>\n",
          x - 4, f.top + 28);
  }
  legend_key_t keys[8];
  size_t nk = 0;
  for (size_t c = 0; c < se->nchannels && nk < 5; c++)
    keys[nk++] = (legend_key_t){se->channels[c].name, channel_color(se->channels[c].name, c), 'l'};
  keys[nk++] = (legend_key_t){"cycle deadline (window met)", "#555555", 'd'};
  keys[nk++] = (legend_key_t){"deadline missed", "#c62828", 'l'};
  keys[nk++] = (legend_key_t){"cycle window", "#e8eef7", 'b'};
  legend(&f, keys, nk);
  svg_close(&f);
}

static void chart_latency(const cb__doc_t *d, FILE *out) {
  static const char *const names[] = {"p50", "p90", "p99", "max"};
  static const char *const colors[] = {"#9ecae1", "#4292c6", "#08519c", "#c62828"};
  frame_t f;
  double top = 0;
  for (size_t i = 0; i < d->ncycles; i++)
    top = fmax(top, d->cycles[i].lat.max);
  svg_open(&f, out, "delivery latency percentiles per cycle", 1040, 340);
  f.left = 78;
  f.right = 24;
  f.top = 34;
  f.bottom = 48;
  /* A backlog of hours has latencies of millions of ms, wider than the axis leaves room for:
   * past a minute the axis counts seconds. */
  bool seconds = top > 60000;
  double unit = seconds ? 1000 : 1;
  f.x0 = 0;
  f.x1 = (double)d->ncycles;
  f.y1 = nice_max(top / unit * 1.05);
  axes(&f, false, "cycle",
       seconds ? "latency, enqueue to delivered (s)" : "latency, enqueue to delivered (ms)", NULL);
  double slot = px(&f, 1) - px(&f, 0), bw = fmin(slot * 0.8 / 4, 40);
  for (size_t i = 0; i < d->ncycles; i++) {
    const cb__cycle_t *c = &d->cycles[i];
    double v[4] = {c->lat.p50, c->lat.p90, c->lat.p99, c->lat.max};
    double x0 = px(&f, (double)i) + (slot - 4 * bw) / 2;
    for (int k = 0; k < 4; k++) {
      double y = py(&f, v[k] / unit, f.y1);
      fprintf(out,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s "
              "%.0f %s</title></rect>\n",
              x0 + k * bw, y, bw - 1, f.h - f.bottom - y, colors[k], names[k], v[k] / unit,
              seconds ? "s" : "ms");
    }
    char ix[N];
    fprintf(out,
            "<text class=\"tick%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s%s</text>\n",
            c->window_met ? "" : " missed", px(&f, (double)i + 0.5), f.h - f.bottom + 18,
            cb__fmt_int(ix, N, c->index), c->window_met ? "" : " (not met)");
  }
  legend_key_t keys[4];
  for (int k = 0; k < 4; k++)
    keys[k] = (legend_key_t){names[k], colors[k], 'b'};
  legend(&f, keys, 4);
  svg_close(&f);
}

static void chart_inflight(const cb__doc_t *d, FILE *out, scratch_t *s) {
  const cb__series_t *se = &d->series;
  frame_t f;
  svg_open(&f, out, "jobs in flight over time", 1040, 300);
  time_frame(&f, d, 24);
  f.y1 = nice_max(max_of(se->inflight, se->n) * 1.05);
  axes(&f, true, "time since the start of the run (s)", "jobs in flight", NULL);
  size_t n = cb__downsample_max(se->t, se->inflight, se->n, CB_REPORT_MAX_POINTS, s->x, s->y);
  polyline(&f, s->x, s->y, n, f.y1, "#6a3d9a", false, false);
  if (d->profile.knobs.max_inflight > 0 && d->profile.knobs.max_inflight <= f.y1) {
    double y = py(&f, d->profile.knobs.max_inflight, f.y1);
    fprintf(out, "<line class=\"cap\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", f.left,
            y, f.w - f.right, y);
  }
  legend_key_t keys[] = {{"in flight (peak of each interval)", "#6a3d9a", 'l'},
                         {"max_inflight cap", "#888888", 'd'}};
  legend(&f, keys, 2);
  svg_close(&f);
}

static void chart_retries(const cb__doc_t *d, FILE *out, scratch_t *s) {
  const cb__series_t *se = &d->series;
  frame_t f;
  svg_open(&f, out, "retries per second and cumulative dead letters over time", 1040, 300);
  time_frame(&f, d, 78);
  f.y1 = nice_max(max_of(se->retries_per_s, se->n) * 1.05);
  f.y2 = nice_max(max_of(se->dead_total, se->n) * 1.05);
  axes(&f, true, "time since the start of the run (s)", "retries/s", "dead letters (cumulative)");
  size_t n = cb__downsample_max(se->t, se->retries_per_s, se->n, CB_REPORT_MAX_POINTS, s->x, s->y);
  polyline(&f, s->x, s->y, n, f.y1, "#e6850e", false, false);
  n = cb__downsample_max(se->t, se->dead_total, se->n, CB_REPORT_MAX_POINTS, s->x, s->y);
  polyline(&f, s->x, s->y, n, f.y2, "#c62828", true, false); /* a count: steps, not slopes */
  legend_key_t keys[] = {{"retries/s (left axis)", "#e6850e", 'l'},
                         {"dead letters, cumulative (right axis)", "#c62828", 'l'}};
  legend(&f, keys, 2);
  svg_close(&f);
}

/* ---- sweep and limit charts ---- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double knob(const cb__knobs_t *k, int which) {
  switch (which) {
  case 0:
    return k->workers;
  case 1:
    return k->max_inflight;
  case 2:
    return k->provider_concurrency;
  default:
    return k->connections;
  }
}

/* Throughput against one knob: every grid point as a dot over its knob value (the values
 * evenly spaced, as the grid is), and a line through the best throughput at each value. */
static int chart_knob(const cb__doc_t *d, FILE *out, int which, const char *name) {
  const cb__sweep_t *s = &d->sweep;
  double *vals = malloc(s->npoints * sizeof *vals), *best = calloc(s->npoints, sizeof *best);
  double *bx = malloc(s->npoints * sizeof *bx);
  if (vals == NULL || best == NULL || bx == NULL) {
    free(vals);
    free(best);
    free(bx);
    return CT_ENOMEM;
  }
  size_t nv = 0;
  for (size_t i = 0; i < s->npoints; i++)
    vals[i] = knob(&s->points[i].k, which);
  qsort(vals, s->npoints, sizeof *vals, cmp_double);
  for (size_t i = 0; i < s->npoints; i++)
    if (nv == 0 || vals[i] != vals[nv - 1])
      vals[nv++] = vals[i];
  double top = 0;
  for (size_t i = 0; i < s->npoints; i++)
    top = fmax(top, s->points[i].deliveries_per_s);

  char label[96], t[N];
  frame_t f;
  snprintf(label, sizeof label, "throughput against %s", name);
  svg_open(&f, out, label, 510, 300);
  f.left = 78;
  f.right = 16;
  f.top = 34;
  f.bottom = 48;
  f.x0 = 0;
  f.x1 = (double)nv;
  f.y1 = nice_max(top * 1.1);
  axes(&f, false, name, "deliveries/s", NULL);
  for (size_t v = 0; v < nv; v++) {
    for (size_t i = 0; i < s->npoints; i++) {
      const cb__point_t *p = &s->points[i];
      if (knob(&p->k, which) != vals[v])
        continue;
      best[v] = fmax(best[v], p->deliveries_per_s);
      double x = px(&f, (double)v + 0.5);
      fprintf(out,
              "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#4292c6\" fill-opacity=\"0.7\"/>\n",
              x, py(&f, p->deliveries_per_s, f.y1));
    }
    bx[v] = (double)v + 0.5;
    fprintf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
            px(&f, bx[v]), f.h - f.bottom + 18, cb__fmt_int(t, N, vals[v]));
  }
  polyline(&f, bx, best, nv, f.y1, "#c62828", false, false);
  legend_key_t keys[] = {{"one grid point", "#4292c6", 'o'},
                         {"best at this value", "#c62828", 'l'}};
  legend(&f, keys, 2);
  svg_close(&f);
  free(vals);
  free(best);
  free(bx);
  return 0;
}

static void chart_limit(const cb__doc_t *d, FILE *out) {
  const cb__limit_t *l = &d->limit;
  frame_t f;
  char t[N];
  svg_open(&f, out, "requests per second: the load tool against carteiro", 700, 300);
  f.left = 78;
  f.right = 24;
  f.top = 34;
  f.bottom = 48;
  f.x0 = 0;
  f.x1 = 2;
  f.y1 = nice_max(fmax(l->requests_per_s, l->ours_per_s) * 1.1);
  axes(&f, false, "client, same TLS HTTP/2 path and server", "requests/s", NULL);
  double v[2] = {l->requests_per_s, l->ours_per_s};
  const char *color[2] = {"#888888", "#2f6fb3"};
  int bars = l->has_ours ? 2 : 1;
  for (int i = 0; i < bars; i++) {
    double x = px(&f, i + 0.5), y = py(&f, v[i], f.y1);
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"120\" height=\"%.1f\" fill=\"%s\"/>\n",
            x - 60, y, f.h - f.bottom - y, color[i]);
    fprintf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s/s</text>\n",
            x, y - 6, cb__fmt_int(t, N, v[i]));
    fprintf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x,
            f.h - f.bottom + 18);
    esc(out, i == 0 ? l->tool : "carteiro");
    fputs("</text>\n", out);
  }
  legend_key_t keys[] = {{l->tool, color[0], 'b'}, {"carteiro", color[1], 'b'}};
  legend(&f, keys, (size_t)bars);
  svg_close(&f);
}

/* ---- page ---- */

static const char css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "margin:24px auto;max-width:1080px;color:#1d2733;padding:0 16px}"
    "h1{font-size:22px;margin:0 0 12px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid "
    "#d9dee5;padding-bottom:4px}"
    "h3{font-size:15px;margin:20px 0 4px}"
    ".capacity{font-size:19px;font-weight:600;padding:14px 18px;border-radius:6px;margin:0 0 16px;"
    "background:#e9f6ee;border-left:6px solid #1e9e4a}"
    ".capacity.nofit{background:#fdecea;border-left-color:#c62828}"
    ".scale{font-size:15px;margin:4px 0}"
    "table{border-collapse:collapse;font-size:13px;margin:6px 0}"
    "th,td{padding:3px 10px;border-bottom:1px solid #e3e7ec;text-align:right}"
    "th{background:#f3f5f8}td{white-space:nowrap}td.l,th.l{text-align:left}"
    "tr.missed td{background:#fdecea;color:#a01515;font-weight:600}"
    "code{font-size:12px}"
    ".chart{display:block;margin:4px 0 10px;background:#fff}"
    ".chart text{font-family:inherit}"
    ".grid{stroke:#e6e9ee;stroke-width:1}.axis{stroke:#333;stroke-width:1}"
    ".tick{font-size:11px;fill:#333}.label{font-size:12px;fill:#222;font-weight:600}"
    ".legend{font-size:12px;fill:#222}"
    ".window{fill:#e8eef7}"
    ".deadline{stroke:#555;stroke-width:1.4;stroke-dasharray:5 3}"
    ".deadline.missed{stroke:#c62828;stroke-width:2.2;stroke-dasharray:none}"
    ".dl{font-size:11px;fill:#444}.dl.missed,.tick.missed{fill:#c62828;font-weight:600}"
    ".cap{stroke:#888;stroke-width:1.2;stroke-dasharray:5 3}"
    ".pair{display:flex;flex-wrap:wrap;gap:8px}";

static void kv(FILE *out, const char *key, const char *value) {
  fputs("<tr><th class=\"l\">", out);
  esc(out, key);
  fputs("</th><td class=\"l\">", out);
  esc(out, value);
  fputs("</td></tr>\n", out);
}

static void run_table(const cb__doc_t *d, FILE *out) {
  char a[N], b[N], line[512];
  fputs("<h2>What was run</h2>\n<table>\n", out);
  kv(out, "command", d->command);
  kv(out, "commit", d->commit);
  kv(out, "created", d->created);
  snprintf(line, sizeof line, "%s CPUs, %s memory, kernel %s", cb__fmt_int(a, N, d->cpus),
           cb__fmt_bytes(b, N, d->mem_bytes), d->kernel);
  kv(out, "host", line);
  if (d->has_profile) {
    const cb__profile_t *p = &d->profile;
    char lat[96], t[N], r[N], e[N];
    kv(out, "provider latency", cb__fmt_plat(lat, sizeof lat, &p->lat));
    snprintf(line, sizeof line, "%s %% transient, %s %% rate-limited, %s %% permanent",
             cb__fmt_pct(t, N, p->transient * 100), cb__fmt_pct(r, N, p->rate_limited * 100),
             cb__fmt_pct(e, N, p->permanent * 100));
    kv(out, "provider errors", line);
    size_t o = 0;
    line[0] = '\0';
    for (size_t i = 0; i < p->nchannels && o < sizeof line; i++)
      o += (size_t)snprintf(line + o, sizeof line - o, "%s%s", i > 0 ? " + " : "", p->channels[i]);
    if (o < sizeof line)
      snprintf(line + o, sizeof line - o, "%s%s; %s",
               p->fallback != NULL ? ", fallback " : ", no fallback",
               p->fallback != NULL ? p->fallback : "", p->pdf ? "PDF attached" : "no PDF");
    kv(out, "channels", line);
    o = 0;
    line[0] = '\0';
    for (size_t i = 0; i < p->nrates && o < sizeof line; i++) {
      const cb__rate_t *rt = &p->rates[i];
      char acc[N], rate[N], burst[N];
      o += (size_t)snprintf(line + o, sizeof line - o, "%s%s: %s account%s", i > 0 ? "; " : "",
                            rt->provider, cb__fmt_int(acc, N, rt->accounts),
                            rt->accounts == 1 ? "" : "s");
      /* 0 is no limit, and a burst of 0 the daemon's default */
      if (o < sizeof line && rt->rate_per_s > 0)
        o += (size_t)snprintf(line + o, sizeof line - o, " × %s/s (burst %s)",
                              cb__fmt_int(rate, N, rt->rate_per_s),
                              rt->burst > 0 ? cb__fmt_int(burst, N, rt->burst) : "default");
      else if (o < sizeof line)
        o += (size_t)snprintf(line + o, sizeof line - o, ", no rate limit");
    }
    kv(out, "provider rates", line);
    if (!p->has_knobs) {
      fputs("</table>\n", out);
      return;
    }
    char w[N], m[N], c[N], n[N];
    snprintf(
        line, sizeof line, "workers %s, max_inflight %s, provider_concurrency %s, connections %s",
        cb__fmt_int(w, N, p->knobs.workers), cb__fmt_int(m, N, p->knobs.max_inflight),
        cb__fmt_int(c, N, p->knobs.provider_concurrency), cb__fmt_int(n, N, p->knobs.connections));
    kv(out, "knobs", line);
  }
  fputs("</table>\n", out);
}

static void cycles_table(const cb__doc_t *d, FILE *out) {
  fputs("<h2>Cycles</h2>\n<table>\n<tr><th>cycle</th><th>invoices</th><th>start (s)</th>"
        "<th>drain (s)</th><th>window (s)</th><th>met?</th><th>delivered</th><th>dead</th>"
        "<th>retries</th><th>deliveries/s</th><th>p50 (ms)</th><th>p90 (ms)</th><th>p99 (ms)</th>"
        "<th>max (ms)</th></tr>\n",
        out);
  for (size_t i = 0; i < d->ncycles; i++) {
    const cb__cycle_t *c = &d->cycles[i];
    char v[14][N];
    fprintf(out,
            "<tr%s><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
            "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
            c->window_met ? "" : " class=\"missed\"", cb__fmt_int(v[0], N, c->index),
            cb__fmt_int(v[1], N, c->invoices), cb__fmt_dec(v[2], N, c->start_s, 1),
            cb__fmt_dec(v[3], N, c->drain_s, 1), cb__fmt_dec(v[4], N, c->window_s, 1),
            c->window_met ? "yes" : "not met", cb__fmt_int(v[5], N, c->delivered),
            cb__fmt_int(v[6], N, c->dead), cb__fmt_int(v[7], N, c->retries),
            cb__fmt_dec(v[8], N, c->deliveries_per_s, 1), cb__fmt_int(v[9], N, c->lat.p50),
            cb__fmt_int(v[10], N, c->lat.p90), cb__fmt_int(v[11], N, c->lat.p99),
            cb__fmt_int(v[12], N, c->lat.max));
  }
  fputs("</table>\n", out);
}

static void totals_table(const cb__doc_t *d, FILE *out) {
  const cb__totals_t *t = &d->totals;
  char v[N];
  fputs("<h2>Totals</h2>\n<table>\n", out);
  kv(out, "enqueued", cb__fmt_int(v, N, t->enqueued));
  kv(out, "delivered", cb__fmt_int(v, N, t->delivered));
  kv(out, "dead letters", cb__fmt_int(v, N, t->dead));
  kv(out, "lost", cb__fmt_int(v, N, t->lost));
  kv(out, "distinct jobs the mock providers saw delivered", cb__fmt_int(v, N, t->mock_unique));
  kv(out, "retries", cb__fmt_int(v, N, t->retries));
  kv(out, "wall time (s)", cb__fmt_dec(v, N, t->wall_s, 1));
  kv(out, "deliveries/s", cb__fmt_dec(v, N, t->deliveries_per_s, 1));
  kv(out, "CPU-µs per delivery", cb__fmt_int(v, N, t->cpu_us_per_delivery));
  kv(out, "peak RSS", cb__fmt_bytes(v, N, t->peak_rss_bytes));
  fputs("</table>\n", out);
}

static void limit_table(const cb__doc_t *d, FILE *out) {
  const cb__limit_t *l = &d->limit;
  char v[N], line[160];
  fputs("<h2>Against the load tool</h2>\n<table>\n", out);
  snprintf(line, sizeof line, "%s requests/s", l->tool);
  kv(out, line, cb__fmt_int(v, N, l->requests_per_s));
  snprintf(line, sizeof line, "%s requests", l->tool);
  kv(out, line, cb__fmt_int(v, N, l->requests));
  if (!l->has_ours) {
    fputs("</table>\n", out);
    return;
  }
  kv(out, "carteiro requests/s", cb__fmt_int(v, N, l->ours_per_s));
  snprintf(line, sizeof line, "carteiro as a share of %s", l->tool);
  char pct[N + 4];
  snprintf(pct, sizeof pct, "%s %%", cb__fmt_pct(v, N, l->fraction * 100));
  kv(out, line, pct);
  fputs("</table>\n", out);
}

static int sweep_section(const cb__doc_t *d, FILE *out) {
  static const char *const knobs[] = {"workers", "max_inflight", "provider_concurrency",
                                      "connections"};
  const cb__sweep_t *s = &d->sweep;
  char lat[96], v[10][N];
  const cb__point_t **order = cb__sweep_by_rate(s);
  if (order == NULL)
    return CT_ENOMEM;
  fprintf(out,
          "<h2>Sweep</h2>\n<p>%zu settings, %s jobs each, provider latency %s. Best: "
          "workers %s, max_inflight %s, provider_concurrency %s, connections %s — "
          "<strong>%s deliveries/s</strong>.</p>\n",
          s->npoints, cb__fmt_int(v[0], N, s->jobs_per_point),
          cb__fmt_plat(lat, sizeof lat, &s->lat), cb__fmt_int(v[1], N, s->best.workers),
          cb__fmt_int(v[2], N, s->best.max_inflight),
          cb__fmt_int(v[3], N, s->best.provider_concurrency),
          cb__fmt_int(v[4], N, s->best.connections), cb__fmt_int(v[5], N, s->best_per_s));
  int rc = 0;
  fputs("<div class=\"pair\">\n", out);
  for (int k = 0; k < 4 && rc == 0; k++)
    rc = chart_knob(d, out, k, knobs[k]);
  fputs("</div>\n", out);
  fputs(
      "<h3>The grid, by throughput</h3>\n<table>\n<tr><th>rank</th><th>workers</th>"
      "<th>max_inflight</th><th>provider_concurrency</th><th>connections</th>"
      "<th>deliveries/s</th><th>CPU-µs per delivery</th><th>p99 (ms)</th><th>peak RSS</th></tr>\n",
      out);
  for (size_t r = 0; r < s->npoints; r++) {
    const cb__point_t *p = order[r];
    fprintf(out,
            "<tr><td>%zu</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
            "<td>%s</td><td>%s</td></tr>\n",
            r + 1, cb__fmt_int(v[0], N, p->k.workers), cb__fmt_int(v[1], N, p->k.max_inflight),
            cb__fmt_int(v[2], N, p->k.provider_concurrency), cb__fmt_int(v[3], N, p->k.connections),
            cb__fmt_int(v[4], N, p->deliveries_per_s), cb__fmt_int(v[5], N, p->cpu_us_per_delivery),
            cb__fmt_int(v[6], N, p->p99_ms), cb__fmt_bytes(v[7], N, p->peak_rss_bytes));
  }
  fputs("</table>\n", out);
  free(order);
  return rc;
}

static void scale_para(const cb__doc_t *d, FILE *out) {
  char pct[N], run[N], full[N];
  double invoices = 0;
  for (size_t i = 0; i < d->ncycles; i++)
    invoices += d->cycles[i].invoices;
  cb__fmt_int(run, N, invoices);
  cb__fmt_int(full, N, d->full_month_invoices);
  if (d->scale >= 1)
    fprintf(out,
            "<p class=\"scale\">Full size: %s invoices in %zu cycle%s, windows at full "
            "length.</p>\n",
            run, d->ncycles, d->ncycles == 1 ? "" : "s");
  else
    fprintf(out,
            "<p class=\"scale\">Scaled sample: %s %% of the month (%s of %s invoices), windows "
            "scaled alike.</p>\n",
            cb__fmt_pct(pct, N, d->scale * 100), run, full);
}

static int page(const cb__doc_t *d, FILE *out) {
  int rc = 0;
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta "
        "charset=\"utf-8\">\n<title>carteiro-bench ",
        out);
  esc(out, d->kind_name);
  fputs(" — ", out);
  esc(out, d->commit);
  fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>carteiro-bench ", css);
  esc(out, d->kind_name);
  fputs(" <small>(commit ", out);
  esc(out, d->commit);
  fputs(", ", out);
  esc(out, d->created);
  fputs(")</small></h1>\n", out);
  if (d->has_capacity) {
    fprintf(out, "<p class=\"capacity%s\">", d->capacity.fits ? "" : " nofit");
    esc(out, d->capacity.sentence);
    fputs("</p>\n", out);
    char sus[N], pct[N], need[N + 4];
    if (d->capacity.has_needed)
      snprintf(need, sizeof need, "%s %%", cb__fmt_pct(pct, N, d->capacity.needed_percent));
    else
      snprintf(need, sizeof need, "an unknown share");
    fprintf(out, "<p>%s: sustained %s/s, the load needs %s of one instance; bottleneck: ",
            d->capacity.fits ? "Fits" : "Does not fit",
            cb__fmt_int(sus, N, d->capacity.sustained_per_s), need);
    char bn[160];
    esc(out, cb__fmt_bottleneck(bn, sizeof bn, d));
    fputs(".</p>\n", out);
  }
  if (d->kind == CB__MONTH)
    scale_para(d, out);
  run_table(d, out);
  if (d->kind == CB__MONTH) {
    totals_table(d, out);
    cycles_table(d, out);
  } else if (d->has_totals) {
    totals_table(d, out);
  }
  if (d->has_limit)
    limit_table(d, out);
  if (d->kind == CB__MONTH) {
    scratch_t s;
    size_t cap = d->series.n < CB_REPORT_MAX_POINTS ? d->series.n : CB_REPORT_MAX_POINTS;
    s.x = malloc(cap * sizeof *s.x);
    s.y = malloc(cap * sizeof *s.y);
    if (s.x == NULL || s.y == NULL) {
      free(s.x);
      free(s.y);
      return CT_ENOMEM;
    }
    fputs("<h2>Over the run</h2>\n<h3>Deliveries per second, per channel</h3>\n", out);
    chart_throughput(d, out, &s);
    fputs("<h3>Latency per cycle</h3>\n", out);
    chart_latency(d, out);
    fputs("<h3>Jobs in flight</h3>\n", out);
    chart_inflight(d, out, &s);
    fputs("<h3>Retries and dead letters</h3>\n", out);
    chart_retries(d, out, &s);
    free(s.x);
    free(s.y);
  }
  if (d->kind == CB__SWEEP)
    rc = sweep_section(d, out);
  if (d->kind == CB__LIMIT) {
    fputs("<h3>Requests per second</h3>\n", out);
    chart_limit(d, out);
  }
  fputs("</body>\n</html>\n", out);
  return rc;
}

int cb_report_html(const json_t *result, FILE *out) {
  cb__doc_t d;
  char err[8];
  int rc = cb__doc_read(result, &d, err, sizeof err);
  if (rc != 0)
    return rc;
  rc = page(&d, out);
  if (rc == 0 && (fflush(out) != 0 || ferror(out)))
    rc = CT_EIO;
  cb__doc_free(&d);
  return rc;
}
