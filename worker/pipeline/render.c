/*  render — the video: each slide converted to YUV once and shown for its
    clip's time, fading into the next; each scene's narration placed at its
    clip's start; H.264 (libx264) and AAC in an MP4 with the index up front
    (+faststart), so players start before the download ends. */
#include "media.h"

#include <cairo.h>
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/bprint.h>
#include <libavutil/channel_layout.h>
#include <libavutil/fifo.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define S_AUDIO_RATE 48000
#define S_AUDIO_CHANNELS 2
#define S_AUDIO_BITRATE_K 128        /* when the plan names none */
#define S_AUDIO_CHUNK 4096           /* WAV frames resampled per pass */
#define S_AUDIO_BUFFER 16384         /* room for what one pass gives */
#define S_WAV_MAX_BYTES (256L << 20) /* far above ten minutes of 22 kHz */
#define S_GOP_S 2                    /* a keyframe every 2 s: seeking */
#define S_ENCODER_THREADS 2          /* the machines have two cores */
#define S_MAX_ENCODERS 2             /* see s_render */
/*  Larger frames get one encoder of S_ENCODER_THREADS threads: each x264
    encoder holds dozens of frames (bench_media at 1080p, the plan's
    largest named size, peaks at 789 MB with two encoders, 474 MB with
    one). */
#define S_PARALLEL_MAX_PIXELS (1920 * 1088)
#define S_ENCODER_NICE 5             /* see s_render_main */
#define S_POLL_MS 25                 /* ask whether to stop (≤ 50 ms) */
/*  Progress events: at most one per S_REPORT_MS, and then only when the
    step has moved on by S_REPORT_STEP since the last one or the last one
    is S_REPORT_IDLE_MS old (its ETA needs renewing). A render of any
    length then costs its job's stream about 20 events, or one a second
    when it is slow: bytes a client on a metered link pays for. */
#define S_REPORT_MS 250
#define S_REPORT_STEP 0.05
#define S_REPORT_IDLE_MS 1000
#define S_PATH_SIZE 4096
/*  Limits on what timeline.json may ask for. */
#define S_MAX_SIDE 8192
#define S_MAX_FPS 120
#define S_MAX_TOTAL_S (4 * 3600.0)
#define S_MAX_CROSSFADE_S 5.0

/*  One scene's narration: 16-bit PCM as read from scene-NN.wav. */
typedef struct {
    uint8_t *file;                 /* the whole file; pcm points into it */
    const int16_t *pcm;            /* interleaved, native endianness */
    int channels;
    int rate;
    int64_t frames;
    int64_t pos;                   /* frames handed to the resampler */
} s_wav_t;

/*  The audio track, produced in step with the video: narration at each
    clip's start, silence elsewhere. */
typedef struct {
    AVCodecContext *enc;
    AVStream *stream;
    AVAudioFifo *fifo;             /* placed but not yet encoded */
    AVFrame *frame;
    uint8_t **buffer;              /* S_AUDIO_BUFFER float samples a channel */
    uint8_t **silence;             /* S_AUDIO_BUFFER zeros a channel */
    SwrContext *swr;               /* of the open clip */
    s_wav_t wav;
    int clip;                      /* the next clip to place, or the open one */
    bool clip_open;
    int64_t clip_end;              /* where the open clip's audio stops */
    int64_t cursor;                /* samples placed so far */
    int64_t total;                 /* samples in the track */
    int64_t next_pts;              /* samples sent to the encoder */
} s_audio_t;

typedef struct s_render s_render_t;

/*  One libx264 encoder and the thread that feeds it. Encoder i of n makes
    GOPs i, i + n, i + 2n … of the video (see s_render), numbering their
    frames from 0 as if they followed each other. */
typedef struct {
    s_render_t *render;
    int index;
    AVCodecContext *enc;
    struct SwsContext *sws;        /* for the slides it loads */
    AVFrame *blend;                /* a crossfade frame */
    AVFrame *picture;              /* what it sends: a reference */
    AVPacket *packet;
    pthread_t thread;
    bool started;
    int scene;                     /* the first slide it may still show;
                                      slides_lock */
    /* guarded by the render's queue_lock */
    AVFifo *queue;                 /* AVPacket *, encoded, in coding order */
    int64_t gops_done;             /* its first gops_done GOPs are queued */
    bool finished;                 /* its thread ended with `result` */
    int result;
} s_encoder_t;

typedef struct {
    AVStream *stream;
    int gop;                       /* frames from a keyframe to the next */
    int64_t gops;                  /* GOPs in the video */
    int64_t cut;                   /* where the last GOP begins when it is
                                      half of one (see s_video_open), or 0 */
    s_encoder_t encoders[S_MAX_ENCODERS];
    int encoder_count;
    pthread_mutex_t slides_lock;   /* slides, loading, encoders' scene */
    pthread_cond_t slide_loaded;
    AVFrame *slides[MEDIA_MAX_SCENES];   /* YUV, loaded when first needed */
    bool loading[MEDIA_MAX_SCENES];
} s_video_t;

struct s_render {
    const pipeline_input_t *input;
    const media_timeline_t *timeline;
    const media_plan_t *plan;
    pipeline_error_t *error;
    pipeline_progress_fn progress;
    void *progress_ctx;
    bool canceled;                 /* progress said stop */
    int64_t started_ms;
    int64_t last_poll_ms;
    int64_t last_report_ms;
    double last_report_fraction;
    /* shared by the step's thread and the encoding thread */
    atomic_bool stop;              /* set by the step: end early */
    atomic_bool finished;          /* set by the encoder: s_render returned */
    atomic_bool abort;             /* an encoder failed: the others stop */
    _Atomic int64_t frames_done;   /* sent to the encoders */
    int64_t frames_total;
    int result;                    /* of s_render, read after the join */
    pthread_mutex_t error_lock;    /* error, failed */
    bool failed;                   /* error filled: the first failure wins */
    pthread_mutex_t queue_lock;    /* the encoders' queues */
    pthread_cond_t queue_changed;
    AVFormatContext *oc;
    AVPacket *packet;              /* audio's */
    s_video_t video;
    s_audio_t audio;
    char tmp_path[S_PATH_SIZE];
};

/*  Fills the step's error for a failure of what `fmt` describes, unless
    an earlier failure (on any thread) did; rc is a libav or negative errno
    code. Returns the negative errno the step returns (-EIO for libav's
    own codes). */
static int
s_fail (s_render_t *self, int rc, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (s_render_t *self, int rc, const char *fmt, ...)
{
    if (rc == -ECANCELED)
        return rc;
    char what[256];
    va_list args;
    va_start (args, fmt);
    vsnprintf (what, sizeof what, fmt, args);
    va_end (args);
    char reason[AV_ERROR_MAX_STRING_SIZE];
    av_strerror (rc, reason, sizeof reason);
    bool errno_code = rc < 0 && rc > -4096;
    pthread_mutex_lock (&self->error_lock);
    if (self->failed)
        ;
    else if (rc == AVERROR (ENOSPC))
        pipeline_error_set (self->error, "DiskFull", true, "%s: %s", what,
                            reason);
    else
        pipeline_error_set (self->error, "RenderFailed",
                            rc == -EIO || rc == -ENOMEM || rc == -EAGAIN,
                            "%s: %s", what, reason);
    self->failed = true;
    pthread_mutex_unlock (&self->error_lock);
    return errno_code ? rc : -EIO;
}

/*  From the step's thread only: reports `fraction` with a message when
    forced or when it is time to (see S_REPORT_MS), else only asks whether
    to go on. Returns 0 or -ECANCELED. */
static int
s_progress (s_render_t *self, double fraction, bool force, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_progress (s_render_t *self, double fraction, bool force, const char *fmt, ...)
{
    if (self->canceled)
        return -ECANCELED;
    int64_t now_ms = pipeline_clock_ms ();
    int rc;
    int64_t since_ms = now_ms - self->last_report_ms;
    if (force
        || (since_ms >= S_REPORT_MS
            && (fraction - self->last_report_fraction >= S_REPORT_STEP
                || since_ms >= S_REPORT_IDLE_MS))) {
        char message[PIPELINE_MESSAGE_SIZE];
        va_list args;
        va_start (args, fmt);
        vsnprintf (message, sizeof message, fmt, args);
        va_end (args);
        /* from the frames per second so far */
        int eta_s = -1;
        int64_t done = atomic_load (&self->frames_done);
        double elapsed_s = (now_ms - self->started_ms) / 1000.0;
        if (fraction >= 1)
            eta_s = 0;
        else if (done > 0 && elapsed_s > 0 && self->frames_total > 0)
            eta_s = (int) ceil ((self->frames_total - done)
                                / (done / elapsed_s));
        rc = self->progress (self->progress_ctx, STEP_RENDER, fraction, message,
                             eta_s);
        self->last_report_ms = now_ms;
        self->last_report_fraction = fraction;
    }
    else
        rc = self->progress (self->progress_ctx, STEP_RENDER, 0, NULL, -1);
    self->last_poll_ms = now_ms;
    if (rc != 0) {
        self->canceled = true;
        return -ECANCELED;
    }
    return 0;
}

/*  From the encoding threads: -ECANCELED once the step asked them to
    stop, or an encoder failed. */
static int
s_poll (s_render_t *self)
{
    return atomic_load (&self->stop) || atomic_load (&self->abort)
               ? -ECANCELED
               : 0;
}

/* ------------------------------------------------------------------ */
/*  Checking the inputs                                                */

static int
s_timeline_check (s_render_t *self)
{
    const media_timeline_t *t = self->timeline;
    const char *problem = NULL;
    if (t->width < 16 || t->height < 16 || t->width > S_MAX_SIDE
        || t->height > S_MAX_SIDE || t->width % 2 || t->height % 2)
        problem = "size must be even and 16 to 8192 pixels";
    else if (t->fps < 1 || t->fps > S_MAX_FPS)
        problem = "fps out of range";
    else if (t->clip_count < 1 || t->clip_count > MEDIA_MAX_SCENES)
        problem = "clip count out of range";
    else if (!(t->total_s > 0 && t->total_s <= S_MAX_TOTAL_S))
        problem = "total length out of range";
    else if (!(t->crossfade_s >= 0 && t->crossfade_s <= S_MAX_CROSSFADE_S))
        problem = "crossfade out of range";
    for (int i = 0; !problem && i < t->clip_count; i++) {
        const media_clip_t *c = &t->clips[i];
        if (!(c->start_s >= 0 && c->start_s <= t->total_s)
            || !(c->duration_s >= 0 && isfinite (c->duration_s)))
            problem = "a clip lies outside the video";
        else if (i > 0 && c->start_s < t->clips[i - 1].start_s)
            problem = "clips out of order";
    }
    if (!problem)
        return 0;
    pipeline_error_set (self->error, "RenderFailed", false,
                        "timeline.json: %s", problem);
    return -EINVAL;
}

/*  Libx264's constant rate factor and preset for a qualityLevel (0..100),
    as Aura maps them: better quality, lower CRF and a slower preset. */
static double
s_crf_for (int quality)
{
    double crf = 28.0 - 0.14 * quality;
    return crf < 14 ? 14 : crf > 28 ? 28 : crf;
}

static const char *
s_preset_for (int quality)
{
    return quality >= 90 ? "slow"
         : quality >= 75 ? "medium"
         : quality >= 50 ? "fast"
         : quality >= 25 ? "faster"
                         : "veryfast";
}

/* ------------------------------------------------------------------ */
/*  Video                                                               */

/*  Reads scene-NN.png and converts it to a YUV 4:2:0 frame of the video's
    size (BT.709, limited range). Returns 0 with *frame set, or a negative
    code with the error filled. */
static int
s_slide_load (s_encoder_t *e, int scene, AVFrame **frame)
{
    s_render_t *self = e->render;
    const media_timeline_t *t = self->timeline;
    char name[32];
    char path[S_PATH_SIZE];
    snprintf (name, sizeof name, "scene-%02d.png", scene + 1);
    int rc = media_path (path, sizeof path, self->input->artifact_dir, name);
    if (rc < 0)
        return s_fail (self, rc, "path of %s", name);

    AVFrame *yuv = NULL;
    cairo_surface_t *png = cairo_image_surface_create_from_png (path);
    cairo_status_t status = cairo_surface_status (png);
    if (status != CAIRO_STATUS_SUCCESS) {
        rc = status == CAIRO_STATUS_FILE_NOT_FOUND ? -ENOENT
             : status == CAIRO_STATUS_NO_MEMORY ? -ENOMEM : -EIO;
        rc = s_fail (self, rc, "cannot read %s", name);
        goto cleanup;
    }
    cairo_surface_flush (png);
    int width = cairo_image_surface_get_width (png);
    int height = cairo_image_surface_get_height (png);
    /* cairo's ARGB32 is a native-endian 0xAARRGGBB word: libav's RGB32 */
    e->sws = sws_getCachedContext (
        e->sws, width, height, AV_PIX_FMT_RGB32, t->width, t->height,
        AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND, NULL, NULL, NULL);
    yuv = av_frame_alloc ();
    if (!e->sws || !yuv) {
        rc = s_fail (self, -ENOMEM, "cannot convert %s", name);
        goto cleanup;
    }
    const int *bt709 = sws_getCoefficients (SWS_CS_ITU709);
    sws_setColorspaceDetails (e->sws, bt709, 1, bt709, 0, 0, 1 << 16,
                              1 << 16);
    yuv->format = AV_PIX_FMT_YUV420P;
    yuv->width = t->width;
    yuv->height = t->height;
    yuv->color_range = AVCOL_RANGE_MPEG;
    yuv->colorspace = AVCOL_SPC_BT709;
    yuv->color_primaries = AVCOL_PRI_BT709;
    yuv->color_trc = AVCOL_TRC_BT709;
    rc = av_frame_get_buffer (yuv, 0);
    if (rc < 0) {
        rc = s_fail (self, rc, "cannot convert %s", name);
        goto cleanup;
    }
    const uint8_t *src[1] = { cairo_image_surface_get_data (png) };
    const int src_stride[1] = { cairo_image_surface_get_stride (png) };
    sws_scale (e->sws, src, src_stride, 0, height, yuv->data, yuv->linesize);
    *frame = yuv;
    yuv = NULL;

cleanup:
    av_frame_free (&yuv);
    cairo_surface_destroy (png);
    return rc;
}

/*  Makes slide `scene` available to encoder e, which shows no slide
    before `first` again, and frees the slides no encoder shows again. A
    slide is loaded once, on first use, outside the lock: the other
    encoder goes on meanwhile, or waits if it needs the same slide.
    Returns 0 with *frame set, or a negative code with the error filled. */
static int
s_slide_get (s_encoder_t *e, int first, int scene, AVFrame **frame)
{
    s_render_t *self = e->render;
    s_video_t *v = &self->video;
    int rc = 0;
    pthread_mutex_lock (&v->slides_lock);
    e->scene = first;
    int needed = first;
    for (int i = 0; i < v->encoder_count; i++)
        if (v->encoders[i].scene < needed)
            needed = v->encoders[i].scene;
    for (int i = 0; i < needed; i++)
        if (!v->loading[i])
            av_frame_free (&v->slides[i]);
    while (v->loading[scene])
        pthread_cond_wait (&v->slide_loaded, &v->slides_lock);
    if (!v->slides[scene]) {
        v->loading[scene] = true;
        pthread_mutex_unlock (&v->slides_lock);
        AVFrame *slide = NULL;
        rc = s_poll (self);
        if (rc == 0)
            rc = s_slide_load (e, scene, &slide);
        pthread_mutex_lock (&v->slides_lock);
        v->slides[scene] = slide;
        v->loading[scene] = false;
        pthread_cond_broadcast (&v->slide_loaded);
    }
    *frame = v->slides[scene];
    pthread_mutex_unlock (&v->slides_lock);
    return rc;
}

/*  What frame n of the timeline shows: the slide of `scene`, faded toward
    the next scene's by weight/256 while `fading`. A scene's slide is whole
    from its clip's start; the crossfade into it takes the crossfade_s
    before (at most half the time since the previous clip's start), over
    the previous scene's pause. Pure: the same answer for the same frame. */
typedef struct {
    int scene;
    bool fading;
    unsigned weight;               /* of the next slide, 0..256 */
} s_shot_t;

static s_shot_t
s_shot_at (const media_timeline_t *t, int64_t n)
{
    s_shot_t shot = { 0, false, 0 };
    double time_s = (double) n / t->fps;
    while (shot.scene + 1 < t->clip_count
           && t->clips[shot.scene + 1].start_s <= time_s + 1e-9)
        shot.scene++;
    if (shot.scene + 1 >= t->clip_count)
        return shot;
    double start_s = t->clips[shot.scene].start_s;
    double next_s = t->clips[shot.scene + 1].start_s;
    double fade_s = t->crossfade_s;
    if (fade_s > (next_s - start_s) / 2)
        fade_s = (next_s - start_s) / 2;
    double fade_start_s = next_s - fade_s;
    if (fade_s <= 0 || time_s < fade_start_s)
        return shot;
    /* sampled at the middle of the frame: no frame is wholly either */
    double alpha = (time_s + 0.5 / t->fps - fade_start_s) / fade_s;
    alpha = alpha < 0 ? 0 : alpha > 1 ? 1 : alpha;
    shot.fading = true;
    shot.weight = (unsigned) lround (alpha * 256);
    return shot;
}

/*  One row of s_blend. Rows go in blocks of S_BLEND_BLOCK bytes, a loop
    whose trip count the compiler knows, so that GCC vectorizes it at -O2
    (its cheap cost model leaves the plain loop scalar); 16 bits hold the
    sum, as 255 · 256 + 128 < 65536. */
#define S_BLEND_BLOCK 64
static void
s_blend_row (uint8_t *restrict dst, const uint8_t *restrict a,
             const uint8_t *restrict b, int width, unsigned weight)
{
    uint16_t wa = (uint16_t) (256 - weight);
    uint16_t wb = (uint16_t) weight;
    int x = 0;
    for (; x + S_BLEND_BLOCK <= width; x += S_BLEND_BLOCK)
        for (int i = 0; i < S_BLEND_BLOCK; i++)
            dst[x + i] = (uint8_t) ((uint16_t) (a[x + i] * wa + b[x + i] * wb
                                                + 128)
                                    >> 8);
    for (; x < width; x++)
        dst[x] = (uint8_t) ((uint16_t) (a[x] * wa + b[x] * wb + 128) >> 8);
}

/*  dst = a·(256 − weight)/256 + b·weight/256 on every plane of two YUV
    4:2:0 frames of the same size. */
static int
s_blend (AVFrame *dst, const AVFrame *a, const AVFrame *b, unsigned weight)
{
    int rc = av_frame_make_writable (dst);
    if (rc < 0)
        return rc;
    for (int plane = 0; plane < 3; plane++) {
        int width = plane ? (dst->width + 1) / 2 : dst->width;
        int height = plane ? (dst->height + 1) / 2 : dst->height;
        for (int y = 0; y < height; y++)
            s_blend_row (dst->data[plane] + (ptrdiff_t) y * dst->linesize[plane],
                         a->data[plane] + (ptrdiff_t) y * a->linesize[plane],
                         b->data[plane] + (ptrdiff_t) y * b->linesize[plane],
                         width, weight);
    }
    return 0;
}

/*  The picture of frame n (see s_shot_at) for encoder e, whose frames
    go forward. Returns 0 with *frame set (owned by self), or a negative
    code with the error filled. */
static int
s_video_picture (s_encoder_t *e, int64_t n, AVFrame **frame)
{
    s_shot_t shot = s_shot_at (e->render->timeline, n);
    AVFrame *current;
    int rc = s_slide_get (e, shot.scene, shot.scene, &current);
    if (rc < 0)
        return rc;
    *frame = current;
    if (!shot.fading)
        return 0;
    AVFrame *next;
    rc = s_slide_get (e, shot.scene, shot.scene + 1, &next);
    if (rc < 0)
        return rc;
    rc = s_blend (e->blend, current, next, shot.weight);
    if (rc < 0)
        return s_fail (e->render, rc, "cannot blend scenes %d and %d",
                       shot.scene + 1, shot.scene + 2);
    *frame = e->blend;
    return 0;
}

/*  Writes every packet the audio encoder has ready. Returns 0,
    -ECANCELED or a libav code. */
static int
s_drain (s_render_t *self, AVCodecContext *enc, AVStream *stream)
{
    while (true) {
        if (s_poll (self) < 0)
            return -ECANCELED;
        int rc = avcodec_receive_packet (enc, self->packet);
        if (rc == AVERROR (EAGAIN) || rc == AVERROR_EOF)
            return 0;
        if (rc < 0)
            return rc;
        av_packet_rescale_ts (self->packet, enc->time_base, stream->time_base);
        self->packet->stream_index = stream->index;
        rc = av_interleaved_write_frame (self->oc, self->packet);
        if (rc < 0)
            return rc;
    }
}

/*  The first frame of GOP g of the video; of GOP gops, the video's end.
    Every GOP but the last two is v->gop frames long; an encoder numbers
    the frames of its GOPs from 0 on, so its q-th GOP begins at its frame
    q · v->gop (only its last GOP can be shorter). */
static int64_t
s_gop_start (const s_video_t *v, int64_t frames, int64_t g)
{
    if (v->cut > 0 && g == v->gops - 1)
        return v->cut;
    return g * v->gop < frames ? g * v->gop : frames;
}

/*  The GOP frame n belongs to. */
static int64_t
s_gop_of (const s_video_t *v, int64_t n)
{
    return v->cut > 0 && n >= v->cut ? v->gops - 1 : n / v->gop;
}

/*  Slides are still pictures. Between crossfades every frame repeats the
    one before it, and x264 codes nearly all of it as skipped blocks
    whatever it searched; in a crossfade nothing moves. What x264 searches
    costs the same on a repeat as on motion, so the frames get zones of
    x264 settings that find "no motion" cheaply, measured to leave the
    picture as it was. Keyframes, and the first and last frames of each
    run of repeats (see S_RUN_EDGE), keep the preset's settings.
    Repeats: subme=1 compares sub-pixel positions by SAD without
    rate-distortion analysis, and below subme 3 x264 skips a block when a
    neighbour is skipped instead of searching it first; me=dia and ref=1
    search the nearest position of the nearest picture. Crossfades: me=dia.
    Measured on bench_media's timeline (30 s, 6 scenes, 1080p, quality 75)
    with x264 alone on one thread, on a shared machine: CPU 14.2 s → 9.5 s
    (medians of 4 runs; me=dia in crossfades gave 0.7 s of it, the mean
    of 6 pairs). PSNR of each decoded frame against the picture sent,
    luma, mean (lowest): repeats 58.30 (52.04) → 58.64 (52.04) dB,
    crossfades 54.33 (50.25) → 54.39 (50.20) dB; SSIM 0.99984 → 0.99985
    and 0.99962 → 0.99961; 1564 → 1583 kB. */
#define S_REPEAT_SETTINGS "subme=1,me=dia,ref=1"
#define S_FADE_SETTINGS "me=dia"
/*  x264's presets from veryfast to slow put at most 3 B-frames in a row,
    so a run's first reference picture is among its first 4 frames, and
    a B-frame that predicts from the crossfade after the run among its last
    3: all of them keep the preset's settings (without the margin at the
    end, a skipped B-frame blended in the crossfade: 50.7 dB). */
#define S_RUN_EDGE 4
/*  A bound on the zones of an encoder: x264 copies its parameters per
    zone, and x264 0.164 never frees the list of zones it parses (32 bytes
    a zone, an encoder; see tests/sanitizers). The plan's longest video,
    600 s, needs about 320 in all. A longer video encodes its later frames
    with the preset's settings. */
#define S_MAX_ZONES 1000

typedef struct {
    AVBPrint *out;
    const s_video_t *video;
    int64_t frames;
    int index;                     /* the encoder whose zones these are */
    int zones;                     /* printed */
} s_zones_t;

/*  Prints a zone of `settings` over frames first..last of the video, cut
    at the keyframes (each GOP's first frame), for the GOPs of encoder
    z->index, in its own frame numbers. */
static void
s_zone_print (s_zones_t *z, int64_t first, int64_t last, const char *settings)
{
    const s_video_t *v = z->video;
    while (first <= last && z->zones < S_MAX_ZONES) {
        int64_t g = s_gop_of (v, first);
        int64_t gop_start = s_gop_start (v, z->frames, g);
        if (first == gop_start) {
            first++;
            continue;
        }
        int64_t end = s_gop_start (v, z->frames, g + 1) - 1;
        if (end > last)
            end = last;
        if (g % v->encoder_count == z->index) {
            int64_t shift = gop_start - g / v->encoder_count * v->gop;
            av_bprintf (z->out, "%s%lld,%lld,%s", z->zones ? "/" : "",
                        (long long) (first - shift), (long long) (end - shift),
                        settings);
            z->zones++;
        }
        first = end + 1;
    }
}

/*  Appends to `out` the zones of encoder `index` (see s_render) for
    frames 0..frames-1: runs of repeated frames, and crossfades. Returns
    how many. */
static int
s_zones_print (const media_timeline_t *t, const s_video_t *v, int64_t frames,
               int index, AVBPrint *out)
{
    s_zones_t z = { out, v, frames, index, 0 };
    int64_t start = 0;
    s_shot_t previous = s_shot_at (t, 0);
    for (int64_t n = 1; n <= frames; n++) {
        s_shot_t shot = previous;
        if (n < frames) {
            shot = s_shot_at (t, n);
            if (shot.fading == previous.fading && shot.scene == previous.scene)
                continue;
        }
        /* frames start..n-1 are a crossfade, or repeat frame `start` */
        if (previous.fading)
            s_zone_print (&z, start, n - 1, S_FADE_SETTINGS);
        else
            s_zone_print (&z, start + S_RUN_EDGE,
                          n < frames ? n - 1 - S_RUN_EDGE : n - 1,
                          S_REPEAT_SETTINGS);
        start = n;
        previous = shot;
    }
    return z.zones;
}

/*  Sets encoder e's x264 settings on top of the preset (x264-params).
    Returns 0 or a negative code. */
static int
s_x264_params_set (s_encoder_t *e)
{
    s_render_t *self = e->render;
    s_video_t *v = &self->video;
    AVBPrint params;
    av_bprint_init (&params, 0, AV_BPRINT_SIZE_UNLIMITED);
    av_bprintf (&params, "zones=");
    /* x264 refuses an empty list */
    if (s_zones_print (self->timeline, v, self->frames_total, e->index,
                       &params)
        == 0)
        av_bprint_clear (&params);
    int rc = -ENOMEM;
    if (av_bprint_is_complete (&params))
        rc = params.len > 0 ? av_opt_set (e->enc->priv_data, "x264-params",
                                          params.str, 0)
                            : 0;
    av_bprint_finalize (&params, NULL);
    return rc;
}

static void
s_encoder_free (s_encoder_t *e)
{
    if (e->queue) {
        AVPacket *packet;
        while (av_fifo_read (e->queue, &packet, 1) == 0)
            av_packet_free (&packet);
        av_fifo_freep2 (&e->queue);
    }
    avcodec_free_context (&e->enc);
    av_frame_free (&e->blend);
    av_frame_free (&e->picture);
    av_packet_free (&e->packet);
    sws_freeContext (e->sws);
    e->sws = NULL;
}

/*  Opens encoder e with `threads` x264 threads. Returns 0 or a negative
    code with the error filled. */
static int
s_encoder_open (s_render_t *self, s_encoder_t *e, int threads)
{
    const media_timeline_t *t = self->timeline;
    const AVCodec *codec = avcodec_find_encoder_by_name ("libx264");
    if (!codec) {
        pipeline_error_set (self->error, "RenderFailed", false,
                            "libavcodec has no libx264 encoder");
        return -ENOSYS;
    }
    AVCodecContext *enc = avcodec_alloc_context3 (codec);
    e->enc = enc;
    e->blend = av_frame_alloc ();
    e->picture = av_frame_alloc ();
    e->packet = av_packet_alloc ();
    e->queue = av_fifo_alloc2 (64, sizeof (AVPacket *), AV_FIFO_FLAG_AUTO_GROW);
    if (!enc || !e->blend || !e->picture || !e->packet || !e->queue)
        return s_fail (self, -ENOMEM, "cannot set up the video encoder");
    /* it may run ahead of the other by every packet of its half */
    av_fifo_auto_grow_limit (e->queue, (size_t) self->frames_total + 1);
    enc->width = t->width;
    enc->height = t->height;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = (AVRational){ 1, t->fps };
    enc->framerate = (AVRational){ t->fps, 1 };
    enc->sample_aspect_ratio = (AVRational){ 1, 1 };
    enc->gop_size = self->video.gop;
    enc->thread_count = threads;
    enc->color_range = AVCOL_RANGE_MPEG;
    enc->colorspace = AVCOL_SPC_BT709;
    enc->color_primaries = AVCOL_PRI_BT709;
    enc->color_trc = AVCOL_TRC_BT709;
    if (self->plan->video_bitrate_k > 0) {
        /* a cap on top of constant quality: x264's VBV */
        enc->rc_max_rate = (int64_t) self->plan->video_bitrate_k * 1000;
        enc->rc_buffer_size = (int) (2 * enc->rc_max_rate);
    }
    if (self->oc->oformat->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    av_opt_set (enc->priv_data, "preset", s_preset_for (self->plan->quality),
                0);
    av_opt_set_double (enc->priv_data, "crf", s_crf_for (self->plan->quality),
                       0);
    int rc = s_x264_params_set (e);
    if (rc < 0)
        return s_fail (self, rc, "cannot set up the video encoder");
    rc = avcodec_open2 (enc, codec, NULL);
    if (rc < 0)
        return s_fail (self, rc, "cannot open libx264 at %dx%d", t->width,
                       t->height);

    AVFrame *blend = e->blend;
    blend->format = AV_PIX_FMT_YUV420P;
    blend->width = t->width;
    blend->height = t->height;
    blend->color_range = AVCOL_RANGE_MPEG;
    blend->colorspace = AVCOL_SPC_BT709;
    blend->color_primaries = AVCOL_PRI_BT709;
    blend->color_trc = AVCOL_TRC_BT709;
    rc = av_frame_get_buffer (blend, 0);
    if (rc < 0)
        return s_fail (self, rc, "cannot allocate a video frame");
    return 0;
}

/*  Whether one encoder of S_ENCODER_THREADS threads makes the video, or
    S_MAX_ENCODERS of one thread each (see s_render). A bitrate cap is a
    promise about the stream as played, which only one encoder's VBV model
    can keep. */
static int
s_encoder_count (const s_render_t *self)
{
    const media_timeline_t *t = self->timeline;
    int64_t gop = S_GOP_S * t->fps;
    if (self->plan->video_bitrate_k > 0 || self->frames_total <= gop
        || (int64_t) t->width * t->height > S_PARALLEL_MAX_PIXELS)
        return 1;
    return S_MAX_ENCODERS;
}

/*  Lays out the GOPs for `count` encoders and opens them. Returns 0 or a
    negative code with the error filled. */
static int
s_encoders_open (s_render_t *self, int count)
{
    s_video_t *v = &self->video;
    v->gop = S_GOP_S * self->timeline->fps;
    v->gops = (self->frames_total + v->gop - 1) / v->gop;
    v->cut = 0;
    v->encoder_count = count;
    /* with an odd number of GOPs one encoder would make a whole GOP more
       than the other, which then waits (bench_media's 30 s at 1080p: 8
       GOPs against 7, 7.1 s of CPU against 6.1 s). Cut in halves, with
       one keyframe more, the last GOP evens it out (5.3 and 5.2 s). */
    int64_t last_start = (v->gops - 1) * v->gop;
    if (count == 2 && v->gops % 2 == 1
        && self->frames_total - last_start >= 2) {
        v->cut = last_start + (self->frames_total - last_start) / 2;
        v->gops++;
    }
    for (int i = 0; i < count; i++) {
        s_encoder_t *e = &v->encoders[i];
        e->render = self;
        e->index = i;
        int rc = s_encoder_open (self, e, count > 1 ? 1 : S_ENCODER_THREADS);
        if (rc == 0)
            rc = s_poll (self);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/*  True when every encoder's headers (SPS, PPS) are the first's: they
    make one stream. */
static bool
s_encoders_agree (const s_video_t *v)
{
    const AVCodecContext *first = v->encoders[0].enc;
    for (int i = 1; i < v->encoder_count; i++) {
        const AVCodecContext *enc = v->encoders[i].enc;
        if (enc->extradata_size != first->extradata_size
            || (first->extradata_size > 0
                && memcmp (enc->extradata, first->extradata,
                           (size_t) first->extradata_size)
                       != 0))
            return false;
    }
    return true;
}

/*  Opens the encoders and adds the video stream. Returns 0 or a negative
    code with the error filled. */
static int
s_video_open (s_render_t *self)
{
    s_video_t *v = &self->video;
    int rc = s_encoders_open (self, s_encoder_count (self));
    if (rc == 0 && !s_encoders_agree (v)) {
        /* never seen; one encoder makes the video then */
        for (int i = 0; i < S_MAX_ENCODERS; i++)
            s_encoder_free (&v->encoders[i]);
        rc = s_encoders_open (self, 1);
    }
    if (rc < 0)
        return rc;
    const AVCodecContext *first = v->encoders[0].enc;

    AVStream *stream = avformat_new_stream (self->oc, NULL);
    if (!stream)
        return s_fail (self, -ENOMEM, "cannot add the video stream");
    v->stream = stream;
    stream->time_base = first->time_base;
    stream->avg_frame_rate = first->framerate;
    stream->sample_aspect_ratio = first->sample_aspect_ratio;
    rc = avcodec_parameters_from_context (stream->codecpar, first);
    if (rc < 0)
        return s_fail (self, rc, "cannot describe the video stream");
    return 0;
}

/*  Moves the packet encoder e has just received into its queue. A packet
    of a later GOP than any before it tells that the earlier GOPs are
    whole: GOPs are closed, and packets come in coding order. Returns 0 or
    a libav code. */
static int
s_encoder_queue (s_encoder_t *e)
{
    s_render_t *self = e->render;
    AVPacket *packet = av_packet_alloc ();
    if (!packet) {
        av_packet_unref (e->packet);
        return AVERROR (ENOMEM);
    }
    av_packet_move_ref (packet, e->packet);
    int64_t gop = packet->pts / self->video.gop;
    pthread_mutex_lock (&self->queue_lock);
    int rc = av_fifo_write (e->queue, &packet, 1);
    if (rc == 0 && gop > e->gops_done) {
        e->gops_done = gop;
        pthread_cond_broadcast (&self->queue_changed);
    }
    pthread_mutex_unlock (&self->queue_lock);
    if (rc < 0)
        av_packet_free (&packet);
    return rc;
}

/*  Sends frame n of the video to encoder e as its frame m, or flushes the
    encoder (n < 0), and queues every packet that comes out. When flushing
    each packet may cost a frame's encoding (x264 holds dozens in its
    lookahead), so it asks whether to stop between packets. Returns 0, or
    a negative code with the error filled. */
static int
s_encoder_send (s_encoder_t *e, int64_t n, int64_t m)
{
    s_render_t *self = e->render;
    AVFrame *picture = NULL;
    if (n >= 0) {
        AVFrame *shown;
        int rc = s_video_picture (e, n, &shown);
        if (rc < 0)
            return rc;
        /* the slides are shared by the encoders and never written to:
           each sends a reference of its own, with its own timestamp */
        rc = av_frame_ref (e->picture, shown);
        if (rc < 0)
            return s_fail (self, rc, "cannot encode video frame %lld",
                           (long long) n);
        picture = e->picture;
        picture->pts = m;
        /* each GOP begins with a keyframe, wherever x264's scene-cut
           detection puts others: s_render and s_zones_print rely on it */
        picture->pict_type =
            m % self->video.gop == 0 ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    }
    int rc = avcodec_send_frame (e->enc, picture);
    av_frame_unref (e->picture);
    while (rc == 0) {
        rc = s_poll (self);
        if (rc == 0)
            rc = avcodec_receive_packet (e->enc, e->packet);
        if (rc == 0)
            rc = s_encoder_queue (e);
    }
    if (rc == AVERROR (EAGAIN) || rc == AVERROR_EOF)
        return 0;
    if (n < 0)
        return s_fail (self, rc, "cannot finish the video stream");
    return s_fail (self, rc, "cannot encode video frame %lld", (long long) n);
}

/*  The thread of encoder e: sends it the frames of its GOPs, then flushes
    it. Its result (and, when it fails, the step's error) is left in e; a
    failure stops the other encoders. */
static void *
s_encoder_main (void *arg)
{
    s_encoder_t *e = arg;
    s_render_t *self = e->render;
    s_video_t *v = &self->video;
    int rc = 0;
    int64_t m = 0;
    for (int64_t g = e->index; rc == 0 && g < v->gops; g += v->encoder_count) {
        int64_t end = s_gop_start (v, self->frames_total, g + 1);
        int64_t n = s_gop_start (v, self->frames_total, g);
        for (; rc == 0 && n < end; n++, m++) {
            rc = s_poll (self);
            if (rc == 0)
                rc = s_encoder_send (e, n, m);
            if (rc == 0)
                atomic_fetch_add (&self->frames_done, 1);
        }
    }
    if (rc == 0)
        rc = s_encoder_send (e, -1, -1);
    if (rc < 0 && rc != -ECANCELED)
        atomic_store (&self->abort, true);

    pthread_mutex_lock (&v->slides_lock);
    e->scene = MEDIA_MAX_SCENES;
    pthread_mutex_unlock (&v->slides_lock);
    pthread_mutex_lock (&self->queue_lock);
    e->result = rc;
    e->finished = true;
    if (rc == 0)
        e->gops_done = INT64_MAX;
    pthread_cond_broadcast (&self->queue_changed);
    pthread_mutex_unlock (&self->queue_lock);
    return NULL;
}

/*  Starts the encoders' threads. Returns 0 or a negative code with the
    error filled (the threads started are for s_encoders_join). */
static int
s_encoders_start (s_render_t *self)
{
    s_video_t *v = &self->video;
    for (int i = 0; i < v->encoder_count; i++) {
        s_encoder_t *e = &v->encoders[i];
        int rc = pthread_create (&e->thread, NULL, s_encoder_main, e);
        if (rc != 0)
            return s_fail (self, -rc, "cannot start video encoder %d", i + 1);
        e->started = true;
    }
    return 0;
}

/*  Waits for the encoders' threads, first stopping them when `stop`.
    Returns the first failure among them other than -ECANCELED, or 0. */
static int
s_encoders_join (s_render_t *self, bool stop)
{
    s_video_t *v = &self->video;
    if (stop)
        atomic_store (&self->abort, true);
    int result = 0;
    for (int i = 0; i < v->encoder_count; i++) {
        s_encoder_t *e = &v->encoders[i];
        if (!e->started)
            continue;
        pthread_join (e->thread, NULL);
        e->started = false;
        if (result == 0 && e->result < 0 && e->result != -ECANCELED)
            result = e->result;
    }
    return result;
}

/*  Writes GOP g of the video: waits until the encoder making it has
    queued all of its packets, then writes them at the GOP's place on the
    video's timeline (pts and dts move on by the frames of the GOPs that
    encoder did not make). Returns 0, an encoder's failure, -ECANCELED, or
    a negative code with the error filled. */
static int
s_video_write_gop (s_render_t *self, int64_t g)
{
    s_video_t *v = &self->video;
    s_encoder_t *e = &v->encoders[g % v->encoder_count];
    int64_t q = g / v->encoder_count;
    int64_t shift = s_gop_start (v, self->frames_total, g) - q * v->gop;
    pthread_mutex_lock (&self->queue_lock);
    while (e->gops_done <= q && !e->finished)
        pthread_cond_wait (&self->queue_changed, &self->queue_lock);
    int rc = e->gops_done > q ? 0 : e->result < 0 ? e->result : -ECANCELED;
    pthread_mutex_unlock (&self->queue_lock);

    while (rc == 0) {
        AVPacket *packet = NULL;
        pthread_mutex_lock (&self->queue_lock);
        if (av_fifo_peek (e->queue, &packet, 1, 0) < 0
            || packet->pts / v->gop > q)
            packet = NULL;
        else
            av_fifo_drain2 (e->queue, 1);
        pthread_mutex_unlock (&self->queue_lock);
        if (!packet)
            break;
        packet->pts += shift;
        packet->dts += shift;
        /* constant frame rate: each picture lasts one tick */
        if (packet->duration == 0)
            packet->duration = 1;
        av_packet_rescale_ts (packet, e->enc->time_base, v->stream->time_base);
        packet->stream_index = v->stream->index;
        rc = av_interleaved_write_frame (self->oc, packet);
        av_packet_free (&packet);
        if (rc < 0)
            return s_fail (self, rc, "cannot write the video stream");
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/*  Audio                                                               */

static uint32_t
s_le32 (const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
           | (uint32_t) p[3] << 24;
}

static uint16_t
s_le16 (const uint8_t *p)
{
    return (uint16_t) (p[0] | p[1] << 8);
}

/*  Parses a RIFF WAVE file of 16-bit PCM held in wav->file (size bytes):
    finds "fmt " and "data", trusting a data size only as far as the file
    goes. Returns 0, or -EPROTO for anything else. */
static int
s_wav_parse (s_wav_t *wav, size_t size)
{
    const uint8_t *p = wav->file;
    if (size < 12 || memcmp (p, "RIFF", 4) != 0
        || memcmp (p + 8, "WAVE", 4) != 0)
        return -EPROTO;
    bool have_format = false;
    size_t at = 12;
    while (at + 8 <= size) {
        const uint8_t *chunk = p + at;
        size_t length = s_le32 (chunk + 4);
        size_t body = at + 8;
        if (memcmp (chunk, "fmt ", 4) == 0) {
            if (length < 16 || body + 16 > size)
                return -EPROTO;
            uint16_t format = s_le16 (p + body);
            wav->channels = s_le16 (p + body + 2);
            wav->rate = (int) s_le32 (p + body + 4);
            uint16_t bits = s_le16 (p + body + 14);
            /* 1 = PCM; 0xFFFE = extensible, its subformat assumed PCM */
            if ((format != 1 && format != 0xFFFE) || bits != 16
                || wav->channels < 1 || wav->channels > 8 || wav->rate < 1000
                || wav->rate > 384000)
                return -EPROTO;
            have_format = true;
        }
        else if (memcmp (chunk, "data", 4) == 0) {
            if (!have_format)
                return -EPROTO;
            /* a writer that stopped early leaves a size past the end */
            if (length > size - body)
                length = size - body;
            wav->pcm = (const int16_t *) (p + body);
            wav->frames = (int64_t) (length / (2 * (size_t) wav->channels));
            wav->pos = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            for (size_t i = 0; i + 1 < length; i += 2) {
                uint8_t swap = wav->file[body + i];
                wav->file[body + i] = wav->file[body + i + 1];
                wav->file[body + i + 1] = swap;
            }
#endif
            return 0;
        }
        if (length > size - body)
            return -EPROTO;
        at = body + length + (length & 1);
    }
    return -EPROTO;
}

/*  Reads path into wav. Returns 0, -errno, or -EPROTO for a file that is
    not 16-bit PCM WAVE. */
static int
s_wav_read (s_wav_t *wav, const char *path)
{
    memset (wav, 0, sizeof *wav);
    FILE *file = fopen (path, "rb");
    if (!file)
        return -errno;
    int rc = 0;
    struct stat st;
    if (fstat (fileno (file), &st) != 0) {
        rc = -errno;
        goto cleanup;
    }
    if (st.st_size < 12 || st.st_size > S_WAV_MAX_BYTES) {
        rc = -EPROTO;
        goto cleanup;
    }
    size_t size = (size_t) st.st_size;
    wav->file = malloc (size);
    if (!wav->file) {
        rc = -ENOMEM;
        goto cleanup;
    }
    if (fread (wav->file, 1, size, file) != size) {
        rc = ferror (file) ? -EIO : -EPROTO;
        goto cleanup;
    }
    rc = s_wav_parse (wav, size);

cleanup:
    fclose (file);
    if (rc < 0) {
        free (wav->file);
        memset (wav, 0, sizeof *wav);
    }
    return rc;
}

static int64_t
s_sample_at (double seconds)
{
    return (int64_t) llround (seconds * S_AUDIO_RATE);
}

static int
s_audio_open (s_render_t *self, int64_t total_samples)
{
    s_audio_t *a = &self->audio;
    a->total = total_samples;
    const AVCodec *codec = avcodec_find_encoder (AV_CODEC_ID_AAC);
    if (!codec) {
        pipeline_error_set (self->error, "RenderFailed", false,
                            "libavcodec has no AAC encoder");
        return -ENOSYS;
    }
    AVCodecContext *enc = avcodec_alloc_context3 (codec);
    a->enc = enc;
    if (!enc)
        return s_fail (self, -ENOMEM, "cannot set up the audio encoder");
    enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
    enc->sample_rate = S_AUDIO_RATE;
    av_channel_layout_default (&enc->ch_layout, S_AUDIO_CHANNELS);
    int bitrate_k = self->plan->audio_bitrate_k > 0
                        ? self->plan->audio_bitrate_k
                        : S_AUDIO_BITRATE_K;
    enc->bit_rate = (int64_t) bitrate_k * 1000;
    enc->time_base = (AVRational){ 1, S_AUDIO_RATE };
    if (self->oc->oformat->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    /* libavcodec's default coder, twoloop, took a fifth of the render
       step's CPU (bench_media, 720p at quality 20: 5.3-6.4 s against
       4.0-4.7 s with this one, alternating). "fast" is the old twoloop;
       its author found it sounds better at 128 kb/s and above. */
    av_opt_set (enc->priv_data, "aac_coder", "fast", 0);
    int rc = avcodec_open2 (enc, codec, NULL);
    if (rc < 0)
        return s_fail (self, rc, "cannot open the AAC encoder");

    AVStream *stream = avformat_new_stream (self->oc, NULL);
    if (!stream)
        return s_fail (self, -ENOMEM, "cannot add the audio stream");
    a->stream = stream;
    stream->time_base = enc->time_base;
    rc = avcodec_parameters_from_context (stream->codecpar, enc);
    if (rc < 0)
        return s_fail (self, rc, "cannot describe the audio stream");

    int frame_size = enc->frame_size > 0 ? enc->frame_size : 1024;
    a->fifo = av_audio_fifo_alloc (AV_SAMPLE_FMT_FLTP, S_AUDIO_CHANNELS,
                                   2 * S_AUDIO_BUFFER);
    a->frame = av_frame_alloc ();
    if (!a->fifo || !a->frame)
        return s_fail (self, -ENOMEM, "cannot set up the audio track");
    a->frame->format = AV_SAMPLE_FMT_FLTP;
    a->frame->sample_rate = S_AUDIO_RATE;
    a->frame->nb_samples = frame_size;
    rc = av_channel_layout_copy (&a->frame->ch_layout, &enc->ch_layout);
    if (rc == 0)
        rc = av_frame_get_buffer (a->frame, 0);
    if (rc == 0)
        rc = av_samples_alloc_array_and_samples (&a->buffer, NULL,
                                                 S_AUDIO_CHANNELS,
                                                 S_AUDIO_BUFFER,
                                                 AV_SAMPLE_FMT_FLTP, 0);
    if (rc >= 0)
        rc = av_samples_alloc_array_and_samples (&a->silence, NULL,
                                                 S_AUDIO_CHANNELS,
                                                 S_AUDIO_BUFFER,
                                                 AV_SAMPLE_FMT_FLTP, 0);
    if (rc < 0)
        return s_fail (self, rc, "cannot set up the audio track");
    av_samples_set_silence (a->silence, 0, S_AUDIO_BUFFER, S_AUDIO_CHANNELS,
                            AV_SAMPLE_FMT_FLTP);
    return 0;
}

static void
s_audio_clip_close (s_audio_t *a)
{
    swr_free (&a->swr);
    free (a->wav.file);
    memset (&a->wav, 0, sizeof a->wav);
    a->clip_open = false;
}

/*  Opens the clip's WAV and a resampler from its format to the track's. */
static int
s_audio_clip_open (s_render_t *self)
{
    s_audio_t *a = &self->audio;
    const media_timeline_t *t = self->timeline;
    char name[32];
    char path[S_PATH_SIZE];
    snprintf (name, sizeof name, "scene-%02d.wav", a->clip + 1);
    int rc = media_path (path, sizeof path, self->input->artifact_dir, name);
    if (rc == 0)
        rc = s_wav_read (&a->wav, path);
    if (rc < 0)
        return s_fail (self, rc, "cannot read %s", name);
    AVChannelLayout in_layout;
    av_channel_layout_default (&in_layout, a->wav.channels);
    rc = swr_alloc_set_opts2 (&a->swr, &a->enc->ch_layout, AV_SAMPLE_FMT_FLTP,
                              S_AUDIO_RATE, &in_layout, AV_SAMPLE_FMT_S16,
                              a->wav.rate, 0, NULL);
    av_channel_layout_uninit (&in_layout);
    if (rc == 0)
        rc = swr_init (a->swr);
    if (rc < 0) {
        s_audio_clip_close (a);
        return s_fail (self, rc, "cannot resample %s", name);
    }
    a->clip_open = true;
    a->clip_end = a->clip + 1 < t->clip_count
                      ? s_sample_at (t->clips[a->clip + 1].start_s)
                      : a->total;
    if (a->clip_end > a->total)
        a->clip_end = a->total;
    return 0;
}

static int
s_audio_silence (s_audio_t *a, int64_t samples)
{
    while (samples > 0) {
        int n = samples > S_AUDIO_BUFFER ? S_AUDIO_BUFFER : (int) samples;
        if (av_audio_fifo_write (a->fifo, (void **) a->silence, n) != n)
            return -ENOMEM;
        a->cursor += n;
        samples -= n;
    }
    return 0;
}

/*  Places audio on the track until at least `target` samples are on it
    (never past its end): silence up to a clip's start, then the clip's
    narration, cut where the next clip starts; silence again after it.
    Returns 0 or a negative code with the error filled. */
static int
s_audio_fill (s_render_t *self, int64_t target)
{
    s_audio_t *a = &self->audio;
    const media_timeline_t *t = self->timeline;
    if (target > a->total)
        target = a->total;
    while (a->cursor < target) {
        int rc;
        if (!a->clip_open) {
            int64_t start = a->clip < t->clip_count
                                ? s_sample_at (t->clips[a->clip].start_s)
                                : a->total;
            if (a->cursor < start) {
                int64_t until = start < target ? start : target;
                rc = s_audio_silence (a, until - a->cursor);
                if (rc < 0)
                    return s_fail (self, rc, "cannot buffer audio");
                continue;
            }
            rc = s_audio_clip_open (self);
            if (rc < 0)
                return rc;
        }
        if (a->cursor >= a->clip_end) {
            s_audio_clip_close (a);
            a->clip++;
            continue;
        }
        int64_t left = a->wav.frames - a->wav.pos;
        int in = left > S_AUDIO_CHUNK ? S_AUDIO_CHUNK : (int) left;
        const uint8_t *input =
            (const uint8_t *) (a->wav.pcm + a->wav.pos * a->wav.channels);
        /* no input left: drain what the resampler still holds */
        int got = swr_convert (a->swr, a->buffer, S_AUDIO_BUFFER,
                               in > 0 ? &input : NULL, in);
        if (got < 0)
            return s_fail (self, got, "cannot resample scene-%02d.wav",
                           a->clip + 1);
        a->wav.pos += in;
        int64_t room = a->clip_end - a->cursor;
        int keep = got > room ? (int) room : got;
        if (keep > 0) {
            void **planes = (void **) a->buffer;
            if (av_audio_fifo_write (a->fifo, planes, keep) != keep)
                return s_fail (self, -ENOMEM, "cannot buffer audio");
            a->cursor += keep;
        }
        if (in == 0 && got == 0) {
            s_audio_clip_close (a);
            a->clip++;
        }
    }
    return 0;
}

/*  Sends the placed audio to the encoder in frames of its frame size; at
    the end (`last`) the remainder too, then flushes it. */
static int
s_audio_encode (s_render_t *self, bool last)
{
    s_audio_t *a = &self->audio;
    int frame_size = a->enc->frame_size > 0 ? a->enc->frame_size : 1024;
    int rc = 0;
    while (av_audio_fifo_size (a->fifo) >= frame_size
           || (last && av_audio_fifo_size (a->fifo) > 0)) {
        int n = av_audio_fifo_size (a->fifo);
        if (n > frame_size)
            n = frame_size;
        a->frame->nb_samples = frame_size;
        rc = av_frame_make_writable (a->frame);
        if (rc < 0)
            goto fail;
        a->frame->nb_samples = n;
        if (av_audio_fifo_read (a->fifo, (void **) a->frame->data, n) != n) {
            rc = AVERROR (EIO);
            goto fail;
        }
        a->frame->pts = a->next_pts;
        a->next_pts += n;
        rc = avcodec_send_frame (a->enc, a->frame);
        if (rc == 0)
            rc = s_drain (self, a->enc, a->stream);
        if (rc < 0)
            goto fail;
    }
    if (last) {
        rc = avcodec_send_frame (a->enc, NULL);
        if (rc == 0)
            rc = s_drain (self, a->enc, a->stream);
        if (rc < 0)
            goto fail;
    }
    return 0;
fail:
    return s_fail (self, rc, "cannot encode audio");
}

static void
s_audio_free (s_audio_t *a)
{
    s_audio_clip_close (a);
    if (a->buffer)
        av_freep (&a->buffer[0]);
    av_freep (&a->buffer);
    if (a->silence)
        av_freep (&a->silence[0]);
    av_freep (&a->silence);
    av_frame_free (&a->frame);
    if (a->fifo)
        av_audio_fifo_free (a->fifo);
    a->fifo = NULL;
    avcodec_free_context (&a->enc);
}

/* ------------------------------------------------------------------ */
/*  The step                                                            */

/*  Encodes the whole video into self->tmp_path.
    On these videos x264 with two frame threads took about a fifth more
    CPU than with one (bench_media's timeline, 1080p, quality 75, x264
    alone: 12.0 and 13.0 s against 10.2 and 9.9 s). So, where
    s_encoder_count allows, S_MAX_ENCODERS single-threaded encoders share
    the GOPs instead: GOPs are closed and begin with a keyframe, so each
    can be coded alone. Encoder i of n makes GOPs i, i + n …, and this
    thread writes them in order, moving their timestamps into place, with
    the audio up to each GOP's end. */
static int
s_render (s_render_t *self)
{
    const media_timeline_t *t = self->timeline;
    int64_t frames = self->frames_total;
    int64_t samples = av_rescale (frames, S_AUDIO_RATE, t->fps);

    int rc = avformat_alloc_output_context2 (&self->oc, NULL, "mp4",
                                             self->tmp_path);
    if (rc < 0)
        return s_fail (self, rc, "cannot set up the MP4 muxer");
    self->packet = av_packet_alloc ();
    if (!self->packet)
        return s_fail (self, -ENOMEM, "cannot allocate a packet");
    rc = s_video_open (self);
    if (rc == 0)
        rc = s_poll (self);
    if (rc == 0)
        rc = s_audio_open (self, samples);
    if (rc < 0)
        return rc;

    rc = avio_open (&self->oc->pb, self->tmp_path, AVIO_FLAG_WRITE);
    if (rc < 0)
        return s_fail (self, rc, "cannot create video.mp4.tmp");
    AVDictionary *options = NULL;
    av_dict_set (&options, "movflags", "+faststart", 0);
    rc = avformat_write_header (self->oc, &options);
    av_dict_free (&options);
    if (rc < 0)
        return s_fail (self, rc, "cannot write the MP4 header");

    const s_video_t *v = &self->video;
    rc = s_encoders_start (self);
    for (int64_t g = 0; rc == 0 && g < v->gops; g++) {
        rc = s_video_write_gop (self, g);
        int64_t end = s_gop_start (v, frames, g + 1);
        if (rc == 0)
            rc = s_audio_fill (self, av_rescale (end, S_AUDIO_RATE, t->fps));
        if (rc == 0)
            rc = s_audio_encode (self, false);
    }
    int failed = s_encoders_join (self, rc < 0);
    if (failed < 0)
        rc = failed;
    if (rc == 0)
        rc = s_audio_fill (self, samples);
    if (rc == 0)
        rc = s_audio_encode (self, true);
    if (rc == 0)
        rc = s_poll (self);
    if (rc < 0)
        return rc;
    rc = av_write_trailer (self->oc);
    if (rc < 0)
        return s_fail (self, rc, "cannot finish video.mp4");
    rc = avio_closep (&self->oc->pb);
    if (rc < 0)
        return s_fail (self, rc, "cannot write video.mp4");
    return 0;
}

static void *
s_render_main (void *arg)
{
    s_render_t *self = arg;
#ifdef __linux__
    /* encoding is batch work: on a busy machine the worker's own threads
       (heartbeats, this step's progress and cancel) go first. Linux nice
       values are per thread, and the encoders' threads and x264's inherit
       this one's. */
    setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), S_ENCODER_NICE);
#endif
    self->result = s_render (self);
    atomic_store (&self->finished, true);
    return NULL;
}

/*  Runs s_render on a thread of its own while this one reports progress
    and asks whether to stop every S_POLL_MS: x264 can spend well over
    that inside one call (its lookahead, the final flush), and the muxer
    rewrites the whole file for +faststart. On a stop the encoder ends at
    its next frame or packet. Returns s_render's result, or -ECANCELED. */
static int
s_render_watched (s_render_t *self)
{
    const media_timeline_t *t = self->timeline;
    pthread_t thread;
    int rc = pthread_create (&thread, NULL, s_render_main, self);
    if (rc != 0)
        return s_fail (self, -rc, "cannot start the encoder");
    double length_s = (double) self->frames_total / t->fps;
    rc = s_progress (self, 0, true, "Encoding video: %.1f s at %dx%d", length_s,
                     t->width, t->height);
    while (rc == 0 && !atomic_load (&self->finished)) {
        struct timespec slice = { 0, S_POLL_MS * 1000000L };
        nanosleep (&slice, NULL);
        if (atomic_load (&self->finished))
            break;
        int64_t done = atomic_load (&self->frames_done);
        if (done < self->frames_total)
            rc = s_progress (self, 0.98 * done / self->frames_total, false,
                             "Encoding video: %.1f of %.1f s",
                             (double) done / t->fps, length_s);
        else
            rc = s_progress (self, 0.98, false, "Finishing video.mp4");
    }
    if (rc < 0)
        atomic_store (&self->stop, true);
    pthread_join (thread, NULL);
    return rc < 0 ? rc : self->result;
}

static void
s_render_free (s_render_t *self)
{
    s_encoders_join (self, true);
    s_audio_free (&self->audio);
    for (int i = 0; i < MEDIA_MAX_SCENES; i++)
        av_frame_free (&self->video.slides[i]);
    for (int i = 0; i < S_MAX_ENCODERS; i++)
        s_encoder_free (&self->video.encoders[i]);
    av_packet_free (&self->packet);
    if (self->oc) {
        if (self->oc->pb)
            avio_closep (&self->oc->pb);
        avformat_free_context (self->oc);
        self->oc = NULL;
    }
}

/*  The locks the step's threads share. Returns 0, or -ENOMEM with none
    made. */
static int
s_render_locks_init (s_render_t *self)
{
    int made = 0;
    if (pthread_mutex_init (&self->error_lock, NULL) == 0)
        made++;
    if (made == 1 && pthread_mutex_init (&self->queue_lock, NULL) == 0)
        made++;
    if (made == 2 && pthread_cond_init (&self->queue_changed, NULL) == 0)
        made++;
    if (made == 3 && pthread_mutex_init (&self->video.slides_lock, NULL) == 0)
        made++;
    if (made == 4 && pthread_cond_init (&self->video.slide_loaded, NULL) == 0)
        return 0;
    if (made > 3)
        pthread_mutex_destroy (&self->video.slides_lock);
    if (made > 2)
        pthread_cond_destroy (&self->queue_changed);
    if (made > 1)
        pthread_mutex_destroy (&self->queue_lock);
    if (made > 0)
        pthread_mutex_destroy (&self->error_lock);
    return -ENOMEM;
}

static void
s_render_locks_destroy (s_render_t *self)
{
    pthread_cond_destroy (&self->video.slide_loaded);
    pthread_mutex_destroy (&self->video.slides_lock);
    pthread_cond_destroy (&self->queue_changed);
    pthread_mutex_destroy (&self->queue_lock);
    pthread_mutex_destroy (&self->error_lock);
}

/*  Fills output for the committed video at path. */
static int
s_output_fill (s_render_t *self, pipeline_output_t *output, const char *path,
               double duration_s)
{
    struct stat st;
    if (stat (path, &st) != 0)
        return s_fail (self, -errno, "cannot read video.mp4");
    snprintf (output->video_path, sizeof output->video_path, "video.mp4");
    char srt[S_PATH_SIZE];
    if (media_path (srt, sizeof srt, self->input->artifact_dir, "video.srt")
            == 0
        && media_file_exists (srt))
        snprintf (output->subtitle_path, sizeof output->subtitle_path,
                  "video.srt");
    output->size_bytes = (int64_t) st.st_size;
    output->duration_s = duration_s;
    if (pipeline_output_add_artifact (output, "video.mp4", "video.mp4",
                                      "video/mp4", (int64_t) st.st_size)
        < 0)
        pipeline_warn (self->input, "ArtifactListFull",
                       "video.mp4 is not in the artifact list: it is full");
    return 0;
}

/*  libav reports every encode at the info level on stderr (x264's
    settings, AAC's statistics); the step reports failures itself. A level
    someone already chose is kept. */
static void
s_quiet_libav (void)
{
    if (av_log_get_level () == AV_LOG_INFO)
        av_log_set_level (AV_LOG_ERROR);
}

int
media_step_render (const pipeline_input_t *input, pipeline_output_t *output,
                   pipeline_progress_fn progress, void *progress_ctx,
                   pipeline_error_t *error)
{
    media_timeline_t timeline;
    media_plan_t *plan = calloc (1, sizeof *plan);
    s_render_t self = {
        .input = input,
        .timeline = &timeline,
        .plan = plan,
        .error = error,
        .progress = progress,
        .progress_ctx = progress_ctx,
        .started_ms = pipeline_clock_ms (),
    };
    self.last_poll_ms = self.last_report_ms = self.started_ms;
    atomic_init (&self.stop, false);
    atomic_init (&self.finished, false);
    atomic_init (&self.abort, false);
    atomic_init (&self.frames_done, 0);
    static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;
    pthread_once (&quiet_once, s_quiet_libav);
    char path[S_PATH_SIZE];
    bool tmp_made = false;
    int rc = s_render_locks_init (&self);
    if (rc < 0 || !plan) {
        if (rc == 0)
            s_render_locks_destroy (&self);
        free (plan);
        pipeline_error_set (error, "RenderFailed", true, "out of memory");
        return -ENOMEM;
    }
    const char *dir = input->artifact_dir;
    if (!dir || !*dir) {
        pipeline_error_set (error, "RenderFailed", false,
                            "the job has no artifact directory");
        rc = -EINVAL;
        goto cleanup;
    }

    pipeline_error_t load_error = { 0 };
    const char *file = "timeline.json";
    rc = media_path (path, sizeof path, dir, file);
    if (rc == 0)
        rc = media_timeline_load (path, &timeline, &load_error);
    if (rc == 0) {
        file = "plan.json";
        rc = media_path (path, sizeof path, dir, file);
    }
    if (rc == 0)
        rc = media_plan_load (path, plan, &load_error);
    if (rc < 0) {
        pipeline_error_set (
            error, "RenderFailed",
            rc != -EPROTO && rc != -EINVAL && rc != -ENAMETOOLONG,
            "cannot read %s: %s", file,
            load_error.message[0] ? load_error.message : strerror (-rc));
        goto cleanup;
    }
    rc = s_timeline_check (&self);
    if (rc < 0)
        goto cleanup;
    self.frames_total = llround (timeline.total_s * timeline.fps);
    if (self.frames_total < 1)
        self.frames_total = 1;
    double length_s = (double) self.frames_total / timeline.fps;

    rc = media_path (path, sizeof path, dir, "video.mp4");
    if (rc < 0) {
        rc = s_fail (&self, rc, "path of video.mp4");
        goto cleanup;
    }
    /* a committed video is whole: an earlier attempt finished it */
    if (media_file_exists (path)) {
        rc = s_output_fill (&self, output, path, length_s);
        if (rc == 0)
            rc = s_progress (&self, 1, true, "Video already rendered");
        goto cleanup;
    }

    /* a name of this attempt's own: an earlier attempt that is still
       running (its worker frozen, say) must not write into or remove
       this one's file */
    rc = media_tmp_path (path, self.tmp_path, sizeof self.tmp_path);
    if (rc < 0) {
        rc = s_fail (&self, rc, "cannot create a temporary file for video.mp4");
        goto cleanup;
    }
    tmp_made = true;
    rc = s_render_watched (&self);
    if (rc < 0)
        goto cleanup;
    rc = media_file_commit_from (self.tmp_path, path);
    if (rc < 0) {
        rc = s_fail (&self, rc, "cannot commit video.mp4");
        goto cleanup;
    }
    tmp_made = false;
    rc = s_output_fill (&self, output, path, length_s);
    if (rc == 0) {
        double wall_s = (pipeline_clock_ms () - self.started_ms) / 1000.0;
        rc = s_progress (&self, 1, true, "Encoded %.1f s of video in %.1f s",
                         length_s, wall_s);
    }

cleanup:
    s_render_free (&self);
    s_render_locks_destroy (&self);
    if (tmp_made)
        unlink (self.tmp_path);
    free (plan);
    return rc;
}
