/*  media — the pipeline that turns a brief into a narrated video: plan,
    voice, slides, timeline and subtitles, then the encoded MP4. Each step
    lives in its own file; this one names them in order and lists what a
    finished job delivers. */
#include "media.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/*  What a finished job delivers, in the order clients show it. The
    per-scene files (scene-NN.wav, scene-NN.png) stay in the job's
    directory but are not listed: they are working files, and listing them
    would make every job-completed event grow with the scene count. */
static const struct {
    const char *name;
    const char *type;
} s_deliverables[] = {
    { "video.mp4", "video/mp4" },         { "video.vtt", "text/vtt" },
    { "video.srt", "application/x-subrip" }, { "thumbnail.png", "image/png" },
    { "plan.json", "application/json" },  { "timeline.json", "application/json" },
    { "voice.json", "application/json" },
};

static int
s_media_collect (const pipeline_input_t *input, pipeline_output_t *output)
{
    for (size_t i = 0; i < sizeof s_deliverables / sizeof s_deliverables[0]; i++) {
        char path[PIPELINE_PATH_SIZE];
        struct stat st;
        if (media_path (path, sizeof path, input->artifact_dir,
                        s_deliverables[i].name) < 0)
            return -ENAMETOOLONG;
        if (stat (path, &st) != 0 || !S_ISREG (st.st_mode))
            continue;
        int rc = pipeline_output_add_artifact (output, s_deliverables[i].name,
                                               s_deliverables[i].name,
                                               s_deliverables[i].type,
                                               (int64_t) st.st_size);
        if (rc < 0)
            return rc;
        if (strcmp (s_deliverables[i].name, "video.mp4") == 0) {
            snprintf (output->video_path, sizeof output->video_path, "video.mp4");
            output->size_bytes = (int64_t) st.st_size;
        }
        if (strcmp (s_deliverables[i].name, "video.srt") == 0)
            snprintf (output->subtitle_path, sizeof output->subtitle_path,
                      "video.srt");
    }
    if (!output->video_path[0])
        return -ENOENT; /* render said done: its video must be there */

    char path[PIPELINE_PATH_SIZE];
    media_timeline_t timeline;
    pipeline_error_t error;
    if (media_path (path, sizeof path, input->artifact_dir, "timeline.json") == 0
        && media_timeline_load (path, &timeline, &error) == 0)
        output->duration_s = timeline.total_s;
    return 0;
}

/*  The files whose presence says a step of an earlier attempt finished
    (each is renamed into place last or whole, see media.h). */
static const char *const s_step_outputs[STEP_COUNT][4] = {
    [STEP_PLAN] = { "plan.json", NULL },
    [STEP_TTS] = { "voice.json", "scene-01.wav", NULL },
    [STEP_VISUALS] = { "thumbnail.png", "scene-01.png", NULL },
    [STEP_COMPOSE] = { "timeline.json", "video.srt", "video.vtt", NULL },
    [STEP_RENDER] = { "video.mp4", NULL },
};

static bool
s_media_ready (const pipeline_input_t *input, step_t step)
{
    if ((int) step < 0 || step >= STEP_COUNT || !input->artifact_dir[0])
        return false;
    for (size_t i = 0; s_step_outputs[step][i]; i++) {
        char path[PIPELINE_PATH_SIZE];
        if (media_path (path, sizeof path, input->artifact_dir, s_step_outputs[step][i]) < 0
            || !media_file_exists (path))
            return false;
    }
    return true;
}

const pipeline_t pipeline_media = {
    .name = "media",
    .steps = {
        [STEP_PLAN] = media_step_plan,
        [STEP_TTS] = media_step_tts,
        [STEP_VISUALS] = media_step_visuals,
        [STEP_COMPOSE] = media_step_compose,
        [STEP_RENDER] = media_step_render,
    },
    .collect = s_media_collect,
    .ready = s_media_ready,
    .writes_files = true,
};
