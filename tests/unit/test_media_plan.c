/*  Unit tests of the planner (worker/pipeline/plan.c) and of plan.json:
    the request normalized with its defaults, scene counts and narration
    word budgets for every density and pacing, narration a viewer would
    accept (topic, audience and goal named, the tone heard, no sentence
    said twice, well-formed sentences, slide text that fits), odd topics,
    the file round trip, the step's checkpoint and cancel. */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/media.h"
#include "support.h"

/* ------------------------------------------------------------------ */
/*  Fixtures                                                           */

static char s_dir[64];

static void
s_make_dir (void)
{
    test_dir_make (s_dir, sizeof s_dir, "media-plan");
}

static void
s_remove_dir (void)
{
    test_dir_remove (s_dir);
}

static media_plan_t *
s_build (const char *spec)
{
    static media_plan_t plan;
    pipeline_error_t error;
    memset (&error, 0, sizeof error);
    int rc = media_plan_build (spec, strlen (spec), &plan, &error);
    ck_assert_msg (rc == 0, "build failed for %s: %s %s", spec, error.code,
                   error.message);
    return &plan;
}

static int
s_words (const char *text)
{
    int count = 0;
    bool in_word = false;
    for (const char *p = text; *p; p++) {
        bool space = *p == ' ' || *p == '\n' || *p == '\t';
        if (!space && !in_word)
            count++;
        in_word = !space;
    }
    return count;
}

static bool
s_valid_utf8 (const char *text)
{
    const unsigned char *p = (const unsigned char *) text;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3
                                 : (*p >> 3) == 30 ? 4 : 0;
        if (len == 0)
            return false;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += len;
    }
    return true;
}

static bool
s_contains_ci (const char *text, const char *part)
{
    size_t len = strlen (part);
    for (const char *p = text; *p; p++)
        if (strncasecmp (p, part, len) == 0)
            return true;
    return false;
}

/*  Characters (code points) of a UTF-8 text. */
static size_t
s_chars (const char *text)
{
    size_t count = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if ((*p & 0xC0) != 0x80)
            count++;
    return count;
}

/*  The sentences of a narration: it is cut after each '.', '?' or '!'
    that a space or the end follows. Returns how many were written into
    sentences[max][size]. */
enum { SENTENCE_SIZE = 1024, PLAN_SENTENCES = 400 };

static int
s_sentences (const char *narration, char (*sentences)[SENTENCE_SIZE], int max)
{
    int count = 0;
    const char *start = narration;
    for (const char *p = narration; *p && count < max; p++) {
        if (!strchr (".?!", *p) || (p[1] != ' ' && p[1] != '\0'))
            continue;
        size_t len = (size_t) (p + 1 - start);
        ck_assert_uint_lt (len, SENTENCE_SIZE);
        memcpy (sentences[count], start, len);
        sentences[count++][len] = '\0';
        start = p[1] ? p + 2 : p + 1;
    }
    ck_assert_msg (count == max || *start == '\0',
                   "narration ends without punctuation: \"%s\"", start);
    return count;
}

/*  A sentence starts with a capital (or a word written in mixed case on
    purpose, such as "iPhone", or a letter outside ASCII) and has no
    doubled spaces or punctuation. */
static void
s_check_sentence (const char *sentence)
{
    const unsigned char first = (unsigned char) sentence[0];
    bool mixed_case = false;
    for (const char *p = sentence + 1; *p && *p != ' '; p++)
        if (isupper ((unsigned char) *p))
            mixed_case = true;
    ck_assert_msg (!islower (first) || mixed_case, "starts in lower case: \"%s\"",
                   sentence);
    ck_assert_msg (first != ' ' && !strstr (sentence, "  "), "spacing: \"%s\"", sentence);
    ck_assert_msg (!strstr (sentence, " ,") && !strstr (sentence, " .")
                   && !strstr (sentence, ",.") && !strstr (sentence, ".."),
                   "punctuation: \"%s\"", sentence);
    ck_assert_msg (!strstr (sentence, "{") && !strstr (sentence, "}"),
                   "placeholder left: \"%s\"", sentence);
}

/*  No sentence is said twice anywhere in the plan, and each is well
    formed. */
static void
s_check_sentences (const media_plan_t *plan)
{
    static char sentences[PLAN_SENTENCES][SENTENCE_SIZE];
    static int scene_of[PLAN_SENTENCES];
    int count = 0;
    for (int i = 0; i < plan->scene_count; i++) {
        int added = s_sentences (plan->scenes[i].narration, sentences + count,
                                 PLAN_SENTENCES - count);
        ck_assert_int_ge (added, 1);
        for (int j = count; j < count + added; j++) {
            s_check_sentence (sentences[j]);
            scene_of[j] = i + 1;
        }
        count += added;
    }
    for (int i = 0; i < count; i++)
        for (int j = 0; j < i; j++)
            ck_assert_msg (strcmp (sentences[i], sentences[j]) != 0,
                           "\"%s\" is said in scene %d and again in scene %d",
                           sentences[i], scene_of[j], scene_of[i]);
}

/*  What a plan must always be, whatever the brief. */
/*  The title slide shows the topic up to this many characters (and "…");
    other headings and the bullets are short enough to read at a glance. */
#define TITLE_CHARS 80
#define HEADING_CHARS 40
#define BULLET_CHARS 60

static void
s_check_scenes (const media_plan_t *plan)
{
    ck_assert_int_ge (plan->scene_count, 3);
    ck_assert_int_le (plan->scene_count, MEDIA_MAX_SCENES);
    for (int i = 0; i < plan->scene_count; i++) {
        const media_scene_t *scene = &plan->scenes[i];
        ck_assert_msg (scene->heading[0], "scene %d has no heading", i + 1);
        ck_assert_msg (s_valid_utf8 (scene->heading), "heading %d not UTF-8", i + 1);
        ck_assert_msg (s_chars (scene->heading) <= (i == 0 ? TITLE_CHARS : HEADING_CHARS),
                       "heading %d is too long: \"%s\"", i + 1, scene->heading);
        ck_assert_int_ge (scene->bullet_count, 2);
        ck_assert_int_le (scene->bullet_count, 4);
        for (int b = 0; b < scene->bullet_count; b++) {
            ck_assert_msg (scene->bullets[b][0], "scene %d bullet %d empty", i + 1, b);
            ck_assert (s_valid_utf8 (scene->bullets[b]));
            ck_assert_msg (s_chars (scene->bullets[b]) <= BULLET_CHARS,
                           "scene %d: bullet too long: \"%s\"", i + 1, scene->bullets[b]);
            for (int c = 0; c < b; c++)
                ck_assert_str_ne (scene->bullets[b], scene->bullets[c]);
        }
        ck_assert_msg (s_words (scene->narration) >= 3, "scene %d: \"%s\"", i + 1,
                       scene->narration);
        ck_assert (s_valid_utf8 (scene->narration));
        ck_assert (!s_contains_ci (scene->narration, "lorem"));
        ck_assert (!strchr (scene->narration, '{'));   /* no placeholder left */
        ck_assert (!strchr (scene->narration, '\n'));
        ck_assert (fabs (scene->target_s - plan->target_duration_s / plan->scene_count)
                   < 1e-9);
        for (int j = 0; j < i; j++)
            ck_assert_msg (strcmp (scene->narration, plan->scenes[j].narration) != 0,
                           "scenes %d and %d say the same", j + 1, i + 1);
    }
    s_check_sentences (plan);
}

/* ------------------------------------------------------------------ */
/*  The request                                                        */

START_TEST (test_defaults)
{
    media_plan_t *plan = s_build ("{\"brief\":{\"topic\":\"Photosynthesis\"}}");
    ck_assert_str_eq (plan->topic, "Photosynthesis");
    ck_assert_str_eq (plan->audience, "a general audience");
    ck_assert_str_eq (plan->goal, "understand the basics");
    ck_assert_str_eq (plan->tone, "friendly");
    ck_assert_str_eq (plan->language, "en-us");
    ck_assert_str_eq (plan->style, "modern");
    ck_assert_str_eq (plan->voice_name, "");
    ck_assert (fabs (plan->target_duration_s - 30) < 1e-9);
    ck_assert_int_eq (plan->pacing, MEDIA_CONVERSATIONAL);
    ck_assert_int_eq (plan->density, MEDIA_BALANCED);
    ck_assert_int_eq (plan->words_per_minute, 160);
    ck_assert (fabs (plan->voice_rate - 1.0) < 1e-9);
    ck_assert (fabs (plan->voice_pitch) < 1e-9);
    ck_assert (fabs (plan->voice_pause_s - 0.6) < 1e-9);
    ck_assert_int_eq (plan->width, 1280);
    ck_assert_int_eq (plan->height, 720);
    ck_assert_int_eq (plan->fps, 30);
    ck_assert_int_eq (plan->quality, 75);
    ck_assert_int_eq (plan->video_bitrate_k, 0);
    ck_assert_int_eq (plan->audio_bitrate_k, 128);
    ck_assert_int_eq (plan->scene_count, 3);
    s_check_scenes (plan);
}
END_TEST

START_TEST (test_full_request)
{
    media_plan_t *plan = s_build (
        "{\"brief\":{\"topic\":\"  How solar panels  work \",\"audience\":\"Curious beginners\","
        "\"goal\":\"Explain the idea in plain words\",\"tone\":\"Professional\","
        "\"language\":\"en-GB\",\"aspect\":\"Vertical9x16\"},"
        "\"planSpec\":{\"targetDuration\":\"00:01:30\",\"pacing\":\"fast\","
        "\"density\":\"Sparse\",\"style\":\"Explainer\"},"
        "\"voiceSpec\":{\"voiceName\":\"en-us+f3\",\"rate\":1.5,\"pitch\":1.5,\"pause\":\"Long\"},"
        "\"renderSpec\":{\"res\":\"1080p\",\"fps\":25,\"videoBitrateK\":4000,"
        "\"audioBitrateK\":192,\"qualityLevel\":90}}");
    ck_assert_str_eq (plan->topic, "How solar panels work");
    ck_assert_str_eq (plan->audience, "Curious beginners");
    ck_assert_str_eq (plan->language, "en-gb");
    ck_assert_str_eq (plan->style, "Explainer");
    ck_assert_str_eq (plan->voice_name, "en-us+f3");
    ck_assert (fabs (plan->target_duration_s - 90) < 1e-9);
    ck_assert_int_eq (plan->pacing, MEDIA_FAST);
    ck_assert_int_eq (plan->density, MEDIA_SPARSE);
    ck_assert_int_eq (plan->words_per_minute, 190);
    ck_assert (fabs (plan->voice_rate - 1.5) < 1e-9);
    ck_assert (fabs (plan->voice_pitch - 0.5) < 1e-9);
    ck_assert (fabs (plan->voice_pause_s - 1.0) < 1e-9);
    ck_assert_int_eq (plan->width, 1080);
    ck_assert_int_eq (plan->height, 1920);
    ck_assert_int_eq (plan->fps, 25);
    ck_assert_int_eq (plan->quality, 90);
    ck_assert_int_eq (plan->video_bitrate_k, 4000);
    ck_assert_int_eq (plan->audio_bitrate_k, 192);
    ck_assert_int_eq (plan->scene_count, 5);   /* ceil (90 / 20) */
    s_check_scenes (plan);
}
END_TEST

START_TEST (test_sizes)
{
    static const struct {
        const char *render;
        int width, height;
    } cases[] = {
        { "\"aspect\":\"Widescreen16x9\"},\"renderSpec\":{\"res\":\"720p\"}", 1280, 720 },
        { "\"aspect\":\"Vertical9x16\"},\"renderSpec\":{\"res\":\"720p\"}", 720, 1280 },
        { "\"aspect\":\"Square1x1\"},\"renderSpec\":{\"res\":\"720p\"}", 720, 720 },
        { "\"aspect\":\"Widescreen16x9\"},\"renderSpec\":{\"res\":\"1080p\"}", 1920, 1080 },
        { "\"aspect\":\"Vertical9x16\"},\"renderSpec\":{\"res\":\"1080p\"}", 1080, 1920 },
        { "\"aspect\":\"Square1x1\"},\"renderSpec\":{\"res\":\"1080p\"}", 1080, 1080 },
        { "\"aspect\":\"Square1x1\"},\"renderSpec\":{}", 720, 720 },
        { "\"aspect\":\"Nonsense\"},\"renderSpec\":{\"res\":\"4k\"}", 1280, 720 },
        { "\"aspect\":\"Square1x1\"},\"renderSpec\":{\"res\":{\"width\":641,\"height\":480}}", 640, 480 },
        { "\"aspect\":\"Square1x1\"},\"renderSpec\":{\"res\":{\"width\":8000,\"height\":2}}", 4096, 16 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char spec[512];
        snprintf (spec, sizeof spec, "{\"brief\":{\"topic\":\"Tides\",%s}", cases[i].render);
        media_plan_t *plan = s_build (spec);
        ck_assert_msg (plan->width == cases[i].width && plan->height == cases[i].height,
                       "%s: %dx%d", spec, plan->width, plan->height);
    }
}
END_TEST

START_TEST (test_durations_and_rates)
{
    static const struct {
        const char *value;
        double seconds;
    } durations[] = {
        { "45", 45 }, { "\"1:30\"", 90 }, { "\"00:02:00\"", 120 }, { "\"75\"", 75 },
        { "\"soon\"", 30 }, { "-4", 30 }, { "2", 5 }, { "3600", 600 }, { "null", 30 },
    };
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        char spec[256];
        snprintf (spec, sizeof spec,
                  "{\"brief\":{\"topic\":\"Tides\"},\"planSpec\":{\"targetDuration\":%s}}",
                  durations[i].value);
        ck_assert_msg (fabs (s_build (spec)->target_duration_s - durations[i].seconds) < 1e-9,
                       "%s", durations[i].value);
    }
    static const struct {
        int asked, got;
    } rates[] = { { 24, 24 }, { 29, 30 }, { 50, 60 }, { 1, 24 }, { 144, 60 } };
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        char spec[256];
        snprintf (spec, sizeof spec,
                  "{\"brief\":{\"topic\":\"Tides\"},\"renderSpec\":{\"fps\":%d}}",
                  rates[i].asked);
        ck_assert_int_eq (s_build (spec)->fps, rates[i].got);
    }
}
END_TEST

START_TEST (test_invalid_brief)
{
    static const char *specs[] = {
        "",
        "not json",
        "[1,2]",
        "{}",
        "{\"brief\":\"photosynthesis\"}",
        "{\"brief\":{}}",
        "{\"brief\":{\"topic\":\"   \"}}",
        "{\"brief\":{\"topic\":42}}",
        "{\"brief\":{\"audience\":\"kids\"}}",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        media_plan_t plan;
        pipeline_error_t error;
        memset (&error, 0, sizeof error);
        int rc = media_plan_build (specs[i], strlen (specs[i]), &plan, &error);
        ck_assert_msg (rc == -EINVAL, "\"%s\" gave %d", specs[i], rc);
        ck_assert_str_eq (error.code, "InvalidBrief");
        ck_assert (!error.retryable);
        ck_assert (strlen (error.message) > 0);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/*  Scenes                                                             */

START_TEST (test_scene_counts)
{
    static const struct {
        double seconds;
        const char *density;
        int scenes;
    } cases[] = {
        { 60, "Dense", 8 },     { 12, "Sparse", 3 },    { 600, "Dense", 20 },
        { 600, "Sparse", 20 },  { 30, "Balanced", 3 },  { 37, "Balanced", 4 },
        { 100, "Sparse", 5 },   { 100, "Balanced", 9 }, { 100, "Dense", 13 },
        { 61, "Dense", 8 },     { 5, "Dense", 3 },      { 240, "Balanced", 20 },
        { 380, "Sparse", 19 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char spec[256];
        snprintf (spec, sizeof spec,
                  "{\"brief\":{\"topic\":\"Tides\"},\"planSpec\":{\"targetDuration\":%g,"
                  "\"density\":\"%s\"}}",
                  cases[i].seconds, cases[i].density);
        media_plan_t *plan = s_build (spec);
        ck_assert_msg (plan->scene_count == cases[i].scenes, "%g s %s: %d scenes",
                       cases[i].seconds, cases[i].density, plan->scene_count);
        s_check_scenes (plan);
    }
}
END_TEST

START_TEST (test_word_budgets)
{
    static const char *pacings[] = { "Chill", "Conversational", "Fast" };
    static const int wpm[] = { 130, 160, 190 };
    static const char *densities[] = { "Sparse", "Balanced", "Dense" };
    static const double durations[] = { 30, 60, 150, 600 };
    for (int p = 0; p < 3; p++)
        for (int d = 0; d < 3; d++)
            for (int t = 0; t < 4; t++) {
                char spec[320];
                snprintf (spec, sizeof spec,
                          "{\"brief\":{\"topic\":\"How vaccines train the immune system\"},"
                          "\"planSpec\":{\"targetDuration\":%g,\"pacing\":\"%s\","
                          "\"density\":\"%s\"}}",
                          durations[t], pacings[p], densities[d]);
                media_plan_t *plan = s_build (spec);
                ck_assert_int_eq (plan->words_per_minute, wpm[p]);
                double budget = wpm[p] * plan->scenes[0].target_s / 60.0;
                for (int i = 0; i < plan->scene_count; i++) {
                    int words = s_words (plan->scenes[i].narration);
                    ck_assert_msg (fabs (words - budget) <= 4,
                                   "%s: scene %d has %d words for a budget of %.1f",
                                   spec, i + 1, words, budget);
                }
                s_check_scenes (plan);
            }
}
END_TEST

/*  Every scene's narration is within a quarter of its word budget (the
    words the voice can say in the scene's share of the duration), or
    within two words for budgets under eight words, where one sentence is
    all there is room for. */
START_TEST (test_budget_fit)
{
    static const char *topics[] = { "Tides", "How vaccines train the immune system",
                                    "Kubernetes autoscaling" };
    static const char *pacings[] = { "Chill", "Conversational", "Fast" };
    static const char *densities[] = { "Sparse", "Balanced", "Dense" };
    static const char *tones[] = { "friendly", "direct", "formal", "playful" };
    static const double durations[] = { 5, 12, 20, 45, 90, 200, 400, 600 };
    for (size_t t = 0; t < sizeof topics / sizeof *topics; t++)
        for (int p = 0; p < 3; p++)
            for (int d = 0; d < 3; d++)
                for (size_t s = 0; s < sizeof durations / sizeof *durations; s++) {
                    /* a long topic alone outgrows the shortest budgets */
                    if (t > 0 && durations[s] < 20)
                        continue;
                    char spec[384];
                    snprintf (spec, sizeof spec,
                              "{\"brief\":{\"topic\":\"%s\",\"tone\":\"%s\"},"
                              "\"planSpec\":{\"targetDuration\":%g,\"pacing\":\"%s\","
                              "\"density\":\"%s\"}}",
                              topics[t], tones[(t + (size_t) p + s) % 4], durations[s],
                              pacings[p], densities[d]);
                    media_plan_t *plan = s_build (spec);
                    double budget = plan->words_per_minute * plan->scenes[0].target_s / 60.0;
                    double bound = budget < 8 ? 2 : 0.25 * budget;
                    for (int i = 0; i < plan->scene_count; i++) {
                        int words = s_words (plan->scenes[i].narration);
                        ck_assert_msg (fabs (words - budget) <= bound,
                                       "%s: scene %d has %d words for a budget of %.1f: %s",
                                       spec, i + 1, words, budget,
                                       plan->scenes[i].narration);
                    }
                    s_check_scenes (plan);
                }
}
END_TEST

START_TEST (test_narration_names_the_brief)
{
    media_plan_t *plan = s_build (
        "{\"brief\":{\"topic\":\"Compound interest\",\"audience\":\"Young savers\","
        "\"goal\":\"Show why starting early matters\"},"
        "\"planSpec\":{\"targetDuration\":120,\"density\":\"Dense\"}}");
    s_check_scenes (plan);
    const char *intro = plan->scenes[0].narration;
    const char *recap = plan->scenes[plan->scene_count - 1].narration;
    ck_assert_msg (s_contains_ci (intro, "compound interest"), "%s", intro);
    ck_assert_msg (s_contains_ci (intro, "young savers"), "%s", intro);
    ck_assert_msg (s_contains_ci (recap, "show why starting early matters"), "%s", recap);
    ck_assert_str_eq (plan->scenes[0].heading, "Compound interest");
    /* the explainer's parts, in order: why it matters, what it is, how it
       works, an example, the pitfalls, tips; headings may name the topic */
    static const char *parts[][4] = {
        { "Why it matters", "Why should you care?", "What's at stake",
          "Why care about compound interest?" },
        { "What it is", "The core idea", "The big picture",
          "Compound interest in one sentence" },
        { "How it works", "Under the hood", "The mechanism",
          "Compound interest under the hood" },
        { "An example", "Seeing it in action", "A concrete case",
          "Compound interest in action" },
        { "Common mistakes", "What people get wrong", "Pitfalls to avoid",
          "Compound interest: common mistakes" },
        { "Practical tips", "Making it useful", "Tips to remember",
          "Compound interest: practical tips" },
    };
    int last = 0;
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        int found = -1;
        for (int i = 1; i < plan->scene_count - 1 && found < 0; i++)
            for (int a = 0; a < 4; a++)
                if (strcmp (plan->scenes[i].heading, parts[p][a]) == 0)
                    found = i;
        ck_assert_msg (found > last, "\"%s\" missing or out of order", parts[p][0]);
        last = found;
    }
}
END_TEST

/*  The Kubernetes brief: the topic runs through the video, the audience is
    spoken to beyond the intro, the goal opens and closes it, and the
    intro says what is coming. */
START_TEST (test_brief_runs_through_the_plan)
{
    media_plan_t *plan = s_build (
        "{\"brief\":{\"topic\":\"Kubernetes autoscaling\",\"audience\":\"platform engineers\","
        "\"goal\":\"decide when to use HPA vs VPA\",\"tone\":\"direct\"},"
        "\"planSpec\":{\"targetDuration\":150,\"density\":\"Balanced\"}}");
    s_check_scenes (plan);
    ck_assert_int_eq (plan->scene_count, 13);
    int topic = 0, audience = 0, goal = 0;
    for (int i = 0; i < plan->scene_count; i++) {
        const char *narration = plan->scenes[i].narration;
        topic += s_contains_ci (narration, "Kubernetes autoscaling");
        audience += s_contains_ci (narration, "platform engineers");
        goal += s_contains_ci (narration, "decide when to use HPA vs VPA");
        /* a scene names the topic once, then says "it" */
        const char *first = strstr (narration, "Kubernetes autoscaling");
        ck_assert_msg (!first || !strstr (first + 1, "Kubernetes autoscaling"),
                       "scene %d repeats the topic: %s", i + 1, narration);
    }
    ck_assert_msg (topic * 2 >= plan->scene_count, "the topic is named in %d scenes", topic);
    ck_assert_int_ge (audience, 2);
    ck_assert_int_ge (goal, 2);
    ck_assert (strstr (plan->scenes[0].narration, "Kubernetes autoscaling"));
    ck_assert (strstr (plan->scenes[0].narration, "platform engineers"));
    ck_assert (strstr (plan->scenes[0].narration, "decide when to use HPA vs VPA"));
    ck_assert (strstr (plan->scenes[0].narration, "why it matters"));
    ck_assert (strstr (plan->scenes[plan->scene_count - 1].narration,
                       "decide when to use HPA vs VPA"));
    /* the names the user wrote keep their capitals mid-sentence */
    ck_assert (!strstr (plan->scenes[0].narration, "kubernetes"));

    /* with no goal, the video promises the basics of its topic */
    plan = s_build ("{\"brief\":{\"topic\":\"How bees dance\",\"audience\":\"children\"},"
                    "\"planSpec\":{\"targetDuration\":60}}");
    s_check_scenes (plan);
    ck_assert_msg (strstr (plan->scenes[0].narration, "how bees dance"), "%s",
                   plan->scenes[0].narration);
    ck_assert (strstr (plan->scenes[0].narration, "children"));
    ck_assert (s_contains_ci (plan->scenes[plan->scene_count - 1].narration,
                              "basics of how bees dance"));
}
END_TEST

/*  The tone is heard in every scene's opening, not only in the intro. */
START_TEST (test_tone_changes_wording)
{
    static const char *tones[] = { "friendly", "direct", "formal", "playful" };
    static media_plan_t plans[4];
    for (int t = 0; t < 4; t++) {
        char spec[256];
        snprintf (spec, sizeof spec,
                  "{\"brief\":{\"topic\":\"Volcanoes\",\"tone\":\"%s\"},"
                  "\"planSpec\":{\"targetDuration\":90,\"density\":\"Balanced\"}}",
                  tones[t]);
        memcpy (&plans[t], s_build (spec), sizeof plans[t]);
        s_check_scenes (&plans[t]);
    }
    for (int i = 0; i < plans[0].scene_count; i++)
        for (int t = 0; t < 4; t++)
            for (int u = 0; u < t; u++) {
                static char first_t[4][SENTENCE_SIZE], first_u[4][SENTENCE_SIZE];
                s_sentences (plans[t].scenes[i].narration, first_t, 1);
                s_sentences (plans[u].scenes[i].narration, first_u, 1);
                ck_assert_msg (strcmp (first_t[0], first_u[0]) != 0,
                               "scene %d opens the same for %s and %s: %s", i + 1,
                               tones[t], tones[u], first_t[0]);
            }
    /* the formal tone spells contractions out; the others use them */
    static const char *contractions[] = { "n't", "'re", "'ll", "'ve", "Let's", "let's",
                                          "It's", "it's", "That's", "that's", "Here's",
                                          "here's", "What's", "what's" };
    int informal = 0;
    for (int i = 0; i < plans[2].scene_count; i++)
        for (size_t c = 0; c < sizeof contractions / sizeof *contractions; c++) {
            ck_assert_msg (!strstr (plans[2].scenes[i].narration, contractions[c]),
                           "formal scene %d: %s", i + 1, plans[2].scenes[i].narration);
            informal += strstr (plans[0].scenes[i].narration, contractions[c]) != NULL;
        }
    ck_assert_int_gt (informal, 0);
    /* a direct tone says the same in shorter sentences */
    double words[4] = { 0 }, sentences[4] = { 0 };
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < plans[t].scene_count; i++) {
            static char all[64][SENTENCE_SIZE];
            words[t] += s_words (plans[t].scenes[i].narration);
            sentences[t] += s_sentences (plans[t].scenes[i].narration, all, 64);
        }
    ck_assert_msg (words[1] / sentences[1] < 0.85 * words[0] / sentences[0],
                   "direct %.1f, friendly %.1f words a sentence",
                   words[1] / sentences[1], words[0] / sentences[0]);
}
END_TEST

/*  The longest plans use every kind of scene: still no sentence twice,
    whatever the tone. */
START_TEST (test_twenty_scenes_no_repeats)
{
    static const char *tones[] = { "friendly", "direct", "formal", "playful", "inspiring" };
    static const char *topics[] = { "Tides", "How bees dance", "Why is the sky blue?",
                                    "Welcome to Aura Video Studio" };
    for (size_t t = 0; t < sizeof tones / sizeof *tones; t++)
        for (size_t p = 0; p < sizeof topics / sizeof *topics; p++) {
            char spec[320];
            snprintf (spec, sizeof spec,
                      "{\"brief\":{\"topic\":\"%s\",\"tone\":\"%s\",\"audience\":\"nurses\","
                      "\"goal\":\"explain it to a patient\"},"
                      "\"planSpec\":{\"targetDuration\":600,\"density\":\"Sparse\","
                      "\"pacing\":\"Fast\"}}",
                      topics[p], tones[t]);
            media_plan_t *plan = s_build (spec);
            ck_assert_int_eq (plan->scene_count, 20);
            s_check_scenes (plan);
            /* every kind of scene has its own heading */
            for (int i = 0; i < plan->scene_count; i++)
                for (int j = 0; j < i; j++)
                    ck_assert_str_ne (plan->scenes[i].heading, plan->scenes[j].heading);
        }
}
END_TEST

START_TEST (test_deterministic_and_varied)
{
    static const char spec_a[] = "{\"brief\":{\"topic\":\"Volcanoes\",\"tone\":\"playful\"}}";
    media_plan_t first, second;
    memcpy (&first, s_build (spec_a), sizeof first);
    memcpy (&second, s_build (spec_a), sizeof second);
    ck_assert (memcmp (&first, &second, sizeof first) == 0);

    /* across briefs, the wording changes, not only the topic */
    int differing = 0;
    static const char *topics[] = { "Volcanoes", "Black holes", "Tides", "Bread yeast",
                                    "Rainbows", "Bicycle gears", "Batteries", "Bees" };
    static char leads[8][2048];
    for (int t = 0; t < 8; t++) {
        char spec[128];
        snprintf (spec, sizeof spec, "{\"brief\":{\"topic\":\"%s\"}}", topics[t]);
        snprintf (leads[t], sizeof leads[t], "%s", s_build (spec)->scenes[1].narration);
        for (int u = 0; u < t; u++)
            if (strncmp (leads[t], leads[u], 20) != 0)
                differing++;
    }
    ck_assert_msg (differing > 0, "every brief opens its second scene the same way");

    /* a longer plan of another topic differs in more than the topic's name */
    media_plan_t *other = s_build ("{\"brief\":{\"topic\":\"Black holes\",\"tone\":\"playful\"},"
                                   "\"planSpec\":{\"targetDuration\":120}}");
    memcpy (&second, other, sizeof second);
    memcpy (&first, s_build ("{\"brief\":{\"topic\":\"Volcanoes\",\"tone\":\"playful\"},"
                             "\"planSpec\":{\"targetDuration\":120}}"),
            sizeof first);
    int same_scenes = 0;
    for (int i = 1; i < first.scene_count; i++)
        same_scenes += strcmp (first.scenes[i].heading, second.scenes[i].heading) == 0
                       && strcmp (first.scenes[i].bullets[0], second.scenes[i].bullets[0]) == 0;
    ck_assert_int_lt (same_scenes, first.scene_count - 1);

    /* the tone changes the intro */
    media_plan_t *formal = s_build ("{\"brief\":{\"topic\":\"Tides\",\"tone\":\"Formal\"}}");
    char formal_intro[2048];
    snprintf (formal_intro, sizeof formal_intro, "%s", formal->scenes[0].narration);
    media_plan_t *friendly = s_build ("{\"brief\":{\"topic\":\"Tides\",\"tone\":\"Friendly\"}}");
    ck_assert_str_ne (formal_intro, friendly->scenes[0].narration);
}
END_TEST

/*  A prefix of topic, ending where a word ends, that text contains: the
    topic said in a shorter form. Returns its length, 0 when none. */
static size_t
s_spoken_prefix (const char *text, const char *topic)
{
    size_t best = 0;
    for (size_t len = 1; topic[len - 1]; len++) {
        if (topic[len] != ' ' && topic[len] != '\0')
            continue;
        char prefix[600];
        snprintf (prefix, sizeof prefix, "%.*s", (int) len, topic);
        if (strstr (text, prefix))
            best = len;
    }
    return best;
}

START_TEST (test_unusual_topics)
{
    /* long, non-ASCII, with quotes and control characters */
    char spec[4096];
    char topic[1400];
    size_t at = 0;
    for (int i = 0; i < 60; i++)
        at += (size_t) snprintf (topic + at, sizeof topic - at, "caf\\u00e9 cr\\u00e8me ");
    snprintf (spec, sizeof spec, "{\"brief\":{\"topic\":\"%s\\n\\\"quoted\\\"\","
              "\"audience\":\"\\u65e5\\u672c\\u8a9e\"},\"planSpec\":{\"targetDuration\":600,"
              "\"pacing\":\"Fast\"}}", topic);
    media_plan_t *plan = s_build (spec);
    ck_assert (strlen (plan->topic) < sizeof plan->topic);
    ck_assert (s_valid_utf8 (plan->topic));
    ck_assert (!strchr (plan->topic, '\n'));
    ck_assert (strlen (plan->scenes[0].heading) <= 104);
    ck_assert (strstr (plan->scenes[0].narration, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"));
    s_check_scenes (plan);

    /* a question is asked as such, then answered about */
    plan = s_build ("{\"brief\":{\"topic\":\"Why is the sky blue?\"}}");
    ck_assert_msg (strstr (plan->scenes[0].narration, "Why is the sky blue?"), "%s",
                   plan->scenes[0].narration);
    ck_assert_str_eq (plan->scenes[0].heading, "Why is the sky blue?");
    s_check_scenes (plan);
    plan = s_build ("{\"brief\":{\"topic\":\"How do vaccines work?\"},"
                    "\"planSpec\":{\"targetDuration\":60}}");
    s_check_scenes (plan);
    ck_assert (strstr (plan->scenes[0].narration, "How do vaccines work?"));
    int about = 0;
    for (int i = 1; i < plan->scene_count; i++)
        about += strstr (plan->scenes[i].narration, "how vaccines work") != NULL;
    ck_assert_int_gt (about, 0);

    /* quotes, an ampersand, a dash, UTF-8: kept as written; a 300-byte
       topic is said in a shorter form, cut where a word ends */
    static const char long_topic[] =
        "R&D budgets: \\\"why\\\" they matter \\u2014 and how small teams in caf\\u00e9s, "
        "labs and garages plan them, fund them, defend them in front of a board, "
        "and keep them alive through the lean years when every line of the "
        "spreadsheet is questioned twice, with examples from \\u65e5\\u672c, "
        "Germany and Brazil";
    snprintf (spec, sizeof spec, "{\"brief\":{\"topic\":\"%s\"},"
              "\"planSpec\":{\"targetDuration\":90}}", long_topic);
    plan = s_build (spec);
    s_check_scenes (plan);
    ck_assert_uint_gt (strlen (plan->topic), 250);
    size_t spoken = s_spoken_prefix (plan->scenes[0].narration, plan->topic);
    ck_assert_msg (spoken >= 20 && spoken <= 80, "said %zu bytes of the topic: %s", spoken,
                   plan->scenes[0].narration);
    ck_assert (strstr (plan->scenes[0].narration, "R&D budgets: \"why\" they matter"));
    ck_assert (s_chars (plan->scenes[0].heading) <= TITLE_CHARS);
    ck_assert (strstr (plan->scenes[0].heading, "\xE2\x80\xA6"));   /* "…" */

    /* one word of 200 letters: cut, still valid */
    char word[201];
    memset (word, 'W', 200);
    word[200] = '\0';
    snprintf (spec, sizeof spec, "{\"brief\":{\"topic\":\"%s\"},"
              "\"planSpec\":{\"targetDuration\":5}}", word);
    plan = s_build (spec);
    s_check_scenes (plan);
    ck_assert_uint_le (s_chars (plan->scenes[0].heading), TITLE_CHARS);
    for (int i = 0; i < plan->scene_count; i++)
        ck_assert_uint_lt (strlen (plan->scenes[i].narration), 200);
}
END_TEST

/* ------------------------------------------------------------------ */
/*  plan.json and the step                                             */

START_TEST (test_save_load_round_trip)
{
    s_make_dir ();
    media_plan_t original;
    memcpy (&original,
            s_build ("{\"brief\":{\"topic\":\"Caf\\u00e9 \\\"culture\\\"\",\"tone\":\"inspiring\"},"
                     "\"planSpec\":{\"targetDuration\":100,\"density\":\"Balanced\","
                     "\"pacing\":\"Chill\"},\"voiceSpec\":{\"pitch\":0.75,\"pause\":0.25},"
                     "\"renderSpec\":{\"res\":\"1080p\",\"fps\":60}}"),
            sizeof original);
    char path[256];
    ck_assert_int_eq (media_path (path, sizeof path, s_dir, "plan.json"), 0);
    ck_assert_int_eq (media_plan_save (&original, path), 0);
    ck_assert_int_eq (test_dir_count (s_dir, ".tmp"), 0);

    media_plan_t loaded;
    pipeline_error_t error;
    ck_assert_int_eq (media_plan_load (path, &loaded, &error), 0);
    ck_assert_str_eq (loaded.topic, original.topic);
    ck_assert_str_eq (loaded.audience, original.audience);
    ck_assert_str_eq (loaded.goal, original.goal);
    ck_assert_str_eq (loaded.tone, original.tone);
    ck_assert_str_eq (loaded.language, original.language);
    ck_assert_str_eq (loaded.style, original.style);
    ck_assert_str_eq (loaded.voice_name, original.voice_name);
    ck_assert (fabs (loaded.target_duration_s - original.target_duration_s) < 1e-6);
    ck_assert (fabs (loaded.voice_rate - original.voice_rate) < 1e-6);
    ck_assert (fabs (loaded.voice_pitch - original.voice_pitch) < 1e-6);
    ck_assert (fabs (loaded.voice_pause_s - original.voice_pause_s) < 1e-6);
    ck_assert_int_eq (loaded.pacing, original.pacing);
    ck_assert_int_eq (loaded.density, original.density);
    ck_assert_int_eq (loaded.words_per_minute, original.words_per_minute);
    ck_assert_int_eq (loaded.width, original.width);
    ck_assert_int_eq (loaded.height, original.height);
    ck_assert_int_eq (loaded.fps, original.fps);
    ck_assert_int_eq (loaded.quality, original.quality);
    ck_assert_int_eq (loaded.video_bitrate_k, original.video_bitrate_k);
    ck_assert_int_eq (loaded.audio_bitrate_k, original.audio_bitrate_k);
    ck_assert_int_eq (loaded.scene_count, original.scene_count);
    for (int i = 0; i < original.scene_count; i++) {
        ck_assert_str_eq (loaded.scenes[i].heading, original.scenes[i].heading);
        ck_assert_str_eq (loaded.scenes[i].narration, original.scenes[i].narration);
        ck_assert_int_eq (loaded.scenes[i].bullet_count, original.scenes[i].bullet_count);
        for (int b = 0; b < original.scenes[i].bullet_count; b++)
            ck_assert_str_eq (loaded.scenes[i].bullets[b], original.scenes[i].bullets[b]);
        ck_assert (fabs (loaded.scenes[i].target_s - original.scenes[i].target_s) < 1e-6);
    }

    /* a damaged file is refused with a reason */
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fputs ("{\"version\":1,\"brief\":{\"topic\":7}}", file);
    fclose (file);
    memset (&error, 0, sizeof error);
    ck_assert_int_eq (media_plan_load (path, &loaded, &error), -EPROTO);
    ck_assert (strstr (error.message, "topic") != NULL);
    ck_assert_int_eq (media_plan_load ("/nonexistent/plan.json", &loaded, &error), -ENOENT);
    s_remove_dir ();
}
END_TEST

typedef struct {
    int reports;
    double fractions[16];
    int stop_at_call;     /* 0: never */
    int calls;
    char last_message[PIPELINE_MESSAGE_SIZE];
} recorder_t;

static int
s_record (void *ctx, step_t step, double fraction, const char *message, int eta_s)
{
    recorder_t *rec = ctx;
    (void) eta_s;
    ck_assert_int_eq (step, STEP_PLAN);
    rec->calls++;
    if (rec->stop_at_call && rec->calls >= rec->stop_at_call)
        return -ECANCELED;
    if (message && rec->reports < 16) {
        rec->fractions[rec->reports++] = fraction;
        snprintf (rec->last_message, sizeof rec->last_message, "%s", message);
    }
    return 0;
}

static int
s_run_plan (const char *spec, recorder_t *rec, pipeline_output_t *output,
            pipeline_error_t *error)
{
    pipeline_options_t options;
    memset (&options, 0, sizeof options);
    pipeline_input_t input = {
        .job_id = "01HZZZZZZZZZZZZZZZZZZZZZZZ",
        .attempt = 1,
        .spec = spec,
        .spec_len = strlen (spec),
        .artifact_dir = s_dir,
        .options = &options,
    };
    memset (output, 0, sizeof *output);
    memset (error, 0, sizeof *error);
    return media_step_plan (&input, output, s_record, rec, error);
}

START_TEST (test_step_writes_and_reuses)
{
    s_make_dir ();
    static const char spec[] = "{\"brief\":{\"topic\":\"Tides\"},\"planSpec\":"
                               "{\"targetDuration\":60,\"density\":\"Dense\"}}";
    recorder_t rec = { 0 };
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run_plan (spec, &rec, &output, &error), 0);
    ck_assert_int_ge (rec.reports, 2);
    for (int i = 1; i < rec.reports; i++)
        ck_assert (rec.fractions[i] >= rec.fractions[i - 1]);
    ck_assert (fabs (rec.fractions[rec.reports - 1] - 1.0) < 1e-9);

    char path[256];
    media_path (path, sizeof path, s_dir, "plan.json");
    struct stat st;
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_int_eq (output.artifact_count, 1);
    ck_assert_str_eq (output.artifacts[0].name, "plan.json");
    ck_assert_str_eq (output.artifacts[0].path, "plan.json");
    ck_assert_str_eq (output.artifacts[0].type, "application/json");
    ck_assert_int_eq (output.artifacts[0].size_bytes, st.st_size);
    media_plan_t loaded;
    ck_assert_int_eq (media_plan_load (path, &loaded, &error), 0);
    ck_assert_int_eq (loaded.scene_count, 8);

    /* a second attempt keeps the file it finds, even with another spec */
    ino_t inode = st.st_ino;
    memset (&rec, 0, sizeof rec);
    ck_assert_int_eq (s_run_plan ("{\"brief\":{\"topic\":\"Other\"}}", &rec, &output,
                                  &error), 0);
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_int_eq (st.st_ino, inode);
    ck_assert_int_eq (media_plan_load (path, &loaded, &error), 0);
    ck_assert_str_eq (loaded.topic, "Tides");
    ck_assert_int_eq (output.artifact_count, 1);

    /* a damaged one is rebuilt */
    FILE *file = fopen (path, "w");
    fputs ("{\"version\":1", file);
    fclose (file);
    ck_assert_int_eq (s_run_plan ("{\"brief\":{\"topic\":\"Other\"}}", &rec, &output,
                                  &error), 0);
    ck_assert_int_eq (media_plan_load (path, &loaded, &error), 0);
    ck_assert_str_eq (loaded.topic, "Other");
    s_remove_dir ();
}
END_TEST

START_TEST (test_step_errors_and_cancel)
{
    s_make_dir ();
    recorder_t rec = { 0 };
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run_plan ("{\"brief\":{}}", &rec, &output, &error), -EINVAL);
    ck_assert_str_eq (error.code, "InvalidBrief");
    ck_assert_int_eq (output.artifact_count, 0);
    ck_assert_int_eq (test_dir_count (s_dir, ".json"), 0);

    for (int stop_at = 1; stop_at <= 2; stop_at++) {
        memset (&rec, 0, sizeof rec);
        rec.stop_at_call = stop_at;
        ck_assert_int_eq (s_run_plan ("{\"brief\":{\"topic\":\"Tides\"}}", &rec,
                                      &output, &error), -ECANCELED);
        ck_assert_int_eq (test_dir_count (s_dir, ".json"), 0);
        ck_assert_int_eq (test_dir_count (s_dir, ".tmp"), 0);
        ck_assert_int_eq (output.artifact_count, 0);
    }
    s_remove_dir ();

    /* no directory to write in */
    pipeline_options_t options;
    memset (&options, 0, sizeof options);
    static const char spec[] = "{\"brief\":{\"topic\":\"Tides\"}}";
    pipeline_input_t input = { .spec = spec, .spec_len = sizeof spec - 1,
                               .artifact_dir = "/nonexistent-aura-dir/job",
                               .options = &options };
    memset (&rec, 0, sizeof rec);
    memset (&error, 0, sizeof error);
    ck_assert_int_lt (media_step_plan (&input, &output, s_record, &rec, &error), 0);
    ck_assert_str_eq (error.code, "PlanFailed");
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("media_plan");
    TCase *tc = tcase_create ("request");
    tcase_add_test (tc, test_defaults);
    tcase_add_test (tc, test_full_request);
    tcase_add_test (tc, test_sizes);
    tcase_add_test (tc, test_durations_and_rates);
    tcase_add_test (tc, test_invalid_brief);
    suite_add_tcase (s, tc);

    tc = tcase_create ("scenes");
    /* hundreds of plans, each checked sentence by sentence */
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_scene_counts);
    tcase_add_test (tc, test_word_budgets);
    tcase_add_test (tc, test_budget_fit);
    tcase_add_test (tc, test_narration_names_the_brief);
    tcase_add_test (tc, test_brief_runs_through_the_plan);
    tcase_add_test (tc, test_tone_changes_wording);
    tcase_add_test (tc, test_twenty_scenes_no_repeats);
    tcase_add_test (tc, test_deterministic_and_varied);
    tcase_add_test (tc, test_unusual_topics);
    suite_add_tcase (s, tc);

    tc = tcase_create ("files");
    tcase_add_test (tc, test_save_load_round_trip);
    tcase_add_test (tc, test_step_writes_and_reuses);
    tcase_add_test (tc, test_step_errors_and_cancel);
    suite_add_tcase (s, tc);

    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
