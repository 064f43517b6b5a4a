/*  subtitles — subtitle cues from word timings, and the SRT and WebVTT
    texts for them. Pure functions over memory, no I/O, so tests and
    fuzzers call them directly; the compose step (compose.c) writes the
    files. Internal to the worker's media pipeline. */
#ifndef AURA_WORKER_SUBTITLES_H
#define AURA_WORKER_SUBTITLES_H

#include <stddef.h>
#include <stdint.h>

#include "media.h"

#define SUBTITLE_MAX_LINES 2
#define SUBTITLE_MAX_LINE_CHARS 42      /* characters (code points) a line */
#define SUBTITLE_MAX_CUE_MS 7000
/*  Two full lines of four-byte characters, the line break and the NUL. */
#define SUBTITLE_TEXT_SIZE (SUBTITLE_MAX_LINES * SUBTITLE_MAX_LINE_CHARS * 4 + 2)

typedef struct {
    int64_t start_ms;                   /* from the start of the video */
    int64_t end_ms;                     /* > start_ms */
    char text[SUBTITLE_TEXT_SIZE];      /* 1 or 2 lines joined by '\n', UTF-8 */
} subtitle_cue_t;

/*  Cues in time order, none overlapping the next. Zero it (or call
    subtitle_track_init) before the first use. */
typedef struct {
    subtitle_cue_t *cues;               /* owned */
    size_t count;
    size_t capacity;
} subtitle_track_t;

void subtitle_track_init (subtitle_track_t *track);

/*  Releases the cues; the track is empty and usable again. */
void subtitle_track_free (subtitle_track_t *track);

/*  Appends the cues for one scene's words. A word's times are from the
    start of the scene's audio; offset_ms places the scene in the video and
    audio_ms is the length of its audio: no cue ends after
    offset_ms + audio_ms. Each cue holds at most SUBTITLE_MAX_LINES lines of
    SUBTITLE_MAX_LINE_CHARS characters and lasts at most
    SUBTITLE_MAX_CUE_MS; cues break between words, at a sentence end when
    one is near the break; a cue starts at its first word's start and ends
    at its last word's end, before the next cue, and never before the end
    of the cue already in the track.
    Any input is accepted: times out of order or out of range are clamped,
    text is cut to the field, control bytes become spaces and bytes that
    are not UTF-8 become '?', empty words are skipped. Returns 0, or
    -ENOMEM (the track then keeps the cues added before the call), or
    -EINVAL when word_count < 0 or words is NULL with a positive count. */
int subtitle_track_add_words (subtitle_track_t *track, const media_word_t *words,
                              int word_count, int64_t offset_ms, int64_t audio_ms);

/*  The cues for a whole video: each scene's words placed at its clip's
    start. Uses min(voice->scene_count, timeline->clip_count) scenes.
    Returns 0 or -ENOMEM. */
int subtitle_track_from_voice (subtitle_track_t *track, const media_voice_t *voice,
                               const media_timeline_t *timeline);

/*  The track as SubRip text: "N\nHH:MM:SS,mmm --> HH:MM:SS,mmm\ntext\n\n"
    from N = 1 (cue text never holds "-->": words carry "→" instead). On
    success *text is a NUL-terminated buffer the caller
    frees, *len its length; returns 0 or -ENOMEM. */
int subtitle_format_srt (const subtitle_track_t *track, char **text, size_t *len);

/*  The track as WebVTT: "WEBVTT\n\n", then "HH:MM:SS.mmm --> HH:MM:SS.mmm\n
    text\n\n" with '&', '<' and '>' written as &amp; &lt; &gt;. Same
    ownership and returns as subtitle_format_srt. */
int subtitle_format_vtt (const subtitle_track_t *track, char **text, size_t *len);

#endif
