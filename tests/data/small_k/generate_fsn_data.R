# Data sets of metafor's fsn() tests (tests/testthat/test_misc_fsn.r, metafor >= 4), as
# shipped with metafor 3.8-1 / metadat; the expected fail-safe numbers are metafor's
# published test values and are written in tests/meta/test_metafor_gaps.py.
# Run: Rscript generate_fsn_data.R > fsn_data.json
suppressMessages(library(metafor))
j <- function(x) paste0("[", paste(sprintf("%.17g", x), collapse = ", "), "]")
mc <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.mcdaniel1994)
sets <- list(raudenbush1985 = dat.raudenbush1985, hackshaw1998 = dat.hackshaw1998, mcdaniel1994 = mc)
out <- sapply(names(sets), function(nm) sprintf('"%s": {"yi": %s, "vi": %s}', nm, j(sets[[nm]]$yi), j(sets[[nm]]$vi)))
cat(sprintf('{"source": "%s, metafor %s data sets",\n', R.version.string, packageVersion("metafor")))
cat(paste(out, collapse = ",\n")); cat("\n}\n")
