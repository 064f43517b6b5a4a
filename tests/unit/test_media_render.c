/*  Unit tests of the render step: a small timeline of solid-colour slides
    and sine-tone narration encoded, then decoded back with libavformat:
    streams, size, frame rate, length, every frame at its time, each
    scene's colour, the crossfade, sound where the narration is and silence
    in the pauses; with and without a bitrate cap (one encoder, or several
    sharing the GOPs). Slides with detail come back close to what was sent
    (PSNR). Also cancel, missing inputs, and a finished video trusted on a
    retry. */
#include <cairo.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/media.h"
#include "support.h"

#define WIDTH 320
#define HEIGHT 180
#define FPS 25
#define SCENES 3
#define SCENE_S 1.5            /* each clip: 1 s of tone, 0.5 s of pause */
#define TONE_S 1.0
#define CROSSFADE_S 0.5
#define WAV_RATE 22050
/*  Luma PSNR that every frame of a detailed slide keeps (measured: 40.9
    dB with one encoder and the preset's settings throughout; 40.6 dB with
    repeated frames in x264 zones and two encoders sharing the GOPs) */
#define MIN_PSNR_DB 38.0

static const int s_colours[SCENES][3] = {
    { 220, 40, 40 },
    { 40, 200, 60 },
    { 40, 80, 220 },
};

/* ------------------------------------------------------------------ */
/*  Helpers                                                            */

typedef struct {
    int reports;
    int stop_at_report;            /* 0: never */
    bool stopped;
    int calls_after_stop;
    double last_fraction;
    int64_t last_report_ms;
} progress_t;

static int
s_progress (void *ctx, step_t step, double fraction, const char *message,
            int eta_s)
{
    (void) eta_s;
    progress_t *p = ctx;
    ck_assert_int_eq (step, STEP_RENDER);
    if (p->stopped) {
        p->calls_after_stop++;
        return -ECANCELED;
    }
    if (message) {
        /* each report is an event on the job's stream: between the first
           and the last, one per 5 % of the work, or one a second */
        int64_t now_ms = pipeline_clock_ms ();
        if (p->reports > 0 && fraction < 1)
            ck_assert_msg (fraction - p->last_fraction >= 0.05 - 1e-9
                               || now_ms - p->last_report_ms >= 1000,
                           "report %d: %.3f → %.3f after %lld ms",
                           p->reports + 1, p->last_fraction, fraction,
                           (long long) (now_ms - p->last_report_ms));
        p->last_report_ms = now_ms;
        p->reports++;
        ck_assert (fraction >= p->last_fraction);
        p->last_fraction = fraction;
        if (p->stop_at_report && p->reports == p->stop_at_report)
            p->stopped = true;
    }
    return p->stopped ? -ECANCELED : 0;
}

static char *
s_tempdir (void)
{
    char dir[64];
    test_dir_make (dir, sizeof dir, "render");
    char *copy = strdup (dir);
    ck_assert_ptr_nonnull (copy);
    return copy;
}

static void
s_tempdir_remove (char *dir)
{
    test_dir_remove (dir);
    free (dir);
}

static bool
s_exists (const char *dir, const char *name)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat (path, &st) == 0;
}

/*  True when a temporary file ("….tmp") is left in dir. */
static bool
s_tmp_left (const char *dir)
{
    DIR *d = opendir (dir);
    ck_assert_ptr_nonnull (d);
    bool found = false;
    struct dirent *entry;
    while ((entry = readdir (d))) {
        size_t len = strlen (entry->d_name);
        if (len >= 4 && strcmp (entry->d_name + len - 4, ".tmp") == 0)
            found = true;
    }
    closedir (d);
    return found;
}

static void
s_put_le (uint8_t *p, uint32_t value, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t) (value >> (8 * i));
}

/*  Writes a mono 16-bit WAV of a sine tone. */
static void
s_wav_write (const char *path, double frequency, double seconds)
{
    int frames = (int) (seconds * WAV_RATE);
    uint32_t data_bytes = (uint32_t) frames * 2;
    uint8_t header[44];
    memcpy (header, "RIFF", 4);
    s_put_le (header + 4, 36 + data_bytes, 4);
    memcpy (header + 8, "WAVEfmt ", 8);
    s_put_le (header + 16, 16, 4);
    s_put_le (header + 20, 1, 2);               /* PCM */
    s_put_le (header + 22, 1, 2);               /* mono */
    s_put_le (header + 24, WAV_RATE, 4);
    s_put_le (header + 28, WAV_RATE * 2, 4);
    s_put_le (header + 32, 2, 2);
    s_put_le (header + 34, 16, 2);
    memcpy (header + 36, "data", 4);
    s_put_le (header + 40, data_bytes, 4);
    FILE *file = fopen (path, "wb");
    ck_assert_ptr_nonnull (file);
    ck_assert_uint_eq (fwrite (header, 1, sizeof header, file), sizeof header);
    for (int i = 0; i < frames; i++) {
        int16_t sample = (int16_t) lround (
            16000 * sin (2 * M_PI * frequency * i / WAV_RATE));
        uint8_t bytes[2];
        s_put_le (bytes, (uint16_t) sample, 2);
        ck_assert_uint_eq (fwrite (bytes, 1, 2, file), 2);
    }
    ck_assert_int_eq (fclose (file), 0);
}

/*  A slide of one colour; `detailed` adds what makes slides hard to
    code: a gradient, thin lines and text. */
static void
s_png_slide (const char *path, const int rgb[3], bool detailed)
{
    cairo_surface_t *surface
        = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, WIDTH, HEIGHT);
    cairo_t *cr = cairo_create (surface);
    cairo_set_source_rgb (cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
    cairo_paint (cr);
    if (detailed) {
        cairo_pattern_t *shade = cairo_pattern_create_linear (0, 0, 0, HEIGHT);
        cairo_pattern_add_color_stop_rgba (shade, 0, 0, 0, 0, 0.4);
        cairo_pattern_add_color_stop_rgba (shade, 1, 1, 1, 1, 0.2);
        cairo_set_source (cr, shade);
        cairo_paint (cr);
        cairo_pattern_destroy (shade);
        cairo_set_source_rgb (cr, 1, 1, 1);
        cairo_set_line_width (cr, 1);
        for (int x = 10; x < WIDTH; x += 7) {
            cairo_move_to (cr, x + 0.5, 120);
            cairo_line_to (cr, x + 0.5, 170);
        }
        cairo_stroke (cr);
        cairo_select_font_face (cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                                CAIRO_FONT_WEIGHT_BOLD);
        cairo_set_font_size (cr, 22);
        cairo_move_to (cr, 12, 40);
        cairo_show_text (cr, "Tides rise twice a day");
        cairo_set_font_size (cr, 13);
        for (int line = 0; line < 4; line++) {
            cairo_move_to (cr, 20, 62 + 14 * line);
            cairo_show_text (cr, "The Moon pulls harder on the near side");
        }
    }
    cairo_destroy (cr);
    ck_assert_int_eq (cairo_surface_write_to_png (surface, path),
                      CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy (surface);
}

/*  Plan, timeline, slides and narration of SCENES clips in dir. */
static void
s_job_make_slides (const char *dir, int video_bitrate_k, bool detailed)
{
    char path[4096];
    media_plan_t *plan = calloc (1, sizeof *plan);
    ck_assert_ptr_nonnull (plan);
    snprintf (plan->topic, sizeof plan->topic, "Colours");
    snprintf (plan->style, sizeof plan->style, "modern");
    plan->width = WIDTH;
    plan->height = HEIGHT;
    plan->fps = FPS;
    plan->quality = 60;                        /* CRF 19.6, preset fast */
    plan->video_bitrate_k = video_bitrate_k;
    plan->audio_bitrate_k = 96;
    plan->scene_count = SCENES;
    /* what the plan step fills in; plan.json must hold it */
    snprintf (plan->language, sizeof plan->language, "en-us");
    plan->target_duration_s = 30;
    plan->words_per_minute = 160;
    plan->voice_rate = 1.0;
    plan->voice_pause_s = 0.5;
    for (int i = 0; i < SCENES; i++) {
        snprintf (plan->scenes[i].heading, sizeof plan->scenes[i].heading,
                  "Scene %d", i + 1);
        plan->scenes[i].bullet_count = 2;
        plan->scenes[i].target_s = SCENE_S;
    }
    ck_assert_int_eq (media_path (path, sizeof path, dir, "plan.json"), 0);
    ck_assert_int_eq (media_plan_save (plan, path), 0);
    free (plan);

    media_timeline_t timeline = {
        .width = WIDTH,
        .height = HEIGHT,
        .fps = FPS,
        .crossfade_s = CROSSFADE_S,
        .total_s = SCENES * SCENE_S,
        .clip_count = SCENES,
    };
    for (int i = 0; i < SCENES; i++) {
        timeline.clips[i].start_s = i * SCENE_S;
        timeline.clips[i].duration_s = SCENE_S;
        timeline.clips[i].audio_s = TONE_S;
        char name[32];
        snprintf (name, sizeof name, "scene-%02d.png", i + 1);
        ck_assert_int_eq (media_path (path, sizeof path, dir, name), 0);
        s_png_slide (path, s_colours[i], detailed);
        snprintf (name, sizeof name, "scene-%02d.wav", i + 1);
        ck_assert_int_eq (media_path (path, sizeof path, dir, name), 0);
        s_wav_write (path, 440.0 * (i + 1), TONE_S);
    }
    ck_assert_int_eq (media_path (path, sizeof path, dir, "timeline.json"), 0);
    ck_assert_int_eq (media_timeline_save (&timeline, path), 0);
}

static void
s_job_make (const char *dir, int video_bitrate_k)
{
    s_job_make_slides (dir, video_bitrate_k, false);
}

static int
s_run (const char *dir, progress_t *progress, pipeline_output_t *output,
       pipeline_error_t *error)
{
    pipeline_options_t options = { 0 };
    pipeline_input_t input = {
        .job_id = "01HZZZZZZZZZZZZZZZZZZZZZZZ",
        .attempt = 1,
        .spec = "{}",
        .spec_len = 2,
        .artifact_dir = dir,
        .options = &options,
    };
    memset (output, 0, sizeof *output);
    memset (error, 0, sizeof *error);
    return media_step_render (&input, output, s_progress, progress, error);
}

/*  The average colour of a decoded picture, converted back to RGB with the
    matrix and range the stream declares. */
static void
s_average_rgb (const AVFrame *frame, double rgb[3])
{
    struct SwsContext *sws = sws_getContext (
        frame->width, frame->height, (enum AVPixelFormat) frame->format,
        frame->width, frame->height, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL,
        NULL, NULL);
    ck_assert_ptr_nonnull (sws);
    int space = frame->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709
                                                      : SWS_CS_DEFAULT;
    const int *table = sws_getCoefficients (space);
    sws_setColorspaceDetails (sws, table,
                              frame->color_range == AVCOL_RANGE_JPEG, table, 1,
                              0, 1 << 16, 1 << 16);
    int stride = frame->width * 3;
    uint8_t *pixels = malloc ((size_t) stride * frame->height);
    ck_assert_ptr_nonnull (pixels);
    uint8_t *dst[1] = { pixels };
    int dst_stride[1] = { stride };
    sws_scale (sws, (const uint8_t *const *) frame->data, frame->linesize, 0,
               frame->height, dst, dst_stride);
    double sum[3] = { 0, 0, 0 };
    for (int y = 0; y < frame->height; y++)
        for (int x = 0; x < frame->width; x++)
            for (int c = 0; c < 3; c++)
                sum[c] += pixels[(size_t) y * stride + (size_t) x * 3 + c];
    for (int c = 0; c < 3; c++)
        rgb[c] = sum[c] / ((double) frame->width * frame->height);
    free (pixels);
    sws_freeContext (sws);
}

#define PROBES 4
/*  Times whose pictures the test looks at: the middle of each scene, and
    the middle of the first crossfade (1.0 to 1.5 s). */
static const double s_probe_s[PROBES] = { 0.75, 2.25, 3.75, 1.25 };

#define WINDOWS 6
/*  Narration (1) and pause (0) windows, clear of the edges. */
static const struct {
    double from_s, to_s;
    bool sound;
} s_windows[WINDOWS] = {
    { 0.2, 0.8, true },  { 1.15, 1.45, false }, { 1.7, 2.3, true },
    { 2.65, 2.95, false }, { 3.2, 3.8, true },  { 4.15, 4.45, false },
};

typedef struct {
    int h264_streams, aac_streams;
    int width, height, sample_rate, channels;
    double fps;
    double duration_s;
    double probe_rgb[PROBES][3];
    double probe_gap_s[PROBES];    /* from the probe to the nearest frame */
    double energy[WINDOWS];
    int64_t energy_samples[WINDOWS];
    int video_frames;
    int frames_off_time;           /* not at their frame number's time */
    /* when the slides are given: each frame that shows a slide alone
       against that slide, luma */
    AVFrame *slides[SCENES];
    double slide_psnr_min;
    int slide_frames;
} decoded_t;

/*  PSNR of the luma of two frames of the same size, in dB (99 when they
    are the same). */
static double
s_psnr_luma (const AVFrame *a, const AVFrame *b)
{
    double sum = 0;
    for (int y = 0; y < a->height; y++) {
        const uint8_t *pa = a->data[0] + (ptrdiff_t) y * a->linesize[0];
        const uint8_t *pb = b->data[0] + (ptrdiff_t) y * b->linesize[0];
        for (int x = 0; x < a->width; x++)
            sum += (double) (pa[x] - pb[x]) * (pa[x] - pb[x]);
    }
    double mse = sum / ((double) a->width * a->height);
    return mse > 0 ? 10 * log10 (255.0 * 255.0 / mse) : 99;
}

/*  Keeps the colour of the frame at t_s for each probe it is nearest, and
    compares a frame that shows one slide alone with it. */
static void
s_on_video_frame (decoded_t *out, const AVFrame *frame, double t_s)
{
    if (fabs (t_s - (double) out->video_frames / FPS) > 0.25 / FPS)
        out->frames_off_time++;
    out->video_frames++;
    int scene = (int) (t_s / SCENE_S);
    double into_s = t_s - scene * SCENE_S;
    if (scene < SCENES && out->slides[scene]
        && (scene == SCENES - 1 || into_s + 1.0 / FPS < SCENE_S - CROSSFADE_S)) {
        ck_assert_int_eq (frame->width, out->slides[scene]->width);
        ck_assert_int_eq (frame->height, out->slides[scene]->height);
        double psnr = s_psnr_luma (frame, out->slides[scene]);
        if (out->slide_frames == 0 || psnr < out->slide_psnr_min)
            out->slide_psnr_min = psnr;
        out->slide_frames++;
    }
    for (int p = 0; p < PROBES; p++) {
        double gap_s = fabs (t_s - s_probe_s[p]);
        if (gap_s < out->probe_gap_s[p]) {
            out->probe_gap_s[p] = gap_s;
            s_average_rgb (frame, out->probe_rgb[p]);
        }
    }
}

/*  Adds the energy of the samples that fall in each window. */
static void
s_on_audio_frame (decoded_t *out, const AVFrame *frame, double t_s)
{
    int channels = frame->ch_layout.nb_channels;
    for (int i = 0; i < frame->nb_samples; i++) {
        double sample_s = t_s + (double) i / frame->sample_rate;
        for (int w = 0; w < WINDOWS; w++) {
            if (sample_s < s_windows[w].from_s || sample_s >= s_windows[w].to_s)
                continue;
            for (int c = 0; c < channels; c++) {
                float v = ((const float *) frame->extended_data[c])[i];
                out->energy[w] += (double) v * v;
            }
            out->energy_samples[w] += channels;
        }
    }
}

/*  Hands every frame the decoder has ready to the collectors. Returns how
    many there were. */
static int
s_receive (decoded_t *out, AVCodecContext *decoder, AVStream *stream,
           AVFrame *frame)
{
    int count = 0;
    while (avcodec_receive_frame (decoder, frame) == 0) {
        double t_s = frame->best_effort_timestamp * av_q2d (stream->time_base);
        if (decoder->codec_type == AVMEDIA_TYPE_VIDEO)
            s_on_video_frame (out, frame, t_s);
        else
            s_on_audio_frame (out, frame, t_s);
        av_frame_unref (frame);
        count++;
    }
    return count;
}

/*  Opens the MP4 at path with libavformat and decodes all of it; with
    `slides` (SCENES frames), compares the frames with them. */
static void
s_decode_with (const char *path, AVFrame *const *slides, decoded_t *out)
{
    memset (out, 0, sizeof *out);
    for (int i = 0; slides && i < SCENES; i++)
        out->slides[i] = slides[i];
    for (int p = 0; p < PROBES; p++)
        out->probe_gap_s[p] = 1e9;
    AVFormatContext *fc = NULL;
    ck_assert_int_eq (avformat_open_input (&fc, path, NULL, NULL), 0);
    ck_assert_int_ge (avformat_find_stream_info (fc, NULL), 0);
    out->duration_s = (double) fc->duration / AV_TIME_BASE;

    AVCodecContext *decoders[8] = { NULL };
    ck_assert_uint_le (fc->nb_streams, 8);
    for (unsigned i = 0; i < fc->nb_streams; i++) {
        AVStream *st = fc->streams[i];
        AVCodecParameters *par = st->codecpar;
        if (par->codec_id == AV_CODEC_ID_H264) {
            out->h264_streams++;
            out->width = par->width;
            out->height = par->height;
            out->fps = av_q2d (st->avg_frame_rate);
        }
        else if (par->codec_id == AV_CODEC_ID_AAC) {
            out->aac_streams++;
            out->sample_rate = par->sample_rate;
            out->channels = par->ch_layout.nb_channels;
        }
        else
            continue;
        const AVCodec *codec = avcodec_find_decoder (par->codec_id);
        ck_assert_ptr_nonnull (codec);
        decoders[i] = avcodec_alloc_context3 (codec);
        ck_assert_int_eq (avcodec_parameters_to_context (decoders[i], par), 0);
        decoders[i]->pkt_timebase = st->time_base;
        ck_assert_int_eq (avcodec_open2 (decoders[i], codec, NULL), 0);
    }

    AVPacket *packet = av_packet_alloc ();
    AVFrame *frame = av_frame_alloc ();
    int rc;
    while ((rc = av_read_frame (fc, packet)) == 0) {
        int i = packet->stream_index;
        if (decoders[i]) {
            ck_assert_int_eq (avcodec_send_packet (decoders[i], packet), 0);
            s_receive (out, decoders[i], fc->streams[i], frame);
        }
        av_packet_unref (packet);
    }
    ck_assert_int_eq (rc, AVERROR_EOF);
    for (unsigned i = 0; i < fc->nb_streams; i++) {
        if (!decoders[i])
            continue;
        avcodec_send_packet (decoders[i], NULL);
        s_receive (out, decoders[i], fc->streams[i], frame);
    }
    av_frame_free (&frame);
    av_packet_free (&packet);
    for (unsigned i = 0; i < fc->nb_streams; i++)
        avcodec_free_context (&decoders[i]);
    avformat_close_input (&fc);
}

static void
s_decode (const char *path, decoded_t *out)
{
    s_decode_with (path, NULL, out);
}

/*  Slide scene-NN.png of dir converted as the render step converts it:
    YUV 4:2:0, BT.709, limited range, bicubic. */
static AVFrame *
s_slide_yuv (const char *dir, int scene)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/scene-%02d.png", dir, scene + 1);
    cairo_surface_t *png = cairo_image_surface_create_from_png (path);
    ck_assert_int_eq (cairo_surface_status (png), CAIRO_STATUS_SUCCESS);
    cairo_surface_flush (png);
    struct SwsContext *sws = sws_getContext (
        WIDTH, HEIGHT, AV_PIX_FMT_RGB32, WIDTH, HEIGHT, AV_PIX_FMT_YUV420P,
        SWS_BICUBIC | SWS_ACCURATE_RND, NULL, NULL, NULL);
    ck_assert_ptr_nonnull (sws);
    const int *bt709 = sws_getCoefficients (SWS_CS_ITU709);
    sws_setColorspaceDetails (sws, bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);
    AVFrame *yuv = av_frame_alloc ();
    ck_assert_ptr_nonnull (yuv);
    yuv->format = AV_PIX_FMT_YUV420P;
    yuv->width = WIDTH;
    yuv->height = HEIGHT;
    ck_assert_int_eq (av_frame_get_buffer (yuv, 0), 0);
    const uint8_t *src[1] = { cairo_image_surface_get_data (png) };
    const int src_stride[1] = { cairo_image_surface_get_stride (png) };
    sws_scale (sws, src, src_stride, 0, HEIGHT, yuv->data, yuv->linesize);
    sws_freeContext (sws);
    cairo_surface_destroy (png);
    return yuv;
}

/*  True when the file at path contains text. */
static bool
s_file_contains (const char *path, const char *text)
{
    FILE *file = fopen (path, "rb");
    ck_assert_ptr_nonnull (file);
    static char data[1 << 20];
    size_t size = fread (data, 1, sizeof data, file);
    fclose (file);
    size_t len = strlen (text);
    for (size_t i = 0; i + len <= size; i++)
        if (memcmp (data + i, text, len) == 0)
            return true;
    return false;
}

/*  True when the MP4's index (moov) comes before its media data (mdat) at
    the top level: players can start before the whole file is there. */
static bool
s_index_first (const char *path)
{
    FILE *file = fopen (path, "rb");
    ck_assert_ptr_nonnull (file);
    bool moov_seen = false;
    bool result = false;
    uint8_t header[8];
    while (fread (header, 1, sizeof header, file) == sizeof header) {
        uint32_t size = (uint32_t) header[0] << 24 | (uint32_t) header[1] << 16
                        | (uint32_t) header[2] << 8 | header[3];
        if (memcmp (header + 4, "moov", 4) == 0)
            moov_seen = true;
        if (memcmp (header + 4, "mdat", 4) == 0) {
            result = moov_seen;
            break;
        }
        if (size < 8 || fseek (file, (long) size - 8, SEEK_CUR) != 0)
            break;
    }
    fclose (file);
    return result;
}

/* ------------------------------------------------------------------ */
/*  Tests                                                              */

/*  Renders the colour slides with a bitrate cap (video_bitrate_k > 0) or
    without and checks what decodes back. */
static void
s_render_decodes_back (int video_bitrate_k)
{
    char *dir = s_tempdir ();
    s_job_make (dir, video_bitrate_k);
    progress_t progress = { 0 };
    pipeline_output_t output;
    pipeline_error_t error;
    int rc = s_run (dir, &progress, &output, &error);
    ck_assert_msg (rc == 0, "render: %d %s %s", rc, error.code, error.message);
    ck_assert (progress.last_fraction == 1.0);
    ck_assert (!s_tmp_left (dir));

    char path[4096];
    snprintf (path, sizeof path, "%s/video.mp4", dir);
    struct stat st;
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_str_eq (output.video_path, "video.mp4");
    ck_assert_int_eq (output.size_bytes, st.st_size);
    /* whole frames: 112.5 frames' worth at 25 fps is 113 */
    ck_assert_double_eq_tol (output.duration_s, SCENES * SCENE_S, 1.0 / FPS);
    ck_assert_uint_eq (output.artifact_count, 1);
    ck_assert_str_eq (output.artifacts[0].name, "video.mp4");
    ck_assert_str_eq (output.artifacts[0].type, "video/mp4");
    ck_assert_int_eq (output.artifacts[0].size_bytes, st.st_size);

    ck_assert (s_index_first (path));
    /* the quality level and the bitrate cap reached x264 */
    ck_assert (s_file_contains (path, "crf=19.6"));
    if (video_bitrate_k > 0)
        ck_assert (s_file_contains (path, "vbv_maxrate=400"));

    decoded_t d;
    s_decode (path, &d);
    ck_assert_int_eq (d.h264_streams, 1);
    ck_assert_int_eq (d.aac_streams, 1);
    ck_assert_int_eq (d.width, WIDTH);
    ck_assert_int_eq (d.height, HEIGHT);
    ck_assert_double_eq_tol (d.fps, FPS, 0.01);
    ck_assert_int_eq (d.sample_rate, 48000);
    ck_assert_int_eq (d.channels, 2);
    ck_assert_double_eq_tol (d.duration_s, SCENES * SCENE_S, 0.2);
    ck_assert_int_eq (d.video_frames, (int) lround (SCENES * SCENE_S * FPS));
    ck_assert_int_eq (d.frames_off_time, 0);

    /* each scene shows its own slide's colour */
    for (int i = 0; i < SCENES; i++) {
        ck_assert (d.probe_gap_s[i] < 1.0 / FPS);
        for (int c = 0; c < 3; c++)
            ck_assert_msg (fabs (d.probe_rgb[i][c] - s_colours[i][c]) < 14,
                           "scene %d channel %d: %.1f, expected %d", i + 1, c,
                           d.probe_rgb[i][c], s_colours[i][c]);
    }
    /* halfway through the first crossfade: between the two, near the mean */
    ck_assert (d.probe_gap_s[3] < 1.0 / FPS);
    for (int c = 0; c < 3; c++) {
        double mean = (s_colours[0][c] + s_colours[1][c]) / 2.0;
        ck_assert_msg (fabs (d.probe_rgb[3][c] - mean) < 30,
                       "crossfade channel %d: %.1f, expected about %.1f", c,
                       d.probe_rgb[3][c], mean);
    }

    /* narration where each clip starts, silence in the pauses */
    for (int w = 0; w < WINDOWS; w++) {
        ck_assert_int_gt (d.energy_samples[w], 0);
        double rms = sqrt (d.energy[w] / d.energy_samples[w]);
        if (s_windows[w].sound)
            ck_assert_msg (rms > 0.2, "window %d: rms %.4f", w, rms);
        else
            ck_assert_msg (rms < 0.01, "window %d: rms %.4f", w, rms);
    }
    s_tempdir_remove (dir);
}

START_TEST (test_render_decodes_back)
{
    s_render_decodes_back (400);
}
END_TEST

/*  Without a cap, encoders share the video's GOPs. */
START_TEST (test_render_shared_decodes_back)
{
    s_render_decodes_back (0);
}
END_TEST

/*  Slides with text and lines: every frame that shows a slide alone comes
    back close to the slide as sent (quality 60: CRF 19.6, preset fast). */
START_TEST (test_render_keeps_detail)
{
    const int caps_k[2] = { 0, 2000 };
    for (int c = 0; c < 2; c++) {
        char *dir = s_tempdir ();
        s_job_make_slides (dir, caps_k[c], true);
        progress_t progress = { 0 };
        pipeline_output_t output;
        pipeline_error_t error;
        int rc = s_run (dir, &progress, &output, &error);
        ck_assert_msg (rc == 0, "render: %d %s %s", rc, error.code,
                       error.message);
        AVFrame *slides[SCENES];
        for (int i = 0; i < SCENES; i++)
            slides[i] = s_slide_yuv (dir, i);
        char path[4096];
        snprintf (path, sizeof path, "%s/video.mp4", dir);
        decoded_t d;
        s_decode_with (path, slides, &d);
        /* 3 × 25 frames alone, and the last scene's 12 more */
        ck_assert_int_ge (d.slide_frames, 80);
        ck_assert_int_eq (d.frames_off_time, 0);
        ck_assert_msg (d.slide_psnr_min > MIN_PSNR_DB,
                       "cap %d kb/s: lowest PSNR %.2f dB", caps_k[c],
                       d.slide_psnr_min);
        for (int i = 0; i < SCENES; i++)
            av_frame_free (&slides[i]);
        s_tempdir_remove (dir);
    }
}
END_TEST

START_TEST (test_cancel_removes_partial_video)
{
    char *dir = s_tempdir ();
    s_job_make (dir, 0);
    progress_t progress = { .stop_at_report = 1 };
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run (dir, &progress, &output, &error), -ECANCELED);
    ck_assert_int_eq (progress.calls_after_stop, 0);
    ck_assert (!s_exists (dir, "video.mp4"));
    ck_assert (!s_tmp_left (dir));
    ck_assert_uint_eq (output.artifact_count, 0);
    s_tempdir_remove (dir);
}
END_TEST

START_TEST (test_missing_narration_fails)
{
    char *dir = s_tempdir ();
    s_job_make (dir, 0);
    char path[4096];
    snprintf (path, sizeof path, "%s/scene-02.wav", dir);
    ck_assert_int_eq (unlink (path), 0);
    progress_t progress = { 0 };
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run (dir, &progress, &output, &error), -ENOENT);
    ck_assert_str_eq (error.code, "RenderFailed");
    ck_assert_ptr_nonnull (strstr (error.message, "scene-02.wav"));
    ck_assert (!s_exists (dir, "video.mp4"));
    ck_assert (!s_tmp_left (dir));
    s_tempdir_remove (dir);
}
END_TEST

/*  A slide that is missing stops the encoder that needs it, and the
    others with it: the error names the file, and no video is left. */
START_TEST (test_missing_slide_fails)
{
    const int caps_k[2] = { 0, 400 };
    for (int c = 0; c < 2; c++) {
        char *dir = s_tempdir ();
        s_job_make (dir, caps_k[c]);
        char path[4096];
        snprintf (path, sizeof path, "%s/scene-03.png", dir);
        ck_assert_int_eq (unlink (path), 0);
        progress_t progress = { 0 };
        pipeline_output_t output;
        pipeline_error_t error;
        ck_assert_int_eq (s_run (dir, &progress, &output, &error), -ENOENT);
        ck_assert_str_eq (error.code, "RenderFailed");
        ck_assert_ptr_nonnull (strstr (error.message, "scene-03.png"));
        ck_assert (!s_exists (dir, "video.mp4"));
        ck_assert (!s_tmp_left (dir));
        ck_assert_uint_eq (output.artifact_count, 0);
        s_tempdir_remove (dir);
    }
}
END_TEST

START_TEST (test_bad_timeline_fails)
{
    char *dir = s_tempdir ();
    s_job_make (dir, 0);
    media_timeline_t timeline = {
        .width = 321, .height = HEIGHT, .fps = FPS, .crossfade_s = 0.5,
        .total_s = 1.0, .clip_count = 1,
    };
    timeline.clips[0].duration_s = 1.0;
    char path[4096];
    snprintf (path, sizeof path, "%s/timeline.json", dir);
    ck_assert_int_eq (media_timeline_save (&timeline, path), 0);
    progress_t progress = { 0 };
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run (dir, &progress, &output, &error), -EINVAL);
    ck_assert_str_eq (error.code, "RenderFailed");
    ck_assert (!error.retryable);
    s_tempdir_remove (dir);
}
END_TEST

START_TEST (test_finished_video_is_trusted)
{
    char *dir = s_tempdir ();
    s_job_make (dir, 0);
    char path[4096];
    snprintf (path, sizeof path, "%s/video.mp4", dir);
    FILE *file = fopen (path, "wb");
    ck_assert_ptr_nonnull (file);
    ck_assert_int_eq (fputs ("an earlier attempt's video", file) >= 0, 1);
    ck_assert_int_eq (fclose (file), 0);
    progress_t progress = { 0 };
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run (dir, &progress, &output, &error), 0);
    ck_assert_str_eq (output.video_path, "video.mp4");
    ck_assert_int_eq (output.size_bytes, 26);
    ck_assert_double_eq_tol (output.duration_s, SCENES * SCENE_S, 1.0 / FPS);
    ck_assert_uint_eq (output.artifact_count, 1);
    ck_assert (s_file_contains (path, "earlier attempt"));
    s_tempdir_remove (dir);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("media_render");
    TCase *tc = tcase_create ("render");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_render_decodes_back);
    tcase_add_test (tc, test_render_shared_decodes_back);
    tcase_add_test (tc, test_render_keeps_detail);
    tcase_add_test (tc, test_cancel_removes_partial_video);
    tcase_add_test (tc, test_missing_narration_fails);
    tcase_add_test (tc, test_missing_slide_fails);
    tcase_add_test (tc, test_bad_timeline_fails);
    tcase_add_test (tc, test_finished_video_is_trusted);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    SRunner *runner = srunner_create (s_suite ());
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
