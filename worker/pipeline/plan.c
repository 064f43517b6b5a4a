/*  plan — the offline planner: turns a job's request into media_plan_t
    (every setting normalized, defaults filled in) and writes the scenes of
    a plain explainer — a hook, why it matters, what it is, how it works,
    an example, pitfalls and tips, a recap with a next step — from sentence
    tables that name the brief's topic, audience and goal and change their
    wording with its tone. Choices among phrasings come from a hash of the
    brief, so the same brief always gives the same plan; each scene's
    narration is fitted to its word budget by choosing which sentences to
    say and in how many words, never by padding. */
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
/*  Slide text, in characters: the title slide shows the topic as given up
    to PLAN_TITLE_CHARS; every other heading is at most PLAN_HEADING_CHARS,
    a bullet at most PLAN_BULLET_CHARS. */
#define PLAN_TITLE_CHARS 80
#define PLAN_HEADING_CHARS 40
#define PLAN_BULLET_CHARS 60
/*  A topic longer than this many bytes is spoken in a shorter form, cut at
    a phrase or word boundary, so one sentence does not carry a paragraph. */
#define PLAN_SPOKEN_TOPIC_BYTES 64
/*  A topic with a "word" longer than this (the longest English words have
    about 45 letters) is called "this topic" instead. */
#define PLAN_SPOKEN_WORD_BYTES 60
/*  A narration within PLAN_FIT_WORDS plus PLAN_FIT_SHARE of its budget
    (at most PLAN_FIT_MAX_WORDS) fits: among those, wording decides; beyond,
    every word off costs more than any choice of wording. */
#define PLAN_FIT_WORDS 1.0
#define PLAN_FIT_SHARE 0.05
#define PLAN_FIT_MAX_WORDS 3.0
#define PLAN_FIT_WEIGHT 1000.0
/*  What a scene that never names its topic costs: a choice that names it
    is preferred when the budget allows. */
#define PLAN_UNNAMED_COST 4
/*  The most words a scene's narration is planned for (the longest budget,
    30 s at 190 words a minute, is 95). */
#define PLAN_MAX_SCENE_WORDS 160
/*  A sentence after substitution: the longest template plus the longest
    topic, audience and goal. */
#define PLAN_SENTENCE_SIZE 1024
/*  Sentences one plan may hold: 20 scenes of at most PLAN_MAX_GROUPS. */
#define PLAN_MAX_SENTENCES (MEDIA_MAX_SCENES * 24)

/* ------------------------------------------------------------------ */
/*  Sentence tables                                                    */

/*  Placeholders in the tables:
      {T}  the topic as it reads after "about" — a name ("Kubernetes
           autoscaling"), a clause ("how bees dance"), or "the answer"
           for a question that has no simple such form.
           The first {T} of a scene names the topic; later ones say "it"
           (or "them" for a plural), so a scene never repeats a long name.
           Templates put {T} only where that pronoun reads well.
      {Q}  the topic as the question it was asked as ("Why is the sky
           blue?"); only in the openings for question topics.
      {A}  the audience, where "for {A}" or "{A} will" reads well whether
           it is one person or many.
      {G}  the goal as a verb phrase ("decide when to use HPA vs VPA").
      {t}  the topic where only a name reads well ("compare {t} with …"):
           a clause or a question is "it" there.
    Every expanded sentence starts with a capital letter and ends with a
    full stop, question or exclamation mark. Contractions in templates are
    spelled out for the formal tone. */

typedef enum {
    TONE_FRIENDLY,
    TONE_DIRECT,
    TONE_FORMAL,
    TONE_PLAYFUL,
    TONE_COUNT
} s_tone_t;

/*  One thing a scene can say: the full sentence, a shorter telling of the
    same point (used to fit the word budget), and the slide's bullet that
    sums it up. */
typedef struct {
    const char *bullet;
    const char *full;
    const char *brief;
} s_point_t;

#define ROLE_LEADS 2
#define ROLE_POINTS 9
#define ROLE_HEADINGS 3

/*  One kind of scene. */
typedef struct {
    const char *summary;                      /* "how it works": the intro's
                                                 preview, the recap's list */
    const char *topic_heading;                /* with {T}; for topics that are
                                                 names, when short enough */
    const char *headings[ROLE_HEADINGS];
    const char *leads[TONE_COUNT][ROLE_LEADS];/* the scene's first sentence */
    const char *tiny;                         /* the shortest first sentence,
                                                 for the smallest budgets */
    s_point_t points[ROLE_POINTS];            /* .full NULL ends the list */
    bool ordered;                             /* points read as steps: the
                                                 earlier ones come first */
} s_role_t;

/*  The middle scenes, in the order they appear in a video. */
typedef enum {
    ROLE_WHY,
    ROLE_CONTEXT,
    ROLE_WHAT,
    ROLE_TERMS,
    ROLE_HOW,
    ROLE_STEPS,
    ROLE_DETAIL,
    ROLE_EXAMPLE,
    ROLE_EXAMPLE2,
    ROLE_EVERYDAY,
    ROLE_COMPARE,
    ROLE_PITFALLS,
    ROLE_LIMITS,
    ROLE_TIPS,
    ROLE_APPLY,
    ROLE_TRY,
    ROLE_QUESTIONS,
    ROLE_FUTURE,
    ROLE_COUNT
} s_role_id_t;

/*  Which middle scenes a plan gets first when it has few of them: the
    spine of an explainer, then what deepens it. */
static const s_role_id_t s_role_priority[ROLE_COUNT] = {
    ROLE_WHAT,     ROLE_HOW,     ROLE_WHY,     ROLE_EXAMPLE, ROLE_PITFALLS,
    ROLE_TIPS,     ROLE_STEPS,   ROLE_TERMS,   ROLE_APPLY,   ROLE_EVERYDAY,
    ROLE_COMPARE,  ROLE_DETAIL,  ROLE_EXAMPLE2, ROLE_LIMITS, ROLE_CONTEXT,
    ROLE_TRY,      ROLE_QUESTIONS, ROLE_FUTURE,
};

static const s_role_t s_roles[ROLE_COUNT] = {
    [ROLE_WHY] = {
        .summary = "why it matters",
        .topic_heading = "Why care about {T}?",
        .headings = { "Why it matters", "Why should you care?", "What's at stake" },
        .leads = {
            [TONE_FRIENDLY] = { "So why should {A} care about {T}?",
                                "First, let's see what understanding {T} can do for you." },
            [TONE_DIRECT] = { "Start with the payoff of understanding {T}.",
                              "Why this matters: it changes the decisions you make." },
            [TONE_FORMAL] = { "First, it is worth establishing why an understanding of {T} matters.",
                              "Consider first what is gained by understanding {T}." },
            [TONE_PLAYFUL] = { "Why care about {T}? Because it's secretly everywhere!",
                               "Here's the juicy part: what's in it for you." },
        },
        .tiny = "Why does it matter?",
        .points = {
            { "Guesswork becomes reasons",
              "Understanding {T} turns guesswork into decisions you can explain.",
              "It turns guesswork into reasons." },
            { "The foundation for your goal",
              "If your aim is to {G}, this is the foundation you need.",
              "Your goal depends on it." },
            { "Fewer costly surprises",
              "People who skip the basics tend to meet the same surprises again and again.",
              "Skipping the basics costs more later." },
            { "Harder to mislead",
              "A clear picture also makes it harder for confident but wrong claims to fool you.",
              "Clear ideas resist bad claims." },
            { "It connects to related ideas",
              "What you learn here connects to related ideas, so it pays off more than once.",
              "It connects to other ideas, too." },
            { "A difference you will notice",
              "For {A}, the difference shows up quickly in real situations.",
              "{A} will notice the difference quickly." },
            { "Sharper questions",
              "It also helps you ask sharper questions of anyone explaining {T} to you.",
              "It helps you ask better questions." },
            { "Small effort, lasting payoff",
              "The effort is small, and the payoff lasts much longer than this video.",
              "A small effort pays off for years." },
            { "Useful beyond this topic",
              "The habits of thought you build here are useful well beyond this one subject.",
              "The habits carry over." },
        },
    },
    [ROLE_CONTEXT] = {
        .summary = "where it comes from",
        .topic_heading = "{T}: some background",
        .headings = { "Some background", "Where it comes from", "A bit of context" },
        .leads = {
            [TONE_FRIENDLY] = { "A little context helps here.",
                                "It helps to know where all this came from." },
            [TONE_DIRECT] = { "Some context on {T}, briefly.",
                              "Background first, because it explains the present." },
            [TONE_FORMAL] = { "Some historical context is instructive.",
                              "It is useful to consider how today's understanding of {T} came about." },
            [TONE_PLAYFUL] = { "Quick trip back in time!",
                               "Every idea has an origin story, including {T}." },
        },
        .tiny = "Some quick context.",
        .points = {
            { "Born from a practical problem",
              "Most of what we know about {T} started as an answer to a practical problem.",
              "It started with a practical problem." },
            { "Someone kept asking why",
              "Someone noticed a pattern, asked why, and kept asking.",
              "Someone kept asking why." },
            { "Refined over time",
              "Early explanations were rough, and each correction made the picture a little clearer.",
              "Early versions were rough." },
            { "History explains today",
              "Knowing that history explains why things are done the way they are today.",
              "History explains today's habits." },
            { "It grew a piece at a time",
              "None of it appeared all at once; understanding grew a piece at a time.",
              "It grew a piece at a time." },
            { "Old habits linger",
              "Some old habits linger, which is why older advice can still be confusing.",
              "Old habits still linger." },
            { "Context makes the present clear",
              "With that context, the current picture of {T} makes a lot more sense.",
              "Context makes the present clearer." },
            { "Each answer raised new questions",
              "Every answer people found raised a new question, and that is how understanding moved forward.",
              "Each answer raised new questions." },
            { "Today's view is a snapshot",
              "Even today's picture of {T} is a snapshot, not the final word.",
              "Today's view is still a snapshot." },
        },
    },
    [ROLE_WHAT] = {
        .summary = "what it is",
        .topic_heading = "{T} in one sentence",
        .headings = { "What it is", "The core idea", "The big picture" },
        .leads = {
            [TONE_FRIENDLY] = { "Let's start with the core idea behind {T}.",
                                "So what's really going on with {T}? Let's keep it simple." },
            [TONE_DIRECT] = { "Here's the core idea of {T}, in one breath.",
                              "The core of {T} is smaller than it looks." },
            [TONE_FORMAL] = { "We begin with a working definition of {T}.",
                              "The central idea of {T} can be stated briefly." },
            [TONE_PLAYFUL] = { "Drumroll, please: the big idea behind {T}!",
                               "Let's peel back the wrapper on {T}." },
        },
        .tiny = "First, the core idea.",
        .points = {
            { "A few parts, one result",
              "At heart, the story of {T} is a few parts working together toward one result.",
              "It comes down to a few parts and one result." },
            { "Picture first, details later",
              "It helps to picture the main pieces first and leave the details for later.",
              "Picture the main pieces first." },
            { "Jargon hides a simple idea",
              "Strip away the jargon and the central idea is surprisingly small.",
              "Without the jargon, the idea is small." },
            { "Say it in one sentence",
              "A good test is whether you can say it in one sentence of your own.",
              "Try saying it in one sentence." },
            { "Complexity lives in the details",
              "Most of the apparent complexity comes from details, not from the idea itself.",
              "The complexity is in the details." },
            { "Everything else builds on this",
              "Everything else in this video builds on this one foundation.",
              "The rest builds on this." },
            { "A sketch before a blueprint",
              "For {A}, a rough sketch is far more useful right now than a precise blueprint.",
              "For {A}, a sketch beats a blueprint." },
            { "Know where it ends",
              "It also helps to know where the edges of {T} lie, to keep neighbouring ideas apart.",
              "Know where its edges lie." },
            { "Start from what you know",
              "The quickest way in is to connect it to something you already understand well.",
              "Connect it to what you know." },
        },
    },
    [ROLE_TERMS] = {
        .summary = "the key terms",
        .topic_heading = "{T}: key terms",
        .headings = { "Key terms", "Words worth knowing", "The vocabulary" },
        .leads = {
            [TONE_FRIENDLY] = { "A few words come up again and again, so let's pin them down.",
                                "Before going further, let's share a small vocabulary." },
            [TONE_DIRECT] = { "You'll hear a few terms repeatedly. Here's how to handle them.",
                              "Quick vocabulary check on {T}." },
            [TONE_FORMAL] = { "Several terms recur in any discussion of {T}.",
                              "A shared vocabulary will make the remainder clearer." },
            [TONE_PLAYFUL] = { "Vocabulary time, but the painless kind!",
                               "Let's decode the secret language of {T}." },
        },
        .tiny = "A few key words.",
        .points = {
            { "Most terms label familiar ideas",
              "Most of the terms around {T} are just labels for ideas you already know.",
              "Most terms label familiar ideas." },
            { "Swap jargon for everyday words",
              "When a new word appears, try swapping it for a short everyday phrase.",
              "Swap jargon for plain words." },
            { "Same word, different meaning",
              "Some words mean something slightly different here than in daily life, which causes real confusion.",
              "Some words change meaning here." },
            { "No need to memorize",
              "There's no need to memorize them all at once; they stick with use.",
              "No need to memorize them." },
            { "Shared words, sharper questions",
              "Shared words make it much easier to ask precise questions.",
              "Shared words sharpen questions." },
            { "Keep a glossary in your words",
              "A short glossary written in your own words is one of the handiest tools you can have.",
              "Keep a glossary in your own words." },
            { "Explain each term plainly",
              "A term is only really yours when you can explain it without more jargon.",
              "Own a term by explaining it plainly." },
            { "Labels make reading easier",
              "Once the labels are familiar, articles and conversations about {T} become far easier to follow.",
              "Labels make reading easier." },
            { "Asking is a sign of care",
              "If a word is unclear, asking what it means is a sign of care, not ignorance.",
              "Asking is a sign of care." },
        },
    },
    [ROLE_HOW] = {
        .summary = "how it works",
        .topic_heading = "{T} under the hood",
        .headings = { "How it works", "Under the hood", "The mechanism" },
        .leads = {
            [TONE_FRIENDLY] = { "Now for how it works, one step at a time.",
                                "So how does it actually work? Let's follow the chain." },
            [TONE_DIRECT] = { "Here's the mechanism behind {T}, in order.",
                              "How it works comes down to a chain of cause and effect." },
            [TONE_FORMAL] = { "We now turn to the mechanism behind {T}.",
                              "The underlying mechanism can be described as a sequence of stages." },
            [TONE_PLAYFUL] = { "Time to pop the hood on {T}!",
                               "Let's follow the domino chain behind {T}!" },
        },
        .tiny = "Here's how it works.",
        .points = {
            { "Something sets it in motion",
              "Something sets the process in motion, and each stage hands its result to the next.",
              "A trigger starts it, and each stage feeds the next." },
            { "Inputs in, outcome out",
              "Inputs go in, something transforms them, and an outcome comes out the other side.",
              "Inputs go in and an outcome comes out." },
            { "Change one link, change the result",
              "If one link in the chain changes, the result changes too, often more than you'd expect.",
              "Change one link and the result changes." },
            { "The middle does the real work",
              "Most of the real work happens in the middle, where the inputs are transformed.",
              "The middle does most of the work." },
            { "No magic, just cause and effect",
              "There's no magic involved, just one step reliably following another.",
              "No magic, just cause and effect." },
            { "Follow the chain to explain it",
              "When part of {T} seems puzzling, following the chain link by link usually explains it.",
              "Follow the chain to explain it." },
            { "Outcomes can feed back",
              "Often the outcome feeds back into the start, which either keeps the process going or slows it down.",
              "Outcomes can feed back into the start." },
            { "Order and timing matter",
              "Timing matters as well: the same steps in a different order can give a different result.",
              "Order and timing matter." },
            { "Each part has one job",
              "Each part has one job, and the whole works because every job gets done.",
              "Each part has one job." },
        },
    },
    [ROLE_STEPS] = {
        .summary = "the steps in order",
        .topic_heading = "{T}, step by step",
        .headings = { "Step by step", "The sequence", "One step at a time" },
        .leads = {
            [TONE_FRIENDLY] = { "Let's slow down and walk through it in order.",
                                "Taking it step by step makes the pattern easier to see." },
            [TONE_DIRECT] = { "Here's the sequence behind {T}.",
                              "The steps, in order." },
            [TONE_FORMAL] = { "The process may be divided into distinct stages.",
                              "Let us examine the sequence in order." },
            [TONE_PLAYFUL] = { "Step by step, like a recipe!",
                               "Let's play it back in slow motion." },
        },
        .tiny = "Now, step by step.",
        .points = {
            { "First: set up the conditions",
              "First, the conditions are set up, and nothing else can happen without them.",
              "First, the conditions are set up." },
            { "Then: the main change",
              "Next comes the main change, usually the part that takes the most time or effort.",
              "Next comes the main change." },
            { "Finally: the visible result",
              "Finally, the result appears, and it's the part most people actually notice.",
              "Finally, the result appears." },
            { "Skip a step and it breaks",
              "Skipping a step usually breaks the outcome in a way you can see.",
              "Skip a step and it breaks." },
            { "Order matters more than speed",
              "Doing the steps out of order tends to fail as well, so order matters more than speed.",
              "Order matters more than speed." },
            { "Say the steps out loud",
              "Saying the steps out loud once or twice is a surprisingly good way to remember them.",
              "Say the steps out loud once." },
            { "Practice makes it automatic",
              "With a little practice, the whole sequence becomes second nature.",
              "Practice makes it automatic." },
            { "Check each step as you go",
              "Checking each step before moving on is slower at first but saves time overall.",
              "Check each step as you go." },
            { "The pattern repeats at scale",
              "The same sequence often repeats at larger scales, so learning it once pays off many times.",
              "The pattern repeats at larger scales." },
        },
        .ordered = true,
    },
    [ROLE_DETAIL] = {
        .summary = "the detail that matters most",
        .topic_heading = "{T} up close",
        .headings = { "A closer look", "Zooming in", "The details that matter" },
        .leads = {
            [TONE_FRIENDLY] = { "Let's zoom in on the part that does most of the work.",
                                "Now a closer look at the detail that matters most." },
            [TONE_DIRECT] = { "One detail of {T} deserves your attention.",
                              "Zoom in on the critical part." },
            [TONE_FORMAL] = { "One element merits closer examination.",
                              "We now examine the most consequential detail of {T}." },
            [TONE_PLAYFUL] = { "Magnifying glass out!",
                               "Zoom, zoom, zoom: let's get up close with {T}." },
        },
        .tiny = "Now, a closer look.",
        .points = {
            { "Small details, big effects",
              "Small details here can have surprisingly large effects.",
              "Small details have big effects." },
            { "Where the good questions live",
              "This is where most of the interesting questions about {T} live.",
              "The good questions live here." },
            { "Conditions change outcomes",
              "A slight change in conditions can change the whole outcome.",
              "Conditions change outcomes." },
            { "Experts watch this part",
              "Because small changes matter, experts spend most of their attention on this part.",
              "Experts watch this part closely." },
            { "Depth, not contradiction",
              "Nothing here contradicts the big idea; it simply adds depth.",
              "It adds depth, not contradiction." },
            { "Start here to go deeper",
              "If you ever want to go deeper into {T}, this is the place to start.",
              "Go deeper from here." },
            { "Patience here pays off",
              "A little patience with this part makes everything after it straightforward.",
              "Patience here pays off." },
            { "Measure instead of guessing",
              "Measuring this part carefully, instead of guessing, is what separates a hunch from an explanation.",
              "Measure it instead of guessing." },
            { "Most surprises start here",
              "When results surprise people, the cause usually turns out to be hiding in this detail.",
              "Most surprises start here." },
        },
    },
    [ROLE_EXAMPLE] = {
        .summary = "a worked example",
        .topic_heading = "{T} in action",
        .headings = { "An example", "Seeing it in action", "A concrete case" },
        .leads = {
            [TONE_FRIENDLY] = { "An example makes {t} concrete.",
                                "Let's see it in action with a simple case." },
            [TONE_DIRECT] = { "Here's a concrete case of {t}.",
                              "An example, quickly." },
            [TONE_FORMAL] = { "A concrete example will illustrate {T}.",
                              "Consider a specific case." },
            [TONE_PLAYFUL] = { "Story time!",
                               "Let's spot {t} in the wild!" },
        },
        .tiny = "Here's an example.",
        .points = {
            { "Start from a familiar situation",
              "Picture an everyday situation that's familiar to {A}.",
              "Picture a situation familiar to {A}." },
            { "Then one thing shifts",
              "At first everything looks ordinary; then one thing shifts, and the effects spread.",
              "Then one thing shifts." },
            { "Start, change, result",
              "Notice the starting point, the change, and the final result.",
              "Spot the start, the change and the result." },
            { "Same pattern, different details",
              "The same pattern shows up every time; only the details differ.",
              "Only the details differ." },
            { "Cases beat definitions",
              "A concrete case like this is easier to remember than any definition of {T}.",
              "Cases stick better than definitions." },
            { "Retell it in your own words",
              "Try retelling the example in your own words; if you can, you've understood more than you think.",
              "Retell it in your own words." },
            { "You'll spot it elsewhere",
              "Once you spot the pattern here, you'll start noticing it elsewhere.",
              "You'll start noticing it elsewhere." },
            { "Keep it in mind for your goal",
              "Keep this example in mind when you set out to {G}.",
              "Keep this case in mind." },
            { "What would change the outcome?",
              "Ask yourself what would have to change for the example to turn out differently.",
              "What would change the outcome?" },
        },
    },
    [ROLE_EXAMPLE2] = {
        .summary = "a second example",
        .topic_heading = "{T}: one more case",
        .headings = { "Another example", "One more case", "A different angle" },
        .leads = {
            [TONE_FRIENDLY] = { "Here's a second example from a different setting.",
                                "One more case, to show the pattern isn't a fluke." },
            [TONE_DIRECT] = { "Second example, different setting.",
                              "Same idea, new setting." },
            [TONE_FORMAL] = { "A second example, from a different context, confirms the pattern.",
                              "Consider a further case." },
            [TONE_PLAYFUL] = { "Encore! One more example.",
                               "Plot twist: same idea, totally different setting." },
        },
        .tiny = "One more example.",
        .points = {
            { "A different setting, same steps",
              "The setting is different, but the underlying steps are the same.",
              "The steps stay the same." },
            { "Essential versus incidental",
              "Comparing two cases shows which parts of {T} are essential and which are incidental.",
              "Two cases separate essentials from extras." },
            { "What stays the same is the lesson",
              "Whatever stays the same across both is the part worth remembering.",
              "Remember what stays the same." },
            { "Twice is convincing",
              "Seeing a pattern twice is far more convincing than seeing it once.",
              "Twice beats once." },
            { "Find a third of your own",
              "A third example of your own is what makes the idea stick for good.",
              "Find a third example yourself." },
            { "Ideas grow case by case",
              "General ideas are built exactly like this, one case at a time.",
              "Ideas grow case by case." },
            { "Find the shared starting point",
              "Look for the starting point both examples share, even though they look unrelated at first glance.",
              "Find the shared starting point." },
            { "Details change the look, not the story",
              "The details are like costumes: they change the look, not the story underneath.",
              "Details change the look, not the story." },
            { "Examples from experience",
              "For {A}, the most convincing examples come from their own experience.",
              "Choose examples from experience." },
        },
    },
    [ROLE_EVERYDAY] = {
        .summary = "where you meet it",
        .topic_heading = "{T} in everyday life",
        .headings = { "Where you see it", "In everyday life", "All around you" },
        .leads = {
            [TONE_FRIENDLY] = { "You've probably met {t} already without noticing.",
                                "It shows up in everyday life more than you might think." },
            [TONE_DIRECT] = { "Where you'll run into {t}.",
                              "You see this more often than you think." },
            [TONE_FORMAL] = { "Its effects are more common than is generally assumed.",
                              "Consider how often ordinary life depends on {T}." },
            [TONE_PLAYFUL] = { "Spot-the-idea game: it's hiding everywhere!",
                               "Look around; it's sneakier than you think." },
        },
        .tiny = "You see it everywhere.",
        .points = {
            { "Hard to miss once you know it",
              "Once you know what to look for, it becomes hard to miss.",
              "Soon it's hard to miss." },
            { "Behind familiar things",
              "It sits behind familiar things that most people never think about.",
              "It hides behind familiar things." },
            { "At home, at work, in the news",
              "It turns up at home, at work and in the news.",
              "It's in the news, too." },
            { "A check on your understanding",
              "Spotting it in the wild is a good check on your understanding.",
              "Spotting it tests your understanding." },
            { "Find one example this week",
              "Try to find one example of your own this week.",
              "Find one this week." },
            { "Lessons become habits",
              "Noticing it in daily life turns a lesson into a habit.",
              "Noticing turns lessons into habits." },
            { "Start close to home",
              "For {A}, the most useful examples are the ones closest to home.",
              "Start with examples close to home." },
            { "Ordinary words can hide it",
              "Everyday language often hides it behind ordinary words, which is why people overlook it.",
              "Ordinary words can hide it." },
            { "Point it out to someone",
              "Pointing it out to someone else the next time you see it is a great way to remember it.",
              "Point it out to someone else." },
        },
    },
    [ROLE_COMPARE] = {
        .summary = "how it compares",
        .topic_heading = "{T}, compared",
        .headings = { "How it compares", "Similar, but different", "Side by side" },
        .leads = {
            [TONE_FRIENDLY] = { "It helps to compare {t} with something similar.",
                                "Side by side with a related idea, the differences stand out." },
            [TONE_DIRECT] = { "Compare {t} with the alternatives.",
                              "Here's how it stacks up." },
            [TONE_FORMAL] = { "A comparison with related approaches is instructive.",
                              "It is useful to contrast {t} with the alternatives." },
            [TONE_PLAYFUL] = { "Let's put {t} in the ring with a rival!",
                               "Compare-and-contrast time, minus the homework." },
        },
        .tiny = "Now, a comparison.",
        .points = {
            { "Same goal, different routes",
              "Related ideas often share a goal but take different routes to it.",
              "Related ideas take different routes." },
            { "When each one fits",
              "The differences tell you when each one is the right fit.",
              "The differences show which one fits." },
            { "What each one gives up",
              "Ask what each approach gains and what it gives up.",
              "Ask what each one gives up." },
            { "No single best option",
              "No single approach is best in every situation.",
              "No option always wins." },
            { "Don't mix them up",
              "A clear comparison stops you confusing {t} with neighbouring ideas.",
              "Comparison prevents mix-ups." },
            { "Faster, safer or simpler",
              "One option may be faster, another more reliable, another simpler.",
              "Speed, safety and simplicity trade off." },
            { "Fair to both sides",
              "A good comparison is fair to both sides.",
              "Be fair to both sides." },
            { "Compare against your goal",
              "If you need to {G}, compare the options against that aim.",
              "Compare against your aim." },
            { "Look past the surface",
              "On the surface, related ideas can look almost identical, so look at how each one actually works.",
              "Look past surface similarities." },
        },
    },
    [ROLE_PITFALLS] = {
        .summary = "the common mistakes",
        .topic_heading = "{T}: common mistakes",
        .headings = { "Common mistakes", "What people get wrong", "Pitfalls to avoid" },
        .leads = {
            [TONE_FRIENDLY] = { "Now, a few traps people fall into.",
                                "Let's clear up some common misunderstandings." },
            [TONE_DIRECT] = { "Avoid these mistakes with {t}.",
                              "Here's what people get wrong." },
            [TONE_FORMAL] = { "Several misconceptions about {T} are widespread.",
                              "It is worth addressing the most common errors." },
            [TONE_PLAYFUL] = { "Welcome to the blooper reel!",
                               "Myth-busting time!" },
        },
        .tiny = "Now, common mistakes.",
        .points = {
            { "Not only for experts",
              "A common myth says you need expert training to understand {T}.",
              "You don't need expert training." },
            { "Jargon exaggerates the difficulty",
              "The jargon makes it sound harder than it really is.",
              "Jargon exaggerates the difficulty." },
            { "Cause versus effect",
              "Another trap is mixing up cause and effect, so ask which came first.",
              "Don't mix up cause and effect." },
            { "Don't skip the basics",
              "Jumping to advanced details before the basics are solid causes most of the confusion.",
              "Don't skip the basics." },
            { "One case isn't a rule",
              "One striking example isn't a rule; look for the pattern across several.",
              "One case isn't a rule." },
            { "Correlation is a clue, not proof",
              "When two things rise together, a third may be driving both.",
              "Correlation is a clue, not proof." },
            { "Beware the too-tidy answer",
              "Be wary of any explanation of {T} that sounds too tidy to be true.",
              "Beware the too-tidy answer." },
            { "Check, don't assume",
              "For {A}, the most common slip is assuming rather than checking.",
              "Check, don't assume." },
            { "Check how recent the advice is",
              "Advice that was true years ago may no longer hold, so check how recent your sources are.",
              "Check how recent your sources are." },
        },
    },
    [ROLE_LIMITS] = {
        .summary = "its limits",
        .topic_heading = "{T}: the trade-offs",
        .headings = { "Limits and trade-offs", "Where it falls short", "The fine print" },
        .leads = {
            [TONE_FRIENDLY] = { "No idea is perfect, and this one has limits too.",
                                "Let's be honest about the trade-offs." },
            [TONE_DIRECT] = { "Know the limits of {T}.",
                              "Benefits come with costs. Here they are." },
            [TONE_FORMAL] = { "Every approach has limits, and this one is no exception.",
                              "The limitations of {T} deserve equal attention." },
            [TONE_PLAYFUL] = { "Fine print time: the small letters matter!",
                               "Even superheroes have weaknesses." },
        },
        .tiny = "Now, the limits.",
        .points = {
            { "Works under usual conditions",
              "It works well under the usual conditions, but not in every case.",
              "Edge cases are different." },
            { "The picture bends at the edges",
              "At the edges, where conditions are unusual, the simple picture starts to bend.",
              "At the edges, the picture bends." },
            { "Every benefit has a cost",
              "Every benefit costs something elsewhere, whether time, money or simplicity.",
              "Every benefit has a cost." },
            { "Know when not to use it",
              "Good judgment means knowing when to use it and when not to.",
              "Know when not to use it." },
            { "Trade-offs always exist",
              "Be wary of anyone who says there are no trade-offs.",
              "Trade-offs always exist." },
            { "Limits give it shape",
              "Limits aren't failures; they're the shape of the idea.",
              "Limits give the idea its shape." },
            { "Weigh limits against needs",
              "When you set out to {G}, weigh these limits against what you need.",
              "Weigh limits against needs." },
            { "Simple models leave things out",
              "Every simple explanation of {T} leaves something out; that is what makes it simple.",
              "Simple models leave things out." },
            { "Context decides",
              "Whether it is the right tool depends on the context, not on the idea alone.",
              "Context decides whether it fits." },
        },
    },
    [ROLE_TIPS] = {
        .summary = "practical tips",
        .topic_heading = "{T}: practical tips",
        .headings = { "Practical tips", "Making it useful", "Tips to remember" },
        .leads = {
            [TONE_FRIENDLY] = { "Here are a few practical tips.",
                                "Some simple habits make {t} easier to remember." },
            [TONE_DIRECT] = { "Practical advice on {T}.",
                              "Do this." },
            [TONE_FORMAL] = { "Several practical recommendations follow.",
                              "The following practices are recommended." },
            [TONE_PLAYFUL] = { "Pro tips incoming!",
                               "Cheat codes, but the legal kind!" },
        },
        .tiny = "A few quick tips.",
        .points = {
            { "Start small, then check",
              "Start small and check the result before going further.",
              "Start small, then check." },
            { "Write it in your own words",
              "Write down the main steps in your own words.",
              "Write it in your own words." },
            { "Sketch the connections",
              "A quick sketch often shows connections that words hide.",
              "Sketch the connections." },
            { "Surprised? Back to basics",
              "When something surprises you, go back to the basic idea.",
              "Surprised? Back to basics." },
            { "Explain it to a friend",
              "Explaining {T} to a friend is one of the best ways to learn it.",
              "Explain it to a friend." },
            { "Revisit it in a few days",
              "Revisit it after a few days; it will feel easier the second time.",
              "Revisit it in a few days." },
            { "Practise little and often",
              "Short, regular practice beats one long session.",
              "Practise little and often." },
            { "Tie it to what you know",
              "For {A}, the best tip is to tie each new idea to something already familiar.",
              "Tie new ideas to familiar ones." },
            { "End with one open question",
              "End each session by writing down one question you still have.",
              "End with one open question." },
        },
    },
    [ROLE_APPLY] = {
        .summary = "how to put it to work",
        .topic_heading = "Putting {T} to work",
        .headings = { "Putting it to work", "From idea to action", "Using it" },
        .leads = {
            [TONE_FRIENDLY] = { "So how do you actually use {t}?",
                                "Let's turn understanding into action." },
            [TONE_DIRECT] = { "Apply {t} like this.",
                              "Now use it." },
            [TONE_FORMAL] = { "The practical application follows directly.",
                              "We now consider how to apply {t}." },
            [TONE_PLAYFUL] = { "Knowledge unlocked: time to use it!",
                               "Let's take {t} for a spin!" },
        },
        .tiny = "Now, put it to work.",
        .points = {
            { "Begin with your goal",
              "Begin with the goal: you want to {G}.",
              "Begin with your goal." },
            { "Ask what's really needed",
              "Ask what the situation actually needs before reaching for a solution.",
              "Ask what's really needed." },
            { "Try a small case first",
              "Try the idea on a small, low-stakes case first.",
              "Try a small case first." },
            { "Check and adjust",
              "Check the result honestly, and adjust if it's not what you expected.",
              "Check and adjust." },
            { "Note what worked",
              "Keep notes on what worked, so the next decision is quicker.",
              "Note what worked." },
            { "Get a second opinion",
              "Asking someone else to review your reasoning catches mistakes early.",
              "Get a second opinion." },
            { "Confidence builds step by step",
              "Each small success makes the next decision about {T} easier.",
              "Confidence builds step by step." },
            { "Decide what success looks like",
              "Before you start, decide what a good result would look like, so you can tell when you have one.",
              "Decide what success looks like." },
            { "Start with the simplest version",
              "Start with the simplest version that could work, and add detail only when it earns its place.",
              "Start with the simplest version." },
        },
    },
    [ROLE_TRY] = {
        .summary = "a quick exercise",
        .topic_heading = "Your turn: {T}",
        .headings = { "Try it yourself", "Your turn", "A quick exercise" },
        .leads = {
            [TONE_FRIENDLY] = { "Now it's your turn.",
                                "Here's a quick exercise to try." },
            [TONE_DIRECT] = { "Exercise: five minutes on {T}.",
                              "Try this exercise now." },
            [TONE_FORMAL] = { "A brief exercise will consolidate this material.",
                              "The following exercise is suggested." },
            [TONE_PLAYFUL] = { "Homework, but fun, I promise!",
                               "Challenge time!" },
        },
        .tiny = "Now, your turn.",
        .points = {
            { "Five minutes is enough",
              "It takes five minutes, and it's worth more than an hour of passive watching.",
              "It only takes five minutes." },
            { "Describe it in three sentences",
              "Pause the video and describe {T} in three sentences.",
              "Describe it in three sentences." },
            { "Sketch it with arrows",
              "Then sketch it on paper, with an arrow for each cause and its effect.",
              "Sketch it with arrows." },
            { "Find where it applies",
              "Think of one situation where it applies.",
              "Find where it applies." },
            { "Check: start, change, result",
              "Check that your description covers the start, the change and the result.",
              "Check the start, change and result." },
            { "Explain it without notes",
              "Next, explain it to someone else without notes.",
              "Explain it without notes." },
            { "Hesitation shows the gaps",
              "Notice where you hesitate; that's where to look again.",
              "Hesitation shows the gaps." },
            { "Fix what's missing",
              "Compare your sketch with what you heard in this video, and fix anything that's missing.",
              "Fix what's missing." },
            { "Write down one open question",
              "Finally, write down one question this video didn't answer.",
              "Write down one open question." },
        },
        .ordered = true,
    },
    [ROLE_QUESTIONS] = {
        .summary = "questions worth asking",
        .topic_heading = "Questions about {T}",
        .headings = { "Questions worth asking", "Going further", "Digging deeper" },
        .leads = {
            [TONE_FRIENDLY] = { "Good questions take you further than memorized facts.",
                                "Here are some questions worth asking as you go further." },
            [TONE_DIRECT] = { "Ask these questions about {T}.",
                              "Questions to test your understanding." },
            [TONE_FORMAL] = { "Several questions merit further inquiry.",
                              "The following questions extend the discussion of {T}." },
            [TONE_PLAYFUL] = { "Curiosity mode: on!",
                               "Time to ask the pesky questions about {T}!" },
        },
        .tiny = "A few questions.",
        .points = {
            { "What if a part were missing?",
              "What would happen if one part were missing, and how would you notice?",
              "What if a part were missing?" },
            { "What stays the same?",
              "What stays the same when the details change, and what does that tell you?",
              "What never changes?" },
            { "Who benefits, who pays?",
              "Who benefits, who bears the cost, and would they describe it the same way?",
              "Who pays the cost?" },
            { "How would you spot an error?",
              "How would you know if an explanation of {T} were wrong?",
              "How would you spot an error?" },
            { "What would an expert check?",
              "What would an expert check first, and why that before anything else?",
              "What do experts check first?" },
            { "Where does it break?",
              "Where does the simple picture stop working, and what takes over there?",
              "Where does it break?" },
            { "Questions beat quick answers",
              "Good questions are often worth more than quick answers.",
              "Questions beat quick answers." },
            { "Who would disagree?",
              "Who would disagree with this explanation of {T}, and why?",
              "Who would disagree, and why?" },
            { "What would you test first?",
              "If you could run one small experiment, what would you test first?",
              "What would you test first?" },
        },
    },
    [ROLE_FUTURE] = {
        .summary = "what comes next",
        .topic_heading = "What's next for {T}",
        .headings = { "What comes next", "Looking ahead", "Where it's heading" },
        .leads = {
            [TONE_FRIENDLY] = { "Now, a quick look ahead.",
                                "It's also worth asking what the future holds for {T}." },
            [TONE_DIRECT] = { "What's changing around {T}.",
                              "Looking ahead, briefly." },
            [TONE_FORMAL] = { "We now consider likely future developments.",
                              "Thinking about {T} continues to evolve." },
            [TONE_PLAYFUL] = { "Crystal ball time!",
                               "Fast-forward a few years!" },
        },
        .tiny = "A look ahead.",
        .points = {
            { "Details keep evolving",
              "The details keep evolving as people learn more about {T}.",
              "The details keep evolving." },
            { "Fundamentals stay put",
              "The fundamentals tend to stay the same for a long time.",
              "The fundamentals stay put." },
            { "The basics pay off for years",
              "Learning the basics now pays off for years.",
              "The basics pay off for years." },
            { "News will make more sense",
              "News about {T} will make a lot more sense to you from now on.",
              "News will make more sense." },
            { "Some questions remain open",
              "Some open questions will be settled soon, and others will turn out harder than expected.",
              "Some questions remain open." },
            { "You could shape what's next",
              "You might even be part of what comes next.",
              "You could shape what's next." },
            { "Old answers get revisited",
              "Every so often, an answer everyone trusted gets revisited, and the picture improves.",
              "Old answers get revisited." },
            { "Follow one trusted source",
              "Following one trusted source is an easy way to keep up without being overwhelmed.",
              "Follow one trusted source." },
            { "Curiosity keeps it moving",
              "Every field moves forward because curious people keep asking questions.",
              "Curiosity keeps it moving." },
        },
    },
};

/*  The intro: its first sentence names the topic and the audience, in the
    tone's words, and takes a different form for a topic that is a
    question or a welcome ("Welcome to …"). */
typedef enum { INTRO_PLAIN, INTRO_QUESTION, INTRO_WELCOME, INTRO_KINDS } s_intro_kind_t;

static const char *s_intro_leads[INTRO_KINDS][TONE_COUNT][ROLE_LEADS] = {
    [INTRO_PLAIN] = {
        [TONE_FRIENDLY] = { "Hi there! Today we're exploring {T}, explained for {A}.",
                            "Let's talk about {T}, in plain words for {A}." },
        [TONE_DIRECT] = { "This video explains {T} for {A}.",
                          "Here's {T} for {A}, without the fluff." },
        [TONE_FORMAL] = { "This overview introduces {T} for {A}.",
                          "In this presentation, we examine {T} with {A} in mind." },
        [TONE_PLAYFUL] = { "Ready for something fun? Today it's {T}, made for {A}!",
                           "Grab a snack: we're diving into {T}, and it's all for {A}." },
    },
    [INTRO_QUESTION] = {
        [TONE_FRIENDLY] = { "{Q} Let's find out, in plain words for {A}.",
                            "{Q} Good question. Here's a plain answer for {A}." },
        [TONE_DIRECT] = { "{Q} Here's the answer, for {A}.",
                          "{Q} Short answer ahead, for {A}." },
        [TONE_FORMAL] = { "{Q} This overview addresses that question for {A}.",
                          "{Q} We examine the answer with {A} in mind." },
        [TONE_PLAYFUL] = { "{Q} Ooh, great question! Let's crack it open for {A}.",
                           "{Q} Mystery time! Let's solve it for {A}." },
    },
    [INTRO_WELCOME] = {
        [TONE_FRIENDLY] = { "Welcome to {T}! This short tour is made for {A}.",
                            "Hi, and welcome to {T}! Here's a quick tour for {A}." },
        [TONE_DIRECT] = { "Welcome to {T}. Here's what it does, for {A}.",
                          "Welcome to {T}: a quick tour for {A}." },
        [TONE_FORMAL] = { "Welcome to {T}. This overview is intended for {A}.",
                          "Welcome to {T}. The following tour is prepared for {A}." },
        [TONE_PLAYFUL] = { "Welcome to {T}! Buckle up, this tour is for {A}.",
                           "Hello and welcome to {T}! A speedy tour for {A}, coming right up." },
    },
};

static const char *s_intro_tiny[INTRO_KINDS] = {
    [INTRO_PLAIN] = "Let's explore {T}.",
    [INTRO_QUESTION] = "{Q}",
    [INTRO_WELCOME] = "Welcome to {T}!",
};

/*  The intro's points; the goal and the preview of what is coming (built
    from the scenes the plan has) are said first. */
static const s_point_t s_intro_goal = {
    "Goal: {g}", "By the end, you should be able to {G}.", "The goal: {G}."
};

static const s_point_t s_intro_points[] = {
    { "No background needed",
      "You don't need any background to follow along, just a little curiosity.",
      "No background needed." },
    { "One idea at a time",
      "We'll take it one idea at a time and keep the jargon to a minimum.",
      "We'll take it one idea at a time." },
    { "Where people usually get stuck",
      "Along the way, we'll flag the spots where people most often get stuck.",
      "We'll flag the usual sticking points." },
    { "Plain words, concrete examples",
      "Expect plain words and concrete examples rather than abstract definitions.",
      "Expect plain words and examples." },
    { "Short and to the point",
      "It's a short video, so every part earns its place.",
      "Every part is short and focused." },
    { "Pause whenever you like",
      "Feel free to pause whenever something deserves a second thought.",
      "Pause whenever you like." },
    { "For the curious",
      "If you've ever wondered about {T}, you're in the right place.",
      "You're in the right place." },
    { "Questions welcome",
      "Questions are welcome, so keep a note of any that come up.",
      "Note any questions." },
};
#define INTRO_POINTS ((int) (sizeof s_intro_points / sizeof s_intro_points[0]))

/*  The recap: its first sentence recalls the goal, its last one gives a
    next step, both in the tone's words. */
static const char *s_recap_leads[TONE_COUNT][ROLE_LEADS] = {
    [TONE_FRIENDLY] = { "Let's wrap up. You set out to {G}, and now you have the pieces.",
                        "Quick recap: the aim was to {G}." },
    [TONE_DIRECT] = { "Summary. Your goal: {G}.",
                      "Bottom line: you're ready to {G}." },
    [TONE_FORMAL] = { "In summary, this overview set out to help you {G}.",
                      "To conclude, recall the objective: to {G}." },
    [TONE_PLAYFUL] = { "And that's a wrap! The mission: {G}. Status: nailed it.",
                       "Ta-da! You're now ready to {G}." },
};

static const char *s_recap_tiny = "And that's the short version.";

static const s_point_t s_recap_points[] = {
    { "Start from the core idea",
      "Start from the core idea, and the rest follows.",
      "Start from the core idea." },
    { "Keep the big picture in mind",
      "Keep the big picture in mind, and the details will make sense.",
      "Keep the big picture." },
    { "Rewatch anything unclear",
      "If a part was unclear, watch it again; it's short.",
      "Rewatch any unclear part." },
    { "Explain it to someone today",
      "Try explaining {T} to someone today, while it's fresh.",
      "Explain it to someone today." },
    { "A foundation to build on",
      "What you have now is a foundation you can build on.",
      "You have a foundation now." },
    { "Small steps add up",
      "Small steps of understanding add up to real expertise over time.",
      "Small steps add up." },
    { "Curiosity goes a long way",
      "A little curiosity will take you a long way from here.",
      "Curiosity goes a long way." },
    { "Look out for it this week",
      "Over the next few days, look out for {t} in the world around you.",
      "Look out for it this week." },
};
#define RECAP_POINTS ((int) (sizeof s_recap_points / sizeof s_recap_points[0]))

static const s_point_t s_recap_closers[TONE_COUNT] = {
    [TONE_FRIENDLY] = { "Next: try one idea today",
                        "Next step: pick one idea from this video and try it out. Thanks for watching!",
                        "Thanks for watching!" },
    [TONE_DIRECT] = { "Next: apply one idea today",
                      "Next step: apply one idea today.",
                      "That's it." },
    [TONE_FORMAL] = { "Next: apply one idea",
                      "As a next step, apply one idea from this overview. Thank you for your attention.",
                      "Thank you for your attention." },
    [TONE_PLAYFUL] = { "Next: show off what you learned",
                       "Now go show off what you've learned! See you next time!",
                       "See you next time!" },
};

static const char *s_recap_headings[ROLE_HEADINGS] = { "Recap", "Key takeaways",
                                                       "Wrapping up" };
#define RECAP_TOPIC_HEADING "Recap: {T}"

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

/*  Characters (code points) in a UTF-8 text. */
static size_t
s_utf8_chars (const char *text)
{
    size_t count = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if ((*p & 0xC0) != 0x80)
            count++;
    return count;
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

/*  True when the word at text (ending at a space or the end) is one of
    the words, ignoring case. */
static bool
s_word_in (const char *text, const char *const *words, size_t count)
{
    size_t len = strcspn (text, " ");
    for (size_t i = 0; i < count; i++)
        if (strlen (words[i]) == len && strncasecmp (text, words[i], len) == 0)
            return true;
    return false;
}

#define S_WORD_IN(text, list) s_word_in ((text), (list), sizeof (list) / sizeof *(list))

/*  The next word of text after the current one, or NULL. */
static const char *
s_next_word (const char *text)
{
    const char *space = strchr (text, ' ');
    return space ? space + 1 : NULL;
}

/*  Removes trailing characters of set, and spaces, from text. */
static void
s_trim_end (char *text, const char *set)
{
    size_t len = strlen (text);
    while (len > 0 && (text[len - 1] == ' ' || strchr (set, text[len - 1])))
        text[--len] = '\0';
}

/*  Upper-cases the first letter of text unless its first word is written
    in mixed case on purpose ("iPhone", "eBay"). */
static void
s_capitalize (char *text)
{
    if (!islower ((unsigned char) text[0]))
        return;
    for (const char *p = text + 1; *p && *p != ' '; p++)
        if (isupper ((unsigned char) *p))
            return;
    text[0] = (char) toupper ((unsigned char) text[0]);
}

/*  Copies text into dest[size] cut to at most max_chars characters: at the
    last word boundary that keeps at least half of it, else mid-word, with
    "…" after a cut. */
static void
s_fit_chars (char *dest, size_t size, const char *text, size_t max_chars)
{
    s_clean_copy (dest, size, text);
    if (s_utf8_chars (dest) <= max_chars)
        return;
    /* the byte offset of character max_chars - 1 (room for the ellipsis) */
    size_t limit = 0;
    for (size_t chars = 0; dest[limit] && chars + 1 < max_chars; chars++) {
        limit++;
        while (((unsigned char) dest[limit] & 0xC0) == 0x80)
            limit++;
    }
    size_t cut = limit;
    while (cut > limit / 2 && dest[cut] != ' ')
        cut--;
    if (dest[cut] != ' ')
        cut = limit;
    while (cut > 0 && strchr (" ,;:-", dest[cut - 1]))
        cut--;
    if (cut + 4 > size)
        cut = s_utf8_whole (dest, size - 4);
    memcpy (dest + cut, "\xE2\x80\xA6", 4);
}

/* ------------------------------------------------------------------ */
/*  The brief, in the forms the tables need                            */

static const char *s_question_words[] = { "how", "why", "what", "when", "where",
                                          "who", "which", "whether" };
static const char *s_auxiliaries[] = { "is", "are", "was", "were", "do", "does",
                                       "did", "can", "could", "should", "would",
                                       "will", "has", "have", "may", "might",
                                       "must", "shall" };
static const char *s_prepositions[] = { "of", "for", "to", "in", "on", "with",
                                        "about", "from", "by", "at", "into",
                                        "like", "up", "out" };
/*  Subject pronouns a question may put after its verb, and what they
    become when the narrator says them to the viewer. */
static const char *s_pronouns[][2] = {
    { "i", "you" }, { "you", "you" }, { "we", "we" }, { "they", "they" },
    { "it", "it" }, { "he", "he" }, { "she", "she" },
};

/*  Words that start a topic but are not names: lower-cased when the topic
    goes in the middle of a sentence ("The history of …" → "the history
    of …"). A capitalized first word that is not one of these is kept as
    written: it may be a name ("Kubernetes autoscaling"). */
static const char *s_topic_starters[] = {
    "how", "why", "what", "when", "where", "who", "which", "whether", "the",
    "a", "an", "our", "your", "my", "their", "its", "this", "these", "those",
    "basic", "simple", "easy", "quick", "tips", "ways", "ten", "five", "three",
    "some", "every", "all", "top", "best", "common", "everyday", "modern",
    "ancient", "early", "big", "small", "great", "good", "bad", "new", "old",
};

/*  Common words that often open a topic in sentence case ("Compound
    interest", "Climate change"): such a topic is lower-cased mid-sentence
    when nothing else in it is capitalized. */
static const char *s_common_openers[] = {
    "compound", "climate", "machine", "solar", "black", "bread", "bicycle",
    "water", "social", "personal", "public", "global", "renewable",
    "artificial", "quantum", "human", "digital", "healthy", "mental",
    "financial", "electric", "home", "remote", "time", "money", "project",
    "customer", "data", "cloud", "web", "mobile", "video", "music", "food",
    "plant", "animal", "ocean", "space", "sleep", "stress", "team", "product",
    "software", "computer", "network", "email", "password", "online",
    "interest", "credit", "tax", "retirement", "job", "career", "car",
    "battery", "wind", "weather", "earth", "volcanic", "plate", "ancient",
    "world", "cell", "gene", "brain", "heart", "blood", "immune", "vaccine",
    "nutrition", "exercise", "language", "word", "number", "prime", "basic",
    "critical", "creative", "effective", "agile", "version", "open", "source",
    "supply", "market", "stock", "budget", "small", "local", "urban", "coffee",
    "tea", "wine", "garden", "house", "kitchen", "photo", "color", "colour",
    "light", "sound", "energy", "nuclear", "chemical", "natural", "wild",
    "bird", "bee", "dog", "cat", "fish", "tree", "forest", "river", "mountain",
    "desert", "city", "road", "traffic", "speech",
};

/*  Openings that frame a topic rather than name it: "Introduction to
    Python" is about Python. */
static const char *s_topic_frames[] = {
    "an introduction to ", "introduction to ", "intro to ",
    "a beginner's guide to ", "a beginners guide to ", "beginner's guide to ",
    "a guide to ", "guide to ", "getting started with ", "the basics of ",
    "basics of ", "all about ", "understanding ",
};

/*  Verbs a goal may start with ("decide when to use …"); a goal that starts
    otherwise is a noun phrase and is said as "come away with …". */
static const char *s_goal_verbs[] = {
    "understand", "learn", "know", "see", "show", "explain", "decide", "choose",
    "pick", "compare", "build", "make", "create", "use", "apply", "write",
    "read", "find", "get", "avoid", "improve", "reduce", "increase", "save",
    "plan", "prepare", "set", "start", "stop", "teach", "describe", "identify",
    "recognize", "recognise", "spot", "fix", "solve", "debug", "deploy",
    "configure", "design", "evaluate", "assess", "measure", "master", "grasp",
    "feel", "become", "be", "give", "help", "introduce", "demonstrate",
    "persuade", "convince", "inspire", "encourage", "remember", "practice",
    "practise", "try", "discover", "explore", "appreciate", "follow", "keep",
    "manage", "run", "handle", "prevent", "protect", "cook", "grow", "speak",
    "sell", "buy", "invest", "calculate", "estimate", "predict", "communicate",
    "present", "lead", "train", "join", "test", "check", "review", "analyze",
    "analyse", "summarize", "summarise", "answer", "prove", "enjoy", "tell",
    "draw", "organize", "organise", "pass", "win", "reach", "earn", "tune",
    "scale", "migrate", "upgrade", "install", "secure", "automate", "onboard",
    "adopt", "feel", "think", "talk", "ask", "share", "write", "sign", "cut",
    "lower", "raise", "boost", "avoid", "spend", "care", "clean", "map",
};

/*  Head nouns that end in "s" but are singular. */
static const char *s_singular_s[] = {
    "kubernetes", "news", "series", "species", "windows", "postgres", "canvas",
    "atlas", "chaos", "lens", "bias", "diabetes", "measles", "rabies", "gas",
    "bus", "yes", "status", "corpus", "campus", "virus", "citrus", "thesis",
};

/*  Audiences that are best served by shorter sentences. */
static const char *s_young_audiences[] = { "child", "kid", "year-old", "pupil",
                                           "toddler", "preschool", "elementary",
                                           "primary school" };

/*  What the placeholders of the tables stand for, for one plan. */
typedef struct {
    char topic[PLAN_SENTENCE_SIZE];    /* {T} when first said in a scene */
    const char *pronoun;               /* {T} after that: "it" or "them" */
    bool topic_is_name;                /* {t} and topic headings name it */
    char question[PLAN_SENTENCE_SIZE]; /* {Q}, "" for other topics */
    char audience[PLAN_SENTENCE_SIZE]; /* {A} */
    char goal[PLAN_SENTENCE_SIZE];     /* {G}, a verb phrase */
    bool goal_ends_with_topic;         /* no goal was given: {G} is "… of {T}"
                                          until the scene has named the topic */
    char goal_short[PLAN_SENTENCE_SIZE];  /* the goal on a slide */
    bool audience_given, goal_given;
    s_intro_kind_t intro;
    s_tone_t tone;
    int full_cost, brief_cost;         /* how much a point said in full or
                                          in brief costs: a direct tone or a
                                          young audience likes short ones */
} s_words_t;

/*  Lower-cases the first letter of text when its first word is one of the
    starters (or, with any_common, whenever that word is a plain
    capitalized word: audiences and goals seldom start with a name). */
static void
s_lower_first (char *text, bool any_common)
{
    if (!isupper ((unsigned char) text[0]))
        return;
    size_t len = 1;
    while (isalpha ((unsigned char) text[len]) || text[len] == '\'')
        len++;
    for (size_t i = 1; i < len; i++)
        if (isupper ((unsigned char) text[i]))
            return;   /* "NASA", "McDonald's": a name */
    bool common = any_common && len > 1;
    if (!common && S_WORD_IN (text, s_topic_starters))
        common = true;
    /* "Compound interest": a common word, and no capital after it */
    if (!common && text[len] == ' ' && S_WORD_IN (text, s_common_openers)) {
        common = true;
        for (const char *p = text + len; *p && common; p++)
            if (isupper ((unsigned char) *p))
                common = false;
    }
    /* a gerund that opens a phrase: "Baking bread" */
    if (!common && len > 4 && text[len] == ' ' && strncmp (text + len - 3, "ing", 3) == 0)
        common = true;
    if (common)
        text[0] = (char) tolower ((unsigned char) text[0]);
}

/*  Cuts a topic longer than limit bytes where a phrase ends (a comma, a
    dash, "and", a preposition …), else at a word, else at a character. */
static void
s_shorten_topic (char *topic, size_t limit)
{
    size_t len = strlen (topic);
    if (len <= limit)
        return;
    static const char *strong[] = { ", ", "; ", ": ", " - ", " \xE2\x80\x94 ", " (" };
    static const char *weak[] = { " and ", " or ", " in ", " for ", " with ",
                                  " from ", " that ", " which ", " to ", " by ",
                                  " on ", " of " };
    size_t cut = 0;
    for (int pass = 0; pass < 2 && cut == 0; pass++) {
        const char *const *marks = pass == 0 ? strong : weak;
        size_t count = pass == 0 ? sizeof strong / sizeof *strong
                                 : sizeof weak / sizeof *weak;
        for (size_t i = 0; i < count; i++)
            for (const char *p = strstr (topic, marks[i]); p && (size_t) (p - topic) <= limit;
                 p = strstr (p + 1, marks[i]))
                if ((size_t) (p - topic) >= limit / 3 && (size_t) (p - topic) > cut)
                    cut = (size_t) (p - topic);
    }
    if (cut == 0) {
        cut = limit;
        while (cut > limit / 3 && topic[cut] != ' ')
            cut--;
        if (topic[cut] != ' ')
            cut = s_utf8_whole (topic, limit);
    }
    topic[cut] = '\0';
    /* a cut at a word must not leave "… of the" */
    static const char *dangling[] = { "the", "a", "an", "of", "and", "or", "to",
                                      "in", "for", "with", "on", "at", "by", "from" };
    while (true) {
        s_trim_end (topic, ",;:-(");
        char *last = strrchr (topic, ' ');
        if (!last || !S_WORD_IN (last + 1, dangling))
            break;
        *last = '\0';
    }
}

/*  True when the head noun of a name reads as a plural ("Black holes",
    "The rise of machines" is singular: its head is "rise"). */
static bool
s_is_plural (const char *topic)
{
    static const char *joins[] = { "and", "or", "vs", "versus" };
    char head[128] = "";
    const char *word = topic;
    for (const char *next = s_next_word (word); next; next = s_next_word (word)) {
        if (S_WORD_IN (next, s_prepositions) || S_WORD_IN (next, joins))
            break;
        word = next;
    }
    size_t len = strcspn (word, " ");
    if (len == 0 || len >= sizeof head)
        return false;
    memcpy (head, word, len);
    head[len] = '\0';
    bool upper = true;
    for (size_t i = 0; i < len; i++) {
        if (islower ((unsigned char) head[i]))
            upper = false;
        head[i] = (char) tolower ((unsigned char) head[i]);
    }
    if (upper || len < 4 || head[len - 1] != 's' || S_WORD_IN (head, s_singular_s))
        return false;
    static const char *endings[] = { "ss", "us", "is", "ics", "'s" };
    for (size_t i = 0; i < sizeof endings / sizeof *endings; i++) {
        size_t elen = strlen (endings[i]);
        if (len >= elen && strcmp (head + len - elen, endings[i]) == 0)
            return false;
    }
    return true;
}

/*  Turns a question into the words that follow "about": "How do bees
    dance?" → "how bees dance" (a clause), "What is Kubernetes?" →
    "Kubernetes" (a name), "How can I save money?" → "how you can save
    money". Returns false when the question has no simple such form. */
static bool
s_question_about (const char *question, char *about, size_t size, bool *is_name)
{
    char words[512];
    s_clean_copy (words, sizeof words, question);
    s_trim_end (words, "?!.");
    const char *second = s_next_word (words);
    const char *third = second ? s_next_word (second) : NULL;
    if (!S_WORD_IN (words, s_question_words) || !second || !third)
        return false;
    size_t wh_len = (size_t) (second - words - 1);
    size_t aux_len = (size_t) (third - second - 1);

    /* "how do bees dance" → "how bees dance" */
    if (aux_len == 2 && strncasecmp (second, "do", 2) == 0 && s_next_word (third)) {
        snprintf (about, size, "%.*s %s", (int) wh_len, words, third);
        *is_name = false;
        return true;
    }
    static const char *be[] = { "is", "are", "was", "were" };
    /* "what is the speed of light" → "the speed of light" */
    if (S_WORD_IN (second, be) && (strncasecmp (words, "what ", 5) == 0
                                   || strncasecmp (words, "who ", 4) == 0)) {
        const char *last = strrchr (third, ' ');
        last = last ? last + 1 : third;
        if (s_word_count (third) <= 6 && !S_WORD_IN (last, s_prepositions)
            && !S_WORD_IN (last, s_auxiliaries)) {
            snprintf (about, size, "%s", third);
            *is_name = true;
            return true;
        }
        return false;
    }
    /* "how can I save money" → "how you can save money" */
    static const char *modal[] = { "is", "are", "can", "could", "should",
                                   "will", "would", "was", "were" };
    const char *rest = s_next_word (third);
    if (!S_WORD_IN (second, modal) || !rest)
        return false;
    for (size_t i = 0; i < sizeof s_pronouns / sizeof *s_pronouns; i++) {
        if (!s_word_in (third, &s_pronouns[i][0], 1))
            continue;
        /* the narrator speaks to the viewer: "my" becomes "your" */
        size_t len = (size_t) snprintf (about, size, "%.*s %s %.*s", (int) wh_len,
                                        words, s_pronouns[i][1], (int) aux_len, second);
        for (const char *word = rest; word && len < size; word = s_next_word (word)) {
            int word_len = (int) strcspn (word, " ");
            bool mine = word_len == 2 && strncasecmp (word, "my", 2) == 0;
            len += (size_t) snprintf (about + len, size - len, " %.*s",
                                      mine ? 4 : word_len, mine ? "your" : word);
        }
        *is_name = false;
        return true;
    }
    return false;
}

/*  Fills the topic's forms: {T}, its pronoun, {Q}, and which opening the
    intro takes. */
static void
s_topic_forms (s_words_t *words, const char *topic)
{
    char clean[512];
    s_clean_copy (clean, sizeof clean, topic);
    s_trim_end (clean, ".!;:,");
    size_t len = strlen (clean);
    bool question = len > 0 && clean[len - 1] == '?';
    s_trim_end (clean, ".!;:,?");
    const char *second = s_next_word (clean);
    if (second && (S_WORD_IN (clean, s_auxiliaries)
                   || (S_WORD_IN (clean, s_question_words)
                       && S_WORD_IN (second, s_auxiliaries))))
        question = true;

    words->intro = INTRO_PLAIN;
    words->question[0] = '\0';
    words->topic_is_name = true;
    const char *core = clean;
    if (question) {
        words->intro = INTRO_QUESTION;
        snprintf (words->question, sizeof words->question, "%s?", clean);
        s_capitalize (words->question);
        if (!s_question_about (clean, words->topic, sizeof words->topic,
                               &words->topic_is_name)) {
            snprintf (words->topic, sizeof words->topic, "the answer");
            words->topic_is_name = false;
        }
        core = NULL;
    }
    else if (strncasecmp (clean, "welcome to ", 11) == 0 && clean[11]) {
        words->intro = INTRO_WELCOME;
        core = clean + 11;
    }
    else {
        for (size_t i = 0; i < sizeof s_topic_frames / sizeof *s_topic_frames; i++) {
            size_t frame = strlen (s_topic_frames[i]);
            if (strncasecmp (clean, s_topic_frames[i], frame) == 0 && clean[frame]) {
                core = clean + frame;
                break;
            }
        }
    }
    if (core) {
        snprintf (words->topic, sizeof words->topic, "%s", core);
        words->topic_is_name = !S_WORD_IN (core, s_question_words);
    }
    s_lower_first (words->topic, false);
    s_shorten_topic (words->topic, PLAN_SPOKEN_TOPIC_BYTES);
    /* a "word" longer than any word is not said: the voice would spell it */
    bool sayable = words->topic[0] != '\0';
    for (const char *word = words->topic; sayable && word; word = s_next_word (word))
        sayable = strcspn (word, " ") <= PLAN_SPOKEN_WORD_BYTES;
    if (!sayable) {
        snprintf (words->topic, sizeof words->topic, "this topic");
        words->topic_is_name = false;
    }
    words->pronoun = words->topic_is_name && s_is_plural (words->topic) ? "them" : "it";
}

/*  Fills {A}, {G} and the goal's slide form. A goal given as a noun phrase
    is said as "get clear on …"; no goal at all becomes "understand the
    basics of <topic>". */
static void
s_brief_forms (s_words_t *words, const media_plan_t *plan)
{
    words->audience_given = strcmp (plan->audience, PLAN_DEFAULT_AUDIENCE) != 0;
    words->goal_given = strcmp (plan->goal, PLAN_DEFAULT_GOAL) != 0;
    s_clean_copy (words->audience, sizeof words->audience, plan->audience);
    s_trim_end (words->audience, ".!?;:,");
    s_lower_first (words->audience, true);

    char goal[PLAN_SENTENCE_SIZE];
    s_clean_copy (goal, sizeof goal, plan->goal);
    s_trim_end (goal, ".!?;:,");
    s_lower_first (goal, true);
    const char *verb_phrase = goal;
    if (strncasecmp (goal, "to ", 3) == 0)
        verb_phrase = goal + 3;
    snprintf (words->goal_short, sizeof words->goal_short, "%s", verb_phrase);
    if (!words->goal_given) {
        if (words->intro == INTRO_QUESTION && strcmp (words->topic, "the answer") == 0)
            snprintf (words->goal, sizeof words->goal, "answer this question with confidence");
        else {
            snprintf (words->goal, sizeof words->goal, "understand the basics");
            words->goal_ends_with_topic = true;
        }
    }
    else if (S_WORD_IN (verb_phrase, s_goal_verbs))
        snprintf (words->goal, sizeof words->goal, "%s", verb_phrase);
    else
        snprintf (words->goal, sizeof words->goal, "come away with %.1000s", verb_phrase);

    words->full_cost = words->tone == TONE_DIRECT ? 2 : 0;
    words->brief_cost = words->tone == TONE_DIRECT ? 0 : 3;
    char lower[128];
    s_clean_copy (lower, sizeof lower, plan->audience);
    for (char *p = lower; *p; p++)
        *p = (char) tolower ((unsigned char) *p);
    for (size_t i = 0; i < sizeof s_young_audiences / sizeof *s_young_audiences; i++)
        if (strstr (lower, s_young_audiences[i]))
            words->brief_cost = 1;
}

static s_tone_t
s_tone_of (const char *tone)
{
    static const char *formal[] = { "formal", "professional", "serious",
                                    "academic", "authoritative", "neutral",
                                    "informative", "technical", "corporate",
                                    "business", "educational", "objective",
                                    "scholarly", "official" };
    static const char *direct[] = { "direct", "concise", "blunt", "straight",
                                    "no-nonsense", "crisp", "brief", "terse",
                                    "practical", "pragmatic", "matter" };
    static const char *playful[] = { "playful", "fun", "humor", "humour",
                                     "whimsical", "silly", "witty", "cheeky",
                                     "light", "inspir", "motivat", "enthusias",
                                     "energetic", "excit", "upbeat", "epic",
                                     "dramatic", "bold", "passionate" };
    char lower[64];
    s_clean_copy (lower, sizeof lower, tone);
    for (char *p = lower; *p; p++)
        *p = (char) tolower ((unsigned char) *p);
    for (size_t i = 0; i < sizeof formal / sizeof *formal; i++)
        if (strstr (lower, formal[i]))
            return TONE_FORMAL;
    for (size_t i = 0; i < sizeof direct / sizeof *direct; i++)
        if (strstr (lower, direct[i]))
            return TONE_DIRECT;
    for (size_t i = 0; i < sizeof playful / sizeof *playful; i++)
        if (strstr (lower, playful[i]))
            return TONE_PLAYFUL;
    return TONE_FRIENDLY;
}

/*  Contractions of the tables, spelled out for the formal tone. */
static const char *s_contractions[][2] = {
    { "Let's", "Let us" }, { "let's", "let us" }, { "It's", "It is" },
    { "it's", "it is" }, { "That's", "That is" }, { "that's", "that is" },
    { "Here's", "Here is" }, { "here's", "here is" }, { "What's", "What is" },
    { "what's", "what is" }, { "There's", "There is" }, { "there's", "there is" },
    { "You're", "You are" }, { "you're", "you are" }, { "We're", "We are" },
    { "we're", "we are" }, { "they're", "they are" }, { "You'll", "You will" },
    { "you'll", "you will" }, { "We'll", "We will" }, { "we'll", "we will" },
    { "You've", "You have" }, { "you've", "you have" }, { "We've", "We have" },
    { "we've", "we have" }, { "Don't", "Do not" }, { "don't", "do not" },
    { "doesn't", "does not" }, { "isn't", "is not" }, { "aren't", "are not" },
    { "can't", "cannot" }, { "won't", "will not" }, { "didn't", "did not" },
    { "wasn't", "was not" }, { "haven't", "have not" }, { "hasn't", "has not" },
    { "you'd", "you would" }, { "I'm", "I am" },
};

/*  Writes template into out[size] with its placeholders replaced (see the
    tables) and, for the formal tone, its contractions spelled out; the
    first letter is made a capital. *named says whether the scene has
    named the topic already, and is updated. Returns 0, or -ENOSPC when the
    result does not fit (out is then cut on a character boundary). */
static int
s_expand (char *out, size_t size, const char *template, const s_words_t *words,
          bool *named)
{
    size_t len = 0;
    int rc = 0;
    bool formal = words->tone == TONE_FORMAL;
    char goal[2 * PLAN_SENTENCE_SIZE + 8];
    for (const char *p = template; *p;) {
        const char *insert = NULL;
        size_t skip = 0;
        if (p[0] == '{' && p[1] && p[2] == '}') {
            skip = 3;
            switch (p[1]) {
            case 't':
            case 'T':
                if (p[1] == 't' && !words->topic_is_name)
                    insert = "it";
                else {
                    insert = *named ? words->pronoun : words->topic;
                    *named = true;
                }
                break;
            case 'Q':
                insert = words->question;
                *named = true;
                break;
            case 'A': insert = words->audience; break;
            case 'G':
                if (words->goal_ends_with_topic && !*named) {
                    snprintf (goal, sizeof goal, "%s of %s", words->goal, words->topic);
                    *named = true;
                    insert = goal;
                }
                else
                    insert = words->goal;
                break;
            case 'g': insert = words->goal_short; break;
            default: skip = 0; break;
            }
        }
        else if (formal && isalpha ((unsigned char) *p)
                 && (p == template || !isalpha ((unsigned char) p[-1]))) {
            for (size_t i = 0; i < sizeof s_contractions / sizeof *s_contractions; i++) {
                size_t from = strlen (s_contractions[i][0]);
                if (strncmp (p, s_contractions[i][0], from) == 0
                    && !isalpha ((unsigned char) p[from])) {
                    insert = s_contractions[i][1];
                    skip = from;
                    break;
                }
            }
        }
        const char *add = insert ? insert : p;
        size_t add_len = insert ? strlen (insert) : 1;
        if (len + add_len >= size) {
            rc = -ENOSPC;
            break;
        }
        memcpy (out + len, add, add_len);
        len += add_len;
        p += insert ? skip : 1;
    }
    out[s_utf8_whole (out, len)] = '\0';
    s_capitalize (out);
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

/* ------------------------------------------------------------------ */
/*  Fitting a scene to its word budget                                 */

/*  A scene is drafted as groups of sentences said in order: the opening
    (one of its options must be said), then points (each said in full, in
    brief, or not at all), then perhaps a closer. A choice among them that
    lands within PLAN_FIT_WORDS of the budget is found by dynamic
    programming over (group, words so far, topic named yet); among those,
    the one that costs least: the opening the hash picked, full sentences
    (brief ones for a direct tone or young audience), the points the hash
    ranked first. */

#define DRAFT_MAX_GROUPS 14
#define DRAFT_MAX_OPTIONS 3
#define DRAFT_DYNAMIC_SIZE 320
#define DRAFT_UNREACHED 0x3FFFFFFF

typedef struct {
    const char *text;       /* a template */
    const char *bullet;     /* a template, or NULL */
    int cost;
} s_option_t;

typedef struct {
    s_option_t options[DRAFT_MAX_OPTIONS];
    int option_count;
    int skip_cost;          /* < 0: one option must be said */
} s_group_t;

typedef struct {
    s_group_t groups[DRAFT_MAX_GROUPS];
    int group_count;
    const char *first_bullet;   /* the slide's first bullet, or NULL */
    char dynamic[2][DRAFT_DYNAMIC_SIZE];   /* templates built for this scene */
} s_draft_t;

/*  What one plan has said so far: hashes of its sentences. */
typedef struct {
    uint64_t said[PLAN_MAX_SENTENCES];
    int said_count;
} s_said_t;

/*  Calls fn for each sentence of text (cut after '.', '?' or '!' that a
    space or the end follows) with its hash; stops when fn returns true.
    Returns true when fn did. */
static bool
s_each_sentence (const char *text, bool (*fn) (s_said_t *, uint64_t), s_said_t *said)
{
    uint64_t hash = 14695981039346656037ULL;
    for (const char *p = text; *p; p++) {
        hash ^= (unsigned char) *p;
        hash *= 1099511628211ULL;
        if (strchr (".?!", *p) && (p[1] == ' ' || p[1] == '\0')) {
            if (fn (said, hash))
                return true;
            hash = 14695981039346656037ULL;
            if (p[1] == ' ')
                p++;
        }
    }
    return false;
}

static bool
s_said_has (s_said_t *said, uint64_t hash)
{
    for (int i = 0; i < said->said_count; i++)
        if (said->said[i] == hash)
            return true;
    return false;
}

static bool
s_said_put (s_said_t *said, uint64_t hash)
{
    if (said->said_count < PLAN_MAX_SENTENCES)
        said->said[said->said_count++] = hash;
    return false;
}

/*  True when a sentence of text has been said before in the plan. */
static bool
s_said_before (s_said_t *said, const char *text)
{
    return s_each_sentence (text, s_said_has, said);
}

static void
s_said_add (s_said_t *said, const char *text)
{
    s_each_sentence (text, s_said_put, said);
}

static s_group_t *
s_draft_group (s_draft_t *draft, int skip_cost)
{
    if (draft->group_count >= DRAFT_MAX_GROUPS)
        return NULL;
    s_group_t *group = &draft->groups[draft->group_count++];
    memset (group, 0, sizeof *group);
    group->skip_cost = skip_cost;
    return group;
}

static void
s_group_option (s_group_t *group, const char *text, const char *bullet, int cost)
{
    if (group && text && group->option_count < DRAFT_MAX_OPTIONS)
        group->options[group->option_count++]
            = (s_option_t) { .text = text, .bullet = bullet, .cost = cost };
}

/*  Adds a point, said in full or in brief, as a group. */
static void
s_draft_point (s_draft_t *draft, const s_point_t *point, int skip_cost,
               const s_words_t *words)
{
    s_group_t *group = s_draft_group (draft, skip_cost);
    s_group_option (group, point->full, point->bullet, words->full_cost);
    if (point->brief)
        s_group_option (group, point->brief, point->bullet, words->brief_cost);
}

/*  Adds the points of a table: the hash ranks them (an ordered table keeps
    its own order), and skipping a higher-ranked point costs more, as does
    skipping one that names the audience or the goal. */
static void
s_draft_points (s_draft_t *draft, const s_point_t *points, int count, bool ordered,
                uint64_t hash, const s_words_t *words)
{
    int offset = ordered || count == 0 ? 0 : (int) ((hash >> 8) % (uint64_t) count);
    for (int i = 0; i < count; i++) {
        int rank = (i - offset + count) % count;
        int skip_cost = ordered ? 2 * (count - rank) : rank < count / 2 ? 1 : 0;
        /* a point that speaks of the audience or the goal the brief gave
           ties the scene to it */
        if ((words->audience_given && strstr (points[i].full, "{A}"))
            || (words->goal_given && strstr (points[i].full, "{G}")))
            skip_cost += 2;
        s_draft_point (draft, &points[i], skip_cost, words);
    }
}

/*  Adds the opening: the lead the hash picks, the other one, and the tiny
    one for the smallest budgets. */
static void
s_draft_lead (s_draft_t *draft, const char *const *leads, const char *tiny,
              uint64_t hash)
{
    s_group_t *group = s_draft_group (draft, -1);
    int first = (int) (hash % ROLE_LEADS);
    s_group_option (group, leads[first], NULL, 0);
    s_group_option (group, leads[1 - first], NULL, 3);
    s_group_option (group, tiny, NULL, 12);
}

typedef struct {
    int words[2];           /* for a scene that has not / has named the topic */
    bool names_topic[2];
    bool said[2];           /* already said elsewhere in the plan */
} s_measure_t;

/*  Measures each option of the draft as said in a scene that has named
    its topic or not yet. */
static void
s_draft_measure (const s_draft_t *draft, const s_words_t *words, s_said_t *said,
                 s_measure_t (*measure)[DRAFT_MAX_OPTIONS])
{
    char sentence[PLAN_SENTENCE_SIZE];
    for (int g = 0; g < draft->group_count; g++)
        for (int o = 0; o < draft->groups[g].option_count; o++)
            for (int u = 0; u < 2; u++) {
                bool named = u == 1;
                s_expand (sentence, sizeof sentence, draft->groups[g].options[o].text,
                          words, &named);
                measure[g][o].words[u] = s_word_count (sentence);
                measure[g][o].names_topic[u] = named;
                measure[g][o].said[u] = s_said_before (said, sentence);
            }
}

#define DRAFT_SKIP (-1)

/*  Chooses what the scene says: picked[g] is the option of group g, or
    DRAFT_SKIP. A choice that never names the topic costs unnamed_cost
    more. */
static void
s_draft_choose (const s_draft_t *draft, s_measure_t (*measure)[DRAFT_MAX_OPTIONS],
                double budget_words, int unnamed_cost, int8_t picked[DRAFT_MAX_GROUPS])
{
    enum { W = PLAN_MAX_SCENE_WORDS, U = 2 };
    int groups = draft->group_count;
    /* cost[g][w][u]: the cheapest way to say w words with groups 0..g-1,
       u telling whether the topic has been named; choice and came_from
       lead back to how */
    int cost[DRAFT_MAX_GROUPS + 1][W + 1][U];
    int8_t choice[DRAFT_MAX_GROUPS + 1][W + 1][U];
    int8_t came_from[DRAFT_MAX_GROUPS + 1][W + 1][U];
    for (int g = 0; g <= groups; g++)
        for (int w = 0; w <= W; w++)
            for (int u = 0; u < U; u++)
                cost[g][w][u] = DRAFT_UNREACHED;
    cost[0][0][0] = 0;
    for (int g = 0; g < groups; g++) {
        const s_group_t *group = &draft->groups[g];
        for (int w = 0; w <= W; w++)
            for (int u = 0; u < U; u++) {
                int base = cost[g][w][u];
                if (base == DRAFT_UNREACHED)
                    continue;
                if (group->skip_cost >= 0 && base + group->skip_cost < cost[g + 1][w][u]) {
                    cost[g + 1][w][u] = base + group->skip_cost;
                    choice[g + 1][w][u] = DRAFT_SKIP;
                    came_from[g + 1][w][u] = (int8_t) u;
                }
                for (int o = 0; o < group->option_count; o++) {
                    const s_measure_t *m = &measure[g][o];
                    int to_w = w + m->words[u];
                    int to_u = m->names_topic[u] ? 1 : u;
                    int to_cost = base + group->options[o].cost;
                    if (m->said[u] || to_w > W || to_cost >= cost[g + 1][to_w][to_u])
                        continue;
                    cost[g + 1][to_w][to_u] = to_cost;
                    choice[g + 1][to_w][to_u] = (int8_t) o;
                    came_from[g + 1][to_w][to_u] = (int8_t) u;
                }
            }
    }
    double tolerance = PLAN_FIT_WORDS + PLAN_FIT_SHARE * budget_words;
    if (tolerance > PLAN_FIT_MAX_WORDS)
        tolerance = PLAN_FIT_MAX_WORDS;
    double best = -1;
    int best_w = 0, best_u = 0;
    for (int w = 0; w <= W; w++)
        for (int u = 0; u < U; u++) {
            if (cost[groups][w][u] == DRAFT_UNREACHED)
                continue;
            double off = fabs (w - budget_words);
            double total = (off > tolerance ? (off - tolerance) * PLAN_FIT_WEIGHT : 0)
                           + off + cost[groups][w][u] + (u ? 0 : unnamed_cost);
            if (best < 0 || total < best) {
                best = total;
                best_w = w;
                best_u = u;
            }
        }
    /* walk back from the best ending; when nothing was reachable (every
       opening said before, which the tables rule out) nothing is picked */
    for (int g = groups, w = best_w, u = best_u; g > 0; g--) {
        if (best < 0) {
            picked[g - 1] = DRAFT_SKIP;
            continue;
        }
        int8_t o = choice[g][w][u];
        int from_u = came_from[g][w][u];
        picked[g - 1] = o;
        if (o != DRAFT_SKIP)
            w -= measure[g - 1][o].words[from_u];
        u = from_u;
    }
}

/*  Writes the scene's narration and bullets from the draft, fitted to
    budget_words; adds what it said to said. */
static void
s_draft_write (const s_draft_t *draft, media_scene_t *scene, double budget_words,
               uint64_t hash, const s_words_t *words, s_said_t *said)
{
    int groups = draft->group_count;
    s_measure_t measure[DRAFT_MAX_GROUPS][DRAFT_MAX_OPTIONS];
    int8_t picked[DRAFT_MAX_GROUPS];
    char sentence[PLAN_SENTENCE_SIZE];
    s_draft_measure (draft, words, said, measure);
    /* "the answer" (a question said in no other way) need not be named */
    int unnamed_cost = words->topic_is_name || words->intro != INTRO_QUESTION
                           ? PLAN_UNNAMED_COST : 0;
    s_draft_choose (draft, measure, budget_words, unnamed_cost, picked);
    scene->narration[0] = '\0';
    scene->bullet_count = 0;
    const char *bullets[DRAFT_MAX_GROUPS + 1];
    int bullet_count = 0;
    if (draft->first_bullet)
        bullets[bullet_count++] = draft->first_bullet;
    bool named = false;
    for (int g = 0; g < groups; g++) {
        if (picked[g] == DRAFT_SKIP)
            continue;
        const s_option_t *option = &draft->groups[g].options[picked[g]];
        bool was_named = named;
        s_expand (sentence, sizeof sentence, option->text, words, &named);
        /* the scene's own sentences count too: an opening and a point may
           share one */
        if (s_said_before (said, sentence)
            || !s_append_sentence (scene->narration, sizeof scene->narration, sentence)) {
            named = was_named;
            continue;
        }
        s_said_add (said, sentence);
        if (option->bullet)
            bullets[bullet_count++] = option->bullet;
    }
    /* a scene too short to make two points shows the next ones it had */
    for (int g = 0; g < groups && bullet_count < 2; g++)
        if (picked[g] == DRAFT_SKIP && draft->groups[g].option_count > 0
            && draft->groups[g].options[0].bullet)
            bullets[bullet_count++] = draft->groups[g].options[0].bullet;

    int most = 3 + (int) ((hash >> 20) & 1);
    for (int b = 0; b < bullet_count && scene->bullet_count < most; b++) {
        bool bullet_named = true;
        s_expand (sentence, sizeof sentence, bullets[b], words, &bullet_named);
        char *slot = scene->bullets[scene->bullet_count];
        s_fit_chars (slot, sizeof scene->bullets[0], sentence, PLAN_BULLET_CHARS);
        bool repeated = !slot[0];
        for (int i = 0; i < scene->bullet_count && !repeated; i++)
            repeated = strcmp (scene->bullets[i], slot) == 0;
        if (!repeated)
            scene->bullet_count++;
    }
}

/* ------------------------------------------------------------------ */
/*  Scenes                                                             */

/*  The title slide's heading: the topic as given, first letter up, cut at
    a word to fit. */
static void
s_title_heading (char *heading, size_t size, const char *topic)
{
    char clean[512];
    s_clean_copy (clean, sizeof clean, topic);
    s_trim_end (clean, ".!;:,");
    s_fit_chars (heading, size, clean, PLAN_TITLE_CHARS);
    s_capitalize (heading);
}

/*  A scene's heading: the one that names the topic when the topic is a
    name, the hash says so and it fits; else one of the plain ones. */
static void
s_heading (char *heading, size_t size, const char *topic_heading,
           const char *const *headings, uint64_t hash, const s_words_t *words)
{
    if (topic_heading && words->topic_is_name && ((hash >> 12) & 1)) {
        bool named = false;
        char text[PLAN_SENTENCE_SIZE];
        s_expand (text, sizeof text, topic_heading, words, &named);
        if (s_utf8_chars (text) <= PLAN_HEADING_CHARS && strlen (text) < size) {
            snprintf (heading, size, "%s", text);
            return;
        }
    }
    snprintf (heading, size, "%s", headings[(hash >> 16) % ROLE_HEADINGS]);
}

/*  Writes "a, b and c" (at most three of the roles, then "and more") into
    out[size]. */
static void
s_role_list (char *out, size_t size, const s_role_id_t *roles, int count, int most)
{
    out[0] = '\0';
    size_t len = 0;
    int shown = count < most ? count : most;
    for (int i = 0; i < shown; i++) {
        const char *separator = i == 0 ? "" : i == shown - 1 && shown == count ? " and " : ", ";
        int n = snprintf (out + len, size - len, "%s%s", separator, s_roles[roles[i]].summary);
        if (n < 0 || (size_t) n >= size - len)
            return;
        len += (size_t) n;
    }
    if (shown < count)
        snprintf (out + len, size - len, " and more");
}

/*  The preview the intro gives and the summary the recap gives, in the
    tone's words. */
static void
s_draft_overview (s_draft_t *draft, const s_role_id_t *roles, int count,
                  bool recap, const s_words_t *words)
{
    static const char *preview[TONE_COUNT] = {
        [TONE_FRIENDLY] = "We'll cover %s.", [TONE_DIRECT] = "Coming up: %s.",
        [TONE_FORMAL] = "This overview covers %s.", [TONE_PLAYFUL] = "On the menu: %s!",
    };
    static const char *summary[TONE_COUNT] = {
        [TONE_FRIENDLY] = "Together, we looked at %s.", [TONE_DIRECT] = "Covered: %s.",
        [TONE_FORMAL] = "We have examined %s.", [TONE_PLAYFUL] = "We tackled %s!",
    };
    if (count < 2)
        return;   /* "we'll cover what it is" says nothing */
    char list[DRAFT_DYNAMIC_SIZE - 32];
    const char *format = (recap ? summary : preview)[words->tone];
    s_group_t *group = s_draft_group (draft, 6);
    for (int form = 0; form < 2; form++) {
        s_role_list (list, sizeof list, roles, count, form == 0 ? 3 : 2);
        snprintf (draft->dynamic[form], sizeof draft->dynamic[form], format, list);
        if (form == 1 && strcmp (draft->dynamic[0], draft->dynamic[1]) == 0)
            break;
        s_group_option (group, draft->dynamic[form], NULL, form == 0 ? 0 : 3);
    }
}

static void
s_build_scenes (media_plan_t *plan)
{
    s_words_t words_storage;
    s_said_t said_storage = { .said_count = 0 };
    s_draft_t draft_storage;
    s_words_t *words = &words_storage;
    s_said_t *said = &said_storage;
    s_draft_t *draft = &draft_storage;
    memset (words, 0, sizeof *words);
    words->tone = s_tone_of (plan->tone);
    s_topic_forms (words, plan->topic);
    s_brief_forms (words, plan);

    uint64_t seed = 14695981039346656037ULL;
    seed = s_hash (seed, plan->topic);
    seed = s_hash (s_hash (seed, "\x1f"), plan->audience);
    seed = s_hash (s_hash (seed, "\x1f"), plan->goal);
    seed = s_hash (s_hash (seed, "\x1f"), plan->tone);

    /* which middle scenes, in video order; and in order of importance,
       for the recap */
    int middle = plan->scene_count - 2;
    bool chosen[ROLE_COUNT] = { false };
    s_role_id_t by_priority[ROLE_COUNT], in_order[ROLE_COUNT];
    int chosen_count = 0;
    for (int i = 0; i < middle && i < ROLE_COUNT; i++) {
        chosen[s_role_priority[i]] = true;
        by_priority[chosen_count++] = s_role_priority[i];
    }
    int ordered_count = 0;
    for (int role = 0; role < ROLE_COUNT; role++)
        if (chosen[role])
            in_order[ordered_count++] = (s_role_id_t) role;
    s_role_id_t recap_list[3];
    int recap_count = chosen_count < 3 ? chosen_count : 3;
    for (int role = 0, n = 0; role < ROLE_COUNT && n < recap_count; role++)
        for (int i = 0; i < recap_count; i++)
            if (by_priority[i] == (s_role_id_t) role)
                recap_list[n++] = (s_role_id_t) role;

    double budget = plan->words_per_minute * (plan->target_duration_s / plan->scene_count)
                    / 60.0;
    int index = 0;

    /* intro */
    media_scene_t *scene = &plan->scenes[index++];
    uint64_t hash = s_mix (seed, 1000);
    memset (draft, 0, sizeof *draft);
    s_title_heading (scene->heading, sizeof scene->heading, plan->topic);
    draft->first_bullet = "For {A}";
    s_draft_lead (draft, s_intro_leads[words->intro][words->tone],
                  s_intro_tiny[words->intro], hash);
    s_group_t *group = s_draft_group (draft, 8);
    s_group_option (group, s_intro_goal.full, s_intro_goal.bullet, words->full_cost);
    s_group_option (group, s_intro_goal.brief, s_intro_goal.bullet, words->brief_cost);
    s_draft_overview (draft, in_order, ordered_count, false, words);
    s_draft_points (draft, s_intro_points, INTRO_POINTS, false, hash, words);
    s_draft_write (draft, scene, budget, hash, words, said);

    for (int role = 0; role < ROLE_COUNT; role++) {
        if (!chosen[role])
            continue;
        const s_role_t *table = &s_roles[role];
        scene = &plan->scenes[index++];
        hash = s_mix (seed, (uint64_t) role + 1);
        memset (draft, 0, sizeof *draft);
        s_heading (scene->heading, sizeof scene->heading, table->topic_heading,
                   table->headings, hash, words);
        s_draft_lead (draft, table->leads[words->tone], table->tiny, hash);
        int count = 0;
        while (count < ROLE_POINTS && table->points[count].full)
            count++;
        s_draft_points (draft, table->points, count, table->ordered, hash, words);
        s_draft_write (draft, scene, budget, hash, words, said);
    }

    /* recap */
    scene = &plan->scenes[index++];
    hash = s_mix (seed, 2000);
    memset (draft, 0, sizeof *draft);
    s_heading (scene->heading, sizeof scene->heading, RECAP_TOPIC_HEADING,
               s_recap_headings, hash, words);
    draft->first_bullet = "Goal: {g}";
    s_draft_lead (draft, s_recap_leads[words->tone], s_recap_tiny, hash);
    s_draft_overview (draft, recap_list, recap_count, true, words);
    s_draft_points (draft, s_recap_points, RECAP_POINTS, false, hash, words);
    group = s_draft_group (draft, 10);
    s_group_option (group, s_recap_closers[words->tone].full,
                    s_recap_closers[words->tone].bullet, 0);
    s_group_option (group, s_recap_closers[words->tone].brief,
                    s_recap_closers[words->tone].bullet, 2);
    s_draft_write (draft, scene, budget, hash, words, said);

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
