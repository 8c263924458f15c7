/* A one-line progress bar on stderr, drawn only on a terminal and at most five times a second
 * so that it costs nothing measurable on a million-record import. */
#include "cli/cli.h"

#include "common/clock.h"

#include <stdio.h>
#include <unistd.h>

#define BAR_WIDTH 30
#define REDRAW_US 200000

void ct_progress_start(ct_progress_t *p, const char *label, bool enabled) {
  p->enabled = enabled && isatty(STDERR_FILENO);
  p->label = label;
  p->started_us = ct_mono_us();
  p->last_draw_us = 0;
}

void ct_progress_update(ct_progress_t *p, uint64_t done, uint64_t total, uint64_t records) {
  if (!p->enabled)
    return;
  int64_t now = ct_mono_us();
  if (now - p->last_draw_us < REDRAW_US)
    return;
  p->last_draw_us = now;
  double secs = (double)(now - p->started_us) / 1e6;
  double rate = secs > 0 ? (double)records / secs : 0;
  if (total > 0) {
    if (done > total)
      done = total;
    int filled = (int)(done * BAR_WIDTH / total);
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
      bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%% %llu records %.0f/s ", p->label, bar,
            (int)(done * 100 / total), (unsigned long long)records, rate);
  } else {
    fprintf(stderr, "\r%s %llu records %.0f/s ", p->label, (unsigned long long)records, rate);
  }
  fflush(stderr);
}

void ct_progress_finish(ct_progress_t *p) {
  if (p->enabled && p->last_draw_us != 0) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
}
