/*  fuzz_subtitles — the subtitle cues and their SubRip and WebVTT texts,
    built from arbitrary word texts and timings as the compose step builds
    them: one or more scenes, each placed at an offset in the video, with
    its words. The input is read as a little program: a byte says how many
    scenes, four bytes place each scene and four say how long its audio
    is, a byte how many words it has; each word is a byte of flags, its
    times and its text. Checked: the track keeps what subtitles.h promises
    (cues in order, never overlapping, at most two lines of 42 characters
    and 7 s, inside their scene's audio) and both texts are valid files a
    player reads back to the same cues: UTF-8, timestamps in order, cue
    text without a blank line or "-->". */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "media.h"
#include "subtitles.h"

#define S_MAX_SCENES 4
#define S_MAX_WORDS 255

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t at;
} s_input_t;

/*  The next byte, or 0 once the input is used up. */
static uint8_t
s_byte (s_input_t *in)
{
    return in->at < in->size ? in->data[in->at++] : 0;
}

static uint32_t
s_u32 (s_input_t *in)
{
    uint32_t value = 0;
    for (int i = 0; i < 4; i++)
        value = (value << 8) | s_byte (in);
    return value;
}

static int
s_chars (const char *text, size_t len)
{
    int chars = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            chars++;
    return chars;
}

/*  Where one scene's cues are, and the end of its audio. */
typedef struct {
    size_t first_cue;
    size_t cue_count;
    int64_t offset_ms;
    int64_t audio_end_ms;
} s_scene_t;

/* ------------------------------------------------------------------ */
/*  The track                                                          */

static void
s_check_cue_text (const char *text)
{
    size_t len = strnlen (text, SUBTITLE_TEXT_SIZE);
    FUZZ_CHECK (len < SUBTITLE_TEXT_SIZE);
    FUZZ_CHECK (len > 0);
    FUZZ_CHECK (utf8_valid (text, len));
    int lines = 0;
    for (const char *line = text; line;) {
        const char *end = strchr (line, '\n');
        size_t line_len = end ? (size_t)(end - line) : strlen (line);
        lines++;
        FUZZ_CHECK (line_len > 0);
        FUZZ_CHECK (line[0] != ' ' && line[line_len - 1] != ' ');
        FUZZ_CHECK (s_chars (line, line_len) <= SUBTITLE_MAX_LINE_CHARS);
        for (size_t i = 0; i < line_len; i++)
            FUZZ_CHECK ((unsigned char)line[i] >= 0x20 && line[i] != 0x7F);
        line = end ? end + 1 : NULL;
    }
    FUZZ_CHECK (lines <= SUBTITLE_MAX_LINES);
}

static void
s_check_track (const subtitle_track_t *track, const s_scene_t *scenes,
               int scene_count)
{
    for (size_t i = 0; i < track->count; i++) {
        const subtitle_cue_t *cue = &track->cues[i];
        FUZZ_CHECK (cue->start_ms < cue->end_ms);
        FUZZ_CHECK (cue->end_ms - cue->start_ms <= SUBTITLE_MAX_CUE_MS);
        if (i > 0)
            FUZZ_CHECK (cue->start_ms >= track->cues[i - 1].end_ms);
        s_check_cue_text (cue->text);
    }
    for (int s = 0; s < scene_count; s++)
        for (size_t i = 0; i < scenes[s].cue_count; i++) {
            const subtitle_cue_t *cue = &track->cues[scenes[s].first_cue + i];
            FUZZ_CHECK (cue->start_ms >= scenes[s].offset_ms);
            FUZZ_CHECK (cue->end_ms <= scenes[s].audio_end_ms);
        }
}

/* ------------------------------------------------------------------ */
/*  The files, read back as a player reads them                        */

/*  Reads "HH:MM:SS<sep>mmm" (two or more hour digits) at *p. Returns the
    time in ms, or -1 when it is not one. */
static int64_t
s_read_time (const char **p, char separator)
{
    const char *s = *p;
    int64_t hours = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 12) {
        hours = hours * 10 + (*s - '0');
        s++;
        digits++;
    }
    if (digits < 2)
        return -1;
    int field[3];
    const char seps[3] = { ':', ':', separator };
    const int widths[3] = { 2, 2, 3 };
    for (int f = 0; f < 3; f++) {
        if (*s != seps[f])
            return -1;
        s++;
        field[f] = 0;
        for (int k = 0; k < widths[f]; k++) {
            if (*s < '0' || *s > '9')
                return -1;
            field[f] = field[f] * 10 + (*s - '0');
            s++;
        }
    }
    if (field[0] > 59 || field[1] > 59)
        return -1;
    *p = s;
    return ((hours * 60 + field[0]) * 60 + field[1]) * 1000 + field[2];
}

/*  Reads a "start --> end\n" line at *p into the cue's times. */
static void
s_read_timing (const char **p, char separator, int64_t *start_ms,
               int64_t *end_ms)
{
    *start_ms = s_read_time (p, separator);
    FUZZ_CHECK (*start_ms >= 0);
    FUZZ_CHECK (strncmp (*p, " --> ", 5) == 0);
    *p += 5;
    *end_ms = s_read_time (p, separator);
    FUZZ_CHECK (*end_ms >= 0);
    FUZZ_CHECK (**p == '\n');
    (*p)++;
}

/*  Reads cue text lines up to the blank line that ends the cue into out
    (lines joined by '\n'), as both formats define it: a line with "-->"
    would start a new cue. */
static void
s_read_text (const char **p, char *out, size_t out_size)
{
    size_t len = 0;
    out[0] = '\0';
    for (;;) {
        const char *end = strchr (*p, '\n');
        FUZZ_CHECK (end != NULL);
        size_t line_len = (size_t)(end - *p);
        if (line_len == 0) {
            *p = end + 1;
            break;
        }
        FUZZ_CHECK (memchr (*p, '\r', line_len) == NULL);
        char line[1024];
        FUZZ_CHECK (line_len < sizeof line);
        memcpy (line, *p, line_len);
        line[line_len] = '\0';
        FUZZ_CHECK (strstr (line, "-->") == NULL);
        FUZZ_CHECK (len + line_len + 2 < out_size);
        if (len > 0)
            out[len++] = '\n';
        memcpy (out + len, line, line_len + 1);
        len += line_len;
        *p = end + 1;
    }
    FUZZ_CHECK (len > 0);
}

/*  Undoes WebVTT's escapes; the text holds no other '&' or '<'. */
static void
s_vtt_unescape (const char *text, char *out, size_t out_size)
{
    size_t len = 0;
    for (const char *p = text; *p;) {
        char c = *p;
        size_t skip = 1;
        FUZZ_CHECK (c != '<');
        if (c == '&') {
            if (strncmp (p, "&amp;", 5) == 0)
                skip = 5;
            else if (strncmp (p, "&lt;", 4) == 0) {
                c = '<';
                skip = 4;
            }
            else if (strncmp (p, "&gt;", 4) == 0) {
                c = '>';
                skip = 4;
            }
            else
                FUZZ_CHECK (!"a bare '&' in WebVTT cue text");
        }
        FUZZ_CHECK (len + 1 < out_size);
        out[len++] = c;
        p += skip;
    }
    out[len] = '\0';
}

static void
s_check_srt (const subtitle_track_t *track, const char *text, size_t len)
{
    FUZZ_CHECK (text != NULL && strlen (text) == len);
    FUZZ_CHECK (utf8_valid (text, len));
    const char *p = text;
    int64_t previous_end_ms = 0;
    for (size_t i = 0; i < track->count; i++) {
        char number[32];
        int n = snprintf (number, sizeof number, "%zu\n", i + 1);
        FUZZ_CHECK (strncmp (p, number, (size_t)n) == 0);
        p += n;
        int64_t start_ms, end_ms;
        s_read_timing (&p, ',', &start_ms, &end_ms);
        FUZZ_CHECK (start_ms == track->cues[i].start_ms);
        FUZZ_CHECK (end_ms == track->cues[i].end_ms);
        FUZZ_CHECK (start_ms < end_ms && start_ms >= previous_end_ms);
        previous_end_ms = end_ms;
        char cue_text[2048];
        s_read_text (&p, cue_text, sizeof cue_text);
        FUZZ_CHECK (strcmp (cue_text, track->cues[i].text) == 0);
    }
    FUZZ_CHECK (*p == '\0');
}

static void
s_check_vtt (const subtitle_track_t *track, const char *text, size_t len)
{
    FUZZ_CHECK (text != NULL && strlen (text) == len);
    FUZZ_CHECK (utf8_valid (text, len));
    FUZZ_CHECK (strncmp (text, "WEBVTT\n\n", 8) == 0);
    const char *p = text + 8;
    int64_t previous_end_ms = 0;
    for (size_t i = 0; i < track->count; i++) {
        int64_t start_ms, end_ms;
        s_read_timing (&p, '.', &start_ms, &end_ms);
        FUZZ_CHECK (start_ms == track->cues[i].start_ms);
        FUZZ_CHECK (end_ms == track->cues[i].end_ms);
        FUZZ_CHECK (start_ms < end_ms && start_ms >= previous_end_ms);
        previous_end_ms = end_ms;
        char cue_text[2048], plain[2048];
        s_read_text (&p, cue_text, sizeof cue_text);
        s_vtt_unescape (cue_text, plain, sizeof plain);
        FUZZ_CHECK (strcmp (plain, track->cues[i].text) == 0);
    }
    FUZZ_CHECK (*p == '\0');
}

/* ------------------------------------------------------------------ */

/*  Reads one word: a flags byte, then either two raw times (bit 0) or
    steps after the previous word, then a length byte and the text. A
    length of 64 or more fills the whole field, without a NUL. */
static void
s_read_word (s_input_t *in, int64_t *clock_ms, media_word_t *word)
{
    uint8_t flags = s_byte (in);
    if (flags & 1u) {
        word->start_ms = (int)s_u32 (in);
        word->end_ms = (int)s_u32 (in);
    }
    else {
        *clock_ms += (int64_t)s_byte (in) * 10;
        word->start_ms = (int)*clock_ms;
        *clock_ms += (int64_t)s_byte (in) * 10;
        word->end_ms = (int)*clock_ms;
    }
    size_t len = s_byte (in) % 72u;
    memset (word->text, 0, sizeof word->text);
    if (len > sizeof word->text)
        len = sizeof word->text;
    for (size_t i = 0; i < len; i++)
        word->text[i] = (char)s_byte (in);
    if (len < sizeof word->text)
        word->text[len] = '\0';
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_input_t in = { data, size, 0 };
    subtitle_track_t track;
    subtitle_track_init (&track);
    media_word_t *words = malloc (S_MAX_WORDS * sizeof *words);
    FUZZ_CHECK (words != NULL);
    s_scene_t scenes[S_MAX_SCENES];

    int scene_count = 1 + s_byte (&in) % S_MAX_SCENES;
    for (int s = 0; s < scene_count; s++) {
        /* where compose puts a scene: llround of its clip's start, never
           before the video starts; its audio may be any length */
        int64_t offset_ms = s_u32 (&in);
        int64_t audio_ms = (int32_t)s_u32 (&in);
        int word_count = s_byte (&in);
        int64_t clock_ms = 0;
        for (int w = 0; w < word_count; w++)
            s_read_word (&in, &clock_ms, &words[w]);

        scenes[s].first_cue = track.count;
        scenes[s].offset_ms = offset_ms;
        scenes[s].audio_end_ms = offset_ms + (audio_ms > 0 ? audio_ms : 0);
        FUZZ_CHECK (subtitle_track_add_words (&track, words, word_count,
                                              offset_ms, audio_ms)
                    == 0);
        scenes[s].cue_count = track.count - scenes[s].first_cue;
    }
    /* a negative count or a missing array is refused, not read */
    FUZZ_CHECK (subtitle_track_add_words (&track, words, -1, 0, 1000)
                == -EINVAL);
    FUZZ_CHECK (subtitle_track_add_words (&track, NULL, 1, 0, 1000) == -EINVAL);
    s_check_track (&track, scenes, scene_count);

    char *srt = NULL, *vtt = NULL;
    size_t srt_len = 0, vtt_len = 0;
    FUZZ_CHECK (subtitle_format_srt (&track, &srt, &srt_len) == 0);
    FUZZ_CHECK (subtitle_format_vtt (&track, &vtt, &vtt_len) == 0);
    s_check_srt (&track, srt, srt_len);
    s_check_vtt (&track, vtt, vtt_len);

    free (srt);
    free (vtt);
    subtitle_track_free (&track);
    free (words);
    return 0;
}
