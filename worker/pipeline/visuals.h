/*  visuals — drawing one slide, reachable on its own for tests. */
#ifndef AURA_WORKER_VISUALS_H
#define AURA_WORKER_VISUALS_H

#include <cairo.h>

#include "media.h"

/*  Draws slide `scene` (0-based) of plan onto an ARGB32 image surface,
    whose size sets the layout. *font_scale (may be NULL) is set to the
    share of the design font size used, 1 when nothing had to shrink.
    Returns 0, -EINVAL for a scene out of range or an unusable surface, or
    -ENOMEM. */
int media_visuals_draw_slide (const media_plan_t *plan, int scene,
                              cairo_surface_t *surface, double *font_scale);

#endif
