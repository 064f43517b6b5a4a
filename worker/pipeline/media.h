/*  media — what the steps of the media pipeline hand to each other, and
    the files that carry it in the job's artifact directory:

      plan     spec JSON        → plan.json      (media_plan_t)
      tts      plan.json        → scene-NN.wav, voice.json (media_voice_t)
      visuals  plan.json        → scene-NN.png, thumbnail.png
      compose  plan + voice     → timeline.json (media_timeline_t),
                                  video.srt, video.vtt
      render   timeline + files → video.mp4

    Every file is written under a temporary name of its own and renamed
    when complete (media_tmp_path, media_file_commit_from), so a file that
    exists is whole, and two attempts never share a temporary: a retried
    attempt trusts it. Scene numbers in file names are 1-based and two digits
    ("scene-01.png"). */
#ifndef AURA_WORKER_MEDIA_H
#define AURA_WORKER_MEDIA_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline.h"

#define MEDIA_MAX_SCENES 20
#define MEDIA_MAX_BULLETS 4

typedef enum { MEDIA_SPARSE, MEDIA_BALANCED, MEDIA_DENSE } media_density_t;
typedef enum { MEDIA_CHILL, MEDIA_CONVERSATIONAL, MEDIA_FAST } media_pacing_t;

typedef struct {
    char heading[160];
    char bullets[MEDIA_MAX_BULLETS][200];
    int bullet_count;           /* 2..4 */
    char narration[2048];       /* what the voice says, plain sentences */
    double target_s;            /* the share of the target duration */
} media_scene_t;

/*  The normalized job: the brief and every setting later steps need, with
    defaults filled in, plus the scenes. */
typedef struct {
    /* brief */
    char topic[512];
    char audience[128];
    char goal[128];
    char tone[64];
    char language[16];          /* "en-us" … */
    /* plan */
    double target_duration_s;   /* 5..600 */
    media_pacing_t pacing;
    media_density_t density;
    char style[32];             /* palette name for visuals */
    int words_per_minute;       /* 130 / 160 / 190 */
    /* voice */
    char voice_name[64];        /* espeak-ng voice, "" = from language */
    double voice_rate;          /* multiplier, 1.0 = words_per_minute */
    double voice_pitch;         /* -1..1, 0 = the voice's own */
    double voice_pause_s;       /* pause after each scene's narration */
    /* render */
    int width, height;          /* from aspect and res, even numbers */
    int fps;                    /* 24, 25, 30, 60 */
    int quality;                /* qualityLevel 0..100 */
    int video_bitrate_k;        /* 0 = no cap */
    int audio_bitrate_k;        /* default 128 */
    /* scenes */
    media_scene_t scenes[MEDIA_MAX_SCENES];
    int scene_count;            /* 3..20 */
} media_plan_t;

typedef struct {
    char text[64];
    int start_ms;               /* from the start of the scene's audio */
    int end_ms;
} media_word_t;

/*  One scene's narration as synthesized: scene-NN.wav, mono s16. */
typedef struct {
    double duration_s;          /* length of the WAV */
    media_word_t *words;        /* owned; in spoken order, start_ms increasing */
    int word_count;
} media_voice_scene_t;

typedef struct {
    int sample_rate;            /* espeak-ng's, 22050 */
    media_voice_scene_t scenes[MEDIA_MAX_SCENES];
    int scene_count;
} media_voice_t;

/*  One scene on the video's timeline. */
typedef struct {
    double start_s;             /* when the scene begins in the video */
    double duration_s;          /* its narration plus the pause */
    double audio_s;             /* how much of that is narration */
} media_clip_t;

typedef struct {
    int width, height, fps;
    double crossfade_s;         /* between scenes, 0.5 */
    double total_s;             /* the video's length */
    media_clip_t clips[MEDIA_MAX_SCENES];
    int clip_count;
} media_timeline_t;

/*  Builds the plan from a job's spec JSON (the validated request). Pure:
    no files. Returns 0, or -EINVAL with error (code "InvalidBrief") for a
    spec it cannot use. */
int media_plan_build (const char *spec, size_t spec_len, media_plan_t *plan,
                      pipeline_error_t *error);

/*  plan.json, voice.json, timeline.json. Save writes path atomically
    (temporary name, then rename). Load returns 0, or -errno / -EPROTO with
    error filled. media_voice_free releases the word arrays. */
int media_plan_save (const media_plan_t *plan, const char *path);
int media_plan_load (const char *path, media_plan_t *plan, pipeline_error_t *error);
int media_voice_save (const media_voice_t *voice, const char *path);
int media_voice_load (const char *path, media_voice_t *voice, pipeline_error_t *error);
void media_voice_free (media_voice_t *voice);
int media_timeline_save (const media_timeline_t *timeline, const char *path);
int media_timeline_load (const char *path, media_timeline_t *timeline,
                         pipeline_error_t *error);

/*  Writes "<dir>/<name>" into out. Returns 0 or -ENAMETOOLONG. */
int media_path (char *out, size_t out_size, const char *dir, const char *name);

/*  Makes a temporary name for path that no other writer uses, even an
    earlier attempt of the same job still running on another machine
    sharing the directory: "<path>.XXXXXX.tmp", created empty and
    exclusively. The writer fills it, then media_file_commit_from renames
    it onto path (or removes it on failure). Returns 0 or -errno. */
int media_tmp_path (const char *path, char *tmp, size_t tmp_size);

/*  Renames tmp (from media_tmp_path) onto path. Returns 0 or -errno. */
int media_file_commit_from (const char *tmp, const char *path);

/*  True when path exists as a regular file (a committed output). */
bool media_file_exists (const char *path);

/*  The steps (plan.c, tts.c, visuals.c, compose.c, render.c), and the
    pipeline that runs them. */
int media_step_plan (const pipeline_input_t *input, pipeline_output_t *output,
                     pipeline_progress_fn progress, void *progress_ctx,
                     pipeline_error_t *error);
int media_step_tts (const pipeline_input_t *input, pipeline_output_t *output,
                    pipeline_progress_fn progress, void *progress_ctx,
                    pipeline_error_t *error);
int media_step_visuals (const pipeline_input_t *input, pipeline_output_t *output,
                        pipeline_progress_fn progress, void *progress_ctx,
                        pipeline_error_t *error);
int media_step_compose (const pipeline_input_t *input, pipeline_output_t *output,
                        pipeline_progress_fn progress, void *progress_ctx,
                        pipeline_error_t *error);
int media_step_render (const pipeline_input_t *input, pipeline_output_t *output,
                       pipeline_progress_fn progress, void *progress_ctx,
                       pipeline_error_t *error);

extern const pipeline_t pipeline_media;

#endif
