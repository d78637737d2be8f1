# r.R - the warm R bootstrap (registry/languages.yaml, r's "prestart"): R
# reads this as its --file; the one line below waits in r-handoff.c, which
# makes R read its next line from the job's entry (see there). Only
# primitives and .Internal: no closure runs, so none is byte-compiled. One
# top-level expression whose value is .Last.value as start-up left it.
{.Internal(dyn.load("/.isobox/prestart/r-handoff.so", TRUE, TRUE, "")); .C("isobox_r_handoff"); .Internal(dyn.unload("/.isobox/prestart/r-handoff.so")); invisible(.Last.value)}
