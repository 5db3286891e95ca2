# Reference outputs of R limma for tests/tl/test_limma_reference.py.
#   Rscript make_reference.R 3.54   # Debian r-bioc-limma (system library)
#   Rscript make_reference.R 3.62   # limma 3.62 installed in ~/.local/share/limma-3.62
# Reads the input CSVs written by make_inputs.py and writes, per case, one row per feature and
# contrast (<case>_contrasts_limma<version>.csv.gz) and one row per feature with the moderated F and
# the prior (<case>_features_limma<version>.csv.gz).
args <- commandArgs(trailingOnly = TRUE)
version <- if (length(args)) args[1] else "3.62"
if (version == "3.62") {
  library(limma, lib.loc = path.expand("~/.local/share/limma-3.62"))
} else {
  library(limma)
}
stopifnot(startsWith(as.character(packageVersion("limma")), version))
message("limma ", packageVersion("limma"))

read_y <- function(name) as.matrix(read.csv(paste0(name, ".csv"), row.names = 1, check.names = FALSE))
phase_levels <- c("control", "use", "withdrawal")

run <- function(case, y, design, contrasts, weights = NULL, trend = FALSE, robust = FALSE, legacy = NULL,
                lfc = 0) {
  fit <- suppressWarnings(lmFit(y, design, weights = weights))
  cm <- makeContrasts(contrasts = contrasts, levels = design)
  fit2 <- suppressWarnings(contrasts.fit(fit, cm))
  if (lfc > 0) {  # TREAT
    if (version == "3.62") {
      fit2 <- treat(fit2, lfc = lfc, trend = trend, robust = robust, legacy = legacy)
    } else {
      fit2 <- treat(fit2, lfc = lfc, trend = trend, robust = robust)
    }
  } else if (version == "3.62") {
    fit2 <- eBayes(fit2, trend = trend, robust = robust, legacy = legacy)
  } else {
    fit2 <- eBayes(fit2, trend = trend, robust = robust)
  }
  n <- nrow(y)
  out <- NULL
  for (j in seq_along(contrasts)) {
    tt <- topTable(fit2, coef = j, number = Inf, sort.by = "none", confint = 0.95)
    out <- rbind(out, data.frame(
      feature = rownames(y), contrast = contrasts[j], logFC = tt$logFC,
      se = fit2$stdev.unscaled[, j] * sqrt(fit2$s2.post), CI.L = tt$CI.L, CI.R = tt$CI.R,
      t = tt$t, P.Value = tt$P.Value, adj.P.Val = tt$adj.P.Val,
      B = if (is.null(tt$B)) NA_real_ else tt$B, check.names = FALSE
    ))
  }
  write.csv(out, gzfile(paste0(case, "_contrasts_limma", version, ".csv.gz")), row.names = FALSE)
  f <- data.frame(
    feature = rownames(y), AveExpr = fit2$Amean, sigma = fit2$sigma, df_residual = fit2$df.residual,
    s2_post = fit2$s2.post, df_total = fit2$df.total,
    df_prior = rep_len(fit2$df.prior, n), s2_prior = rep_len(fit2$s2.prior, n),
    F = if (is.null(fit2$F)) NA_real_ else fit2$F,
    F.p.value = if (is.null(fit2$F)) NA_real_ else fit2$F.p.value,
    F.adj = if (is.null(fit2$F)) NA_real_ else p.adjust(fit2$F.p.value, "BH")
  )
  write.csv(f, gzfile(paste0(case, "_features_limma", version, ".csv.gz")), row.names = FALSE)
  dfp <- f$df_prior
  message(case, ": df.prior ", paste(signif(range(dfp), 6), collapse = "..."))
}

# two groups
s <- read.csv("samples_two.csv")
group <- factor(s$group, levels = c("A", "B"))
d <- model.matrix(~ 0 + group); colnames(d) <- levels(group)
run("two", read_y("y_two"), d, "B - A")

# three phases
s <- read.csv("samples_phase.csv")
phase <- factor(s$phase, levels = phase_levels)
batch <- factor(s$batch)
d <- model.matrix(~ 0 + phase); colnames(d) <- phase_levels
con4 <- c("withdrawal - control", "use - control", "withdrawal - use", "(use + withdrawal)/2 - control")
y <- read_y("y_phase")
yna <- read_y("y_phase_na")
w <- read_y("weights_phase")
run("phase", y, d, con4)
run("phase_trend", y, d, con4, trend = TRUE)
run("phase_robust", y, d, con4, robust = TRUE)
run("phase_trend_robust", y, d, con4, trend = TRUE, robust = TRUE)
run("phase_weights", y, d, con4, weights = w)
run("na", yna, d, con4)
run("na_trend", yna, d, con4, trend = TRUE)
run("na_robust", yna, d, con4, robust = TRUE)
run("na_trend_robust", yna, d, con4, trend = TRUE, robust = TRUE)
run("na_weights", yna, d, con4, weights = w)
aw <- seq(0.5, 2, length.out = ncol(y))  # one weight per sample (array weights)
run("phase_arrayweights", y, d, con4, weights = aw)
run("na_arrayweights", yna, d, con4, weights = aw)
if (version == "3.62") {
  run("na_legacy", yna, d, con4, legacy = TRUE)
  run("phase_unequal", y, d, con4, legacy = FALSE)  # ML estimator forced on equal df
  run("phase_trend_robust_unequal", y, d, con4, trend = TRUE, robust = TRUE, legacy = FALSE)
}

# TREAT (fold-change threshold); treat() computes no B and no F
if (version == "3.62") run("na_treat", yna, d, con4, lfc = 0.5)  # treat() of 3.54 fails on NA coefficients
run("phase_treat_trend_robust", y, d, con4, lfc = 0.3, trend = TRUE, robust = TRUE)

# batch covariate (treatment coded): non-orthogonal design, with and without missing values
db <- model.matrix(~ 0 + phase + batch); colnames(db) <- c(phase_levels, "batchb2")
con3 <- con4[1:3]
run("batch", y, db, con3)
run("na_batch", yna, db, con3)

# numeric covariate entering linearly
dd <- model.matrix(~ 0 + phase + dose, data = s); colnames(dd) <- c(phase_levels, "dose")
run("na_dose", yna, dd, con3)

# paired design: subject as a blocking factor
s <- read.csv("samples_paired.csv")
phase <- factor(s$phase, levels = c("control", "withdrawal"))
subject <- factor(s$subject)
dp <- model.matrix(~ 0 + phase + subject); colnames(dp) <- c("control", "withdrawal", paste0("subject", levels(subject)[-1]))
run("paired", read_y("y_paired"), dp, "withdrawal - control")
