# Reference outputs of aov, TukeyHSD (stats) and Dunnett (multcomp::glht) for panel_values.csv.
# Run from this directory: Rscript make_reference.R
suppressPackageStartupMessages(library(multcomp))
d <- read.csv("panel_values.csv", check.names = FALSE)
d$phase <- factor(d$phase, levels = c("control", "use", "withdrawal"))
features <- setdiff(colnames(d), c("sample", "phase", "subject"))
anova_rows <- list(); tukey_rows <- list(); dunnett_rows <- list()
for (f in features) {
  x <- data.frame(y = d[[f]], phase = d$phase)
  x <- x[!is.na(x$y), ]
  fit <- aov(y ~ phase, data = x)
  s <- summary(fit)[[1]]
  anova_rows[[f]] <- data.frame(feature = f, F = s[["F value"]][1], df1 = s[["Df"]][1],
                                df2 = s[["Df"]][2], pvalue = s[["Pr(>F)"]][1])
  for (conf in c(0.95, 0.9)) {
    tk <- TukeyHSD(fit, "phase", conf.level = conf)$phase
    tukey_rows[[paste(f, conf)]] <- data.frame(feature = f, conf = conf, comparison = rownames(tk),
      diff = tk[, "diff"], lwr = tk[, "lwr"], upr = tk[, "upr"], p_adj = tk[, "p adj"])
  }
  set.seed(1)
  g <- glht(fit, linfct = mcp(phase = "Dunnett"))
  sm <- summary(g)
  set.seed(1)
  ci <- confint(g, level = 0.95)$confint
  dunnett_rows[[f]] <- data.frame(feature = f, comparison = names(sm$test$coefficients),
    estimate = unname(sm$test$coefficients), se = unname(sm$test$sigma),
    t = unname(sm$test$tstat), pvalue = unname(sm$test$pvalues),
    lwr = unname(ci[, "lwr"]), upr = unname(ci[, "upr"]))
}
w <- function(x, file) write.csv(do.call(rbind, x), file, row.names = FALSE)
options(digits = 17)
w(anova_rows, "aov_reference.csv")
w(tukey_rows, "tukeyhsd_reference.csv")
w(dunnett_rows, "dunnett_multcomp_reference.csv")
cat(R.version.string, "multcomp", as.character(packageVersion("multcomp")), "\n")
