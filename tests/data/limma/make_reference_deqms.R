# Reference numbers for DEqMS's count-based moderation (tests/tl/test_count_prior.py).
#   Rscript make_reference_deqms.R
# DEqMS is not packaged for Debian, so this script computes DEqMS's spectraCounteBayes
# (fit.method = "loess", DEqMS 1.x) step by step with R's loess and limma 3.62, from the
# algorithm as published (Zhu et al. 2020, Mol Cell Proteomics 19:1047) and documented in DEqMS:
#   logVAR = log(sigma^2); pred = fitted(loess(logVAR ~ log2(count), span = 0.75))
#   e = logVAR - digamma(df/2) + log(df/2); epred = pred - digamma(df/2) + log(df/2)
#   d0 = the value in 0.1, 0.2, ... closest to solving trigamma(d0/2) = mean((e - epred)^2 - trigamma(df/2))
#   s02 = exp(epred + digamma(d0/2) - log(d0/2)); post = (d0*s02 + df*sigma^2)/(d0 + df)
#   t = coef/stdev.unscaled/sqrt(post); p = 2*pt(-|t|, d0 + df)
# Inputs: y_phase.csv, y_phase_na.csv, samples_phase.csv, counts_phase.csv (make_reference_count_trend.R).
# Writes deqms_<case>.csv.gz: feature, contrast, logFC, t, P.Value, adj.P.Val, s2_post, s2_prior,
# df_prior, loess.
library(limma, lib.loc = path.expand("~/.local/share/limma-3.62"))
message("limma ", packageVersion("limma"), ", R ", getRversion())
read_y <- function(name) as.matrix(read.csv(paste0(name, ".csv"), row.names = 1, check.names = FALSE))
phase_levels <- c("control", "use", "withdrawal")
s <- read.csv("samples_phase.csv")
phase <- factor(s$phase, levels = phase_levels)
d <- model.matrix(~ 0 + phase); colnames(d) <- phase_levels
con <- c("withdrawal - control", "use - control", "withdrawal - use")
counts <- read.csv("counts_phase.csv")$n_peptides

deqms <- function(case, y) {
  fit <- suppressWarnings(contrasts.fit(lmFit(y, d), makeContrasts(contrasts = con, levels = d)))
  df <- fit$df.residual
  df[df == 0] <- NA
  logvar <- log(fit$sigma^2)
  ok <- is.finite(logvar)
  x <- log2(counts)
  lo <- loess(logvar[ok] ~ x[ok], span = 0.75)
  pred <- rep(NA_real_, length(logvar))
  pred[ok] <- fitted(lo)
  e <- logvar - digamma(df / 2) + log(df / 2)
  epred <- pred - digamma(df / 2) + log(df / 2)
  m <- mean((e - epred)^2 - trigamma(df / 2), na.rm = TRUE)
  grid <- seq_len(sum(ok) * 10) / 10
  dist <- abs(m - trigamma(grid / 2))
  stop_at <- which(diff(dist) > 0)[1] + 1  # the search goes up the grid until the distance grows
  d0 <- grid[which.min(dist[seq_len(stop_at)])]
  s02 <- exp(epred + digamma(d0 / 2) - log(d0 / 2))
  post <- (d0 * s02 + df * fit$sigma^2) / (d0 + df)
  out <- NULL
  for (j in seq_along(con)) {
    t <- fit$coefficients[, j] / fit$stdev.unscaled[, j] / sqrt(post)
    p <- 2 * pt(-abs(t), d0 + df)
    out <- rbind(out, data.frame(feature = rownames(y), contrast = con[j], logFC = fit$coefficients[, j],
                                 t = t, P.Value = p, adj.P.Val = p.adjust(p, "BH"), s2_post = post,
                                 s2_prior = s02, df_prior = d0, loess = pred))
  }
  write.csv(out, gzfile(paste0("deqms_", case, ".csv.gz")), row.names = FALSE)
  message(case, ": d0 = ", d0, " (mean of the moment function ", signif(m, 8), ")")
}
deqms("phase", read_y("y_phase"))
deqms("phase_na", read_y("y_phase_na"))
