/*  tts — the narration of each scene spoken by espeak-ng (its C library,
    synchronous mode) into scene-NN.wav, with the time of every word in
    voice.json for the subtitles. espeak-ng keeps global state and is not
    thread-safe, while the worker runs jobs on threads: it is initialized
    once per process and every synthesis holds one process-wide lock. */
#include "media.h"

#include <errno.h>
#include <espeak-ng/speak_lib.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TTS_FALLBACK_VOICE "en-us"
/*  Length of the buffers espeak-ng hands to the callback. */
#define TTS_BUFFER_MS 100
/*  How often a synthesis, or a wait for the lock, asks whether to stop. */
#define TTS_POLL_MS 25
#define TTS_MIN_RATE 80
#define TTS_MAX_RATE 450
/*  A scene's narration is at most 2 KiB of text, well under this. */
#define TTS_MAX_SCENE_S 900
/*  Trailing samples quieter than this are trimmed, keeping a short tail. */
#define TTS_SILENCE_LEVEL 64
#define TTS_TAIL_MS 50
/*  A word ends at the end of the last 10 ms frame before the next word
    whose mean level is above TTS_VOICED_LEVEL (pauses after a sentence
    are not part of its last word). */
#define TTS_FRAME_MS 10
#define TTS_VOICED_LEVEL 200
#define TTS_WAV_HEADER_SIZE 44
/*  Artifact slots left free for what later steps must list (thumbnail,
    timeline, both subtitle files, the video) when there are many scenes:
    a WAV or voice.json not listed is still in the job's directory. */
#define TTS_ARTIFACTS_RESERVED 6

/* ------------------------------------------------------------------ */
/*  espeak-ng, once per process and one synthesis at a time            */

typedef struct {
    int char_index;                 /* 0-based, in characters */
    int audio_ms;
} s_word_event_t;

/*  One synthesis: what the callback collects, and how it asks to stop. */
typedef struct {
    int16_t *samples;
    size_t sample_count;
    size_t sample_capacity;
    size_t max_samples;
    s_word_event_t *events;
    size_t event_count;
    size_t event_capacity;
    bool out_of_memory;
    bool too_long;
    bool canceled;
    pipeline_progress_fn progress;
    void *progress_ctx;
    int64_t last_poll_ms;
} s_synth_t;

static pthread_once_t s_init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static int s_sample_rate;           /* set once; -1 when espeak-ng failed */
static s_synth_t *s_current;        /* the synthesis running, under s_lock */

static int
s_on_synth (short *wav, int count, espeak_EVENT *events)
{
    s_synth_t *self = s_current;
    if (!self)
        return 1;
    if (wav && count > 0) {
        size_t need = self->sample_count + (size_t) count;
        if (need > self->max_samples) {
            self->too_long = true;
            return 1;
        }
        if (need > self->sample_capacity) {
            size_t capacity = self->sample_capacity ? self->sample_capacity : 65536;
            while (capacity < need)
                capacity *= 2;
            int16_t *samples = realloc (self->samples, capacity * sizeof *samples);
            if (!samples) {
                self->out_of_memory = true;
                return 1;
            }
            self->samples = samples;
            self->sample_capacity = capacity;
        }
        memcpy (self->samples + self->sample_count, wav,
                (size_t) count * sizeof *wav);
        self->sample_count = need;
    }
    for (espeak_EVENT *event = events;
         event && event->type != espeakEVENT_LIST_TERMINATED; event++) {
        if (event->type != espeakEVENT_WORD)
            continue;
        if (self->event_count == self->event_capacity) {
            size_t capacity = self->event_capacity ? self->event_capacity * 2 : 256;
            s_word_event_t *grown = realloc (self->events, capacity * sizeof *grown);
            if (!grown) {
                self->out_of_memory = true;
                return 1;
            }
            self->events = grown;
            self->event_capacity = capacity;
        }
        self->events[self->event_count].char_index = event->text_position - 1;
        self->events[self->event_count].audio_ms = event->audio_position;
        self->event_count++;
    }
    int64_t now_ms = pipeline_clock_ms ();
    if (now_ms - self->last_poll_ms >= TTS_POLL_MS) {
        self->last_poll_ms = now_ms;
        if (self->progress (self->progress_ctx, STEP_TTS, 0, NULL, -1) != 0) {
            self->canceled = true;
            return 1;               /* espeak-ng stops the synthesis */
        }
    }
    return 0;
}

static void
s_initialize (void)
{
    int rate = espeak_Initialize (AUDIO_OUTPUT_SYNCHRONOUS, TTS_BUFFER_MS, NULL,
                                  espeakINITIALIZE_DONT_EXIT);
    if (rate <= 0) {
        s_sample_rate = -1;
        return;
    }
    espeak_SetSynthCallback (s_on_synth);
    s_sample_rate = rate;
}

/*  Takes s_lock, asking progress every TTS_POLL_MS while another job
    holds it. Returns 0 (locked), -ECANCELED, or -errno. */
static int
s_lock_polling (pipeline_progress_fn progress, void *progress_ctx)
{
    while (true) {
        struct timespec deadline;
        clock_gettime (CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += TTS_POLL_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        int rc = pthread_mutex_timedlock (&s_lock, &deadline);
        if (rc == 0)
            return 0;
        if (rc != ETIMEDOUT)
            return -rc;
        if (progress (progress_ctx, STEP_TTS, 0, NULL, -1) != 0)
            return -ECANCELED;
    }
}

/*  A voice as asked for: a name espeak-ng knows ("en-us", "Klingon",
    "en-us+f3"), or else a language tag it has a voice for ("fr-FR" →
    French, "en-AU" → the nearest English). */
typedef struct {
    char name[64];
    bool by_language;
} s_voice_t;

/*  Makes voice espeak-ng's current one; under s_lock. */
static espeak_ERROR
s_voice_select (const s_voice_t *voice)
{
    if (!voice->by_language)
        return espeak_SetVoiceByName (voice->name);
    espeak_VOICE properties;
    memset (&properties, 0, sizeof properties);
    properties.languages = voice->name;
    return espeak_SetVoiceByProperties (&properties);
}

/*  Finds how espeak-ng can speak with the voice called name: sets *voice
    and *found. Returns 0, -ECANCELED or -errno. */
static int
s_voice_find (const char *name, s_voice_t *voice, bool *found,
              pipeline_progress_fn progress, void *progress_ctx)
{
    snprintf (voice->name, sizeof voice->name, "%s", name);
    *found = false;
    if (!name[0])
        return 0;
    int rc = s_lock_polling (progress, progress_ctx);
    if (rc < 0)
        return rc;
    voice->by_language = false;
    *found = s_voice_select (voice) == EE_OK;
    if (!*found) {
        voice->by_language = true;
        *found = s_voice_select (voice) == EE_OK;
    }
    pthread_mutex_unlock (&s_lock);
    return 0;
}

/*  Speaks text into synth. Returns 0, -ECANCELED, -ENOMEM, -EFBIG (longer
    than TTS_MAX_SCENE_S) or -EIO (espeak-ng refused). */
static int
s_synthesize (s_synth_t *synth, const s_voice_t *voice, int rate, int pitch,
              const char *text)
{
    int rc = s_lock_polling (synth->progress, synth->progress_ctx);
    if (rc < 0)
        return rc;
    s_current = synth;
    synth->last_poll_ms = pipeline_clock_ms ();
    /* other jobs change these between syntheses: set them every time */
    espeak_ERROR result = s_voice_select (voice);
    if (result == EE_OK)
        result = espeak_SetParameter (espeakRATE, rate, 0);
    if (result == EE_OK)
        result = espeak_SetParameter (espeakPITCH, pitch, 0);
    if (result == EE_OK)
        result = espeak_Synth (text, strlen (text) + 1, 0, POS_CHARACTER, 0,
                               espeakCHARS_UTF8, NULL, NULL);
    s_current = NULL;
    pthread_mutex_unlock (&s_lock);
    if (synth->canceled)
        return -ECANCELED;
    if (synth->out_of_memory)
        return -ENOMEM;
    if (synth->too_long)
        return -EFBIG;
    return result == EE_OK ? 0 : -EIO;
}

/* ------------------------------------------------------------------ */
/*  Words                                                              */

/*  A whitespace-separated token of the narration. */
typedef struct {
    size_t byte_start, byte_end;
    int char_start, char_end;       /* [start, end) in characters */
    int audio_ms;                   /* -1: no word event names it */
} s_token_t;

/*  Appends the token's text to word->text, after a space when it is not
    empty, cutting on a character boundary when it does not fit. */
static void
s_word_append (media_word_t *word, const char *text, size_t len)
{
    size_t at = strlen (word->text);
    if (at > 0 && at + 1 < sizeof word->text)
        word->text[at++] = ' ';
    if (at + len >= sizeof word->text) {
        len = sizeof word->text - 1 - at;
        while (len > 0 && ((unsigned char) text[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy (word->text + at, text, len);
    word->text[at + len] = '\0';
}

/*  Mean absolute level of the frame'th TTS_FRAME_MS of samples. */
static int
s_frame_level (const int16_t *samples, size_t count, int sample_rate, int frame)
{
    size_t frame_len = (size_t) sample_rate * TTS_FRAME_MS / 1000;
    size_t start = (size_t) frame * frame_len;
    if (start >= count)
        return 0;
    size_t end = start + frame_len < count ? start + frame_len : count;
    long sum = 0;
    for (size_t i = start; i < end; i++)
        sum += abs (samples[i]);
    return (int) (sum / (long) (end - start));
}

/*  Builds scene->words from the narration's tokens and the word events:
    each token takes the time of the first event that falls in it; tokens
    no event names (a dash, a number read as several words) join the word
    before them, so the text stays whole and start times strictly
    increase. Returns 0 or -ENOMEM. */
static int
s_build_words (const char *narration, const s_synth_t *synth, size_t sample_count,
               int sample_rate, media_voice_scene_t *scene)
{
    size_t len = strlen (narration);
    int duration_ms = (int) ((int64_t) sample_count * 1000 / sample_rate);
    s_token_t *tokens = calloc (len / 2 + 1, sizeof *tokens);
    if (!tokens)
        return -ENOMEM;
    int token_count = 0;
    int chars = 0;
    for (size_t i = 0; i < len;) {
        bool space = narration[i] == ' ' || narration[i] == '\t'
                     || narration[i] == '\n' || narration[i] == '\r';
        if (!space) {
            s_token_t *token = &tokens[token_count++];
            token->byte_start = i;
            token->char_start = chars;
            token->audio_ms = -1;
            while (i < len && narration[i] != ' ' && narration[i] != '\t'
                   && narration[i] != '\n' && narration[i] != '\r') {
                if (((unsigned char) narration[i] & 0xC0) != 0x80)
                    chars++;
                i++;
            }
            token->byte_end = i;
            token->char_end = chars;
        }
        else {
            chars++;
            i++;
        }
    }

    bool any_event = false;
    for (size_t e = 0; e < synth->event_count; e++) {
        const s_word_event_t *event = &synth->events[e];
        for (int t = 0; t < token_count; t++) {
            if (tokens[t].char_end > event->char_index) {
                if (tokens[t].audio_ms < 0) {
                    tokens[t].audio_ms = event->audio_ms;
                    any_event = true;
                }
                break;
            }
        }
    }
    /* no events at all: spread the words evenly over the audio */
    if (!any_event)
        for (int t = 0; t < token_count; t++)
            tokens[t].audio_ms = (int) ((int64_t) duration_ms * t / token_count);

    scene->words = calloc ((size_t) token_count + 1, sizeof *scene->words);
    if (!scene->words) {
        free (tokens);
        return -ENOMEM;
    }
    scene->word_count = 0;
    media_word_t pending = { .text = "" };   /* tokens before the first word */
    for (int t = 0; t < token_count; t++) {
        const s_token_t *token = &tokens[t];
        const char *text = narration + token->byte_start;
        size_t text_len = token->byte_end - token->byte_start;
        media_word_t *previous = scene->word_count > 0
                                     ? &scene->words[scene->word_count - 1]
                                     : NULL;
        bool starts_word = token->audio_ms >= 0 && token->audio_ms < duration_ms
                           && (!previous || token->audio_ms > previous->start_ms);
        if (starts_word) {
            media_word_t *word = &scene->words[scene->word_count++];
            memcpy (word->text, pending.text, sizeof word->text);
            pending.text[0] = '\0';
            s_word_append (word, text, text_len);
            word->start_ms = token->audio_ms;
        }
        else if (previous)
            s_word_append (previous, text, text_len);
        else
            s_word_append (&pending, text, text_len);
    }
    if (pending.text[0] && token_count > 0) {
        /* not one token could be timed: the text becomes one word */
        media_word_t *word = &scene->words[scene->word_count++];
        *word = pending;
        word->start_ms = 0;
    }
    free (tokens);

    /* ends: the last voiced frame before the next word */
    for (int w = 0; w < scene->word_count; w++) {
        media_word_t *word = &scene->words[w];
        int next_ms = w + 1 < scene->word_count ? scene->words[w + 1].start_ms
                                                : duration_ms;
        int end_ms = word->start_ms + 1;
        for (int frame = next_ms / TTS_FRAME_MS - 1;
             frame >= 0 && frame * TTS_FRAME_MS >= word->start_ms; frame--) {
            if (s_frame_level (synth->samples, sample_count, sample_rate, frame)
                > TTS_VOICED_LEVEL) {
                end_ms = (frame + 1) * TTS_FRAME_MS;
                break;
            }
        }
        if (end_ms > next_ms)
            end_ms = next_ms;
        if (end_ms <= word->start_ms)
            end_ms = word->start_ms + 1 <= next_ms ? word->start_ms + 1 : next_ms;
        word->end_ms = end_ms;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/*  Files                                                              */

static void
s_put_u32 (unsigned char *p, uint32_t value)
{
    p[0] = (unsigned char) value;
    p[1] = (unsigned char) (value >> 8);
    p[2] = (unsigned char) (value >> 16);
    p[3] = (unsigned char) (value >> 24);
}

static void
s_put_u16 (unsigned char *p, uint16_t value)
{
    p[0] = (unsigned char) value;
    p[1] = (unsigned char) (value >> 8);
}

/*  Writes samples as a 16-bit mono PCM RIFF/WAVE file to "<path>.tmp" and
    renames it to path. Returns 0 or -errno; no ".tmp" is left on error. */
static int
s_write_wav (const char *path, const int16_t *samples, size_t count,
             int sample_rate)
{
    char tmp[4096];
    int rc = media_tmp_path (path, tmp, sizeof tmp);
    if (rc < 0)
        return rc;
    uint32_t data_size = (uint32_t) (count * 2);
    unsigned char header[TTS_WAV_HEADER_SIZE];
    memcpy (header, "RIFF", 4);
    s_put_u32 (header + 4, 36 + data_size);
    memcpy (header + 8, "WAVEfmt ", 8);
    s_put_u32 (header + 16, 16);                       /* fmt chunk size */
    s_put_u16 (header + 20, 1);                        /* PCM */
    s_put_u16 (header + 22, 1);                        /* mono */
    s_put_u32 (header + 24, (uint32_t) sample_rate);
    s_put_u32 (header + 28, (uint32_t) sample_rate * 2);   /* bytes a second */
    s_put_u16 (header + 32, 2);                        /* bytes a frame */
    s_put_u16 (header + 34, 16);                       /* bits a sample */
    memcpy (header + 36, "data", 4);
    s_put_u32 (header + 40, data_size);

    FILE *file = fopen (tmp, "wb");
    if (!file) {
        rc = -errno;
        remove (tmp);
        return rc;
    }
    errno = 0;   /* a short write reports its reason here, if it has one */
    if (fwrite (header, 1, sizeof header, file) != sizeof header)
        rc = errno ? -errno : -EIO;
    unsigned char chunk[8192];
    for (size_t i = 0; i < count && rc == 0;) {
        size_t n = 0;
        for (; n < sizeof chunk / 2 && i < count; n++, i++)
            s_put_u16 (chunk + 2 * n, (uint16_t) samples[i]);
        if (fwrite (chunk, 1, 2 * n, file) != 2 * n)
            rc = errno ? -errno : -EIO;
    }
    if (fclose (file) != 0 && rc == 0)
        rc = errno ? -errno : -EIO;
    if (rc == 0)
        rc = media_file_commit_from (tmp, path);
    if (rc < 0)
        remove (tmp);
    return rc;
}

static int64_t
s_file_size (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 ? (int64_t) st.st_size : 0;
}

/*  Lists a file among the job's artifacts while more than `reserve` slots
    stay free. */
static void
s_add_artifact (pipeline_output_t *output, const char *name, const char *path,
                const char *type, size_t reserve)
{
    if (output->artifact_count + reserve < PIPELINE_MAX_ARTIFACTS)
        pipeline_output_add_artifact (output, name, name, type, s_file_size (path));
}

/*  Lists the WAVs, then voice.json (which needs one slot less kept). */
static void
s_add_artifacts (pipeline_output_t *output, int scenes,
                 char wav_names[][16], char wav_paths[][1024],
                 const char *voice_path)
{
    for (int i = 0; i < scenes; i++)
        s_add_artifact (output, wav_names[i], wav_paths[i], "audio/wav",
                        TTS_ARTIFACTS_RESERVED);
    s_add_artifact (output, "voice.json", voice_path, "application/json",
                    TTS_ARTIFACTS_RESERVED - 1);
}

/* ------------------------------------------------------------------ */
/*  The step                                                           */

int
media_step_tts (const pipeline_input_t *input, pipeline_output_t *output,
                pipeline_progress_fn progress, void *progress_ctx,
                pipeline_error_t *error)
{
    int rc = 0;
    media_plan_t *plan = NULL;
    media_voice_t voice;
    memset (&voice, 0, sizeof voice);
    s_synth_t synth;
    memset (&synth, 0, sizeof synth);
    char plan_path[4096], voice_path[4096];
    char wav_names[MEDIA_MAX_SCENES][16];
    char wav_paths[MEDIA_MAX_SCENES][1024];
    bool written[MEDIA_MAX_SCENES] = { false };

    const char *dir = input->artifact_dir ? input->artifact_dir : "";
    if (!dir[0]) {
        pipeline_error_set (error, "TtsFailed", false,
                            "the job has no artifact directory");
        return -EINVAL;
    }
    bool paths_fit = media_path (plan_path, sizeof plan_path, dir, "plan.json") == 0
                     && media_path (voice_path, sizeof voice_path, dir, "voice.json") == 0;
    for (int i = 0; i < MEDIA_MAX_SCENES && paths_fit; i++) {
        snprintf (wav_names[i], sizeof wav_names[i], "scene-%02d.wav", i + 1);
        paths_fit = media_path (wav_paths[i], sizeof wav_paths[i], dir,
                                wav_names[i]) == 0;
    }
    if (!paths_fit) {
        pipeline_error_set (error, "TtsFailed", false,
                            "the artifact directory's path is too long");
        return -ENAMETOOLONG;
    }
    if (progress (progress_ctx, STEP_TTS, 0.0, "Synthesizing narration", -1) != 0)
        return -ECANCELED;

    plan = malloc (sizeof *plan);
    if (!plan) {
        pipeline_error_set (error, "TtsFailed", true, "out of memory");
        return -ENOMEM;
    }
    pipeline_error_t load_error;
    if ((rc = media_plan_load (plan_path, plan, &load_error)) < 0) {
        pipeline_error_set (error, "TtsFailed", rc != -EPROTO,
                            "cannot read the plan: %s", load_error.message);
        goto cleanup;
    }
    int scenes = plan->scene_count;

    /* the narration of an earlier attempt is whole when voice.json (written
       last) is there with every WAV */
    bool reuse = media_file_exists (voice_path)
                 && media_voice_load (voice_path, &voice, &load_error) == 0
                 && voice.scene_count == scenes;
    for (int i = 0; i < scenes && reuse; i++)
        reuse = media_file_exists (wav_paths[i]);
    if (reuse) {
        s_add_artifacts (output, scenes, wav_names, wav_paths, voice_path);
        rc = progress (progress_ctx, STEP_TTS, 1.0,
                       "Reusing the narration of an earlier attempt", 0) != 0
                 ? -ECANCELED
                 : 0;
        goto cleanup;
    }
    media_voice_free (&voice);

    pthread_once (&s_init_once, s_initialize);
    if (s_sample_rate <= 0) {
        rc = -EIO;
        pipeline_error_set (error, "TtsFailed", false,
                            "espeak-ng could not start (is espeak-ng-data installed?)");
        goto cleanup;
    }

    /* the voice: voiceSpec.voiceName, else the brief's language; one that
       espeak-ng lacks gives way to the language's, then to the fallback */
    const char *candidates[] = { plan->voice_name, plan->language,
                                 TTS_FALLBACK_VOICE };
    const char *asked = plan->voice_name[0] ? plan->voice_name : plan->language;
    s_voice_t speaker;
    bool found = false;
    for (size_t c = 0; c < sizeof candidates / sizeof *candidates && !found; c++)
        if ((rc = s_voice_find (candidates[c], &speaker, &found, progress,
                                progress_ctx)) < 0)
            goto cleanup;
    if (!found) {
        rc = -ENOENT;
        pipeline_error_set (error, "TtsFailed", false,
                            "espeak-ng has no voice \"%s\", nor \"%s\"", asked,
                            TTS_FALLBACK_VOICE);
        goto cleanup;
    }
    if (strcmp (speaker.name, asked) != 0)
        pipeline_warn (input, "VoiceNotFound",
                       "espeak-ng has no voice \"%s\"; using \"%s\" instead",
                       asked, speaker.name);
    long rate = lround (plan->words_per_minute * plan->voice_rate);
    rate = rate < TTS_MIN_RATE ? TTS_MIN_RATE : rate > TTS_MAX_RATE ? TTS_MAX_RATE : rate;
    long pitch = lround (50.0 + 50.0 * plan->voice_pitch);
    pitch = pitch < 0 ? 0 : pitch > 100 ? 100 : pitch;

    voice.sample_rate = s_sample_rate;
    synth.progress = progress;
    synth.progress_ctx = progress_ctx;
    synth.max_samples = (size_t) s_sample_rate * TTS_MAX_SCENE_S;
    int64_t started_ms = pipeline_clock_ms ();
    for (int i = 0; i < scenes; i++) {
        synth.sample_count = 0;
        synth.event_count = 0;
        rc = s_synthesize (&synth, &speaker, (int) rate, (int) pitch,
                           plan->scenes[i].narration);
        if (rc == -ECANCELED)
            goto cleanup;
        if (rc < 0 || synth.sample_count == 0) {
            pipeline_error_set (error, "TtsFailed", rc != -EFBIG,
                                "espeak-ng could not speak scene %d: %s", i + 1,
                                rc == -EFBIG ? "its narration is too long"
                                : rc == -ENOMEM ? "out of memory"
                                : "no audio came out");
            rc = rc < 0 ? rc : -EIO;
            goto cleanup;
        }

        /* trailing silence goes, but for a short tail */
        size_t count = synth.sample_count;
        while (count > 0 && abs (synth.samples[count - 1]) <= TTS_SILENCE_LEVEL)
            count--;
        count += (size_t) s_sample_rate * TTS_TAIL_MS / 1000;
        if (count > synth.sample_count)
            count = synth.sample_count;

        media_voice_scene_t *scene = &voice.scenes[i];
        voice.scene_count = i + 1;
        scene->duration_s = (double) count / s_sample_rate;
        if ((rc = s_build_words (plan->scenes[i].narration, &synth, count,
                                 s_sample_rate, scene)) < 0) {
            pipeline_error_set (error, "TtsFailed", true, "out of memory");
            goto cleanup;
        }
        if (progress (progress_ctx, STEP_TTS, 0, NULL, -1) != 0) {
            rc = -ECANCELED;
            goto cleanup;
        }
        if ((rc = s_write_wav (wav_paths[i], synth.samples, count, s_sample_rate)) < 0) {
            pipeline_error_set (error, rc == -ENOSPC || rc == -EDQUOT ? "DiskFull"
                                                                      : "TtsFailed",
                                true, "cannot write %s: %s", wav_names[i],
                                strerror (-rc));
            goto cleanup;
        }
        written[i] = true;

        int64_t elapsed_ms = pipeline_clock_ms () - started_ms;
        int eta_s = (int) ((elapsed_ms * (scenes - i - 1) / (i + 1) + 999) / 1000);
        char message[PIPELINE_MESSAGE_SIZE];
        snprintf (message, sizeof message, "Narrated scene %d of %d (%.1f s)",
                  i + 1, scenes, scene->duration_s);
        if (progress (progress_ctx, STEP_TTS, (double) (i + 1) / scenes, message,
                      eta_s) != 0) {
            rc = -ECANCELED;
            goto cleanup;
        }
    }

    if ((rc = media_voice_save (&voice, voice_path)) < 0) {
        pipeline_error_set (error, rc == -ENOSPC || rc == -EDQUOT ? "DiskFull"
                                                                  : "TtsFailed",
                            true, "cannot write voice.json: %s", strerror (-rc));
        goto cleanup;
    }
    s_add_artifacts (output, scenes, wav_names, wav_paths, voice_path);
    rc = 0;

cleanup:
    /* WAVs without voice.json are of no use to a later attempt */
    if (rc < 0)
        for (int i = 0; i < MEDIA_MAX_SCENES; i++)
            if (written[i])
                remove (wav_paths[i]);
    free (synth.samples);
    free (synth.events);
    media_voice_free (&voice);
    free (plan);
    return rc;
}
