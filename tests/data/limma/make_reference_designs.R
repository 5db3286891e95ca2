# Reference outputs of R limma for repeated measures (tests/tl/test_dupcor.py).
#   Rscript make_reference_designs.R 3.54   # Debian r-bioc-limma (system library)
#   Rscript make_reference_designs.R 3.62   # limma 3.62 installed in ~/.local/share/limma-3.62
# Writes (once, seeded R RNG) the inputs y_repeated.csv, y_repeated_na.csv, samples_repeated.csv, then
# per case: duplicateCorrelation(y, design, block = subject) -> lmFit(block, correlation) ->
# contrasts.fit -> eBayes, as <case>_contrasts_limma<version>.csv.gz (one row per feature and
# contrast) and <case>_features_limma<version>.csv.gz (one row per feature, with the consensus
# correlation and the per-feature atanh correlations).
args <- commandArgs(trailingOnly = TRUE)
version <- if (length(args)) args[1] else "3.62"
if (version == "3.62") {
  library(limma, lib.loc = path.expand("~/.local/share/limma-3.62"))
} else {
  library(limma)
}
stopifnot(startsWith(as.character(packageVersion("limma")), version))
message("limma ", packageVersion("limma"), ", statmod ", packageVersion("statmod"))
options(digits = 17)
phase_levels <- c("control", "use", "withdrawal")

if (!file.exists("samples_repeated.csv")) {
  set.seed(20261127)
  # 9 rats; most measured in all three phases, some in two (incomplete blocks)
  layout <- list(
    m1 = phase_levels, m2 = phase_levels, m3 = phase_levels, m4 = phase_levels,
    m5 = c("control", "withdrawal"), m6 = c("use", "withdrawal"), m7 = c("control", "use"),
    m8 = phase_levels, m9 = c("control", "withdrawal")
  )
  s <- do.call(rbind, lapply(names(layout), function(m) data.frame(subject = m, phase = layout[[m]])))
  s$sample <- sprintf("r%02d", seq_len(nrow(s)))
  s <- s[, c("sample", "phase", "subject")]
  write.csv(s, "samples_repeated.csv", row.names = FALSE)
  g <- 200
  n <- nrow(s)
  base <- rnorm(g, 20, 2)
  sd_res <- 0.15 + 0.5 * exp(-(base - 16) / 3) * runif(g, 0.5, 1.5)
  sd_subj <- sd_res * runif(g, 0, 1.5)
  subj <- matrix(rnorm(g * 9), g, 9) * sd_subj
  colnames(subj) <- names(layout)
  eff <- cbind(control = 0, use = rnorm(g, 0, 0.3), withdrawal = rnorm(g, 0, 0.3))
  eff[1:10, "withdrawal"] <- eff[1:10, "withdrawal"] + 1.5
  y <- base + eff[, s$phase] + subj[, s$subject] + matrix(rnorm(g * n), g, n) * sd_res
  dimnames(y) <- list(sprintf("f%03d", seq_len(g) - 1), s$sample)
  write.csv(y, "y_repeated.csv", quote = FALSE)
  yna <- y
  pmiss <- plogis(-(y - 17) * 1.2) * 0.6
  yna[matrix(runif(g * n), g, n) < pmiss] <- NA
  yna["f000", s$phase == "withdrawal"] <- NA  # withdrawal missing: on/off
  yna["f001", -c(1, 4, 7)] <- NA  # three samples only
  yna["f002", s$subject %in% c("m1", "m2", "m3")] <- NA
  write.csv(yna, "y_repeated_na.csv", quote = FALSE, na = "")
}

read_y <- function(name) as.matrix(read.csv(paste0(name, ".csv"), row.names = 1, check.names = FALSE))
s <- read.csv("samples_repeated.csv")
phase <- factor(s$phase, levels = phase_levels)
d <- model.matrix(~ 0 + phase); colnames(d) <- phase_levels
con <- c("withdrawal - control", "use - control", "withdrawal - use")

run <- function(case, y, design, contrasts, trend = FALSE, robust = FALSE) {
  dc <- duplicateCorrelation(y, design, block = s$subject)
  fit <- lmFit(y, design, block = s$subject, correlation = dc$consensus.correlation)
  cm <- makeContrasts(contrasts = contrasts, levels = design)
  fit2 <- contrasts.fit(fit, cm)
  fit2 <- eBayes(fit2, trend = trend, robust = robust)
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
  n <- nrow(y)
  f <- data.frame(
    feature = rownames(y), AveExpr = fit2$Amean, sigma = fit2$sigma, df_residual = fit2$df.residual,
    s2_post = fit2$s2.post, df_total = fit2$df.total,
    df_prior = rep_len(fit2$df.prior, n), s2_prior = rep_len(fit2$s2.prior, n),
    F = fit2$F, F.p.value = fit2$F.p.value, F.adj = p.adjust(fit2$F.p.value, "BH"),
    consensus = dc$consensus.correlation, atanh_cor = dc$atanh.correlations
  )
  write.csv(f, gzfile(paste0(case, "_features_limma", version, ".csv.gz")), row.names = FALSE)
  message(case, ": consensus correlation ", format(dc$consensus.correlation, digits = 17))
}

run("repeated", read_y("y_repeated"), d, con)
run("repeated_na", read_y("y_repeated_na"), d, con)
run("repeated_na_trend_robust", read_y("y_repeated_na"), d, con, trend = TRUE, robust = TRUE)

# ---- withdrawal time course (tests/tl/test_timecourse.py) ----
# control and use (4 each) and withdrawal at days 1, 2, 4, 7 (3 each); withdrawal curve as a natural
# cubic spline with df = 2 (one interior knot at the median of the distinct days, boundary knots at
# their range), the other groups by their means.
library(splines)
if (!file.exists("samples_timecourse.csv")) {
  set.seed(20261128)
  days <- c(1, 2, 4, 7)
  st <- data.frame(
    phase = c(rep("control", 4), rep("use", 4), rep("withdrawal", 12)),
    timepoint = c(rep(NA, 8), rep(days, each = 3))
  )
  st$sample <- sprintf("t%02d", seq_len(nrow(st)))
  st <- st[, c("sample", "phase", "timepoint")]
  write.csv(st, "samples_timecourse.csv", row.names = FALSE, na = "")
  g <- 150
  base <- rnorm(g, 20, 1.5)
  shape <- rbind(rep(0, 4), c(1, 1, 1, 1), c(1, 0.4, 0.1, 0), c(0, 0.3, 0.7, 1))
  kind <- sample(1:4, g, replace = TRUE, prob = c(0.7, 0.1, 0.1, 0.1))
  size <- rnorm(g, 0, 1.2)
  wd <- size * shape[kind, rep(1:4, each = 3)]
  mu <- cbind(matrix(base, g, 4), base + matrix(rnorm(g, 0, 0.3), g, 4), base + wd)
  sds <- 0.3 * sqrt(4 / rchisq(g, 4))  # feature variances with a scaled inverse chi-square prior
  yt <- mu + matrix(rnorm(g * nrow(st)), g, nrow(st)) * sds
  yt[matrix(runif(g * nrow(st)), g) < 0.04] <- NA
  dimnames(yt) <- list(sprintf("f%03d", seq_len(g) - 1), st$sample)
  write.csv(yt, "y_timecourse.csv", quote = FALSE, na = "")
}
st <- read.csv("samples_timecourse.csv")
yt <- read_y("y_timecourse")
isw <- st$phase == "withdrawal"
tw <- st$timepoint[isw]
ut <- sort(unique(tw))
nsb <- function(x) ns(x, knots = quantile(ut, 0.5), Boundary.knots = range(ut))
B <- matrix(0, nrow(st), 2)
B[isw, ] <- nsb(tw)
dt <- cbind(control = st$phase == "control", use = st$phase == "use", withdrawal = isw, s1 = B[, 1], s2 = B[, 2]) * 1
fit <- lmFit(yt, dt)
Bu <- nsb(ut)
curve <- cbind(0, 0, 1, Bu)  # fitted withdrawal mean at each day
ctr <- c(1, 0, 0, 0, 0)
cm <- cbind(colMeans(curve) - ctr, colMeans(curve) - c(0, 1, 0, 0, 0), t(curve) - ctr)
rownames(cm) <- colnames(dt)
colnames(cm) <- c("withdrawal - control", "withdrawal - use", paste0("withdrawal[", ut, "] - control"))
fit2 <- eBayes(contrasts.fit(fit, cm))
out <- NULL
for (j in seq_len(ncol(cm))) {
  tt <- topTable(fit2, coef = j, number = Inf, sort.by = "none")
  out <- rbind(out, data.frame(
    feature = rownames(yt), contrast = colnames(cm)[j], logFC = tt$logFC,
    se = fit2$stdev.unscaled[, j] * sqrt(fit2$s2.post), t = tt$t, P.Value = tt$P.Value,
    adj.P.Val = tt$adj.P.Val, B = tt$B
  ))
}
write.csv(out, gzfile(paste0("timecourse_contrasts_limma", version, ".csv.gz")), row.names = FALSE)
ft <- eBayes(fit)
tf <- topTable(ft, coef = c("s1", "s2"), number = Inf, sort.by = "none")
last <- ncol(cm)
est <- fit2$coefficients[, last]
se <- fit2$stdev.unscaled[, last] * sqrt(fit2$s2.post)
p_lower <- pt((est + 0.5) / se, fit2$df.total, lower.tail = FALSE)
p_upper <- pt((est - 0.5) / se, fit2$df.total)
write.csv(data.frame(
  feature = rownames(yt), F = tf$F, F.p.value = tf$P.Value, F.adj = tf$adj.P.Val,
  s2_post = fit2$s2.post, df_total = fit2$df.total, p_lower = p_lower, p_upper = p_upper,
  p_equiv = pmax(p_lower, p_upper), p_equiv_adj = p.adjust(pmax(p_lower, p_upper), "BH")
), gzfile(paste0("timecourse_features_limma", version, ".csv.gz")), row.names = FALSE)
message("timecourse: df.prior ", fit2$df.prior)
