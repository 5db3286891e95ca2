# Reference adjusted p-values for tests/tl/test_multitest.py.
#   Rscript make_padjust.R
# p.adjust from R 4.2 stats; q-values from the qvalue package 2.30.0 with pi0.method = "bootstrap"
# and with its default smoother.
library(qvalue)
set.seed(11)
p <- c(runif(400), rbeta(100, 0.2, 3))
p[c(7, 77, 177)] <- NA
p[10:14] <- p[9]  # ties
p[20] <- 1
write.csv(data.frame(p = p), "pvalues.csv", row.names = FALSE)
q <- qvalue(p, pi0.method = "bootstrap")
qs <- qvalue(p)  # default: pi0.method = "smoother", smooth.df = 3
out <- data.frame(
  bh = p.adjust(p, "BH"), by = p.adjust(p, "BY"), bonferroni = p.adjust(p, "bonferroni"),
  holm = p.adjust(p, "holm"), qvalue = q$qvalues, pi0 = q$pi0,
  qvalue_smoother = qs$qvalues, pi0_smoother = qs$pi0
)
write.csv(out, "padjust_R.csv", row.names = FALSE)
message("pi0 = ", q$pi0, " (bootstrap), ", qs$pi0, " (smoother)")
