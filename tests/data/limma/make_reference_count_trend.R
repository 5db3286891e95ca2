# Reference outputs of R limma for the count-aware variance prior (tests/tl/test_count_prior.py):
# eBayes(fit, trend = log(n_peptides)), i.e. the prior variance as a function of a numeric covariate.
#   Rscript make_reference_count_trend.R 3.54   # Debian r-bioc-limma (system library)
#   Rscript make_reference_count_trend.R 3.62   # limma 3.62 installed in ~/.local/share/limma-3.62
# Writes (once, seeded R RNG) counts_phase.csv, peptide counts per feature of y_phase.csv that grow
# with the feature's intensity (many features with 1 or 2 peptides, as in real data), then per case
# <case>_contrasts_limma<version>.csv.gz and <case>_features_limma<version>.csv.gz in the format of
# make_reference.R.
args <- commandArgs(trailingOnly = TRUE)
version <- if (length(args)) args[1] else "3.62"
if (version == "3.62") {
  library(limma, lib.loc = path.expand("~/.local/share/limma-3.62"))
} else {
  library(limma)
}
stopifnot(startsWith(as.character(packageVersion("limma")), version))
message("limma ", packageVersion("limma"))
phase_levels <- c("control", "use", "withdrawal")
read_y <- function(name) as.matrix(read.csv(paste0(name, ".csv"), row.names = 1, check.names = FALSE))
y <- read_y("y_phase")
yna <- read_y("y_phase_na")

if (!file.exists("counts_phase.csv")) {
  set.seed(20261203)
  mu <- 2^((rowMeans(y) - 18) / 3)
  n_peptides <- 1 + rnbinom(nrow(y), mu = mu, size = 1.5)
  write.csv(data.frame(feature = rownames(y), n_peptides = n_peptides), "counts_phase.csv",
            row.names = FALSE, quote = FALSE)
}
counts <- read.csv("counts_phase.csv")
stopifnot(identical(counts$feature, rownames(y)))
logcount <- log(counts$n_peptides)
message("peptide counts: ", paste(names(table(counts$n_peptides)), table(counts$n_peptides),
                                  sep = "x", collapse = " "))

run <- function(case, y, design, contrasts, trend, robust = FALSE, legacy = NULL) {
  fit <- suppressWarnings(lmFit(y, design))
  cm <- makeContrasts(contrasts = contrasts, levels = design)
  fit2 <- suppressWarnings(contrasts.fit(fit, cm))
  if (version == "3.62") {
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
      t = tt$t, P.Value = tt$P.Value, adj.P.Val = tt$adj.P.Val, B = tt$B, check.names = FALSE
    ))
  }
  write.csv(out, gzfile(paste0(case, "_contrasts_limma", version, ".csv.gz")), row.names = FALSE)
  f <- data.frame(
    feature = rownames(y), AveExpr = fit2$Amean, sigma = fit2$sigma, df_residual = fit2$df.residual,
    s2_post = fit2$s2.post, df_total = fit2$df.total,
    df_prior = rep_len(fit2$df.prior, n), s2_prior = rep_len(fit2$s2.prior, n),
    F = fit2$F, F.p.value = fit2$F.p.value, F.adj = p.adjust(fit2$F.p.value, "BH")
  )
  write.csv(f, gzfile(paste0(case, "_features_limma", version, ".csv.gz")), row.names = FALSE)
  message(case, ": df.prior ", paste(signif(range(f$df_prior), 6), collapse = "..."),
          ", s2.prior ", paste(signif(range(f$s2_prior), 6), collapse = "..."))
}

s <- read.csv("samples_phase.csv")
phase <- factor(s$phase, levels = phase_levels)
d <- model.matrix(~ 0 + phase); colnames(d) <- phase_levels
con <- c("withdrawal - control", "use - control", "withdrawal - use")
run("count_trend", y, d, con, trend = logcount)
run("count_trend_robust", y, d, con, trend = logcount, robust = TRUE)
run("na_count_trend", yna, d, con, trend = logcount)
run("na_count_trend_robust", yna, d, con, trend = logcount, robust = TRUE)
# many single-peptide features (46%): the lower spline knot of fitFDist falls on the minimum
run("count_trend_single", y, d, con, trend = log(pmax(counts$n_peptides - 2, 1)))
# With few distinct counts a spline knot of fitFDist falls on the maximum and limma stops:
# eBayes(fit, trend = log(pmin(counts$n_peptides, 3))) -> "Problem with covariate" (both versions).
res <- try(suppressWarnings(eBayes(lmFit(y, d), trend = log(pmin(counts$n_peptides, 3)))), silent = TRUE)
stopifnot(inherits(res, "try-error"), grepl("Problem with covariate", res))
if (version == "3.62") run("na_count_trend_legacy", yna, d, con, trend = logcount, legacy = TRUE)
