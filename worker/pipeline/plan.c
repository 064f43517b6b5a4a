/*  plan — the offline planner: turns a job's request into media_plan_t
    (every setting normalized, defaults filled in) and writes the scenes of
    a plain explainer — intro, what it is, why it matters, how it works, an
    example, a misconception, a recap — from sentence tables, choosing among
    phrasings by a hash of the brief so the same brief always gives the
    same plan and different briefs read differently. */
#include "media.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define PLAN_DEFAULT_AUDIENCE "a general audience"
#define PLAN_DEFAULT_GOAL "understand the basics"
#define PLAN_DEFAULT_TONE "friendly"
#define PLAN_DEFAULT_LANGUAGE "en-us"
#define PLAN_DEFAULT_STYLE "modern"
#define PLAN_DEFAULT_DURATION_S 30.0
#define PLAN_MIN_DURATION_S 5.0
#define PLAN_MAX_DURATION_S 600.0
#define PLAN_MIN_SCENES 3
/*  A sentence may overshoot the remaining word budget by this much; the
    budget is met within about this many words either way. */
#define PLAN_WORD_SLACK 2
#define PLAN_MAX_FILLERS 2
/*  A topic longer than this many words (or bytes), or one that is a
    clause, is called "this topic" where the tables say {S}, so sentences
    stay readable. */
#define PLAN_SHORT_TOPIC_WORDS 6
#define PLAN_SHORT_TOPIC_BYTES 60
/*  A sentence after substitution: the longest template plus the longest
    topic, audience and goal. */
#define PLAN_SENTENCE_SIZE 1024

/* ------------------------------------------------------------------ */
/*  Sentence tables                                                    */

/*  Placeholders in the tables: {T} the topic, {S} the topic when short
    and "this topic" otherwise, {A} the audience, {G} the goal — each in
    mid-sentence form (see s_mid_sentence). Sentences never start with a
    placeholder, so their capitals stay right. */

typedef enum { TONE_FRIENDLY, TONE_FORMAL, TONE_INSPIRING, TONE_COUNT } s_tone_t;

/*  The middle scenes, in the order they appear in a video. */
typedef enum {
    ROLE_BACKGROUND,
    ROLE_WHAT,
    ROLE_TERMS,
    ROLE_WHY,
    ROLE_HOW,
    ROLE_STEPS,
    ROLE_CLOSER,
    ROLE_EXAMPLE,
    ROLE_EXAMPLE2,
    ROLE_WHERE,
    ROLE_COMPARE,
    ROLE_MYTH,
    ROLE_MYTH2,
    ROLE_LIMITS,
    ROLE_TIPS,
    ROLE_TRY,
    ROLE_QUESTIONS,
    ROLE_FUTURE,
    ROLE_COUNT
} s_role_t;

/*  Which middle scenes a plan gets first when it has few of them. */
static const s_role_t s_role_priority[ROLE_COUNT] = {
    ROLE_WHAT,    ROLE_WHY,      ROLE_HOW,       ROLE_EXAMPLE,  ROLE_MYTH,
    ROLE_STEPS,   ROLE_TERMS,    ROLE_WHERE,     ROLE_TIPS,     ROLE_COMPARE,
    ROLE_LIMITS,  ROLE_EXAMPLE2, ROLE_CLOSER,    ROLE_MYTH2,    ROLE_TRY,
    ROLE_QUESTIONS, ROLE_FUTURE, ROLE_BACKGROUND,
};

#define TABLE_HEADINGS 3
#define TABLE_BULLETS 5
#define TABLE_LEADS 3
#define TABLE_EXTRAS 12

/*  One kind of scene: NULL ends a short list. */
typedef struct {
    const char *headings[TABLE_HEADINGS];
    const char *bullets[TABLE_BULLETS];
    const char *leads[TABLE_LEADS];      /* one of them opens the scene */
    const char *extras[TABLE_EXTRAS];    /* added, in turn, to fill the budget */
    bool ordered;                        /* extras only make sense in order */
} s_table_t;

static const s_table_t s_roles[ROLE_COUNT] = {
    [ROLE_BACKGROUND] = {
        .headings = { "Some background", "Where it comes from", "A bit of context" },
        .bullets = { "Born from a practical problem", "Refined over time",
                     "Explains today's version", "Built by people asking questions" },
        .leads = { "A little context helps here.",
                   "Some background first, because it explains a lot.",
                   "It helps to know where this came from." },
        .extras = {
            "Ideas like this usually start as answers to a practical problem.",
            "Someone noticed a pattern, asked why, and kept asking.",
            "Over time, ideas like this get refined as people learn what works.",
            "Early versions were rough, and each correction made the picture a little clearer.",
            "Knowing that origin explains why things are done the way they are today.",
            "It also shows the idea was built step by step, by people asking questions.",
            "Nothing about it appeared all at once.",
            "That history makes the present version easier to understand.",
            "It is a reminder that understanding grows a piece at a time." },
    },
    [ROLE_WHAT] = {
        .headings = { "What it is", "The big idea", "The core idea" },
        .bullets = { "The core idea in one sentence",
                     "The main parts, and how they connect", "Details come later",
                     "Plain words over jargon" },
        .leads = { "Let's start with the core idea behind {T}.",
                   "First, the basics of {S}, stated as simply as possible.",
                   "At its simplest, {S} is about a few parts working together toward one result." },
        .extras = {
            "Strip away the jargon and the central idea is surprisingly small.",
            "It helps to picture the main pieces first and the details later.",
            "Think of a simple sketch rather than a detailed blueprint.",
            "Most of the complexity comes from details, not from the idea itself.",
            "Experts use precise terms, but the picture underneath is one anyone can hold in mind.",
            "Once the basic picture is clear, everything else has somewhere to attach.",
            "A good test of understanding is being able to say it in one sentence.",
            "By the end, you should be able to put it in a sentence of your own.",
            "Everything that follows builds on this foundation." },
    },
    [ROLE_TERMS] = {
        .headings = { "Key terms", "Words worth knowing", "The vocabulary" },
        .bullets = { "Labels for familiar ideas", "Explain each in everyday words",
                     "No need to memorize", "Labels make reading easier" },
        .leads = { "A few words come up again and again, so let's pin them down.",
                   "Before going further, it helps to share a small vocabulary.",
                   "Every field has its own words, and this one is no exception." },
        .extras = {
            "A term is only useful if you can explain it without more jargon.",
            "When a new word appears, try replacing it with a short everyday phrase.",
            "Many terms are just labels for ideas you already know.",
            "Some words mean something slightly different here than in daily life, which often causes confusion.",
            "Knowing the labels makes articles and conversations far easier to follow.",
            "Shared words also make it easier to ask precise questions.",
            "There is no need to memorize them all at once.",
            "New words feel natural after you have used them a few times.",
            "A short personal glossary, in your own words, is a handy tool." },
    },
    [ROLE_WHY] = {
        .headings = { "Why it matters", "Why should you care?", "What is at stake" },
        .bullets = { "Shapes results you can see", "Makes everyday decisions easier",
                     "Leads to better questions", "Connects to other ideas" },
        .leads = { "Why does this matter? Because it shapes results you can actually see.",
                   "Here is why this is worth understanding.",
                   "It is fair to ask why any of this matters to {A}." },
        .extras = {
            "Understanding it makes everyday decisions easier and less confusing.",
            "It also explains things that otherwise look like coincidence.",
            "People who grasp the basics tend to ask better questions.",
            "People who understand it are harder to mislead with confident but wrong claims.",
            "It connects to other ideas, so learning it pays off more than once.",
            "And when something goes wrong, knowing how it works helps you see why.",
            "The benefits tend to show up in small, practical ways.",
            "Over time, small practical benefits add up.",
            "That is a good reason to get the fundamentals right.",
            "It is knowledge that stays useful long after this video ends." },
    },
    [ROLE_HOW] = {
        .headings = { "How it works", "Under the hood", "The mechanism" },
        .bullets = { "Something starts the process", "Each stage feeds the next",
                     "Change one link, change the result",
                     "Inputs, transformation, outcome" },
        .leads = { "Now for how it works: think of it as a chain of steps.",
                   "So how does it actually work? Think of it as a chain of steps.",
                   "Here is the mechanism, as a chain of steps." },
        .extras = {
            "Something starts the process, and each stage hands its result to the next.",
            "Picture a row of dominoes, each one tipping the next.",
            "Every step depends on the one before it.",
            "Inputs go in, something transforms them, and an outcome comes out.",
            "If one link in the chain changes, the result changes too.",
            "Most of the real work happens in the middle of the chain.",
            "Along the way, energy, effort, or information is turned into something new.",
            "The end result is simply the last link in the chain.",
            "No magic is involved, just one step reliably following another.",
            "Seen this way, the whole thing becomes much less mysterious." },
    },
    [ROLE_STEPS] = {
        .headings = { "Step by step", "The sequence", "One step at a time" },
        .bullets = { "First: set the conditions", "Then: the main change",
                     "Finally: the visible result", "Order matters" },
        .leads = { "Let's slow down and walk through the sequence.",
                   "Taking it step by step makes the pattern easier to see.",
                   "Going through it in order shows how the pieces connect." },
        .extras = {
            "The first step sets the conditions for everything that follows.",
            "Without it, nothing else can happen.",
            "The second step is where the main change happens.",
            "This is usually the part that takes the most time or effort.",
            "The last step produces the result we actually notice.",
            "Skipping a step usually breaks the outcome in a visible way.",
            "Doing them out of order tends to fail as well.",
            "Order matters here more than speed.",
            "Following the order makes the logic easy to remember.",
            "With practice, the whole sequence becomes second nature.",
            "It helps to say the steps out loud once or twice." },
        .ordered = true,
    },
    [ROLE_CLOSER] = {
        .headings = { "A closer look", "Zooming in", "The details that matter" },
        .bullets = { "Small details, large effects",
                     "Where the interesting questions live",
                     "The simple picture still holds" },
        .leads = { "Let's zoom in on the part that does most of the work.",
                   "Now a closer look at the detail that matters most.",
                   "It is worth looking closely at one part in particular." },
        .extras = {
            "Small details here can have surprisingly large effects.",
            "This is where careful observation pays off.",
            "It is also where most of the interesting questions live.",
            "A slight change in conditions can change the whole outcome.",
            "Because small changes matter, experts pay close attention to this part.",
            "Looking closely shows why the simple picture still holds.",
            "Nothing here contradicts the big idea; it just adds depth.",
            "Patience with this part makes the rest straightforward.",
            "If you ever want to go deeper, this is the place to start.",
            "A careful look here answers many questions before they are asked." },
    },
    [ROLE_EXAMPLE] = {
        .headings = { "An example", "Seeing it in action", "A concrete case" },
        .bullets = { "Start from something familiar", "Watch what changes",
                     "Same pattern, different details", "Describe it in your own words" },
        .leads = { "An example makes this concrete.",
                   "Let's see it in action with a simple, everyday case.",
                   "Picture a concrete situation where {S} plays out." },
        .extras = {
            "Start with a familiar situation and watch what changes.",
            "At first everything looks ordinary; then one thing shifts, and the effects spread.",
            "Notice the starting point, the change, and the final result.",
            "The same pattern appears every time; only the details differ.",
            "That is the general idea made tangible.",
            "Once you spot it here, you will start to notice it elsewhere.",
            "A concrete case is often easier to remember than a definition.",
            "Try describing the example in your own words afterwards; if you can, you have understood more than you think.",
            "Keep this example in mind for the rest of the video." },
    },
    [ROLE_EXAMPLE2] = {
        .headings = { "Another example", "One more case", "A different angle" },
        .bullets = { "A different setting", "Same underlying steps",
                     "Keep what stays the same" },
        .leads = { "Here is a second example from a different setting.",
                   "One more case, to show the pattern is not a fluke.",
                   "A second example, from somewhere else entirely." },
        .extras = {
            "The setting is different, but the underlying steps are the same.",
            "The starting point looks nothing like the first example, yet the same change happens in the same order.",
            "Comparing two examples shows what is essential and what is incidental.",
            "Whatever stays the same across both is the part worth remembering; whatever changes is just detail.",
            "Seeing the pattern twice is far more convincing than seeing it once.",
            "Two examples are often enough to make an idea stick, and a third of your own makes it stick for good.",
            "That is how general ideas are built: one case at a time." },
    },
    [ROLE_WHERE] = {
        .headings = { "Where you see it", "In everyday life", "All around you" },
        .bullets = { "At home, at work, in the news", "Hard to miss once you know it",
                     "Find one example of your own" },
        .leads = { "You have probably met this already without noticing.",
                   "It shows up in everyday life more often than you might think.",
                   "Look around, and you will find it in familiar places." },
        .extras = {
            "It appears at home, at work, and in the news.",
            "It is behind everyday things that most people never think about.",
            "Once you know what to look for, it becomes hard to miss.",
            "You may be surprised how often it turns up.",
            "Spotting it in the wild is a good way to check your understanding.",
            "Each sighting is a small reminder of how the pieces fit.",
            "It also shows how widely the same idea applies.",
            "Try to find one example of your own this week.",
            "Noticing it in daily life turns a lesson into a habit, and habits make knowledge last." },
    },
    [ROLE_COMPARE] = {
        .headings = { "How it compares", "Similar, but different", "Side by side" },
        .bullets = { "Same goal, different routes", "When each one fits",
                     "What is gained, what is given up" },
        .leads = { "It helps to compare it with something similar.",
                   "Side by side with a related idea, the differences stand out.",
                   "A comparison sharpens the picture." },
        .extras = {
            "Related ideas often share a goal but take different routes.",
            "On the surface, related ideas can look almost identical.",
            "The differences tell you when each one is the right fit.",
            "Comparisons also guard against mixing two ideas up.",
            "Ask what each approach gains and what it gives up.",
            "One may be faster, another more reliable, another simpler.",
            "No single approach is best in every situation.",
            "Good comparisons are fair to both sides.",
            "A clear comparison clears up a lot of confusion.",
            "Knowing the neighbours of an idea is part of knowing the idea." },
    },
    [ROLE_MYTH] = {
        .headings = { "A common misconception", "Myth versus fact",
                      "What people get wrong" },
        .bullets = { "It is not only for experts", "Jargon makes it sound harder",
                     "The core fits in a sentence" },
        .leads = { "A common misconception is that this is only for experts.",
                   "Many people assume it is far more complicated than it really is.",
                   "Here is a belief that trips up a lot of people: that you need special training to understand it." },
        .extras = {
            "In reality, the core idea fits in a sentence or two.",
            "The jargon makes it sound harder than it is.",
            "The belief sounds reasonable, which is why it spreads so easily.",
            "It usually comes from a first encounter with a dense explanation.",
            "Experts add detail, but the foundation is the same for everyone.",
            "Plenty of people learn it without any special background.",
            "Curiosity matters far more than credentials here.",
            "So if it has ever felt out of reach, it is not.",
            "The real picture is simpler and, honestly, more interesting.",
            "Setting this myth aside makes everything else easier to learn." },
    },
    [ROLE_MYTH2] = {
        .headings = { "Another myth", "One more misunderstanding",
                      "Setting the record straight" },
        .bullets = { "Cause versus effect", "Ask which came first", "Direction matters" },
        .leads = { "Another misunderstanding is to mix up the cause with the effect.",
                   "A second trap is mistaking a symptom for the cause.",
                   "One more myth worth clearing up concerns cause and effect." },
        .extras = {
            "Cause and effect often appear together, but one comes first and brings about the other.",
            "A good test is to imagine removing one and see whether the other disappears.",
            "Asking which came first usually sorts it out.",
            "Correlation is a clue, not proof.",
            "When two things rise together, a third may be driving both.",
            "Getting the direction right changes how you would respond.",
            "Treating only the symptom rarely fixes the underlying cause.",
            "Good explanations always make the direction of cause clear.",
            "Keep this in mind when you read claims about {S}.",
            "It is a habit worth building well beyond this topic." },
    },
    [ROLE_LIMITS] = {
        .headings = { "Limits and trade-offs", "Where it falls short", "The fine print" },
        .bullets = { "Works under usual conditions", "Every benefit has a cost",
                     "Know when not to use it" },
        .leads = { "No idea is perfect, and this one has limits too.",
                   "It is worth being honest about the trade-offs.",
                   "Every approach has a boundary, and this one does too." },
        .extras = {
            "It works well under the usual conditions, but not in every case.",
            "At the edges, the simple picture starts to bend.",
            "Pushing it too far can produce results nobody wanted.",
            "Every benefit comes with a cost somewhere else: time, money, or simplicity.",
            "Knowing the limits is part of understanding the idea.",
            "Good judgment means knowing when to use it and when not to.",
            "Honest explanations mention the trade-offs, so be wary of anyone who says there are none.",
            "Limits are not failures; they are the shape of the idea.",
            "Understanding limits makes you a more careful thinker." },
    },
    [ROLE_TIPS] = {
        .headings = { "Practical tips", "Making it useful", "Tips to remember" },
        .bullets = { "Start small", "Use your own words", "Explain it to a friend",
                     "Revisit it in a few days" },
        .leads = { "A few practical tips make this easier to use.",
                   "Here is how to put it to work.",
                   "Some simple habits help this knowledge stick." },
        .extras = {
            "Start small and check the result before going further.",
            "Write down the main steps in your own words.",
            "Use a simple sketch if that helps you see the connections.",
            "When something surprises you, go back to the basic idea.",
            "Explaining it to a friend is one of the best ways to learn it; their questions show which parts are still fuzzy.",
            "Revisit it after a few days; it will feel easier the second time.",
            "Connect it to something you already know well.",
            "Short, regular practice beats one long session.",
            "And do not worry about mistakes; they are part of learning." },
    },
    [ROLE_TRY] = {
        .headings = { "Try it yourself", "Your turn", "A quick exercise" },
        .bullets = { "Describe it in three sentences",
                     "Find one situation where it applies",
                     "Check: start, change, result" },
        .leads = { "Now it is your turn.",
                   "Here is a quick exercise to try.",
                   "A short exercise will lock this in." },
        .extras = {
            "Pause the video and describe the idea in three sentences.",
            "Then think of one situation where it applies.",
            "Check whether your description covers the starting point, the change, and the result.",
            "If it does, you have the basics.",
            "If not, go back to the part about how it works.",
            "Next, try explaining it to someone else without notes.",
            "Notice where you hesitate; that is where to look again.",
            "Finally, ask yourself one question the video did not answer.",
            "That question is your next step.",
            "Writing down your answers makes the exercise twice as useful.",
            "It takes five minutes and pays off for a long time." },
        .ordered = true,
    },
    [ROLE_QUESTIONS] = {
        .headings = { "Questions worth asking", "Going further", "Digging deeper" },
        .bullets = { "What if one part were missing?", "What stays the same?",
                     "How would you know it is wrong?" },
        .leads = { "Good questions take you further than memorized facts.",
                   "Here are some questions worth asking as you go further.",
                   "Curiosity is the best next step, so here are a few questions." },
        .extras = {
            "What would happen if one part were missing?",
            "What stays the same when the details change?",
            "Who benefits, and who bears the cost?",
            "How would you know if an explanation were wrong?",
            "What would an expert check first?",
            "Where does the simple picture stop working?",
            "What would you like to know next?",
            "None of these has to be answered right away.",
            "Write them down, and come back to them later.",
            "Good questions are often more valuable than quick answers.",
            "Questions like these turn a fact into real understanding." },
        .ordered = true,
    },
    [ROLE_FUTURE] = {
        .headings = { "What comes next", "Looking ahead", "Where it is heading" },
        .bullets = { "Details keep evolving", "Fundamentals stay the same",
                     "The basics pay off later" },
        .leads = { "Now, a look ahead.",
                   "It is also worth asking where this is heading.",
                   "What happens next is an open and exciting question." },
        .extras = {
            "Ideas like this keep evolving as people learn more.",
            "New tools and research keep refining the details.",
            "Some of today's open questions will be settled soon, and others will turn out harder than expected.",
            "The fundamentals, though, tend to stay the same.",
            "That is why learning the basics now pays off later.",
            "News about it will make more sense to you from now on.",
            "Keep an eye out for changes, and you will understand them quickly.",
            "You might even be part of what comes next.",
            "Every field moves forward because curious people keep asking." },
    },
};

/*  The intro names the topic and the audience; the recap states the goal.
    Their first sentences depend on the tone. */
static const char *s_intro_leads[TONE_COUNT][TABLE_LEADS] = {
    [TONE_FRIENDLY] = {
        "Hi there! Today we are exploring {T}, explained for {A}.",
        "Welcome! This short video walks through {T} for {A}.",
        "Let's talk about {T}, in plain words for {A}." },
    [TONE_FORMAL] = {
        "This video introduces {T} for {A}.",
        "In this short overview we examine {T}, with {A} in mind.",
        "Welcome. This overview covers {T} and is intended for {A}." },
    [TONE_INSPIRING] = {
        "Imagine really understanding {T}. This video is for {A}, and it starts now.",
        "Here is something worth your time: {T}, told for {A}.",
        "Get ready to see {T} in a new light. This one is for {A}." },
};

static const s_table_t s_intro = {
    .headings = { NULL, NULL, NULL },   /* the intro's heading is the topic */
    .bullets = { "For {A}", "Goal: {G}", "One idea at a time", "No background needed" },
    .leads = { NULL, NULL, NULL },
    .extras = {
        "We will keep it simple and take one idea at a time.",
        "No background knowledge is needed to follow along.",
        "Our goal in this video is simple: {G}.",
        "If you have ever wondered about {S}, you are in the right place.",
        "There are only a handful of ideas to hold on to.",
        "Along the way, we will point out the parts that most often trip people up.",
        "Each part builds on the one before, so it is worth staying to the end.",
        "Feel free to pause at any point and think it over.",
        "By the end, it should all fit together." },
};

static const char *s_recap_leads[TONE_COUNT][TABLE_LEADS] = {
    [TONE_FRIENDLY] = {
        "Let's wrap up. Our goal was simple: {G}.",
        "Time for a quick recap. The aim from the start: {G}.",
        "And that brings us to the end. Remember the goal: {G}." },
    [TONE_FORMAL] = {
        "In summary, this overview had one objective: {G}.",
        "To conclude, recall the objective: {G}.",
        "In closing, the purpose of this overview was clear: {G}." },
    [TONE_INSPIRING] = {
        "You made it! Our goal was bold but simple: {G}.",
        "And now you are ready. The goal all along: {G}.",
        "That is the journey. Never forget the goal: {G}." },
};

static const char *s_recap_closers[TONE_COUNT] = {
    [TONE_FRIENDLY] = "Thanks for watching!",
    [TONE_FORMAL] = "Thank you for your attention.",
    [TONE_INSPIRING] = "Now go and share what you have learned!",
};

static const s_table_t s_recap = {
    .headings = { "Recap", "Key takeaways", "Wrapping up" },
    .bullets = { "Start from the core idea", "Keep the big picture in mind",
                 "Goal: {G}", "Curiosity goes a long way" },
    .leads = { NULL, NULL, NULL },
    .extras = {
        "Start from the core idea, and the rest follows.",
        "Keep the big picture in mind, and the details will make sense.",
        "If something was unclear, watch that part again; it is short.",
        "The basics you have now are the foundation for everything else.",
        "Try explaining it to someone today, while it is fresh.",
        "We hope {S} now feels a lot less mysterious.",
        "Small steps of understanding add up to real expertise.",
        "A little curiosity goes a long way from here." },
};

/*  Short sentences any scene can end with to meet its word budget; each
    is used at most once in a plan, and a scene takes at most
    PLAN_MAX_FILLERS of them. */
static const char *s_fillers[] = {
    "Keep that in mind.",
    "That is the key point.",
    "It really is that simple.",
    "Hold on to that thought.",
    "That is worth remembering.",
    "Notice the pattern.",
    "That is the essence of it.",
    "Step by step, it makes sense.",
    "Think about that for a moment.",
    "None of this requires special equipment to appreciate.",
    "The same logic applies at small and large scales.",
    "It is a good moment to pause and picture it.",
    "Clear ideas are easier to remember than long lists.",
    "That pattern will come back again.",
    "It is more familiar than it first sounds.",
    "One thing leads naturally to the next.",
    "Small pieces make one clear picture.",
    "Take a second to let that settle.",
    "That is a useful idea to carry with you.",
    "Simple ideas often have the widest reach.",
};
#define FILLER_COUNT ((int) (sizeof s_fillers / sizeof s_fillers[0]))

/* ------------------------------------------------------------------ */
/*  Text                                                               */

/*  FNV-1a over text, continuing from hash. */
static uint64_t
s_hash (uint64_t hash, const char *text)
{
    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        hash ^= *p;
        hash *= 1099511628211ULL;
    }
    return hash;
}

/*  Mixes a scene's salt into the brief's hash (splitmix64 finalizer). */
static uint64_t
s_mix (uint64_t hash, uint64_t salt)
{
    uint64_t z = hash + salt * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/*  Length of text[0..len) without a last character that is cut short
    (a UTF-8 sequence whose lead byte promises more bytes than follow). */
static size_t
s_utf8_whole (const char *text, size_t len)
{
    size_t start = len;
    while (start > 0 && ((unsigned char) text[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0)
        return 0;
    unsigned char lead = (unsigned char) text[start - 1];
    size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3
                                                : lead >= 0xC0 ? 2 : 1;
    return len - (start - 1) < need ? start - 1 : len;
}

/*  Copies src into dest[size] with runs of whitespace and control
    characters made one space and the ends trimmed; a longer text is cut on
    a character boundary. */
static void
s_clean_copy (char *dest, size_t size, const char *src)
{
    size_t out = 0;
    bool space = false;
    for (const unsigned char *p = (const unsigned char *) src; *p; p++) {
        if (*p < 0x20 || *p == 0x7F || *p == ' ') {
            space = out > 0;
            continue;
        }
        if (space) {
            if (out + 1 >= size)
                break;
            dest[out++] = ' ';
            space = false;
        }
        if (out + 1 >= size)
            break;
        dest[out++] = (char) *p;
    }
    out = s_utf8_whole (dest, out);
    dest[out] = '\0';
    /* a cut may leave a trailing space */
    while (out > 0 && dest[out - 1] == ' ')
        dest[--out] = '\0';
}

static int
s_word_count (const char *text)
{
    int count = 0;
    bool in_word = false;
    for (const char *p = text; *p; p++) {
        bool space = isspace ((unsigned char) *p) != 0;
        if (!space && !in_word)
            count++;
        in_word = !space;
    }
    return count;
}

/*  Words that start a topic but are not names: lower-cased when the topic
    goes in the middle of a sentence ("How tides work" → "how tides work"). */
static const char *s_topic_starters[] = {
    "how", "why", "what", "when", "where", "who", "which", "the", "a", "an",
    "our", "your", "my", "using", "making", "building", "understanding",
    "learning", "getting", "choosing", "basic", "basics", "introduction",
    "intro", "simple", "explain", "explaining", "teaching", "writing",
    "reading", "saving", "managing", "creating", "starting", "is", "are",
    "can", "do", "does", "should", "tips", "ways", "ten", "five", "three",
};

/*  Writes text in the form it takes inside a sentence: trailing full stop,
    question or exclamation mark removed; the first letter lower-cased when
    the first word is a common word, or the text is in sentence case (more
    than one word, no other capital), or any_common is true (audiences and
    goals, which seldom start with a name). A single capitalized word
    stays: it may be a name. */
static void
s_mid_sentence (char *dest, size_t size, const char *text, bool any_common)
{
    s_clean_copy (dest, size, text);
    size_t len = strlen (dest);
    while (len > 0 && strchr (".!?;:,", dest[len - 1]))
        dest[--len] = '\0';
    if (!isupper ((unsigned char) dest[0]))
        return;
    /* the first word: letters only, the rest of it lower case */
    size_t word_len = 1;
    while (isalpha ((unsigned char) dest[word_len]))
        word_len++;
    if (dest[word_len] != '\0' && dest[word_len] != ' ' && dest[word_len] != ','
        && dest[word_len] != '-')
        return;
    for (size_t i = 1; i < word_len; i++)
        if (!islower ((unsigned char) dest[i]))
            return;
    /* sentence case ("Compound interest"): no capital after the first */
    bool sentence_case = strchr (dest, ' ') != NULL;
    for (const char *p = dest + 1; sentence_case && *p; p++)
        if (isupper ((unsigned char) *p))
            sentence_case = false;
    bool common = (any_common || sentence_case) && word_len > 1;
    for (size_t i = 0; !common && i < sizeof s_topic_starters / sizeof *s_topic_starters; i++)
        if (strlen (s_topic_starters[i]) == word_len
            && strncasecmp (dest, s_topic_starters[i], word_len) == 0)
            common = true;
    if (common)
        dest[0] = (char) tolower ((unsigned char) dest[0]);
}

/*  True when the topic is a question or a clause ("how tides work", "why
    the sky is blue"), which reads well after "about" but not as the
    subject of a sentence. */
static bool
s_is_clause (const char *topic)
{
    static const char *starters[] = { "how", "why", "what", "when", "where",
                                      "who", "which", "whether", "is", "are",
                                      "can", "do", "does", "should" };
    for (size_t i = 0; i < sizeof starters / sizeof *starters; i++) {
        size_t len = strlen (starters[i]);
        if (strncasecmp (topic, starters[i], len) == 0
            && (topic[len] == ' ' || topic[len] == '\0'))
            return true;
    }
    return false;
}

/*  What the placeholders of the tables stand for, for one plan. */
typedef struct {
    char topic[512];
    char short_topic[512];
    char audience[128];
    char goal[128];
} s_words_t;

/*  Writes template into out[size] with its placeholders replaced. Returns
    0, or -ENOSPC when the result does not fit (out is then cut). */
static int
s_expand (char *out, size_t size, const char *template, const s_words_t *words)
{
    size_t len = 0;
    int rc = 0;
    for (const char *p = template; *p; p++) {
        const char *insert = NULL;
        if (p[0] == '{' && p[1] && p[2] == '}') {
            switch (p[1]) {
            case 'T': insert = words->topic; break;
            case 'S': insert = words->short_topic; break;
            case 'A': insert = words->audience; break;
            case 'G': insert = words->goal; break;
            default: break;
            }
        }
        if (insert) {
            size_t insert_len = strlen (insert);
            if (len + insert_len >= size) {
                rc = -ENOSPC;
                break;
            }
            memcpy (out + len, insert, insert_len);
            len += insert_len;
            p += 2;
        }
        else {
            if (len + 1 >= size) {
                rc = -ENOSPC;
                break;
            }
            out[len++] = *p;
        }
    }
    out[s_utf8_whole (out, len)] = '\0';
    return rc;
}

/*  Appends sentence to the narration when it fits (with a space before
    it). Returns true when it was added. */
static bool
s_append_sentence (char *narration, size_t size, const char *sentence)
{
    size_t len = strlen (narration);
    size_t add = strlen (sentence);
    size_t need = len + (len > 0 ? 1 : 0) + add;
    if (add == 0 || need >= size)
        return false;
    if (len > 0)
        narration[len++] = ' ';
    memcpy (narration + len, sentence, add + 1);
    return true;
}

static s_tone_t
s_tone_of (const char *tone)
{
    static const char *formal[] = { "formal", "professional", "serious",
                                    "academic", "authoritative", "neutral",
                                    "informative", "technical", "corporate",
                                    "business", "educational", "objective" };
    static const char *inspiring[] = { "inspir", "motivat", "enthusias",
                                       "energetic", "excit", "dramatic",
                                       "epic", "uplifting", "passionate",
                                       "bold" };
    char lower[64];
    s_clean_copy (lower, sizeof lower, tone);
    for (char *p = lower; *p; p++)
        *p = (char) tolower ((unsigned char) *p);
    for (size_t i = 0; i < sizeof formal / sizeof *formal; i++)
        if (strstr (lower, formal[i]))
            return TONE_FORMAL;
    for (size_t i = 0; i < sizeof inspiring / sizeof *inspiring; i++)
        if (strstr (lower, inspiring[i]))
            return TONE_INSPIRING;
    return TONE_FRIENDLY;
}

/* ------------------------------------------------------------------ */
/*  Scenes                                                             */

/*  Fills the scene's narration: the lead, then extras of the table chosen
    in a rotated order (from the start for an ordered table, stopping at
    the first that does not fit) each when it fits in what is left of the
    word budget (plus the slack) and written in table order, then at most
    PLAN_MAX_FILLERS unused fillers; the closer, when there is one, is
    counted from the start and comes last. */
static void
s_write_narration (media_scene_t *scene, const char *lead, const s_table_t *table,
                   const char *closer, int budget, uint64_t hash,
                   const s_words_t *words, bool *filler_used)
{
    char sentence[PLAN_SENTENCE_SIZE];
    char closing[PLAN_SENTENCE_SIZE] = "";
    scene->narration[0] = '\0';
    int remaining = budget;
    if (closer) {
        s_expand (closing, sizeof closing, closer, words);
        remaining -= s_word_count (closing);
    }
    /* what is left of the narration for all but the closer */
    size_t size = sizeof scene->narration - (closing[0] ? strlen (closing) + 1 : 0);
    s_expand (sentence, sizeof sentence, lead, words);
    if (s_append_sentence (scene->narration, size, sentence))
        remaining -= s_word_count (sentence);
    size_t length = strlen (scene->narration);

    int extra_count = 0;
    while (extra_count < TABLE_EXTRAS && table->extras[extra_count])
        extra_count++;
    int offset = extra_count && !table->ordered
                     ? (int) ((hash >> 8) % (uint64_t) extra_count)
                     : 0;
    bool chosen[TABLE_EXTRAS] = { false };
    for (int i = 0; i < extra_count && remaining > PLAN_WORD_SLACK; i++) {
        int index = (offset + i) % extra_count;
        s_expand (sentence, sizeof sentence, table->extras[index], words);
        int count = s_word_count (sentence);
        size_t add = strlen (sentence) + 1;
        if (count <= remaining + PLAN_WORD_SLACK && length + add < size) {
            chosen[index] = true;
            remaining -= count;
            length += add;
        }
        else if (table->ordered)
            break;   /* a later sentence would read out of order */
    }
    for (int i = 0; i < extra_count; i++) {
        if (!chosen[i])
            continue;
        s_expand (sentence, sizeof sentence, table->extras[i], words);
        s_append_sentence (scene->narration, size, sentence);
    }

    int fillers = 0;
    int filler_offset = (int) ((hash >> 24) % (uint64_t) FILLER_COUNT);
    for (int i = 0; i < FILLER_COUNT && remaining > PLAN_WORD_SLACK
                    && fillers < PLAN_MAX_FILLERS; i++) {
        int index = (filler_offset + i) % FILLER_COUNT;
        if (filler_used[index])
            continue;
        int count = s_word_count (s_fillers[index]);
        if (count <= remaining + PLAN_WORD_SLACK
            && s_append_sentence (scene->narration, size, s_fillers[index])) {
            remaining -= count;
            filler_used[index] = true;
            fillers++;
        }
    }
    if (closing[0])
        s_append_sentence (scene->narration, sizeof scene->narration, closing);
}

/*  The lead the hash picks among the `count` ones, or the shortest when
    that one alone would overshoot the word budget. */
static const char *
s_pick_lead (const char *const *leads, int count, uint64_t hash, int budget,
             const s_words_t *words)
{
    char sentence[PLAN_SENTENCE_SIZE];
    const char *lead = leads[hash % (uint64_t) count];
    s_expand (sentence, sizeof sentence, lead, words);
    if (s_word_count (sentence) <= budget + PLAN_WORD_SLACK)
        return lead;
    int fewest = 0;
    for (int i = 0; i < count; i++) {
        s_expand (sentence, sizeof sentence, leads[i], words);
        int words_in_lead = s_word_count (sentence);
        if (fewest == 0 || words_in_lead < fewest) {
            fewest = words_in_lead;
            lead = leads[i];
        }
    }
    return lead;
}

/*  Picks the scene's bullets (2..4) from the table, in a rotated order. */
static void
s_write_bullets (media_scene_t *scene, const s_table_t *table, uint64_t hash,
                 const s_words_t *words)
{
    int available = 0;
    while (available < TABLE_BULLETS && table->bullets[available])
        available++;
    int want = 2 + (int) ((hash >> 40) % 3);
    if (want > available)
        want = available;
    if (want > MEDIA_MAX_BULLETS)
        want = MEDIA_MAX_BULLETS;
    int offset = (int) ((hash >> 44) % (uint64_t) available);
    scene->bullet_count = 0;
    for (int i = 0; i < want; i++) {
        char bullet[PLAN_SENTENCE_SIZE];
        s_expand (bullet, sizeof bullet, table->bullets[(offset + i) % available],
                  words);
        s_clean_copy (scene->bullets[scene->bullet_count],
                      sizeof scene->bullets[0], bullet);
        scene->bullet_count++;
    }
}

/*  The intro's heading: the topic as given, first letter up, cut at a
    word to fit a slide. */
static void
s_topic_heading (char *heading, size_t size, const char *topic)
{
    size_t limit = size - 4;   /* room for "…" */
    if (limit > 100)
        limit = 100;
    s_clean_copy (heading, size, topic);
    size_t len = strlen (heading);
    while (len > 0 && strchr (".!;:,", heading[len - 1]))
        heading[--len] = '\0';
    if (len > limit) {
        size_t cut = limit;
        while (cut > limit / 2 && heading[cut] != ' ')
            cut--;
        if (heading[cut] != ' ')
            cut = s_utf8_whole (heading, limit);
        while (cut > 0 && heading[cut - 1] == ' ')
            cut--;
        memcpy (heading + cut, "\xE2\x80\xA6", 4);
    }
    heading[0] = (char) toupper ((unsigned char) heading[0]);
}

static void
s_build_scenes (media_plan_t *plan)
{
    s_words_t words;
    s_mid_sentence (words.topic, sizeof words.topic, plan->topic, false);
    if (s_word_count (words.topic) <= PLAN_SHORT_TOPIC_WORDS
        && strlen (words.topic) <= PLAN_SHORT_TOPIC_BYTES
        && !s_is_clause (words.topic))
        memcpy (words.short_topic, words.topic, strlen (words.topic) + 1);
    else
        snprintf (words.short_topic, sizeof words.short_topic, "this topic");
    s_mid_sentence (words.audience, sizeof words.audience, plan->audience, true);
    s_mid_sentence (words.goal, sizeof words.goal, plan->goal, true);

    uint64_t seed = 14695981039346656037ULL;
    seed = s_hash (seed, plan->topic);
    seed = s_hash (s_hash (seed, "\x1f"), plan->audience);
    seed = s_hash (s_hash (seed, "\x1f"), plan->goal);
    seed = s_hash (s_hash (seed, "\x1f"), plan->tone);
    s_tone_t tone = s_tone_of (plan->tone);

    /* which middle scenes, in video order */
    int middle = plan->scene_count - 2;
    bool chosen[ROLE_COUNT] = { false };
    for (int i = 0; i < middle && i < ROLE_COUNT; i++)
        chosen[s_role_priority[i]] = true;

    int budget = (int) lround (plan->words_per_minute
                               * (plan->target_duration_s / plan->scene_count)
                               / 60.0);
    if (budget < 1)
        budget = 1;
    bool filler_used[FILLER_COUNT] = { false };
    int index = 0;

    /* intro */
    media_scene_t *scene = &plan->scenes[index++];
    uint64_t hash = s_mix (seed, 1000);
    s_topic_heading (scene->heading, sizeof scene->heading, plan->topic);
    s_write_bullets (scene, &s_intro, hash, &words);
    const char *lead = s_pick_lead (s_intro_leads[tone], TABLE_LEADS, hash,
                                    budget, &words);
    s_write_narration (scene, lead, &s_intro, NULL, budget, hash, &words,
                       filler_used);

    for (int role = 0; role < ROLE_COUNT; role++) {
        if (!chosen[role])
            continue;
        const s_table_t *table = &s_roles[role];
        scene = &plan->scenes[index++];
        hash = s_mix (seed, (uint64_t) role + 1);
        snprintf (scene->heading, sizeof scene->heading, "%s",
                  table->headings[(hash >> 16) % TABLE_HEADINGS]);
        s_write_bullets (scene, table, hash, &words);
        lead = s_pick_lead (table->leads, TABLE_LEADS, hash, budget, &words);
        s_write_narration (scene, lead, table, NULL, budget, hash, &words,
                           filler_used);
    }

    /* recap */
    scene = &plan->scenes[index++];
    hash = s_mix (seed, 2000);
    snprintf (scene->heading, sizeof scene->heading, "%s",
              s_recap.headings[(hash >> 16) % TABLE_HEADINGS]);
    s_write_bullets (scene, &s_recap, hash, &words);
    lead = s_pick_lead (s_recap_leads[tone], TABLE_LEADS, hash, budget, &words);
    s_write_narration (scene, lead, &s_recap, s_recap_closers[tone], budget,
                       hash, &words, filler_used);

    for (int i = 0; i < plan->scene_count; i++)
        plan->scenes[i].target_s = plan->target_duration_s / plan->scene_count;
}

/* ------------------------------------------------------------------ */
/*  The request                                                        */

/*  A non-empty string member of object after cleaning, or NULL. */
static const char *
s_get_text (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_string (value))
        return NULL;
    const char *text = json_string_value (value);
    for (const char *p = text; *p; p++)
        if (!isspace ((unsigned char) *p))
            return text;
    return NULL;
}

static void
s_get_text_or (char *dest, size_t size, json_t *object, const char *key,
               const char *fallback)
{
    const char *text = s_get_text (object, key);
    s_clean_copy (dest, size, text ? text : fallback);
    if (!dest[0])
        s_clean_copy (dest, size, fallback);
}

/*  Parses a duration: a number of seconds, or a string "ss", "mm:ss",
    "hh:mm:ss" (seconds may have a fraction). Returns 0 and sets *seconds,
    or -EINVAL. */
static int
s_parse_duration (json_t *value, double *seconds)
{
    if (json_is_number (value)) {
        *seconds = json_number_value (value);
        return isfinite (*seconds) ? 0 : -EINVAL;
    }
    if (!json_is_string (value))
        return -EINVAL;
    const char *p = json_string_value (value);
    double parts[3];
    int count = 0;
    while (true) {
        char *end;
        errno = 0;
        double part = strtod (p, &end);
        if (end == p || errno || part < 0 || !isfinite (part) || count == 3)
            return -EINVAL;
        parts[count++] = part;
        while (isspace ((unsigned char) *end))
            end++;
        if (*end == '\0')
            break;
        if (*end != ':')
            return -EINVAL;
        p = end + 1;
    }
    double total = 0;
    for (int i = 0; i < count; i++)
        total = total * 60.0 + parts[i];
    *seconds = total;
    return 0;
}

static int
s_match (const char *text, const char *const *names, int count, int fallback)
{
    if (!text)
        return fallback;
    for (int i = 0; i < count; i++)
        if (strcasecmp (text, names[i]) == 0)
            return i;
    return fallback;
}

static double
s_clamp (double value, double lo, double hi)
{
    return value < lo ? lo : value > hi ? hi : value;
}

/*  An integer member within lo..hi (a real is rounded), or fallback. */
static int
s_get_int (json_t *object, const char *key, int lo, int hi, int fallback)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_number (value))
        return fallback;
    double number = json_number_value (value);
    if (!isfinite (number))
        return fallback;
    return (int) lround (s_clamp (number, lo, hi));
}

static void
s_read_brief (media_plan_t *plan, json_t *brief)
{
    s_clean_copy (plan->topic, sizeof plan->topic, s_get_text (brief, "topic"));
    s_get_text_or (plan->audience, sizeof plan->audience, brief, "audience",
                   PLAN_DEFAULT_AUDIENCE);
    s_get_text_or (plan->goal, sizeof plan->goal, brief, "goal", PLAN_DEFAULT_GOAL);
    s_get_text_or (plan->tone, sizeof plan->tone, brief, "tone", PLAN_DEFAULT_TONE);

    /* a language tag such as "en-US": letters, digits, '-' and '_' */
    const char *language = s_get_text (brief, "language");
    bool usable = language && strlen (language) < sizeof plan->language;
    for (const char *p = language; usable && *p; p++)
        if (!isalnum ((unsigned char) *p) && *p != '-' && *p != '_')
            usable = false;
    snprintf (plan->language, sizeof plan->language, "%s",
              usable ? language : PLAN_DEFAULT_LANGUAGE);
    for (char *p = plan->language; *p; p++)
        *p = *p == '_' ? '-' : (char) tolower ((unsigned char) *p);
}

static void
s_read_plan_spec (media_plan_t *plan, json_t *spec)
{
    static const char *pacings[] = { "Chill", "Conversational", "Fast" };
    static const char *densities[] = { "Sparse", "Balanced", "Dense" };
    static const int words_per_minute[] = { 130, 160, 190 };

    double duration = PLAN_DEFAULT_DURATION_S;
    if (s_parse_duration (json_object_get (spec, "targetDuration"), &duration) < 0
        || duration <= 0)
        duration = PLAN_DEFAULT_DURATION_S;
    plan->target_duration_s = s_clamp (duration, PLAN_MIN_DURATION_S,
                                       PLAN_MAX_DURATION_S);
    plan->pacing = (media_pacing_t) s_match (s_get_text (spec, "pacing"), pacings,
                                             3, MEDIA_CONVERSATIONAL);
    plan->density = (media_density_t) s_match (s_get_text (spec, "density"),
                                               densities, 3, MEDIA_BALANCED);
    s_get_text_or (plan->style, sizeof plan->style, spec, "style",
                   PLAN_DEFAULT_STYLE);
    plan->words_per_minute = words_per_minute[plan->pacing];
}

static void
s_read_voice_spec (media_plan_t *plan, json_t *spec)
{
    const char *name = s_get_text (spec, "voiceName");
    if (name)
        s_clean_copy (plan->voice_name, sizeof plan->voice_name, name);

    /* rate: a multiplier of the pacing's words per minute */
    plan->voice_rate = 1.0;
    json_t *rate = json_object_get (spec, "rate");
    if (json_is_number (rate) && json_number_value (rate) > 0)
        plan->voice_rate = s_clamp (json_number_value (rate), 0.5, 2.0);

    /* pitch: a multiplier too, 1.0 = the voice's own; 0.5 and below is the
       lowest (-1), 2.0 and above the highest (+1) */
    plan->voice_pitch = 0.0;
    json_t *pitch = json_object_get (spec, "pitch");
    if (json_is_number (pitch) && json_number_value (pitch) > 0) {
        double multiplier = json_number_value (pitch);
        double offset = multiplier >= 1.0 ? multiplier - 1.0 : (multiplier - 1.0) * 2.0;
        plan->voice_pitch = s_clamp (offset, -1.0, 1.0);
    }

    /* pause: a style name or seconds */
    static const char *styles[] = { "Natural", "Short", "Long", "Dramatic" };
    static const double style_s[] = { 0.6, 0.3, 1.0, 1.5 };
    plan->voice_pause_s = 0.6;
    json_t *pause = json_object_get (spec, "pause");
    if (json_is_number (pause) && isfinite (json_number_value (pause)))
        plan->voice_pause_s = s_clamp (json_number_value (pause), 0.0, 5.0);
    else if (json_is_string (pause))
        plan->voice_pause_s = style_s[s_match (json_string_value (pause), styles, 4, 0)];
}

static void
s_read_render_spec (media_plan_t *plan, json_t *spec, const char *aspect)
{
    static const char *aspects[] = { "Widescreen16x9", "Vertical9x16", "Square1x1" };
    static const char *aspect_ratios[] = { "16:9", "9:16", "1:1" };
    int shape = s_match (aspect, aspects, 3, -1);
    if (shape < 0)
        shape = s_match (aspect, aspect_ratios, 3, 0);

    int base = 720;   /* the short side */
    json_t *res = json_object_get (spec, "res");
    const char *res_name = json_is_string (res) ? json_string_value (res) : NULL;
    if (res_name && strcasecmp (res_name, "1080p") == 0)
        base = 1080;
    int long_side = base * 16 / 9;
    plan->width = shape == 0 ? long_side : base;
    plan->height = shape == 1 ? long_side : base;
    if (json_is_object (res)) {
        int width = s_get_int (res, "width", 16, 4096, 0);
        int height = s_get_int (res, "height", 16, 4096, 0);
        if (width > 0 && height > 0) {
            plan->width = width & ~1;
            plan->height = height & ~1;
        }
    }

    /* the frame rates encoders and players agree on; others go to the
       nearest */
    static const int rates[] = { 24, 25, 30, 60 };
    int fps = s_get_int (spec, "fps", 1, 240, 30);
    plan->fps = rates[0];
    for (size_t i = 1; i < sizeof rates / sizeof *rates; i++)
        if (abs (rates[i] - fps) < abs (plan->fps - fps))
            plan->fps = rates[i];
    plan->quality = s_get_int (spec, "qualityLevel", 0, 100, 75);
    plan->video_bitrate_k = s_get_int (spec, "videoBitrateK", 0, 100000, 0);
    plan->audio_bitrate_k = s_get_int (spec, "audioBitrateK", 32, 512, 128);
}

int
media_plan_build (const char *spec, size_t spec_len, media_plan_t *plan,
                  pipeline_error_t *error)
{
    memset (plan, 0, sizeof *plan);
    json_error_t json_error;
    json_t *root = spec ? json_loadb (spec, spec_len, 0, &json_error) : NULL;
    if (!json_is_object (root)) {
        json_decref (root);
        pipeline_error_set (error, "InvalidBrief", false,
                            "the job specification is not a JSON object");
        return -EINVAL;
    }
    json_t *brief = json_object_get (root, "brief");
    if (!json_is_object (brief) || !s_get_text (brief, "topic")) {
        json_decref (root);
        pipeline_error_set (error, "InvalidBrief", false,
                            "the brief has no topic (brief.topic is required)");
        return -EINVAL;
    }
    s_read_brief (plan, brief);
    s_read_plan_spec (plan, json_object_get (root, "planSpec"));
    s_read_voice_spec (plan, json_object_get (root, "voiceSpec"));
    const char *aspect = s_get_text (brief, "aspect");
    s_read_render_spec (plan, json_object_get (root, "renderSpec"), aspect);
    json_decref (root);

    static const double seconds_per_scene[] = { 20.0, 12.0, 8.0 };
    int scenes = (int) ceil (plan->target_duration_s
                             / seconds_per_scene[plan->density] - 1e-9);
    if (scenes < PLAN_MIN_SCENES)
        scenes = PLAN_MIN_SCENES;
    if (scenes > MEDIA_MAX_SCENES)
        scenes = MEDIA_MAX_SCENES;
    plan->scene_count = scenes;
    s_build_scenes (plan);
    return 0;
}

/* ------------------------------------------------------------------ */
/*  The step                                                           */

int
media_step_plan (const pipeline_input_t *input, pipeline_output_t *output,
                 pipeline_progress_fn progress, void *progress_ctx,
                 pipeline_error_t *error)
{
    media_plan_t *plan = NULL;
    char path[4096];
    int rc;
    if (!input->artifact_dir || !input->artifact_dir[0]) {
        pipeline_error_set (error, "PlanFailed", false,
                            "the job has no artifact directory");
        return -EINVAL;
    }
    if ((rc = media_path (path, sizeof path, input->artifact_dir, "plan.json")) < 0) {
        pipeline_error_set (error, "PlanFailed", false,
                            "the artifact directory's path is too long");
        return rc;
    }
    if (progress (progress_ctx, STEP_PLAN, 0.0, "Planning scenes", -1) != 0)
        return -ECANCELED;

    plan = malloc (sizeof *plan);
    if (!plan) {
        pipeline_error_set (error, "PlanFailed", true, "out of memory");
        return -ENOMEM;
    }
    /* a plan.json from an earlier attempt is whole (it was renamed into
       place), and is kept when it still reads back */
    pipeline_error_t load_error;
    bool reused = media_file_exists (path)
                  && media_plan_load (path, plan, &load_error) == 0;
    if (!reused) {
        rc = media_plan_build (input->spec, input->spec_len, plan, error);
        if (rc < 0)
            goto cleanup;
        if (progress (progress_ctx, STEP_PLAN, 0.5, "Writing plan.json", 0) != 0) {
            rc = -ECANCELED;
            goto cleanup;
        }
        rc = media_plan_save (plan, path);
        if (rc < 0) {
            pipeline_error_set (error, rc == -ENOSPC ? "DiskFull" : "PlanFailed",
                                true, "cannot write %s: %s", path, strerror (-rc));
            goto cleanup;
        }
    }
    struct stat st;
    if (stat (path, &st) != 0) {
        rc = -errno;
        pipeline_error_set (error, "PlanFailed", true, "cannot stat %s: %s", path,
                            strerror (errno));
        goto cleanup;
    }
    if (pipeline_output_add_artifact (output, "plan.json", "plan.json",
                                      "application/json", (int64_t) st.st_size) < 0)
        pipeline_warn (input, "ArtifactListFull",
                       "plan.json was not listed: the artifact list is full");

    char message[PIPELINE_MESSAGE_SIZE];
    snprintf (message, sizeof message, "%s %d scenes, %.0f s at %d words a minute",
              reused ? "Reusing the plan:" : "Planned", plan->scene_count,
              plan->target_duration_s, plan->words_per_minute);
    if (progress (progress_ctx, STEP_PLAN, 1.0, message, 0) != 0) {
        rc = -ECANCELED;
        goto cleanup;
    }
    rc = 0;

cleanup:
    /* a cancel after plan.json was written leaves it: it is whole, and the
       next attempt reuses it */
    free (plan);
    return rc;
}
